"""Validation messages in our own words: pydantic prefixes a validator's ValueError with
"Value error, " (and an assertion with "Assertion failed, "), which reads like a stack trace to
someone who only sent a bad value. One function, used by the API's 422 bodies and the importers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_PREFIXES = ("Value error, ", "Assertion failed, ")


def readable_message(error: Mapping[str, Any]) -> str:
    """The reason in one pydantic error entry, without the library's prefix."""
    context = error.get("ctx") or {}
    raised = context.get("error")
    if error.get("type") in {"value_error", "assertion_error"} and raised is not None:
        return str(raised)
    message = str(error.get("msg", "invalid value"))
    for prefix in _PREFIXES:
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


__all__ = ["readable_message"]
