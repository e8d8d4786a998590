"""One error shape for every failure: {"code", "message", "details", "request_id"}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from recsys.store.errors import STORE_ERRORS, store_unavailable
from recsys.validation_messages import readable_message

log = logging.getLogger("recsys.service")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "service_unavailable",
}
STORE_RETRY_AFTER_S = "1"


class ApiError(Exception):
    """Raised by routes and dependencies; rendered by the handler below."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers


class BodyTooLarge(Exception):
    """The request body grew past the configured limit while it was being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds {limit} bytes")
        self.limit = limit


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {
        "code": code,
        "message": message,
        "details": details or {},
        "request_id": request_id_of(request),
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else str(part))
    return "".join(parts)


def describe_validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flatten pydantic errors into {loc, index?, field, message}, naming the batch element."""
    described = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if loc and loc[0] in {"body", "query", "header", "path"}:
            source, loc = loc[0], loc[1:]
        else:
            source = "body"
        # Drop pydantic's union/function tags so the location reads like the JSON the caller sent.
        loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or "-" in p)))
        entry: dict[str, Any] = {
            "in": source,
            "loc": _location(loc),
            "message": readable_message(error),
            "type": error.get("type", "value_error"),
        }
        indices = [p for p in loc if isinstance(p, int)]
        if indices:
            entry["index"] = indices[0]
            after = loc[loc.index(indices[0]) + 1 :]
            if after:
                entry["field"] = _location(after)
        elif loc:
            entry["field"] = _location(loc)
        described.append(entry)
    return described


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        raw = list(exc.errors())
        for error in raw:
            if error.get("type") == "json_invalid":
                position = error.get("loc", ("body", None))[-1]
                return error_response(
                    request,
                    400,
                    "malformed_json",
                    "request body is not valid JSON",
                    {"position": position if isinstance(position, int) else None},
                )
            if tuple(error.get("loc", ())) == ("body",) and isinstance(error.get("input"), bytes):
                # FastAPI hands over raw bytes when the content type is not JSON.
                return error_response(
                    request,
                    415,
                    "unsupported_media_type",
                    "send the body as JSON with Content-Type: application/json",
                )
        errors = describe_validation_errors(raw)
        first = errors[0] if errors else {"loc": "", "message": "invalid request"}
        where = first["loc"] or first.get("in", "body")
        return error_response(
            request,
            422,
            "validation_error",
            f"{where}: {first['message']}"
            + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""),
            {"errors": errors},
        )

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return error_response(request, 413, "payload_too_large", str(exc), {"max_bytes": exc.limit})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(
            request, exc.status_code, code, message, None, dict(exc.headers or {}) or None
        )

    async def _store_error(request: Request, exc: Exception) -> JSONResponse:
        # Registered per exception class, not for Exception: handlers for Exception run in
        # Starlette's outermost middleware, which re-raises after answering, and uvicorn then
        # closes the client's keep-alive connection (a reset for its next request).
        if store_unavailable(exc):
            # Not a bug: the database is restarting, unreachable or out of connections. Writes
            # are idempotent by id, so the client's retry stores nothing twice.
            log.warning(
                "store unavailable (request_id=%s): %s", request_id_of(request), type(exc).__name__
            )
            return error_response(
                request,
                503,
                "store_unavailable",
                "the database is unavailable; retry after the Retry-After seconds",
                headers={"Retry-After": STORE_RETRY_AFTER_S},
            )
        return _internal_error(request)

    for error_class in STORE_ERRORS:
        app.add_exception_handler(error_class, _store_error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A store error wrapped in another exception still means "retry".
        return await _store_error(request, exc)


def _internal_error(request: Request) -> JSONResponse:
    # A 5xx other than a store outage is always a bug: log it with the request id so it can be
    # found and fixed.
    log.exception("unhandled error (request_id=%s)", request_id_of(request))
    return error_response(
        request, 500, "internal_error", "internal error; please report the request_id"
    )


__all__ = ["ApiError", "BodyTooLarge", "error_response", "install_error_handlers"]
