"""Opaque cursor tokens: base64url JSON holding the last key of the previous page."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from recsys.service.errors import ApiError


def encode_token(kind: str, last_key: str | int) -> str:
    raw = orjson.dumps({"k": kind, "after": last_key})
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_token(kind: str, token: str | None, key_type: type) -> Any:
    """Return the key after which the next page starts, or None for the first page."""
    if token is None or token == "":
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        after = payload["after"]
        if payload.get("k") != kind or not isinstance(after, key_type) or isinstance(after, bool):
            raise ValueError("token for another listing")
        return after
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeEncodeError) as exc:
        raise ApiError(
            400, "invalid_page_token", "page_token is not one this listing issued"
        ) from exc


__all__ = ["decode_token", "encode_token"]
