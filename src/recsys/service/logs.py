"""Logging for `recsys serve`: one handler on stderr, `text` or `json` lines, the request id on
every line logged while a request is handled, and an optional access log (one line per request).

The standard library rather than structlog: uvicorn and our background threads already log
through it, one `dictConfig` covers them all in every worker process (uvicorn applies it on
each worker's start), and a formatter is all JSON output needs. What is never logged: user ids,
API keys, request bodies. The org id (a tenant's UUID, not a secret) is on access lines."""

from __future__ import annotations

import logging
import logging.config
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from recsys.config.settings import LogFormat
from recsys.store.errors import store_unavailable

# Set by the request middleware; copied into the threads that run sync routes.
REQUEST_ID: ContextVar[str | None] = ContextVar("recsys_request_id", default=None)

access_log = logging.getLogger("recsys.access")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestContextFilter(logging.Filter):
    """Adds `request_id` to every record: the request being handled, or `-` outside one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ms), level, logger, message, request_id, and the
    access fields (`http`) or the exception text when there are any."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        http = getattr(record, "http", None)
        if http is not None:
            document["http"] = http
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(document).decode()


def logging_config(level: str = "info", fmt: LogFormat = "text") -> dict[str, Any]:
    """A `logging.config.dictConfig` document for the project's and uvicorn's loggers."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if fmt == "json" else {"format": TEXT_FORMAT}
    )
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "recsys",
        "filters": ["request_context"],
    }
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_context": {"()": f"{__name__}.RequestContextFilter"}},
        "formatters": {"recsys": formatter},
        "handlers": {"recsys": handler},
        "loggers": {
            "recsys": {"handlers": ["recsys"], "level": upper, "propagate": False},
            "uvicorn": {"handlers": ["recsys"], "level": upper, "propagate": False},
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {"handlers": [], "propagate": False},  # ours is recsys.access
        },
        "root": {"handlers": ["recsys"], "level": "WARNING"},
    }


def configure_logging(level: str = "info", fmt: LogFormat = "text") -> None:
    logging.config.dictConfig(logging_config(level, fmt))


def log_failure(logger: logging.Logger, message: str, *args: object) -> None:
    """For an `except` block of background work: one warning line when the store was out of
    reach (not a bug, and the work is retried on its own), the traceback otherwise."""
    error = sys.exc_info()[1]
    if error is not None and store_unavailable(error):
        logger.warning(message + ": store unavailable (%s)", *args, type(error).__name__)
    else:
        logger.exception(message, *args)


def log_access(*, method: str, route: str, status: int, seconds: float, org_id: str | None) -> None:
    """The access line for one request that took `seconds` (the latency metrics' figure)."""
    latency_ms = round(seconds * 1000, 2)
    access_log.info(
        "%s %s %d %.2fms org=%s",
        method,
        route,
        status,
        latency_ms,
        org_id or "-",
        extra={
            "http": {
                "method": method,
                "route": route,
                "status": status,
                "latency_ms": latency_ms,
                "org": org_id,
            }
        },
    )


__all__ = [
    "REQUEST_ID",
    "JsonFormatter",
    "RequestContextFilter",
    "configure_logging",
    "log_access",
    "log_failure",
    "logging_config",
]
