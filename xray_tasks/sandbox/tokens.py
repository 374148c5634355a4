"""Xray Cloud tokens: HS256 JWTs shaped like the ones ``/api/v2/authenticate`` returns.

Payload: ``{"tenant", "userKey", "iat", "exp", "aud", "iss": "com.xpandit.xray", "sub", "jti"}`` with
``aud``/``sub`` = the client id, ``exp = iat + ttl`` and a random ``jti`` (so two tokens issued in
the same second differ, which token revocation needs). The signing secret and tenant id live in the
sandbox database, so tokens stay valid across restarts that reuse a database file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from typing import Any

from xray_tasks.sandbox import errors
from xray_tasks.sandbox.errors import ApiError

__all__ = ["TokenIssuer"]

ISSUER = "com.xpandit.xray"
_HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _compact(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Issues and checks tokens; ``revoke_all`` refuses every token issued so far."""

    def __init__(self, secret: bytes, tenant: str, ttl: int = 86400) -> None:
        self._secret = secret
        self.tenant = tenant
        self.ttl = ttl
        self._lock = threading.Lock()
        self._revoked_before = 0.0  # tokens whose issue time (ns) is <= this are refused
        self._issued: dict[str, int] = {}  # signature -> issue time in ns, for precise revocation

    def issue(self, client_id: str, now: float | None = None) -> str:
        """A signed token for ``client_id``."""
        now = time.time() if now is None else now
        payload = {"tenant": self.tenant, "userKey": f"sandbox-{client_id}", "iat": int(now),
                   "exp": int(now) + self.ttl, "aud": client_id, "iss": ISSUER, "sub": client_id,
                   "jti": secrets.token_hex(8)}
        signing_input = f"{_b64(_compact(_HEADER))}.{_b64(_compact(payload))}"
        signature = _b64(hmac.new(self._secret, signing_input.encode("ascii"), hashlib.sha256).digest())
        with self._lock:
            self._issued[signature] = time.monotonic_ns()
        return f"{signing_input}.{signature}"

    def revoke_all(self) -> None:
        with self._lock:
            self._revoked_before = time.monotonic_ns()

    def verify(self, token: str, now: float | None = None) -> dict[str, Any]:
        """The token's claims; raises ApiError 401 when it is malformed, forged, expired or revoked."""
        parts = token.split(".")
        if len(parts) != 3:
            raise ApiError(401, errors.TOKEN_INVALID)
        expected = _b64(hmac.new(self._secret, f"{parts[0]}.{parts[1]}".encode("ascii", "replace"),
                                 hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            raise ApiError(401, errors.TOKEN_INVALID)
        try:
            claims = json.loads(_unb64(parts[1]))
            exp = float(claims["exp"])
        except (ValueError, KeyError, TypeError):
            raise ApiError(401, errors.TOKEN_INVALID) from None
        if not isinstance(claims, dict) or claims.get("iss") != ISSUER:
            raise ApiError(401, errors.TOKEN_INVALID)
        if (time.time() if now is None else now) >= exp:
            raise ApiError(401, errors.TOKEN_EXPIRED)
        with self._lock:
            issued = self._issued.get(parts[2], 0)  # unknown here (an earlier process): treat as oldest
        if issued <= self._revoked_before and self._revoked_before:
            raise ApiError(401, errors.TOKEN_EXPIRED)
        return claims
