"""The :class:`Sandbox` object (serve in a thread, for tests and demos) and :func:`serve` (foreground)."""

from __future__ import annotations

import ipaddress
import os
import signal
import ssl
import sys
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any, TextIO

from xray_tasks.sandbox.config import Config, Runtime
from xray_tasks.sandbox.faults import Faults
from xray_tasks.sandbox.server import SandboxHTTPServer
from xray_tasks.sandbox.store import Store
from xray_tasks.sandbox.tokens import TokenIssuer

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "Sandbox", "serve"]

DEFAULT_HOST = "127.0.0.1"
#: the port :func:`serve` listens on (a :class:`Sandbox` in a test picks a free one)
DEFAULT_PORT = 8765


class Sandbox:
    """A local Xray (Cloud and Server/DC) on ``host:port``; ``port=0`` picks a free port.

    ``store`` and ``faults`` are live: read executions with ``sandbox.store.executions()`` and flip
    faults with ``sandbox.faults.status_429 = 1``. ``stop()`` leaves ``store`` readable; ``close()``
    also closes the database.
    """

    def __init__(self, host: str = DEFAULT_HOST, port: int = 0, db: str | os.PathLike[str] = ":memory:", *,
                 faults: Faults | None = None, tls: ssl.SSLContext | None = None,
                 log: Callable[[str], None] | None = None, config: Config | None = None, **settings: Any) -> None:
        """``settings`` are :class:`Config` fields (``client_secret=...``, ``projects=[...]``), applied on top
        of ``config`` (default ``Config()``)."""
        self.host = host
        self.port = port
        self.config = (config or Config()).with_settings(**settings)
        self.store = Store(db, self.config.projects)
        self.faults = faults if faults is not None else Faults()
        secret, tenant = self.store.signing_material()
        self.tokens = TokenIssuer(secret, tenant, self.config.token_ttl)
        self.runtime = Runtime(self.config, self.store, self.faults, self.tokens)
        self._log = log
        self._tls = tls
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (``https://`` with ``tls``) once bound (by :meth:`start` or :func:`serve`)."""
        if not self.runtime.base_url:
            raise RuntimeError("the sandbox is not started")
        return self.runtime.base_url

    def bind(self) -> SandboxHTTPServer:
        """Open the listening socket (without serving yet) and set ``url``."""
        if self._server is None:
            self._server = SandboxHTTPServer((self.host, self.port), self.runtime, self._log)
            if self._tls is not None:  # a server-side TLS context: every accepted connection speaks TLS
                self._server.socket = self._tls.wrap_socket(self._server.socket, server_side=True)
            host, port = self._server.server_address[:2]
            text = host.decode() if isinstance(host, bytes) else str(host)
            shown = f"[{text}]" if ":" in text else text
            self.port = int(port)
            scheme = "https" if self._tls is not None else "http"
            self.runtime.base_url = f"{scheme}://{shown}:{port}"
        return self._server

    def start(self) -> Sandbox:
        """Serve in a daemon thread; returns self."""
        server = self.bind()
        if self._thread is None:
            self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"xray-sandbox:{self.port}", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` (from another thread) or KeyboardInterrupt."""
        self.bind().serve_forever(poll_interval=0.1)

    def stop(self) -> None:
        """Stop serving and free the port; the store stays readable."""
        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        if server is None:
            return
        if thread is not None:
            server.shutdown()
            thread.join(timeout=10)
        server.server_close()
        server.close_connections()

    def close(self) -> None:
        """Stop and close the database."""
        self.stop()
        self.store.close()

    def reset(self) -> None:
        """Forget all issues and requests, re-seed the projects, clear the faults."""
        self.store.reset()
        self.faults.clear()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def banner(sandbox: Sandbox) -> str:
    """What ``serve`` prints after the machine-readable URL line."""
    c = sandbox.config
    url = sandbox.url
    lines = [
        f"Xray sandbox (a local stand-in for Xray Cloud and Server/DC) at {url}",
        f"  database: {sandbox.store.path}   projects: {', '.join(sandbox.store.project_keys())} "
        f"(each with Test Plan <KEY>-1)",
        f"  In a browser: {url}/  (Test Executions, their runs, Tests and the request log)",
        "",
        f"Xray Cloud  (XRAY_BASE_URL={url}, API root /api/v2 or /api/v1)",
        f"  client id:     {c.client_id}",
        f"  client secret: {c.client_secret}",
        f"  token=$(curl -s -H 'Content-Type: application/json' -X POST --data "
        f"'{{\"client_id\": \"{c.client_id}\", \"client_secret\": \"{c.client_secret}\"}}' "
        f"{url}/api/v2/authenticate | tr -d '\"')",
        f"  curl -H 'Content-Type: text/xml' -H \"Authorization: Bearer $token\" --data-binary @junit.xml "
        f"'{url}/api/v2/import/execution/junit?projectKey=DEMO'",
        f"  curl -H \"Authorization: Bearer $token\" -F file=@features.zip "
        f"'{url}/api/v2/import/feature?projectKey=DEMO'",
        f"  curl -H \"Authorization: Bearer $token\" -o features.zip '{url}/api/v2/export/cucumber?keys=DEMO-2;DEMO-3'",
        f"  Cucumber tag prefixes: @{c.test_prefix}<KEY>, #@{c.precondition_prefix}<KEY>, @{c.requirement_prefix}<KEY>",
        "",
        f"Xray Server/DC  (XRAY_BASE_URL={url}, API root /rest/raven/2.0, 1.0 or latest)",
        f"  user/password: {c.server_user} / {c.server_password}    personal access token: {c.server_token}",
        f"  Test Plan field: {c.test_plan_field}    Test Environments field: {c.environments_field}",
        f"  curl -u {c.server_user}:{c.server_password} -F file=@junit.xml "
        f"'{url}/rest/raven/2.0/import/execution/junit?projectKey=DEMO'",
        "",
        f"Read back: Cloud GraphQL POST {url}/api/v2/graphql (Bearer token); Server GET "
        f"{url}/rest/raven/2.0/api/testexec/<KEY>/test, /testruns?testExecKey=<KEY>, POST {url}/rest/api/2/issue",
        "",
        "Sandbox API (JSON, no auth)",
        f"  GET  {url}/sandbox/executions        GET {url}/sandbox/executions/<KEY>",
        f"  GET  {url}/sandbox/runs?execution=<KEY>   GET {url}/sandbox/evidence/<id>",
        f"  GET  {url}/sandbox/tests             GET {url}/sandbox/requests",
        f"  GET  {url}/sandbox/health            POST {url}/sandbox/reset",
        f"  POST {url}/sandbox/issues  e.g. {{\"project\": \"DEMO\", \"type\": \"Story\", \"summary\": \"...\"}}",
        f"  POST {url}/sandbox/filters e.g. {{\"keys\": [\"DEMO-2\"]}}   GET {url}/sandbox/gherkin/<KEY>",
        f"  POST {url}/sandbox/faults  e.g. {{\"status_429\": 2, \"retry_after\": 3}} or {{\"drop_runs\": 1}}"
        "   (DELETE to clear)",
        "",
        "Press Ctrl-C to stop.",
    ]
    if not _is_loopback(sandbox.host):
        lines.insert(1, f"  WARNING: listening on {sandbox.host}, not loopback: anyone who reaches it can use it")
    return "\n".join(lines)


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, db: str | os.PathLike[str] = ":memory:", *,
          faults: Faults | None = None, out: TextIO | None = None, quiet: bool = False, config: Config | None = None,
          **settings: Any) -> None:
    """Run the sandbox in the foreground until Ctrl-C or SIGTERM.

    The first line printed is ``XRAY_SANDBOX_URL=http://HOST:PORT`` (flushed), for a parent process
    that started it with ``port=0``; then credentials for both dialects and the sandbox API; then one
    line per request unless ``quiet``. ``config`` and ``settings`` are as for :class:`Sandbox`.
    """
    stream = out if out is not None else sys.stdout

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    sandbox = Sandbox(host, port, db, faults=faults, log=None if quiet else say, config=config, **settings)
    sandbox.bind()
    say(f"XRAY_SANDBOX_URL={sandbox.url}")
    say(banner(sandbox))
    previous = None
    if threading.current_thread() is threading.main_thread():
        def on_term(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, on_term)
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        sandbox.close()
        say("Xray sandbox stopped.")
