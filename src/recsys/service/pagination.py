"""Cursor tokens: the last key of the previous page, sealed with AES-SIV.

Keys live in the store (every worker, host and restart reads the tokens the others issued) as a
small ring: the newest key seals, every key still in the ring opens, and each token names its
key by id so a key can be rotated without breaking the cursors clients hold (`recsys page-keys`).
The listing's scope (listing, org, namespace) is the associated data, so a token moved to another
listing, org or namespace fails authentication instead of decrypting to something else. SIV is
deterministic: the same page always gets the same token.

Padding matters for events: their cursor is a row number shared by every tenant of the
deployment, and a token whose length grew with it would let a tenant watch how much everyone else
ingests. Row ids are sealed at one fixed length; item and user ids (the tenant's own) are padded
to a multiple of 64 bytes."""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from recsys.service.errors import ApiError

PageKey = TypeVar("PageKey", str, int)

_MIN_ROW_ID, _MAX_ROW_ID = -(2**63), 2**63 - 1
_KID_BYTES = 2
_ROW_ID, _TEXT = b"r", b"s"
_ROW_ID_PLAIN = 16  # tag byte + 8-byte row id, zero-padded: one AES block
_TEXT_BLOCK = 64
# A retired or rotated key reaches the other workers within this many seconds; an unknown key id
# triggers an earlier reload (at most once a second, so junk tokens cannot hammer the store).
RELOAD_S = 60.0
_MISS_RELOAD_S = 1.0


def _pad(plain: bytes, size: int) -> bytes:
    return plain + b"\0" * (-len(plain) % size)


def pack_key(last_key: str | int) -> bytes:
    """The page key as fixed-size plaintext (see the module docstring)."""
    if isinstance(last_key, int):
        return _pad(_ROW_ID + last_key.to_bytes(8, "big", signed=True), _ROW_ID_PLAIN)
    text = last_key.encode("utf-8")
    return _pad(_TEXT + len(text).to_bytes(2, "big") + text, _TEXT_BLOCK)


def unpack_key(plain: bytes) -> str | int:
    kind, body = plain[:1], plain[1:]
    if kind == _ROW_ID and len(plain) == _ROW_ID_PLAIN:
        return int.from_bytes(body[:8], "big", signed=True)
    if kind == _TEXT and len(body) >= 2:
        length = int.from_bytes(body[:2], "big")
        text = body[2 : 2 + length]
        if len(text) == length and not body[2 + length :].strip(b"\0"):
            return text.decode("utf-8")
    raise ValueError("malformed page key")


class PageTokens:
    """Seals and opens page tokens with the store's key ring: `load_keys()` returns {key id:
    32-byte key}; the highest id seals."""

    def __init__(
        self,
        load_keys: Callable[[], Mapping[int, bytes]],
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load_keys = load_keys
        self._monotonic = monotonic
        self._ring: dict[int, AESSIV] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def _keys(self, *, missing: int | None = None) -> dict[int, AESSIV]:
        # Read on first use (the store is migrated by then, not at app construction), then again
        # when stale or when a token names a key this worker has not seen yet.
        if not self._fresh(missing):
            with self._lock:
                if not self._fresh(missing):
                    self._ring = {kid: AESSIV(key) for kid, key in self._load_keys().items()}
                    self._loaded_at = self._monotonic()
        return self._ring

    def _fresh(self, missing: int | None) -> bool:
        limit = RELOAD_S if missing is None else _MISS_RELOAD_S
        return bool(self._ring) and self._monotonic() - self._loaded_at < limit

    @staticmethod
    def _scope(kind: str, org_id: str, namespace: str) -> list[bytes]:
        return [kind.encode(), org_id.encode(), namespace.encode()]

    def encode(self, kind: str, org_id: str, namespace: str, last_key: str | int) -> str:
        ring = self._keys()
        kid = max(ring)
        sealed = ring[kid].encrypt(pack_key(last_key), self._scope(kind, org_id, namespace))
        raw = kid.to_bytes(_KID_BYTES, "big") + sealed
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    def decode(
        self, kind: str, org_id: str, namespace: str, token: str | None, key_type: type[PageKey]
    ) -> PageKey | None:
        """The key after which the next page starts, or None for the first page."""
        if token is None or token == "":
            return None
        try:
            raw = base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode("ascii"))
            if len(raw) <= _KID_BYTES + 16:
                raise ValueError("too short")
            kid = int.from_bytes(raw[:_KID_BYTES], "big")
            ring = self._keys()
            if kid not in ring:
                ring = self._keys(missing=kid)
            if kid not in ring:
                raise ValueError("sealed with a key that is retired or unknown")
            plain = ring[kid].decrypt(raw[_KID_BYTES:], self._scope(kind, org_id, namespace))
            after = unpack_key(plain)
            if not isinstance(after, key_type):
                raise ValueError("wrong key type")
            # Defence in depth: never bind a key the stores cannot take (a 500 otherwise).
            if isinstance(after, int) and not _MIN_ROW_ID <= after <= _MAX_ROW_ID:
                raise ValueError("row id out of range")
            if isinstance(after, str) and "\x00" in after:
                raise ValueError("key holds U+0000")
            return after
        except (ValueError, InvalidTag, binascii.Error, UnicodeError) as exc:
            raise ApiError(
                400, "invalid_page_token", "page_token is not one this listing issued"
            ) from exc


__all__ = ["RELOAD_S", "PageTokens", "pack_key", "unpack_key"]
