"""The Xray client: authenticates, sends requests with retries, and follows what :mod:`xray_tasks.answers`
decides about each answer. The only code that talks to Xray.

Every request goes through :meth:`XrayClient.exchange`: one attempt after another
(:func:`xray_tasks.transport.attempt`), each answer or failure turned into a verdict by
:func:`~xray_tasks.answers.decipher` / :func:`~xray_tasks.answers.classify_failure`; a verdict that asks
for a retry waits (exponential backoff with jitter, or the server's ``Retry-After``) within
``XRAY_MAX_RETRIES`` attempts and ``XRAY_RETRY_BUDGET`` seconds; one that asks for a new token gets it
once. The count of attempts comes back with the answer, never through shared state, so requests sent in
parallel from one client each know their own. With ``XRAY_VERBOSE`` every attempt is traced on stderr
(:func:`xray_tasks.transport.trace_line`); ``meter`` (the console's) sees every report upload's progress.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import httpx

from xray_tasks.answers import (
    Answer,
    Kind,
    Verdict,
    classify_failure,
    decipher,
    graphql_data,
    import_result,
    token_in,
)
from xray_tasks.auth import Token, TokenCache, cloud_credentials, server_auth
from xray_tasks.console import err
from xray_tasks.deadline import Deadline
from xray_tasks.errors import SettingsError, XrayRejectedError, XrayTasksError
from xray_tasks.plan import Request
from xray_tasks.settings import Settings
from xray_tasks.transport import (
    DownloadFile,
    DownloadTooLarge,
    MeterFactory,
    attempt,
    make_http,
    tls_warning,
)

if TYPE_CHECKING:
    from xray_tasks.plan import ImportPlan

__all__ = ["ImportResult", "XrayClient"]

BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0


@dataclass(frozen=True)
class ImportResult:
    """What Xray answered to a successful import."""

    key: str
    id: str | None
    url: str | None
    status: int
    duration: float
    attempts: int
    response: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Exchanged:
    """A successful answer and how many attempts it took."""

    answer: Answer
    attempts: int


def _jitter() -> float:
    """A number in [0, 1) for spreading retries (``random`` would cost every run a few ms of start-up)."""
    return int.from_bytes(os.urandom(2), "big") / 65536


class XrayClient:
    """Authenticates and sends requests to one Xray (the settings' base URL)."""

    def __init__(self, s: Settings, http: httpx.Client | None = None, *, cache: TokenCache | None = None,
                 sleep: Callable[[float], None] = time.sleep, log: Callable[[str], None] | None = None,
                 meter: MeterFactory | None = None) -> None:
        self.settings = s
        self.http = http if http is not None else make_http(s)
        self.cache = cache if cache is not None else TokenCache.for_settings(s)
        self.sleep = sleep
        self.log = log or (lambda _msg: None)
        self.meter = meter
        warning = tls_warning(s)
        if warning:
            self.log(f"xray-tasks: warning: {warning}")
        self._token: Token | None = None
        self._active: set[Deadline] = set()

    def abort(self) -> None:
        """Cut every request under way (from another thread: an interrupt while requests run in parallel)."""
        for watchdog in list(self._active):
            watchdog.cut()

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> XrayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- authentication -------------------------------------------------------------------------------

    def authenticate(self, *, force: bool = False) -> Token:
        """A usable Cloud token: from memory, the disk cache, or ``POST {api}/authenticate``."""
        client_id, client_secret = cloud_credentials(self.settings)
        if not force and self._token and self._token.usable():
            return self._token
        with self.cache.lock():
            if not force:  # checked under the lock: another process may just have authenticated
                cached = self.cache.get(self.settings.api_url, client_id, client_secret)
                if cached:
                    self._token = cached
                    return cached
            url = f"{self.settings.api_url}/authenticate"
            done = self.exchange(Request("POST", url, json={"client_id": client_id, "client_secret": client_secret}),
                                 action="authenticate", kind=Kind.AUTHENTICATE)
            value = token_in(done.answer)
            if value is None:
                raise XrayRejectedError(f"authenticate: {url} did not answer with a token "
                                        f"({done.answer.content_type or 'no content type'})",
                                        "check XRAY_BASE_URL: it must be the Xray API host, not Jira's")
            self._token = Token.issued_now(value)
            try:
                self.cache.put(self.settings.api_url, client_id, self._token, client_secret)
            except SettingsError as exc:  # the token still serves this run
                self.log(f"xray-tasks: warning: {exc.message}; the token is used for this run only — {exc.hint}")
            return self._token

    def _forget_token(self) -> None:
        self._token = None
        client_id, client_secret = cloud_credentials(self.settings)
        self.cache.drop(self.settings.api_url, client_id, client_secret)

    def auth_header(self) -> str:
        if self.settings.is_cloud:
            return f"Bearer {self.authenticate().value}"
        return server_auth(self.settings)[1]

    def whoami(self) -> str:
        """Who the credentials are, checked with one request: Cloud authenticates (a fresh token), Server/DC
        reads Jira's ``/rest/api/2/myself``."""
        s = self.settings
        if s.is_cloud:
            token = self.authenticate(force=True)
            return f"client id {s.client_id} authenticated (token valid until {token.valid_until})"
        me = self.get_json(f"{s.base_url}/rest/api/2/myself", action="check credentials")
        who = (me.get("name") or me.get("displayName")) if isinstance(me, dict) else None
        return f"authenticated as {who or 'the configured user'} ({server_auth(s)[0]})"

    # -- requests -------------------------------------------------------------------------------------

    def get_json(self, url: str, *, action: str) -> Any:
        """An authenticated GET whose answer must be JSON."""
        done = self.exchange(Request("GET", url), action=action, kind=Kind.READ, authorized=True)
        body = done.answer.json()
        if body is None:
            raise XrayRejectedError(f"{action}: {url} did not answer with JSON ({done.answer.content_type})",
                                    "check XRAY_BASE_URL and XRAY_DEPLOYMENT")
        return body

    def download(self, url: str, path: Path, *, action: str, limit: int, limit_hint: str) -> Answer:
        """An authenticated GET whose successful body is streamed into the file ``path`` (made or emptied),
        never held in memory, and cut off past ``limit`` bytes. Retried like any read: each attempt starts
        the file over. A body over the limit is an XrayRejectedError with ``limit_hint``; a file that cannot
        be written, a SettingsError."""
        try:
            with DownloadFile(path, limit) as sink:
                return self.exchange(Request("GET", url), action=action, kind=Kind.READ, authorized=True,
                                     sink=sink).answer
        except DownloadTooLarge:
            raise XrayRejectedError(f"{action}: the answer from {url.split('?', 1)[0]} is over "
                                    f"{limit / 2**20:g} MiB, the most this download takes", limit_hint) from None
        except OSError as exc:
            raise SettingsError(f"{action}: cannot write the download to {path}: {exc.strerror or exc}",
                                "free space there, or choose another folder") from None

    def post_json(self, url: str, body: Any, *, action: str, kind: Kind) -> Answer:
        """An authenticated POST of a JSON body; the answer, for :mod:`xray_tasks.answers` to read."""
        return self.exchange(Request("POST", url, json=body), action=action, kind=kind, authorized=True).answer

    def graphql(self, query: str, variables: dict[str, Any] | None = None, *, action: str,
                kind: Kind = Kind.READ) -> dict[str, Any]:
        """One Xray Cloud GraphQL request (``{api}/graphql``, contract §9); its ``data``. Errors that GraphQL
        reports with HTTP 200 are raised like any refusal (:func:`~xray_tasks.answers.graphql_data`)."""
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return graphql_data(self.post_json(f"{self.settings.api_url}/graphql", body, action=action, kind=kind),
                            action)

    def send(self, plan: ImportPlan) -> ImportResult:
        """Send one import; the result carries the attempts it took."""
        started = time.monotonic()
        action = f"import {plan.label}"
        done = self.exchange(plan.request(self.settings.base_url), action=action,
                             kind=Kind.CREATE if plan.creates_execution else Kind.UPDATE, authorized=True)
        created = import_result(done.answer, action)
        return ImportResult(key=created.key, id=created.id, url=self.browse_url(created.key, created.self_link),
                            status=done.answer.status, duration=time.monotonic() - started,
                            attempts=done.attempts, response=created.body)

    def browse_url(self, key: str, self_link: str | None = None) -> str | None:
        if self.settings.jira_url:
            return f"{self.settings.jira_url}/browse/{key}"
        if self_link and "/rest/api/" in self_link and self_link.startswith(("https://", "http://")) \
                and self_link.isprintable() and " " not in self_link:
            return f"{self_link.split('/rest/api/')[0]}/browse/{key}"
        if not self.settings.is_cloud:
            return f"{self.settings.base_url}/browse/{key}"
        return None

    def exchange(self, request: Request, *, action: str, kind: Kind, authorized: bool = False,
                 sink: BinaryIO | None = None) -> Exchanged:
        """Send ``request`` until it succeeds, fails for good, or the retries run out; raise our error.
        A ``sink`` takes a successful answer's body (see :func:`~xray_tasks.transport.attempt`)."""
        s = self.settings
        budget_ends = time.monotonic() + s.retry_budget
        renewed = False
        tries = 0
        while True:
            tries += 1
            with_token = authorized and s.is_cloud
            if authorized:
                request = replace(request, headers={**request.headers, "Authorization": self.auth_header()})
            sent = attempt(self.http, request, deadline=s.deadline, active=self._active, sink=sink,
                           meter=self.meter, trace=_trace if s.verbose else None)
            if sent.answer is not None:
                verdict = decipher(sent.answer, action=action, kind=kind, cloud=s.is_cloud, with_token=with_token,
                                   renewed=renewed)
            else:
                assert sent.error is not None
                verdict = classify_failure(sent.error, action=action, kind=kind, host=request.host,
                                           sent_whole=sent.sent_whole, timeout=s.timeout, deadline=s.deadline)
            if verdict.ok and sent.answer is not None:
                return Exchanged(sent.answer, tries)
            if verdict.reauth:
                self.log(verdict.note)
                self._forget_token()
                renewed = True
                continue
            assert verdict.error is not None
            if not verdict.retry:
                raise verdict.error
            self._wait_or_give_up(verdict, verdict.error, tries, budget_ends)

    def _wait_or_give_up(self, verdict: Verdict, error: XrayTasksError, tries: int, budget_ends: float) -> None:
        s = self.settings
        wait = verdict.wait if verdict.wait is not None else \
            min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (tries - 1)) * (0.5 + _jitter() / 2)
        if tries > s.max_retries or time.monotonic() + wait > budget_ends:
            tried = f" (tried {tries} time{'s' if tries > 1 else ''})"
            raise type(error)(error.message + tried, error.hint) from None
        self.log(f"{verdict.note}; retrying in {wait:.1f}s (attempt {tries + 1} of {s.max_retries + 1})")
        self.sleep(wait)


def _trace(line: str) -> None:
    err(f"xray-tasks: {line}")
