"""Cursor tokens: the last key of the previous page, sealed.

A token is encrypted and authenticated with a deployment-wide key kept in the database (so every
worker, and every restart, reads the tokens the others issued), and bound to the org, namespace
and listing that issued it. Sealing matters for events: their cursor is a row number shared by
every tenant of the deployment, and a readable one would let a tenant watch how much everyone
else ingests. Encryption is HMAC-SHA256 in counter mode with a synthetic nonce (the MAC of the
plaintext), so the same page always gets the same token and a forged or moved token fails the
check rather than decrypting to something else."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
from collections.abc import Callable
from typing import Any

import orjson

from recsys.service.errors import ApiError

_MIN_ROW_ID, _MAX_ROW_ID = -(2**63), 2**63 - 1
_NONCE = 16


class PageTokens:
    def __init__(self, load_key: Callable[[], bytes]) -> None:
        self._load_key = load_key
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def _secret(self) -> bytes:
        # Read once, on first use: the store is migrated by then (not at app construction).
        if self._key is None:
            with self._lock:
                if self._key is None:
                    self._key = self._load_key()
        return self._key

    @staticmethod
    def _scope(kind: str, org_id: str, namespace: str) -> bytes:
        return "\0".join((kind, org_id, namespace)).encode()

    def _stream(self, nonce: bytes, length: int) -> bytes:
        key = self._secret()
        blocks = (
            hmac.new(key, b"stream" + nonce + n.to_bytes(4, "big"), hashlib.sha256).digest()
            for n in range(-(-length // 32))
        )
        return b"".join(blocks)[:length]

    def encode(self, kind: str, org_id: str, namespace: str, last_key: str | int) -> str:
        plain = orjson.dumps({"after": last_key})
        scope = self._scope(kind, org_id, namespace)
        nonce = hmac.new(self._secret(), b"nonce" + scope + plain, hashlib.sha256).digest()
        nonce = nonce[:_NONCE]
        sealed = bytes(a ^ b for a, b in zip(plain, self._stream(nonce, len(plain)), strict=True))
        raw = nonce + sealed
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    def decode(
        self, kind: str, org_id: str, namespace: str, token: str | None, key_type: type
    ) -> Any:
        """The key after which the next page starts, or None for the first page."""
        if token is None or token == "":
            return None
        try:
            raw = base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode("ascii"))
            nonce, sealed = raw[:_NONCE], raw[_NONCE:]
            if len(nonce) != _NONCE or not sealed:
                raise ValueError("too short")
            stream = self._stream(nonce, len(sealed))
            plain = bytes(a ^ b for a, b in zip(sealed, stream, strict=True))
            scope = self._scope(kind, org_id, namespace)
            expected = hmac.new(self._secret(), b"nonce" + scope + plain, hashlib.sha256).digest()
            if not hmac.compare_digest(expected[:_NONCE], nonce):
                raise ValueError("token for another listing, org or namespace")
            after = orjson.loads(plain)["after"]
            if not isinstance(after, key_type) or isinstance(after, bool):
                raise ValueError("wrong key type")
            # Defence in depth: never bind a key the stores cannot take (a 500 otherwise).
            if isinstance(after, int) and not _MIN_ROW_ID <= after <= _MAX_ROW_ID:
                raise ValueError("row id out of range")
            if isinstance(after, str) and "\x00" in after:
                raise ValueError("key holds U+0000")
            return after
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeEncodeError) as exc:
            raise ApiError(
                400, "invalid_page_token", "page_token is not one this listing issued"
            ) from exc


__all__ = ["PageTokens"]
