"""Credentials: the Xray Cloud token cache, and the Authorization header for each deployment.

Cloud tokens live 24 hours. They are cached in one JSON file (``XRAY_TOKEN_CACHE``, default
``$XDG_CACHE_HOME/xray-tasks/tokens.json`` or ``~/.cache/xray-tasks/tokens.json``), keyed by a SHA-256 of
API URL + client id + client secret (never the secret itself), so later processes on the same machine or
CI job do not authenticate again, and a changed secret is checked by authenticating.
The file is written atomically with mode 0600 and refused when group or world can read it. A cached
token is used until ``SAFETY_MARGIN`` before it expires.

``XRAY_TOKEN_CACHE=off`` (or ``/dev/null``) switches the cache off; so does a path that is not a regular
file (a FIFO, a device), which is never opened: every process then authenticates for itself.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xray_tasks.atomic import replace_json
from xray_tasks.errors import SettingsError
from xray_tasks.redaction import register_basic, register_secret
from xray_tasks.settings import Settings

__all__ = ["SAFETY_MARGIN", "Token", "TokenCache", "cloud_credentials", "default_cache_path", "server_auth"]

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
        return cls(value=value, expires_at=exp if exp and now < exp < now + 400 * 86400 else now + TOKEN_LIFETIME)

    def usable(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.expires_at - SAFETY_MARGIN

    @property
    def valid_until(self) -> str:
        """When it expires, in local time: ``2026-11-30 09:15:00 UTC``."""
        return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(self.expires_at))


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, or None when the token is not a readable JWT."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError, OverflowError):
        return None


def default_cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xray-tasks" / "tokens.json"


def cache_key(api_url: str, client_id: str, secret: str = "") -> str:
    """The entry's name: a hash of the API URL and the credentials, so a changed (or mistyped) secret never
    reuses a token issued for the old one."""
    return hashlib.sha256(f"{api_url}\0{client_id}\0{secret}".encode()).hexdigest()


def cache_mode_problem(path: Path, st: os.stat_result) -> SettingsError | None:
    """The refusal for a cache file that other users can read (shared by the cache and ``doctor``)."""
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return SettingsError(f"the token cache {path} is readable by other users (mode {stat.S_IMODE(st.st_mode):o})",
                             f"run: chmod 600 {path}  (or delete it)")
    return None


class TokenCache:
    """Tokens on disk, one per (API URL, client id, client secret); ``path=None`` is no cache at all."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    @classmethod
    def for_settings(cls, s: Settings) -> TokenCache:
        if s.token_cache_off:
            return cls(None)
        return cls(Path(s.token_cache).expanduser() if s.token_cache else default_cache_path())

    def status(self) -> tuple[str, os.stat_result | None]:
        """``("off" | "missing" | "special" | "file", stat)``: what the cache path is, without opening it."""
        if self.path is None:
            return "off", None
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return "missing", None
        except OSError as exc:
            raise SettingsError(f"cannot read the token cache {self.path}: {exc.strerror}",
                                "fix its permissions or set XRAY_TOKEN_CACHE elsewhere (or off)") from None
        return ("file" if stat.S_ISREG(st.st_mode) else "special"), st

    def _load(self) -> dict[str, Any]:
        kind, st = self.status()
        if kind != "file" or self.path is None or st is None:
            return {}
        problem = cache_mode_problem(self.path, st)
        if problem:
            raise problem
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # a damaged cache is only a cache: authenticate again and overwrite it
        return data if isinstance(data, dict) else {}

    def get(self, api_url: str, client_id: str, secret: str = "") -> Token | None:
        entry = self._load().get(cache_key(api_url, client_id, secret))
        if not isinstance(entry, dict):
            return None
        try:
            token = Token(value=str(entry["token"]), expires_at=float(entry["expires_at"]), from_cache=True)
        except (KeyError, TypeError, ValueError):
            return None
        return token if token.usable() else None

    def put(self, api_url: str, client_id: str, token: Token, secret: str = "") -> None:
        if self.status()[0] in ("off", "special"):
            return
        now = time.time()
        data = {k: v for k, v in self._load().items() if isinstance(v, dict) and _expiry(v) > now}
        data[cache_key(api_url, client_id, secret)] = {"token": token.value, "expires_at": token.expires_at}
        self._write(data)

    def drop(self, api_url: str, client_id: str, secret: str = "") -> None:
        data = self._load()
        if data.pop(cache_key(api_url, client_id, secret), None) is not None:
            self._write(data)

    @contextlib.contextmanager
    def lock(self, wait: float = 60.0) -> Iterator[None]:
        """Hold ``<cache>.lock`` while one process authenticates, so processes started together (parallel
        CI jobs sharing a cache) authenticate once; a lock that cannot be had in ``wait`` seconds, or at
        all (no cache, no fcntl, read-only folder), is skipped: the lock only saves an authentication."""
        try:
            import fcntl
        except ImportError:  # not POSIX
            yield
            return
        if self.status()[0] in ("off", "special") or self.path is None:
            yield
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT | os.O_NONBLOCK, 0o600)
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

    def _write(self, data: dict[str, Any]) -> None:
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            replace_json(self.path, data, prefix=".tokens-", mode=0o600)
        except OSError as exc:
            raise SettingsError(f"cannot write the token cache {self.path}: {exc.strerror}",
                                "set XRAY_TOKEN_CACHE to a writable file, or to off") from None


def _expiry(entry: dict[str, Any]) -> float:
    try:
        return float(entry.get("expires_at", 0))
    except (TypeError, ValueError):
        return 0.0


def cloud_credentials(s: Settings) -> tuple[str, str]:
    """The Cloud client id and secret, or a SettingsError naming what is missing."""
    if not s.client_id or not s.client_secret:
        missing = " and ".join(n for n, v in (("XRAY_CLIENT_ID", s.client_id),
                                              ("XRAY_CLIENT_SECRET", s.client_secret)) if not v)
        raise SettingsError(f"{missing} not set",
                            "create an API key in Jira (Apps > Xray > API Keys) and put it in .env or the "
                            "environment")
    return s.client_id, s.client_secret


def server_auth(s: Settings) -> tuple[str, str]:
    """``(scheme, header value)`` for Server/DC: PAT as Bearer, else basic user/password."""
    if s.server_token:
        return "Bearer", f"Bearer {s.server_token}"
    if s.server_user and s.server_password:
        return "Basic", "Basic " + register_basic(s.server_user, s.server_password)
    raise SettingsError("no Server/DC credentials",
                        "set XRAY_SERVER_TOKEN (a personal access token), or XRAY_SERVER_USER and "
                        "XRAY_SERVER_PASSWORD")
