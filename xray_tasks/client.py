"""The HTTP client: sends import plans to Xray and maps every answer to a result or one error.

Retry policy (the README's "Reliability" section says the same):

* retried, with exponential backoff and jitter, within ``XRAY_MAX_RETRIES`` attempts and
  ``XRAY_RETRY_BUDGET`` seconds: connection failures before the request was sent (refused, DNS, connect
  timeout), a body that could not be written completely, 429 (waiting ``Retry-After``, capped) and
  502/503/504;
* a request that may already have been processed (read timeout, connection reset or closed after the
  body was sent, 500) is retried only when it cannot duplicate anything: authentication, and imports
  into an existing Test Execution. An import that would *create* a Test Execution ends with
  :class:`ImportUncertainError` saying how to check instead of risking a duplicate;
* a 401 on a cached Cloud token drops the token, authenticates once more and retries once;
* besides the per-read/write timeouts, no request outlives ``XRAY_DEADLINE`` seconds
  (:mod:`xray_tasks.deadline`); one cut short counts as a read timeout in the rules above.

Retries are a hand-written loop rather than a retry library because the decision depends on facts
only this module knows (was the body sent, does the request create an execution).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from xray_tasks import __version__
from xray_tasks.auth import Token, TokenCache, auth_failed, require_cloud_credentials, server_auth_header
from xray_tasks.deadline import Deadline
from xray_tasks.errors import (
    AuthenticationError,
    ImportUncertainError,
    SettingsError,
    XrayRejectedError,
    XrayTasksError,
    XrayUnavailableError,
)
from xray_tasks.settings import Settings

if TYPE_CHECKING:
    from xray_tasks.plan import ImportPlan

__all__ = ["ImportResult", "XrayClient", "make_http"]

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER = 60.0
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


def make_http(s: Settings) -> httpx.Client:
    """An httpx client with the configured timeouts, TLS and proxy (HTTPS_PROXY/NO_PROXY honoured)."""
    parts = urlsplit(s.base_url)
    if parts.scheme == "http" and not s.is_loopback and not s.allow_http:
        raise SettingsError(f"refusing to send credentials over plain http to {parts.hostname}",
                            "use https://, or set XRAY_ALLOW_HTTP=true for a trusted test server")
    verify: Any = True
    if s.ca_bundle:
        import ssl

        try:
            verify = ssl.create_default_context(cafile=s.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise SettingsError(f"cannot load XRAY_CA_BUNDLE={s.ca_bundle}: {exc}",
                                "point it at a PEM file of CA certificates") from None
    elif not s.verify_tls:
        verify = False
    timeout = httpx.Timeout(s.timeout, connect=s.connect_timeout, pool=s.connect_timeout)
    # No idle connections: each request opens its own, which its Deadline can then cut.
    return httpx.Client(timeout=timeout, verify=verify, proxy=s.proxy or None, trust_env=True,
                        limits=httpx.Limits(max_keepalive_connections=0),
                        headers={"User-Agent": f"xray-tasks/{__version__}"})


def xray_error_text(resp: httpx.Response) -> str:
    """Xray's own error message from a response body (JSON ``error``, Jira ``errorMessages``, or text)."""
    try:
        body = resp.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        for key in ("error", "message", "errorMessage"):
            if isinstance(body.get(key), str) and body[key].strip():
                return " ".join(body[key].split())
        msgs = [m for m in body.get("errorMessages") or [] if isinstance(m, str)]
        errs = body.get("errors")
        if isinstance(errs, dict):
            msgs += [f"{k}: {v}" for k, v in errs.items()]
        if msgs:
            return "; ".join(msgs)
    if isinstance(body, str):
        return body
    text = resp.text if resp.content else ""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S | re.I)
    text = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    return (text[:200] + "…" if len(text) > 200 else text) or f"HTTP {resp.status_code} with an empty body"


def _hint_for_400(message: str) -> str:
    low = message.lower()
    if "status" in low and "does not exist" in low:
        return ("Xray JSON statuses differ per deployment: Cloud uses PASSED/FAILED, Server/DC PASS/FAIL — "
                "write the report for your deployment (pytest-jira-xray: --cloud only for Cloud)")
    if "project" in low and "required" in low:
        return "set XRAY_PROJECT_KEY or --project (for Xray JSON, or info.project inside the report)"
    if "project" in low and ("no project" in low or "not found" in low or "retrieving project" in low):
        return "check XRAY_PROJECT_KEY / --project: it must be an existing Jira project key"
    if "environment" in low:
        return "use Test Environments that exist in the project (XRAY_TEST_ENVIRONMENTS / --test-env)"
    if "summary" in low:
        return "give the Test Execution a summary (--var summary=... with templates, or info.summary in Xray JSON)"
    if "xrayfields" in low:
        return "the info template may only put testPlanKey and environments in xrayFields"
    if "test plan" in low or "testplan" in low:
        return "check XRAY_TEST_PLAN_KEY / --test-plan: it must be an existing Test Plan issue"
    if "test execution" in low or "testexec" in low:
        return "check XRAY_TEST_EXEC_KEY / --test-exec: it must be an existing Test Execution issue"
    if "issuetype" in low or "issue type" in low:
        return "check fields.issuetype in the info template"
    if "fixversion" in low or "version" in low:
        return "check XRAY_FIX_VERSION / --fix-version: the version must exist in the project"
    return "fix what Xray names above, then run again (add --dry-run to see the request)"


def error_for_response(resp: httpx.Response, action: str, s: Settings) -> XrayTasksError:
    """The one place that turns an unsuccessful Xray answer into our error, with Xray's text."""
    text = xray_error_text(resp)
    status = resp.status_code
    where = f"{resp.request.method} {resp.request.url.copy_with(query=None)}"
    if status == 401:
        return auth_failed(text, s)
    if status == 403:
        return XrayRejectedError(f"{action}: Xray answered 403 Forbidden: {text}",
                                 "the API key's Jira user needs permission to create issues in the project",
                                 status=status, xray_error=text)
    if status == 404:
        return XrayRejectedError(f"{action}: {where} answered 404 Not Found: {text}",
                                 "check XRAY_BASE_URL (Cloud: https://xray.cloud.getxray.app, no path; "
                                 "Server/DC: the Jira base URL) and XRAY_DEPLOYMENT", status=status, xray_error=text)
    if status == 413:
        return XrayRejectedError(f"{action}: Xray answered 413, the request is too large: {text}",
                                 "split the report into several files, or lower XRAY_MAX_REQUEST_MB so "
                                 "xray-tasks splits it", status=status, xray_error=text)
    if status == 429:
        return XrayUnavailableError(f"{action}: Xray kept answering 429 Too Many Requests: {text}",
                                    "Xray Cloud allows 300 requests per 5 minutes on Standard; wait and run "
                                    "again, or raise XRAY_MAX_RETRIES / XRAY_RETRY_BUDGET")
    if status >= 500:
        return XrayUnavailableError(f"{action}: Xray answered {status}: {text}",
                                    "Xray is having trouble; run again later")
    if status >= 400:
        return XrayRejectedError(f"{action}: Xray answered {status}: {text}", _hint_for_400(text),
                                 status=status, xray_error=text)
    return XrayRejectedError(f"{action}: unexpected HTTP {status} from {where}: {text}",
                             "check XRAY_BASE_URL", status=status, xray_error=text)


class _Retry(Exception):
    """A failed attempt worth another: ``error`` is raised if none is left; ``note`` is what the retry
    line says (the error's own text where no shorter one is given)."""

    def __init__(self, error: XrayTasksError, wait: float | None = None, note: str | None = None) -> None:
        self.error = error
        self.wait = wait
        self.note = note or error.message


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class XrayClient:
    """Authenticates and sends import plans; the only code that talks to Xray."""

    def __init__(self, s: Settings, http: httpx.Client | None = None, *, cache: TokenCache | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 log: Callable[[str], None] | None = None) -> None:
        self.settings = s
        self.http = http if http is not None else make_http(s)
        self.cache = cache if cache is not None else TokenCache.for_settings(s)
        self.sleep = sleep
        self.log = log or (lambda _msg: None)
        if not s.verify_tls and not s.ca_bundle and s.base_url.startswith("https://"):
            self.log("xray-tasks: warning: TLS certificates are not verified (XRAY_VERIFY_TLS=false): anyone "
                     "on the network path could read the credentials; for a private CA set XRAY_CA_BUNDLE instead")
        self._token: Token | None = None
        self.requests_sent = 0

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> XrayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- authentication -------------------------------------------------------------------------

    @property
    def api_root(self) -> str:
        return self.settings.api_url

    def authenticate(self, *, force: bool = False) -> Token:
        """A usable Cloud token: from memory, the disk cache, or ``POST /api/v2/authenticate`` (or v1)."""
        s = self.settings
        client_id, client_secret = require_cloud_credentials(s)
        if not force and self._token and self._token.usable():
            return self._token
        with self.cache.lock():
            return self._authenticate(client_id, client_secret, force=force)

    def _authenticate(self, client_id: str, client_secret: str, *, force: bool) -> Token:
        s = self.settings
        if not force:  # checked under the lock: another process may just have authenticated
            cached = self.cache.get(s.api_url, client_id, client_secret)
            if cached:
                self._token = cached
                return cached
        url = f"{self.api_root}/authenticate"
        resp = self._send("authenticate", lambda: {"method": "POST", "url": url,
                                                    "json": {"client_id": client_id,
                                                             "client_secret": client_secret}},
                          idempotent=True)
        if resp.status_code != 200:
            if resp.status_code in (400, 401, 403):
                raise auth_failed(xray_error_text(resp), s)
            raise error_for_response(resp, "authenticate", s)
        value = _token_in(resp)
        if value is None:
            raise XrayRejectedError(f"authenticate: {url} did not answer with a token "
                                    f"({resp.headers.get('content-type', 'no content type')})",
                                    "check XRAY_BASE_URL: it must be the Xray API host, not Jira's")
        self._token = Token.issued_now(value)
        try:
            self.cache.put(s.api_url, client_id, self._token, client_secret)
        except SettingsError as exc:  # the token still serves this run
            self.log(f"xray-tasks: warning: {exc.message}; the token is used for this run only — {exc.hint}")
        return self._token

    def forget_token(self) -> None:
        self._token = None
        if self.settings.client_id:
            self.cache.drop(self.settings.api_url, self.settings.client_id, self.settings.client_secret or "")

    def auth_header(self) -> str:
        if self.settings.is_cloud:
            return f"Bearer {self.authenticate().value}"
        return server_auth_header(self.settings)[1]

    def auth_scheme(self) -> str:
        return "Bearer" if self.settings.is_cloud else server_auth_header(self.settings)[0]

    def check_server_credentials(self) -> dict[str, Any]:
        """Server/DC: one authenticated GET of the current user (Jira's /rest/api/2/myself)."""
        url = f"{self.settings.base_url}/rest/api/2/myself"
        header = self.auth_header()
        resp = self._send("check credentials", lambda: {"method": "GET", "url": url,
                                                        "headers": {"Authorization": header}},
                          idempotent=True)
        if resp.status_code != 200:
            raise error_for_response(resp, "check credentials", self.settings)
        try:
            body = resp.json()
        except ValueError:
            body = {}
        return body if isinstance(body, dict) else {}

    # -- imports --------------------------------------------------------------------------------

    def send(self, plan: ImportPlan) -> ImportResult:
        """Send one import; on a 401 with a cached token, authenticate again and retry once."""
        started = time.monotonic()
        action = f"import {plan.label}"
        url = plan.url(self.settings.base_url)
        for round_ in (1, 2):
            header = self.auth_header()
            cached = bool(self._token and self._token.from_cache)
            resp = self._send(action, lambda h=header: self._request_args(plan, url, h),
                              idempotent=not plan.creates_execution)
            if resp.status_code == 401 and self.settings.is_cloud and round_ == 1:
                if "another region" in xray_error_text(resp).lower():
                    raise auth_failed(xray_error_text(resp), self.settings)
                self.log(f"{action}: token refused{' (cached)' if cached else ''}; authenticating again")
                self.forget_token()
                continue
            break
        if resp.status_code == 401 and self.settings.is_cloud:
            raise AuthenticationError(
                f"{action}: Xray refused a token it had just issued: {xray_error_text(resp)}",
                "the client id/secret were accepted but the import was not: check that XRAY_BASE_URL/XRAY_REGION "
                "point at the Xray that holds the project, and that the API key is still enabled")
        if resp.status_code == 500 and plan.creates_execution:
            raise ImportUncertainError(
                f"{action}: Xray answered 500 ({xray_error_text(resp)}); the Test Execution may or may not "
                "have been created, so it was not sent again",
                "look for a new Test Execution in the project before running again")
        if not 200 <= resp.status_code < 300:
            raise error_for_response(resp, action, self.settings)
        return self._result(resp, action, time.monotonic() - started)

    def _request_args(self, plan: ImportPlan, url: str, header: str) -> dict[str, Any]:
        headers = {"Authorization": header}
        if not plan.multipart:
            headers["Content-Type"] = plan.content_type or "application/octet-stream"
            content: Any = plan.body if plan.body is not None else _open(plan.report)
            return {"method": "POST", "url": url, "headers": headers, "content": content}
        files = []
        for part in plan.parts:
            payload: Any = part.data if part.data is not None else _open(part.path)  # type: ignore[arg-type]
            files.append((part.name, (part.filename, payload, part.content_type)))
        return {"method": "POST", "url": url, "headers": headers, "files": files}

    def _result(self, resp: httpx.Response, action: str, duration: float) -> ImportResult:
        try:
            body = resp.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        issue = body.get("testExecIssue", body) if isinstance(body, dict) else None
        if not isinstance(issue, dict) or not isinstance(issue.get("key"), str):
            raise XrayRejectedError(
                f"{action}: Xray answered {resp.status_code} but not with a Test Execution "
                f"({resp.headers.get('content-type', 'no content type')}: {xray_error_text(resp)[:120]})",
                "check XRAY_BASE_URL and XRAY_DEPLOYMENT: the answer did not come from Xray's import API")
        key = issue["key"]
        return ImportResult(key=key, id=str(issue.get("id")) if issue.get("id") is not None else None,
                            url=self.browse_url(key, issue.get("self")), status=resp.status_code,
                            duration=duration, attempts=self._last_attempts, response=body)  # type: ignore[arg-type]

    def browse_url(self, key: str, self_link: Any = None) -> str | None:
        if self.settings.jira_url:
            return f"{self.settings.jira_url.rstrip('/')}/browse/{key}"
        if isinstance(self_link, str) and "/rest/api/" in self_link:
            return f"{self_link.split('/rest/api/')[0]}/browse/{key}"
        if not self.settings.is_cloud:
            return f"{self.settings.base_url}/browse/{key}"
        return None

    # -- transport with retries -----------------------------------------------------------------

    _last_attempts = 0

    def _send(self, action: str, build: Callable[[], dict[str, Any]], *, idempotent: bool) -> httpx.Response:
        s = self.settings
        deadline = time.monotonic() + s.retry_budget
        attempt = 0
        while True:
            attempt += 1
            self._last_attempts = attempt
            try:
                return self._attempt(action, build, idempotent=idempotent)
            except _Retry as retry:
                wait = retry.wait if retry.wait is not None else min(
                    BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
                wait = min(wait, MAX_RETRY_AFTER)
                if attempt > s.max_retries or time.monotonic() + wait > deadline:
                    tried = f" (tried {attempt} time{'s' if attempt > 1 else ''})"
                    err = retry.error
                    raise type(err)(err.message + tried, err.hint) from None
                self.log(f"{retry.note}; retrying in {wait:.1f}s "
                         f"(attempt {attempt + 1} of {s.max_retries + 1})")
                self.sleep(wait)

    def _attempt(self, action: str, build: Callable[[], dict[str, Any]], *, idempotent: bool) -> httpx.Response:
        s = self.settings
        args = build()
        host = urlsplit(args["url"]).netloc
        deadline = Deadline(s.deadline)
        args["extensions"] = {"trace": deadline.trace}
        try:
            try:
                with _closing_payloads(args), deadline:
                    self.requests_sent += 1
                    resp = self.http.request(**args)
            except httpx.TransportError:
                if not deadline.expired:
                    raise
                what = f"no complete answer within XRAY_DEADLINE={s.deadline:g}s"
                if not _sent_whole(args):
                    raise _Retry(XrayUnavailableError(f"{action}: {what}; the report was not sent completely, "
                                                      "so nothing was imported",
                                                      "check the link's speed; raise XRAY_DEADLINE for very large "
                                                      "reports")) from None
                if idempotent:
                    raise _Retry(XrayUnavailableError(f"{action}: {what}", "Xray may be slow: raise "
                                                      "XRAY_DEADLINE or run again")) from None
                raise ImportUncertainError(
                    f"{action}: {what}; Xray may have created the Test Execution, so it was not sent again",
                    "look for a new Test Execution in the project before running again; raise XRAY_DEADLINE "
                    "for very large reports or slow links") from None
        except (httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise _Retry(XrayUnavailableError(f"{action}: connecting to {host} timed out ({type(exc).__name__})",
                                              "check the network and XRAY_BASE_URL; raise "
                                              "XRAY_CONNECT_TIMEOUT if the link is slow")) from None
        except httpx.ConnectError as exc:
            error = XrayUnavailableError(f"{action}: cannot connect to {host}: {_reason(exc)}",
                                         "check XRAY_BASE_URL, the network, and HTTPS_PROXY")
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):  # the same certificate comes back every time
                raise error from None
            raise _Retry(error) from None
        except (httpx.WriteTimeout, httpx.WriteError) as exc:
            raise _Retry(XrayUnavailableError(f"{action}: sending to {host} failed before the request was "
                                              f"complete ({type(exc).__name__})",
                                              "check the network; raise XRAY_TIMEOUT for large reports")) from None
        except (httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            what = (f"no answer within {s.timeout:g}s" if isinstance(exc, httpx.ReadTimeout)
                    else f"the connection closed without an answer ({_reason(exc)})")
            if not _sent_whole(args):  # httpcore reports a failed write as a failed read
                raise _Retry(XrayUnavailableError(f"{action}: the connection broke before the report was sent "
                                                  f"completely ({what}); nothing was imported",
                                                  "check the network and any proxy between here and Xray; "
                                                  "run again")) from None
            if idempotent:
                raise _Retry(XrayUnavailableError(f"{action}: {what}",
                                                  "Xray may be slow: raise XRAY_TIMEOUT or run again")) from None
            raise ImportUncertainError(
                f"{action}: the report was sent but {what}; Xray may have created the Test Execution, so it "
                "was not sent again",
                "look for a new Test Execution in the project before running again; raise XRAY_TIMEOUT "
                "for large reports") from None
        except httpx.UnsupportedProtocol:
            raise SettingsError(f"XRAY_BASE_URL={s.base_url!r} has an unsupported scheme",
                                "use https://") from None
        except httpx.TransportError as exc:
            raise _Retry(XrayUnavailableError(f"{action}: network error talking to {host}: {_reason(exc)}",
                                              "check the network and XRAY_BASE_URL")) from None
        if resp.status_code in RETRY_STATUSES:
            err = error_for_response(resp, action, s)
            wait = _retry_after(resp) if resp.status_code == 429 else None
            raise _Retry(err, wait, f"{action}: Xray answered {resp.status_code}: {xray_error_text(resp)}")
        if resp.status_code == 500 and idempotent:
            raise _Retry(error_for_response(resp, action, s))
        return resp


_BARE_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{16,}")


def _token_in(resp: httpx.Response) -> str | None:
    """The token in an authenticate answer: Xray sends a JSON string (the JWT in quotes); a bare token
    is taken too, as curl users' ``tr -d '"'`` and other clients do. Anything else is not a token."""
    try:
        value = resp.json()
    except (ValueError, UnicodeDecodeError):
        value = resp.text.strip()
        return value if _BARE_TOKEN.fullmatch(value) else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text \
            or "Temporary failure in name resolution" in text:
        return "the host name does not resolve (DNS)"
    if "Connection refused" in text:
        return "connection refused"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "the TLS certificate is not trusted (set XRAY_CA_BUNDLE to your CA file)"
    return text.splitlines()[0][:160]


UPLOAD_CHUNK = 1024 * 1024  # bytes read from a report per write to the socket


class _UploadFile(io.FileIO):
    """A report opened for upload, streamed from disk and never read whole.

    httpx sends a file object with a ``Content-Length`` from ``fstat`` and reads it 64 KiB per call;
    reading ``UPLOAD_CHUNK`` per call instead cuts the per-chunk overhead (h11 framing, one ``sendall``
    each) so a 200 MB upload costs about what curl's does, while memory stays at one chunk.
    """

    def __init__(self, path: Any) -> None:
        super().__init__(path, "rb")
        self.size = os.fstat(self.fileno()).st_size
        #: whether httpx has read it to the end; if not, the request never carried the whole report
        self.read_whole = self.size == 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(max(size, UPLOAD_CHUNK) if size is not None and size > 0 else size)
        if not data or self.tell() >= self.size:
            self.read_whole = True
        return data  # type: ignore[return-value]


def _open(path: Any) -> Any:
    return _UploadFile(path)


def _payloads(args: dict[str, Any]) -> list[Any]:
    return [args.get("content")] + [f[1][1] for f in args.get("files") or []]


def _sent_whole(args: dict[str, Any]) -> bool:
    """False when a report file was not even read to its end: the request broke off mid-body, so Xray
    cannot have imported it, and sending it again cannot duplicate anything."""
    return all(p.read_whole for p in _payloads(args) if isinstance(p, _UploadFile))


@contextlib.contextmanager
def _closing_payloads(args: dict[str, Any]) -> Iterator[None]:
    try:
        yield
    finally:
        for p in _payloads(args):
            if hasattr(p, "close"):
                p.close()


def parse_json(resp: httpx.Response) -> Any:
    try:
        return json.loads(resp.content)
    except ValueError:
        return None


_ = AuthenticationError  # re-exported for callers that catch it from here
