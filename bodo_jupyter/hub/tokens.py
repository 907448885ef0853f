"""Signed, expiring links (activation, invitation): pure, no clock or key of its own.

A token is ``base64url(json claims) . base64url(HMAC-SHA256(key, purpose + claims))``.
The purpose is part of what is signed, so an invitation can never pass as an activation.
Single use is the caller's: it binds the claims to a nonce it changes once the link is
used, and compares.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

#: What a token is for: part of what is signed.
ACTIVATION = "bodo-activate"
INVITATION = "bodo-invite"


class TokenError(ValueError):
    """A link that cannot be honoured; ``reason`` is ``tampered`` or ``expired``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, purpose: str, body: str) -> bytes:
    return hmac.new(key, f"{purpose}\n{body}".encode(), hashlib.sha256).digest()


def sign(key: bytes, purpose: str, claims: dict[str, Any], expires_at: float) -> str:
    """A token for ``claims`` (JSON values) that ``verify`` accepts until ``expires_at``."""
    body = _b64(json.dumps({**claims, "exp": int(expires_at)}, separators=(",", ":"),
                           sort_keys=True).encode())
    return f"{body}.{_b64(_mac(key, purpose, body))}"


def verify(key: bytes, purpose: str, token: str, now: float) -> dict[str, Any]:
    """The claims of a token signed with ``key`` for ``purpose``, if not expired at ``now``.

    The signature is checked before anything in the claims is believed (also the expiry).
    """
    body, _, mac = token.strip().partition(".")
    try:
        good = hmac.compare_digest(_unb64(mac), _mac(key, purpose, body))
        claims = json.loads(_unb64(body)) if good else None
    except (ValueError, UnicodeError):
        raise TokenError("tampered") from None
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
        raise TokenError("tampered")
    if now >= claims["exp"]:
        raise TokenError("expired")
    return claims
