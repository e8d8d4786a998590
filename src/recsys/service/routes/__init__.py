"""Route modules, one per resource."""

from typing import Any

from recsys.service.schemas.common import ErrorBody

# Every /v1 operation can answer with these; declared so the OpenAPI document is honest.
V1_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Malformed request or missing/invalid X-Org-ID"},
    401: {"model": ErrorBody, "description": "Missing or unknown API key (auth enabled)"},
    403: {"model": ErrorBody, "description": "API key not allowed for this org"},
    413: {"model": ErrorBody, "description": "Body larger than 16 MB"},
    415: {"model": ErrorBody, "description": "Body is not sent as application/json"},
    422: {"model": ErrorBody, "description": "Invalid values; details name each bad field"},
    429: {"model": ErrorBody, "description": "Rate limited; see Retry-After"},
    503: {"model": ErrorBody, "description": "Database unavailable; retry after Retry-After"},
}
