"""HTTP: the threaded server, routing, fault gates and the request log.

HTTP/1.1 with keep-alive; ``Expect: 100-continue`` is answered with ``100 Continue`` before the body is
read; bodies come with ``Content-Length`` or ``Transfer-Encoding: chunked`` and are spooled (at most
8 MiB in memory). Every answer is JSON, except an exported feature file or zip and the web pages
(:mod:`~xray_tasks.sandbox.web`). A body the handler did not need is still read to its end, so an early
error (401, 429, 404…) reaches the client instead of a reset connection. Requests under ``/sandbox`` and
for the web pages are not logged; every other request is, just before its
answer is sent (``status`` is null for a dropped one), so a client that has its answer finds the request
in the log.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from xray_tasks.sandbox import cloud, errors, featureapi, issueapi, readapi, readback, server_dc, web, xray_graphql
from xray_tasks.sandbox.bodies import Body, BodyError
from xray_tasks.sandbox.config import Runtime
from xray_tasks.sandbox.errors import ApiError
from xray_tasks.sandbox.exchange import Request, Response
from xray_tasks.sandbox.imports import Outcome
from xray_tasks.sandbox.store import ISSUE_TYPES

__all__ = ["SandboxHTTPServer"]

_FORMATS = r"(?:/(junit|testng|nunit|xunit|robot|cucumber|behave))?"
Handler = Callable[["RequestHandler", Request, "re.Match[str]"], Response]


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    methods: dict[str, Handler]
    #: one of the stand-in's web pages: like ``/sandbox/...``, never logged and never slowed by faults
    page: bool = False


def _gate(rt: Runtime) -> None:
    """The 429/503 faults of import and authenticate requests."""
    retry = rt.faults.take_429()
    if retry is not None:
        raise ApiError(429, errors.RATE_LIMITED.format(seconds=retry), {"Retry-After": str(retry)})
    if rt.faults.take_503():
        raise ApiError(503, errors.UNAVAILABLE)


def _authenticate(h: RequestHandler, req: Request, m: re.Match[str]) -> Response:
    _gate(h.rt)
    return cloud.authenticate(h.rt, req)


def _cloud_import(h: RequestHandler, req: Request, m: re.Match[str]) -> Response:
    return _import(h.rt, req, "cloud", m.group(2) or "xray", bool(m.group(3)), m.group(1))


def _server_import(h: RequestHandler, req: Request, m: re.Match[str]) -> Response:
    return _import(h.rt, req, "server", m.group(2) or "xray", bool(m.group(3)), m.group(1))


def _import(rt: Runtime, req: Request, dialect: str, fmt: str, multipart: bool, version: str) -> Response:
    _gate(rt)
    faults = rt.faults
    if dialect == "cloud":
        cloud.authorize_api(rt, req)
    else:
        server_dc.authorize(rt, req)
    if faults.accept_without_parsing:
        size = req.body.discard()
        req.record["note"] = "accepted without parsing"
        return _respond(rt, req, dialect, version, _bare_execution(rt, req, fmt, multipart, dialect, size))
    drop, process = faults.take_drop()
    if drop and not process:
        req.body.discard()
        req.record["note"] = "dropped after reading the body (not imported)"
        return Response(0, None, drop=True)
    with req.body.spool() as spool:
        try:
            if dialect == "cloud":
                resp = cloud.import_execution(rt, req, spool, fmt, multipart)
            else:
                resp = server_dc.import_execution(rt, req, spool, fmt, multipart, version)
        except ApiError as exc:
            if not drop:
                raise
            req.record["error"] = exc.message
            resp = Response(exc.status, None)
    if drop:
        req.record["note"] = f"dropped after reading the body (processed: {resp.status})"
        return Response(0, None, drop=True)
    return resp


def _bare_execution(rt: Runtime, req: Request, fmt: str, multipart: bool, dialect: str, size: int) -> Outcome:
    store = rt.store
    project = store.project(req.param("projectKey") or "") or store.project(store.project_keys()[0])
    assert project is not None
    issue = store.create_execution(project["key"], f"Accepted without parsing ({size} bytes)", labels=[],
                                   components=[], fix_versions=[], environments=[], format=fmt,
                                   endpoint=req.path, dialect=dialect, multipart=multipart)
    return Outcome(execution=issue, tests=[], created=True)


def _respond(rt: Runtime, req: Request, dialect: str, version: str, outcome: Outcome) -> Response:
    if dialect == "cloud":
        return cloud.respond(rt, req, outcome)
    return server_dc.respond(rt, req, outcome, version)


def _gated(fn: Callable[[Runtime, Request], Response]) -> Handler:
    """A feature import/export handler behind the same 429/503 faults as the execution imports."""
    def handle(h: RequestHandler, req: Request, m: re.Match[str]) -> Response:
        _gate(h.rt)
        return fn(h.rt, req)

    return handle


def _issue(h: RequestHandler, req: Request, m: re.Match[str]) -> Response:
    """Jira's ``GET /rest/api/2/issue/<id or key>`` (Server credentials or a Cloud token)."""
    rt = h.rt
    auth = req.auth()
    if auth is not None and auth[0] == "bearer" and auth[1] != rt.config.server_token:
        cloud.authorize(rt, req)
    else:
        server_dc.authorize(rt, req)
    issue = rt.store.issue(m.group(1))
    if issue is None:
        raise ApiError(404, "Issue Does Not Exist")
    project = rt.store.project(issue["project"])
    assert project is not None
    return Response(200, {"id": str(issue["id"]), "key": issue["key"], "self": rt.issue_self(issue["id"]),
                          "fields": {"summary": issue["summary"], "created": issue["created"],
                                     "project": {"id": str(project["id"]), "key": project["key"],
                                                 "name": project["name"]},
                                     "issuetype": {"id": ISSUE_TYPES[issue["type"]], "name": issue["type"]}}})


def _graphql(h: RequestHandler, req: Request, m: re.Match[str]) -> Response:
    """Cloud GraphQL: the same token, rate limits and region check as imports."""
    _gate(h.rt)
    cloud.authorize_api(h.rt, req)
    return xray_graphql.endpoint(h.rt, req)


def _with(fn: Callable[[Runtime, Request, str], Response], group: int = 1) -> Handler:
    return lambda h, req, m: fn(h.rt, req, m.group(group))


def _read(fn: Callable[[Runtime, Request], Response]) -> Handler:
    return lambda h, req, m: fn(h.rt, req)


ROUTES: tuple[Route, ...] = (
    Route(re.compile(r"/api/(v1|v2)/authenticate"), {"POST": _authenticate}),
    Route(re.compile(rf"/api/(v1|v2)/import/execution{_FORMATS}(/multipart)?"), {"POST": _cloud_import}),
    Route(re.compile(rf"/rest/raven/(1\.0|2\.0|latest)/import/execution{_FORMATS}(/multipart)?"),
          {"POST": _server_import}),
    Route(re.compile(r"/api/(v1|v2)/import/feature"), {"POST": _gated(featureapi.cloud_import)}),
    Route(re.compile(r"/api/(v1|v2)/export/cucumber"), {"GET": _gated(featureapi.cloud_export)}),
    Route(re.compile(r"/rest/raven/(1\.0|2\.0|latest)/import/feature"), {"POST": _gated(featureapi.server_import)}),
    Route(re.compile(r"/rest/raven/(1\.0|2\.0|latest)/export/test"), {"GET": _gated(featureapi.server_export)}),
    Route(re.compile(r"/rest/api/2/field"), {"GET": _read(server_dc.fields)}),
    Route(re.compile(r"/rest/api/2/myself"), {"GET": _read(server_dc.myself)}),
    Route(re.compile(r"/rest/api/2/issue/([^/]+)"), {"GET": _issue}),
    Route(re.compile(r"/api/(v1|v2)/graphql"), {"POST": _graphql}),
    Route(re.compile(r"/api/(?:v1|v2)/attachments/([^/]+)"), {"GET": _with(readback.cloud_attachment)}),
    Route(re.compile(r"/rest/api/2/issue"), {"POST": _read(readback.create_issue)}),
    Route(re.compile(r"/rest/raven/(?:1\.0|2\.0|latest)/api/testexec/([^/]+)/test"),
          {"GET": _with(readback.testexec_tests), "POST": _with(readback.testexec_tests)}),
    Route(re.compile(r"/rest/raven/(?:1\.0|2\.0|latest)/(?:api/)?testruns"), {"GET": _read(readback.testruns)}),
    Route(re.compile(r"/rest/raven/(?:1\.0|2\.0|latest)/api/testrun"),
          {"GET": lambda h, req, m: readback.test_run(h.rt, req, None)}),
    Route(re.compile(r"/rest/raven/(?:1\.0|2\.0|latest)/api/testrun/(\d+)"), {"GET": _with(readback.test_run)}),
    Route(re.compile(r"/rest/raven/(?:1\.0|2\.0|latest)/api/testplan/([^/]+)/testexecution"),
          {"GET": _with(readback.plan_executions), "POST": _with(readback.plan_executions)}),
    Route(re.compile(r"/rest/raven/(?:1\.0|2\.0|latest)/api/settings/teststatuses"),
          {"GET": _read(readback.test_statuses)}),
    Route(re.compile(r"/plugins/servlet/raven/attachment/(\d+)/[^/]*"), {"GET": _with(readback.server_attachment)}),
    Route(re.compile(r"/sandbox/health"), {"GET": _read(readapi.health)}),
    Route(re.compile(r"/sandbox/runs"), {"GET": _read(readapi.runs)}),
    Route(re.compile(r"/sandbox/runs/([^/]+)"), {"GET": _with(readapi.run)}),
    Route(re.compile(r"/sandbox/evidence/([^/]+)"), {"GET": _with(readapi.evidence)}),
    Route(re.compile(r"/sandbox/environments"), {"GET": _read(readapi.environments)}),
    Route(re.compile(r"/sandbox/executions"), {"GET": _read(readapi.executions)}),
    Route(re.compile(r"/sandbox/executions/([^/]+)"), {"GET": _with(readapi.execution)}),
    Route(re.compile(r"/sandbox/tests"), {"GET": _read(readapi.tests), "POST": _read(readapi.create_test)}),
    Route(re.compile(r"/sandbox/requests"), {"GET": _read(readapi.requests)}),
    Route(re.compile(r"/sandbox/issues"), {"POST": _read(issueapi.create_issue)}),
    Route(re.compile(r"/sandbox/filters"), {"GET": _read(issueapi.filters), "POST": _read(issueapi.filters)}),
    Route(re.compile(r"/sandbox/gherkin/([^/]+)"), {"GET": _with(issueapi.gherkin)}),
    Route(re.compile(r"/sandbox/reset"), {"POST": _read(readapi.reset)}),
    Route(re.compile(r"/sandbox/faults"), {"GET": _read(readapi.faults), "POST": _read(readapi.faults),
                                           "DELETE": _read(readapi.faults)}),
    Route(re.compile(r"/"), {"GET": _read(web.executions)}, page=True),
    Route(re.compile(r"/executions/([^/]+)"), {"GET": _with(web.execution)}, page=True),
    Route(re.compile(r"/tests"), {"GET": _read(web.tests)}, page=True),
    Route(re.compile(r"/requests"), {"GET": _read(web.requests)}, page=True),
    Route(re.compile(r"/style\.css"), {"GET": _read(web.style)}, page=True),
    Route(re.compile(r"/favicon\.ico"), {"GET": _read(web.favicon)}, page=True),
)


def route(method: str, path: str) -> tuple[Handler | None, re.Match[str] | None, list[str]]:
    """(handler, match, []) for a known path and method; (None, None, allowed methods) otherwise."""
    for r in ROUTES:
        m = r.pattern.fullmatch(path)
        if m is not None:
            if method in r.methods:
                return r.methods[method], m, []
            return None, None, sorted(r.methods)
    return None, None, []


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server bound to one :class:`Runtime`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], rt: Runtime, log: Callable[[str], None] | None = None) -> None:
        self.rt = rt
        self.log = log
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, RequestHandler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        with self._open_lock:
            self._open.add(conn)
        return conn, addr

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client that went away (reset, broken pipe, a stop cutting keep-alives): not news
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Cut every open (keep-alive) connection, so nothing is served after a stop."""
        with self._open_lock:
            open_now, self._open = list(self._open), set()
        for conn in open_now:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "XraySandbox/1.0"
    timeout = 120  # seconds of silence before an idle or stalled connection is closed
    server: SandboxHTTPServer
    _expect_continue = False
    error_content_type = "application/json"
    error_message_format = '{"error": "%(code)d %(message)s"}\n'  # the base class's own errors, as JSON

    @property
    def rt(self) -> Runtime:
        return self.server.rt

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def handle_expect_100(self) -> bool:
        self._expect_continue = True
        return super().handle_expect_100()

    def log_message(self, format: str, *args: object) -> None:
        pass  # requests are logged by _handle

    def _handle(self) -> None:
        started = time.monotonic()
        rt = self.rt
        expect, self._expect_continue = self._expect_continue, False
        url = urlsplit(self.path)
        path = url.path
        query = parse_qsl(url.query, keep_blank_values=True)
        internal = path == "/sandbox" or path.startswith("/sandbox/") or any(
            r.page and r.pattern.fullmatch(path) for r in ROUTES)
        if rt.faults.take_expire_tokens():
            rt.tokens.revoke_all()
        try:
            body = Body(self.rfile, self.headers)
        except BodyError as exc:
            self.close_connection = True
            self._send(Response(400, {"error": errors.BODY_MALFORMED.format(reason=exc)}))
            return
        req = Request(self.command, path, query, self.headers, body)
        resp = self._answer(req, path, internal)
        if not body.finished and not self.close_connection:
            try:
                body.discard()
            except (BodyError, OSError):
                self.close_connection = True
        if not internal:  # before answering: once a client has its answer, the log shows the request
            self._log(req, resp, started, expect)
        if resp.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        else:
            self._send(resp)

    def _answer(self, req: Request, path: str, internal: bool) -> Response:
        handler, match, allowed = route(self.command, path)
        try:
            if handler is None or match is None:
                if allowed:
                    raise ApiError(405, errors.METHOD_NOT_ALLOWED.format(
                        method=self.command, path=path, allowed=", ".join(allowed)), {"Allow": ", ".join(allowed)})
                raise ApiError(404, errors.NOT_FOUND.format(path=path))
            if not internal:
                delay = self.rt.faults.latency()
                if delay:
                    time.sleep(delay)
            return handler(self, req, match)
        except ApiError as exc:
            req.record["error"] = exc.message
            return Response(exc.status, {"error": exc.message}, exc.headers)
        except BodyError as exc:
            self.close_connection = True
            message = errors.BODY_MALFORMED.format(reason=exc)
            req.record["error"] = message
            return Response(400, {"error": message})
        except Exception as exc:  # an answer, not a dead connection; the traceback goes to stderr
            traceback.print_exc(file=sys.stderr)
            message = f"An internal error occurred when importing execution results: {type(exc).__name__}: {exc}"
            req.record["error"] = message
            return Response(500, {"error": message})

    def _send(self, resp: Response) -> None:
        payload = resp.body if isinstance(resp.body, bytes) else json.dumps(resp.body).encode("utf-8")
        headers = {"Content-Type": resp.content_type, **resp.headers}
        try:
            self.send_response(resp.status)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _log(self, req: Request, resp: Response, started: float, expect: bool) -> None:
        duration = (time.monotonic() - started) * 1000
        status = None if resp.drop else resp.status
        self.rt.store.log_request(
            method=self.command, path=req.path, query=dict(req.query), status=status,
            content_type=req.raw_content_type or None, body_size=req.body.size, duration_ms=round(duration, 3),
            parts=req.record.get("parts", []), dialect=req.record.get("dialect"), auth=req.record.get("auth"),
            expect_continue=expect, chunked=req.body.chunked, execution=req.record.get("execution"),
            error=req.record.get("error"), note=req.record.get("note"))
        if self.server.log is not None:
            shown = "dropped" if status is None else str(status)
            extra = f" {req.record['execution']}" if req.record.get("execution") else ""
            self.server.log(f"{self.command} {req.path} -> {shown}{extra} ({req.body.size} bytes, {duration:.0f} ms)")
