"""Console sessions: who the browser acts for, in a cookie sealed with AES-SIV.

The cookie holds the org, the hash of the API key that signed in (auth on; re-checked against
the key ring on every request, so a removed key ends its sessions), a CSRF token and an expiry.
It is HttpOnly, SameSite=Strict and scoped to /console; every form carries the CSRF token and a
POST whose token does not match the session's is refused — SameSite alone does not protect
older browsers. The sealing key is a deployment secret in the store (every worker agrees)."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

COOKIE = "recsys_console"
SECRET_NAME = "console_sessions"
LIFETIME_S = 8 * 3600
_AAD = [b"recsys-console-session-v1"]


@dataclass(frozen=True)
class Session:
    org_id: str
    key_hash: str | None
    csrf: str
    expires_at: float


def new_session(org_id: str, key_hash: str | None, now_s: float) -> Session:
    return Session(org_id, key_hash, secrets.token_urlsafe(24), now_s + LIFETIME_S)


def seal(session: Session, key: bytes) -> str:
    plain = json.dumps(
        {"o": session.org_id, "k": session.key_hash, "c": session.csrf, "e": session.expires_at},
        separators=(",", ":"),
    ).encode()
    # A random block up front: SIV is deterministic, and two sessions must not look alike.
    sealed = AESSIV(key).encrypt(secrets.token_bytes(16) + plain, _AAD)
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def unseal(token: str | None, key: bytes, now_s: float) -> Session | None:
    """The session a cookie holds; None when absent, tampered with, foreign or expired."""
    if not token or len(token) > 2048:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        plain = AESSIV(key).decrypt(raw, _AAD)[16:]
        fields = json.loads(plain)
        session = Session(
            org_id=str(fields["o"]),
            key_hash=None if fields["k"] is None else str(fields["k"]),
            csrf=str(fields["c"]),
            expires_at=float(fields["e"]),
        )
    except (binascii.Error, InvalidTag, ValueError, KeyError, TypeError):
        return None
    return session if session.expires_at > now_s else None


__all__ = ["COOKIE", "LIFETIME_S", "SECRET_NAME", "Session", "new_session", "seal", "unseal"]
