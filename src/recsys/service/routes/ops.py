"""Operations endpoints: health, version, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from recsys import __version__
from recsys.ranking import MODEL_VERSION
from recsys.service.deps import State
from recsys.service.errors import error_response
from recsys.service.schemas.common import ErrorBody, Health, Version

router = APIRouter(tags=["ops"])


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": ErrorBody, "description": "The store does not answer"}},
)
def health(request: Request, state: State) -> Health | JSONResponse:
    """Liveness and readiness: answers 200 only when the store answers a query."""
    try:
        state.store.ping()
    except Exception as exc:  # any driver error means "not ready"
        return error_response(
            request,
            503,
            "store_unavailable",
            "the store does not answer",
            {"error": type(exc).__name__},
        )
    return Health(status="ok", store=state.store.dialect)


@router.get("/version", response_model=Version)
def version(state: State) -> Version:
    return Version(
        version=__version__,
        git_commit=state.git_commit,
        build_time=state.settings.build_time,
        model_version=MODEL_VERSION,
    )


@router.get("/metrics", response_class=Response, summary="Prometheus metrics (text format)")
def metrics(state: State) -> Response:
    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
