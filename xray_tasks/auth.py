"""Credentials: the Xray Cloud token cache, and the Authorization header for each deployment.

Cloud tokens live 24 hours. They are cached in one JSON file (``XRAY_TOKEN_CACHE``, default
``$XDG_CACHE_HOME/xray-tasks/tokens.json`` or ``~/.cache/xray-tasks/tokens.json``), keyed by a SHA-256 of
API URL + client id + client secret (never the secret itself), so later processes on the same machine or
CI job do not authenticate again, and a changed secret is checked by authenticating.
The file is written atomically with mode 0600 and refused when group or world can read it. A cached
token is used until ``SAFETY_MARGIN`` before it expires.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from xray_tasks.errors import AuthenticationError, SettingsError, register_secret
from xray_tasks.settings import Settings

__all__ = ["SAFETY_MARGIN", "Token", "TokenCache", "default_cache_path", "server_auth_header"]

TOKEN_LIFETIME = 24 * 3600
SAFETY_MARGIN = 3600


@dataclass(frozen=True)
class Token:
    """A bearer token; its value never shows in ``repr``."""

    value: str = field(repr=False)
    expires_at: float
    from_cache: bool = False

    def __post_init__(self) -> None:
        register_secret(self.value)

    @classmethod
    def issued_now(cls, value: str, now: float | None = None) -> Token:
        now = time.time() if now is None else now
        exp = jwt_expiry(value)
        return cls(value=value, expires_at=exp if exp and exp > now else now + TOKEN_LIFETIME)

    def usable(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.expires_at - SAFETY_MARGIN


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, or None when the token is not a readable JWT."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def default_cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xray-tasks" / "tokens.json"


def cache_key(base_url: str, client_id: str, secret: str = "") -> str:
    """The entry's name: a hash of the API URL and the credentials, so a changed (or mistyped) secret never
    reuses a token issued for the old one."""
    return hashlib.sha256(f"{base_url}\0{client_id}\0{secret}".encode()).hexdigest()


class TokenCache:
    """Tokens on disk, one per (API URL, client id, client secret)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_settings(cls, s: Settings) -> TokenCache:
        return cls(Path(s.token_cache).expanduser() if s.token_cache else default_cache_path())

    def _load(self) -> dict[str, dict[str, object]]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise SettingsError(f"cannot read the token cache {self.path}: {exc.strerror}",
                                "fix its permissions or set XRAY_TOKEN_CACHE elsewhere") from None
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SettingsError(
                f"the token cache {self.path} is readable by other users (mode {stat.S_IMODE(st.st_mode):o})",
                f"run: chmod 600 {self.path}  (or delete it)")
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # a damaged cache is only a cache: authenticate again and overwrite it
        return data if isinstance(data, dict) else {}

    def get(self, base_url: str, client_id: str, secret: str = "") -> Token | None:
        entry = self._load().get(cache_key(base_url, client_id, secret))
        if not isinstance(entry, dict):
            return None
        try:
            token = Token(value=str(entry["token"]), expires_at=float(entry["expires_at"]),  # type: ignore[arg-type]
                          from_cache=True)
        except (KeyError, TypeError, ValueError):
            return None
        return token if token.usable() else None

    def put(self, base_url: str, client_id: str, token: Token, secret: str = "") -> None:
        data = self._load()
        now = time.time()
        data = {k: v for k, v in data.items()
                if isinstance(v, dict) and float(v.get("expires_at", 0)) > now}  # type: ignore[arg-type]
        data[cache_key(base_url, client_id, secret)] = {"token": token.value, "expires_at": token.expires_at}
        self._write(data)

    def drop(self, base_url: str, client_id: str, secret: str = "") -> None:
        data = self._load()
        if data.pop(cache_key(base_url, client_id, secret), None) is not None:
            self._write(data)

    @contextlib.contextmanager
    def lock(self, wait: float = 60.0) -> Iterator[None]:
        """Hold ``<cache>.lock`` while one process authenticates, so processes started together (parallel
        CI jobs sharing a cache) authenticate once; a lock that cannot be had in ``wait`` seconds, or at
        all (no fcntl, read-only folder), is skipped: the lock only saves an authentication."""
        try:
            import fcntl
        except ImportError:  # not POSIX
            yield
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            yield
            return
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _write(self, data: dict[str, object]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tokens-")
            try:
                os.fchmod(fd, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(data, fh)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise SettingsError(f"cannot write the token cache {self.path}: {exc.strerror}",
                                "set XRAY_TOKEN_CACHE to a writable file") from None


def require_cloud_credentials(s: Settings) -> tuple[str, str]:
    if not s.client_id or not s.client_secret:
        missing = " and ".join(n for n, v in (("XRAY_CLIENT_ID", s.client_id),
                                              ("XRAY_CLIENT_SECRET", s.client_secret)) if not v)
        raise SettingsError(f"{missing} not set",
                            "create an API key in Jira (Apps > Xray > API Keys) and put it in .env or the "
                            "environment")
    return s.client_id, s.client_secret


def server_auth_header(s: Settings) -> tuple[str, str]:
    """``(scheme, header value)`` for Server/DC: PAT as Bearer, else basic user/password."""
    if s.server_token:
        return "Bearer", f"Bearer {s.server_token}"
    if s.server_user and s.server_password is not None:
        raw = f"{s.server_user}:{s.server_password}".encode()
        return "Basic", "Basic " + base64.b64encode(raw).decode("ascii")
    raise SettingsError("no Server/DC credentials",
                        "set XRAY_SERVER_TOKEN (a personal access token), or XRAY_SERVER_USER and "
                        "XRAY_SERVER_PASSWORD")


def auth_failed(detail: str, s: Settings) -> AuthenticationError:
    if "another region" in detail.lower():
        return AuthenticationError(f"Xray refused the request: {detail}",
                                   "your Xray data lives in a regional host: set XRAY_REGION=us, eu or au "
                                   "(or XRAY_BASE_URL to https://<region>.xray.cloud.getxray.app)")
    what = "client id/secret" if s.is_cloud else "Server/DC credentials"
    return AuthenticationError(f"Xray refused the {what}: {detail}",
                               "check XRAY_CLIENT_ID/XRAY_CLIENT_SECRET (Jira > Apps > Xray > API Keys) and "
                               "that XRAY_BASE_URL/XRAY_REGION point at your Xray" if s.is_cloud else
                               "check XRAY_SERVER_TOKEN or XRAY_SERVER_USER/XRAY_SERVER_PASSWORD")
