"""The ceiling the serving benchmark compares RecSys with: the same framework (FastAPI on
uvicorn, started the way `recsys serve` starts it), the same route and request body model,
the same tenant header check, a response of the same shape with k items — and no ranking, no
store, no snapshot. What RecSys serves as a share of this is what the ranking costs.

Started by bench/serving.py: `python -m uvicorn ceiling_app:create_app --factory --app-dir
bench --workers N`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException

from recsys.ranking import MODEL_VERSION
from recsys.service.schemas.ranking import (
    RecommendationsRequest,
    RecommendationsResponse,
    ScoredItem,
)

ITEM_IDS = [f"item-{n:05d}" for n in range(1000)]


def create_app() -> FastAPI:
    app = FastAPI(title="serving ceiling")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "store": "none"}

    @app.post(
        "/v1/recommendations",
        response_model=RecommendationsResponse,
        response_model_exclude_none=True,
    )
    async def recommendations(
        body: RecommendationsRequest,
        x_org_id: Annotated[str | None, Header()] = None,
    ) -> RecommendationsResponse:
        try:
            uuid.UUID(x_org_id or "")
        except ValueError:
            raise HTTPException(400, "X-Org-ID must be a UUID") from None
        start = hash(body.user_id or "") % (len(ITEM_IDS) - body.k)
        items = [
            ScoredItem(item_id=item_id, score=1.0 / rank, rank=rank)
            for rank, item_id in enumerate(ITEM_IDS[start : start + body.k], start=1)
        ]
        return RecommendationsResponse(
            items=items,
            decision_id=uuid.uuid4().hex,
            model_version=MODEL_VERSION,
            config_version=0,
            warnings=[],
        )

    return app
