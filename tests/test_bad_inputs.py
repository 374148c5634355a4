"""Bad inputs through the real ``xray-tasks import-results`` command, one table.

Every case must end with exactly one ``xray-tasks: error: ...`` line naming the problem and the fix, a
documented exit code (README "Exit codes"), no traceback and no secret; a case that is bad locally
sends nothing. The sandbox answers what it can; a small stub HTTP server answers the rest."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.cli_helpers import BILLION_LAUGHS, assert_one_clean_line, sandbox_env, xray_tasks
from xray_tasks.sandbox import Sandbox

SECRET = "bad-inputs-S3cret-7f1c9e"
DOCUMENTED_EXIT_CODES = {11, 12, 13, 14, 15, 16, 17, 18}

JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="bad-inputs" tests="2" failures="0">
<testcase classname="bad.Inputs" name="test_one" time="0.01"/>
<testcase classname="bad.Inputs" name="test_two" time="0.01"/>
</testsuite>
"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<testsuite name="x" tests="1"><testcase classname="a" name="&e;"/></testsuite>
"""


# -- a stub HTTP server for the answers the sandbox does not give ----------------------------------


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


class Stub:
    """Xray-ish stub: ``/api/v2/authenticate`` hands out a token; every other request gets ``answer``."""

    def __init__(self) -> None:
        self.answer = Answer(200, b"{}")
        self.auth_answer = Answer(200, b'"stub-token-0123456789"')
        self.requests: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                stub.requests.append(self.path)
                ans = stub.auth_answer if self.path.endswith("/authenticate") else stub.answer
                # a server that echoes the credential it was sent back in its error text
                body = ans.body.replace(b"{auth}", (self.headers.get("Authorization") or "").encode())
                self.send_response(ans.status)
                for k, v in ans.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def set(self, answer: Answer) -> None:
        self.answer = answer
        self.requests.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(client_secret=SECRET) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def stub() -> Iterator[Stub]:
    server = Stub()
    yield server
    server.close()


@dataclass
class Ctx:
    """What a case's setup may use: a temporary folder with a good report, the sandbox, the stub."""

    tmp: Path
    sb: Sandbox
    stub: Stub

    @property
    def good(self) -> str:
        path = self.tmp / "good.xml"
        path.write_text(JUNIT, encoding="utf-8")
        return str(path)

    def file(self, name: str, content: str | bytes) -> str:
        path = self.tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return str(path)

    def via_stub(self, answer: Answer) -> dict[str, str]:
        self.stub.set(answer)
        return {"XRAY_BASE_URL": self.stub.url, "XRAY_DEPLOYMENT": "cloud"}


Setup = Callable[[Ctx], tuple[list[str], dict[str, str]]]


@dataclass(frozen=True)
class Case:
    id: str
    setup: Setup
    exit: int
    says: tuple[str, ...]  # the problem and the fix, as they appear in the error line
    sends: bool = False  # True when the request legitimately reaches a server (the error is remote)
    skip_as_root: bool = False
    hides: tuple[str, ...] = ()  # values the case passes that must not be echoed (bad secrets)


def report(path_of: Callable[[Ctx], str], *extra: str, **env: str) -> Setup:
    return lambda c: (["--report", path_of(c), *extra], dict(env))


def good(*extra: str, **env: str) -> Setup:
    return report(lambda c: c.good, *extra, **env)


def stubbed(answer: Answer, *extra: str, **env: str) -> Setup:
    return lambda c: (["--report", c.good, *extra], c.via_stub(answer) | env)


def server_stubbed(answer: Answer, **env: str) -> Setup:
    """The stub as a Server/DC with basic authentication (user ci-bot, the secret as password)."""
    return lambda c: (["--report", c.good], c.via_stub(answer) | {
        "XRAY_DEPLOYMENT": "server", "XRAY_SERVER_USER": "ci-bot", "XRAY_SERVER_PASSWORD": SECRET,
        "XRAY_CLIENT_ID": "", "XRAY_CLIENT_SECRET": ""} | env)


def _huge(setting: str, length: int = 60_000) -> Setup:
    return good(**{setting: "A" * length})


def _unreadable(c: Ctx) -> str:
    path = c.file("unreadable.xml", JUNIT)
    os.chmod(path, 0)
    return path


def _empty_dir(c: Ctx) -> str:
    (c.tmp / "reports").mkdir()
    (c.tmp / "reports" / "notes.txt").write_text("not a report")
    return str(c.tmp / "reports")


def _template(name: str, text: str) -> Setup:
    def setup(c: Ctx) -> tuple[list[str], dict[str, str]]:
        return ["--report", c.good, "--info-template", c.file(name, text)], {}
    return setup


def _stale(c: Ctx) -> tuple[list[str], dict[str, str]]:
    path = c.good
    old = time.time() - 3600
    os.utime(path, (old, old))
    state = c.tmp / "state.json"
    state.write_text(json.dumps({"command": "pytest", "started": time.time() - 60, "finished": time.time(),
                                 "exit_code": 0, "reports": [path]}))
    return ["--report", path], {"XRAY_STATE_FILE": str(state)}


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _no_secret(c: Ctx) -> tuple[list[str], dict[str, str]]:
    return ["--report", c.good], {"XRAY_CLIENT_SECRET": ""}


def _no_id(c: Ctx) -> tuple[list[str], dict[str, str]]:
    return ["--report", c.good], {"XRAY_CLIENT_ID": ""}


def _region_mismatch(c: Ctx) -> tuple[list[str], dict[str, str]]:
    c.sb.faults.update({"region_mismatch": True})
    return ["--report", c.good], {}


def _slow(c: Ctx) -> tuple[list[str], dict[str, str]]:
    c.sb.faults.update({"latency_ms": 1500})
    return ["--report", c.good], {"XRAY_TIMEOUT": "0.5"}


HTML_500 = b"<html><head><style>p{}</style></head><body><h1>Internal Server Error</h1><p>oops</p></body></html>"
HTML = {"Content-Type": "text/html"}

CASES = [
    # report: exit 12
    Case("missing report file", report(lambda c: str(c.tmp / "nope.xml")), 12, ("nope.xml",)),
    Case("empty report file", report(lambda c: c.file("empty.xml", "")), 12, ("empty",)),
    Case("unreadable report file", report(_unreadable), 12, ("unreadable.xml",), skip_as_root=True),
    Case("directory with no reports", report(_empty_dir), 12, ("holds no .xml or .json report", "--report")),
    Case("glob that matches nothing", report(lambda c: str(c.tmp / "out" / "*.xml")), 12, ("no report matches",)),
    Case("truncated XML", report(lambda c: c.file("cut.xml", JUNIT[:150])), 12, ("cut.xml",)),
    Case("XML of another format than --format", good("--format", "testng"), 12, ("not TestNG", "--format junit")),
    Case("binary garbage", report(lambda c: c.file("garbage.xml", bytes(range(256)) * 8)), 12, ("garbage.xml",)),
    Case("JSON that is not a report", report(lambda c: c.file("package.json", '{"name": "x", "version": "1"}')),
         12, ("package.json",)),
    Case("report with 0 tests", report(lambda c: c.file("zero.xml", '<testsuite name="z" tests="0"/>')), 12,
         ("0 tests", "check that the tests ran")),
    Case("entity bomb", report(lambda c: c.file("bomb.xml", BILLION_LAUGHS)), 12, ("entities", "DOCTYPE")),
    Case("external entity", report(lambda c: c.file("xxe.xml", XXE)), 12, ("entities", "DOCTYPE")),
    Case("stale report", _stale, 13, ("older than the test run", "--allow-stale")),
    # settings: exit 11
    Case("unknown format", good("--format", "yaml"), 11, ("--format has a bad value: 'yaml' is not one of", "junit")),
    Case("bad var syntax", good("--var", "no-equals-sign"), 11, ("--var", "NAME=VALUE")),
    Case("numeric flag that is not a number", good("--parallel", "abc"), 11, ("--parallel 'abc'", "--parallel 2")),
    Case("missing client id", _no_id, 11, ("XRAY_CLIENT_ID not set", "API Keys")),
    Case("missing client secret", _no_secret, 11, ("XRAY_CLIENT_SECRET not set", "API Keys")),
    Case("base URL without scheme", good(XRAY_BASE_URL="xray.cloud.getxray.app"), 11,
         ("is not an http(s) URL", "https://xray.cloud.getxray.app")),
    Case("base URL with the API path", good(XRAY_BASE_URL="https://xray.cloud.getxray.app/api/v2"), 11,
         ("includes the API path", "XRAY_BASE_URL=https://xray.cloud.getxray.app")),
    Case("base URL with a password in it", good(XRAY_BASE_URL=f"https://ci:{SECRET}@xray.cloud.getxray.app"), 11,
         ("user name or password", "XRAY_CLIENT_SECRET")),
    Case("plain http to a remote host", good(XRAY_BASE_URL="http://xray.example.invalid", XRAY_DEPLOYMENT="cloud"),
         11, ("plain http", "XRAY_ALLOW_HTTP")),
    Case("unknown region", good(XRAY_REGION="mars", XRAY_BASE_URL=""), 11,
         ("XRAY_REGION (env XRAY_REGION) has a bad value: 'mars'", "eu")),
    Case("timeout that is not a number", good(XRAY_TIMEOUT="soon"), 11, ("XRAY_TIMEOUT", "read/write timeout")),
    Case("timeout nan", good(XRAY_TIMEOUT="nan"), 11, ("XRAY_TIMEOUT", "not a finite number")),
    Case("timeout inf", good(XRAY_TIMEOUT="inf"), 11, ("XRAY_TIMEOUT", "not a finite number")),
    Case("timeout 1e30", good(XRAY_TIMEOUT="1e30"), 11, ("XRAY_TIMEOUT", "out of range")),
    Case("timeout 0", good(XRAY_TIMEOUT="0"), 11, ("XRAY_TIMEOUT", "out of range")),
    Case("connect timeout 0", good(XRAY_CONNECT_TIMEOUT="0"), 11, ("XRAY_CONNECT_TIMEOUT", "out of range")),
    Case("request size nan", good(XRAY_MAX_REQUEST_MB="nan"), 11, ("XRAY_MAX_REQUEST_MB", "finite")),
    Case("deadline inf", good(XRAY_DEADLINE="inf"), 11, ("XRAY_DEADLINE", "finite")),
    Case("retries -1", good(XRAY_MAX_RETRIES="-1"), 11, ("XRAY_MAX_RETRIES", "out of range")),
    Case("base URL port out of range", good(XRAY_BASE_URL="https://xray.example.com:99999"), 11,
         ("XRAY_BASE_URL", "port")),
    Case("base URL port 0", good(XRAY_BASE_URL="https://xray.example.com:0"), 11, ("port 0",)),
    Case("base URL with a bad label", good(XRAY_BASE_URL="https://bad_label-.example.com"), 11,
         ("invalid host name", "IPv6")),
    Case("base URL with an unclosed IPv6 bracket", good(XRAY_BASE_URL="https://[::1:8765"), 11,
         ("XRAY_BASE_URL", "https://host")),
    Case("base URL with a password holding a slash", good(XRAY_BASE_URL="https://ci:pa/ss@xray.example.com"), 11,
         ("user name or password",), hides=("pa/ss",)),
    Case("proxy that is not a URL", good(XRAY_PROXY="proxy.example.com:3128"), 11, ("XRAY_PROXY", "proxy URL")),
    Case("SOCKS proxy without socksio", good(XRAY_PROXY="socks5://proxy.example.com:1080"), 11,
         ("XRAY_PROXY", "socksio")),
    Case("secret with a line break inside", good(XRAY_CLIENT_SECRET="first-half\rsecond-half"), 11,
         ("XRAY_CLIENT_SECRET", "control character"), hides=("first-half", "second-half")),
    Case("Server token that is not ASCII", good(XRAY_DEPLOYMENT="server", XRAY_SERVER_TOKEN="pat-\u2019token-1234",
                                                XRAY_CLIENT_ID="", XRAY_CLIENT_SECRET=""), 11,
         ("XRAY_SERVER_TOKEN", "non-ASCII"), hides=("token-1234",)),
    Case("60 KB project key", _huge("XRAY_PROJECT_KEY"), 11, ("XRAY_PROJECT_KEY", "characters long")),
    Case("60 KB revision", _huge("XRAY_REVISION"), 11, ("XRAY_REVISION", "characters long")),
    Case("project key ending in a dash", good("--project", "NOPE-"), 11, ("--project", "not a Jira project key")),
    Case("test plan that is a number", good("--test-plan", "12"), 11, ("--test-plan", "not a Jira issue key")),
    Case("lower-case test execution key", good("--test-exec", "demo-1"), 11, ("--test-exec", "upper case: DEMO-1")),
    Case("empty --report", lambda c: (["--report", ""], {}), 11, ("--report", "empty path")),
    Case("env file that does not exist", good(XRAY_ENV_FILE="/nonexistent/.env"), 11,
         ("XRAY_ENV_FILE=/nonexistent/.env does not exist",)),
    Case("template dir that does not exist", good(XRAY_TEMPLATE_DIR="/nonexistent/templates"), 14,
         ("XRAY_TEMPLATE_DIR", "/nonexistent/templates")),
    Case("project key of the wrong shape", good(XRAY_PROJECT_KEY="not a key!"), 11,
         ("'not a key!' is not a Jira project key", "XRAY_PROJECT_KEY")),
    Case("test execution with multipart", good("--multipart", "--test-exec", "DEMO-1"), 11, ("--test-exec",)),
    # templates: exit 14
    Case("template syntax error", _template("syntax.j2", '{"fields": {{ project_key | json }'), 14,
         ("syntax.j2",)),
    Case("template with an undefined variable", _template("undef.j2", '{"fields": {{ vars.nope | json }}}'), 14,
         ("undef.j2", "nope")),
    Case("template rendering invalid JSON", _template("badjson.j2", '{"fields": {"project": }'), 14,
         ("badjson.j2", "JSON")),
    Case("template missing project and summary", _template("bare.j2", '{"fields": {"labels": []}}'), 14,
         ("bare.j2", "project")),
    Case("template file not found", good("--info-template", "/nonexistent/info.j2"), 14, ("/nonexistent/info.j2",)),
    # authentication: exit 15
    Case("wrong client secret", good(XRAY_CLIENT_SECRET="wrong-secret-value"), 15,
         ("Invalid client credentials", "XRAY_CLIENT_SECRET"), sends=True),
    Case("wrong region", _region_mismatch, 15, ("another region", "XRAY_REGION"), sends=True),
    Case("401 on the import", stubbed(Answer(401, b'{"error": "Authentication failed. Invalid token!"}')), 15,
         ("refused a token it had just issued", "Invalid token", "XRAY_REGION"), sends=True),
    # rejected: exit 16
    Case("unknown project key", good(XRAY_PROJECT_KEY="NOPE"), 16,
         ("No project could be found with key 'NOPE'", "XRAY_PROJECT_KEY"), sends=True),
    Case("unknown test plan key", good("--test-plan", "DEMO-999"), 16, ("DEMO-999", "XRAY_TEST_PLAN_KEY"),
         sends=True),
    Case("server echoing the Basic credential", server_stubbed(Answer(400, b'{"error": "bad header: {auth}"}')), 16,
         ("bad header: Basic <redacted>",), sends=True),
    Case("server echoing the Cloud token", stubbed(Answer(400, b'{"errorMessages": ["got {auth}"]}')), 16,
         ("got Bearer <redacted>",), sends=True),
    Case("key with a line break from the server",
         stubbed(Answer(200, b'{"id": "1", "key": "DEMO-1\\n::warning::injected", "self": "x"}')), 16,
         ("not an issue key", "XRAY_BASE_URL"), sends=True),
    Case("403 forbidden", stubbed(Answer(403, b'{"error": "You do not have permission to create issues"}')), 16,
         ("403", "permission to create issues"), sends=True),
    Case("404 endpoint", stubbed(Answer(404, b"<html><body>Not Found</body></html>", HTML)), 16,
         ("404 Not Found", "XRAY_BASE_URL"), sends=True),
    Case("base URL with a path that 404s", lambda c: (["--report", c.good], {"XRAY_BASE_URL": c.sb.url + "/jira"}),
         16, ("404 Not Found", "/jira/api/v2/authenticate", "XRAY_BASE_URL"), sends=True),
    Case("413 request too large", stubbed(Answer(413, b'{"error": "Request Entity Too Large"}')), 16,
         ("413", "XRAY_MAX_REQUEST_MB"), sends=True),
    Case("non-JSON success body", stubbed(Answer(200, b"<html><body>Welcome to Jira</body></html>", HTML)), 16,
         ("not with a Test Execution", "XRAY_BASE_URL"), sends=True),
    # unavailable: exit 17
    Case("unreachable host", lambda c: (["--report", c.good], {"XRAY_BASE_URL": _closed_port(),
                                                                "XRAY_DEPLOYMENT": "cloud"}), 17,
         ("connection refused", "XRAY_BASE_URL"), sends=True),
    Case("DNS failure", good(XRAY_BASE_URL="https://xray.example.invalid", XRAY_DEPLOYMENT="cloud"), 17,
         ("does not resolve", "XRAY_BASE_URL"), sends=True),
    Case("timeout", _slow, 17, ("no answer within 0.5s", "XRAY_TIMEOUT"), sends=True),
    Case("429 forever", stubbed(Answer(429, b'{"error": "Too many requests"}',
                                       {"Content-Type": "application/json", "Retry-After": "0"}),
                                XRAY_MAX_RETRIES="2"), 17,
         ("429", "tried 3 times", "XRAY_MAX_RETRIES", "XRAY_RETRY_BUDGET"), sends=True),
    Case("absurd Retry-After date", stubbed(Answer(429, b'{"error": "slow down"}', {
        "Content-Type": "application/json", "Retry-After": "Mon, 01 Jan 2024 00:00:00 +99999999999999"})), 17,
         ("429", "slow down"), sends=True),
    Case("a 250 KiB HTML error page", stubbed(Answer(503, b"<html><body>" + b"<script>x" * 25_000 + b"<p>down</p>"
                                                     + b"<" * 50_000, HTML)), 17, ("503",), sends=True),
    Case("502 with HTML", stubbed(Answer(502, b"<html><body><h1>Bad Gateway</h1></body></html>", HTML)), 17,
         ("502", "Bad Gateway", "run again later"), sends=True),
    # uncertain: exit 18
    Case("500 with HTML on a creating import", stubbed(Answer(500, HTML_500, HTML)), 18,
         ("500", "Internal Server Error oops", "look for a new Test Execution"), sends=True),
]


def imports(sb: Sandbox) -> int:
    return sum(1 for r in sb.store.requests() if "/import/" in str(r["path"]))


def test_the_table_is_big_enough_and_uses_only_documented_codes() -> None:
    assert len(CASES) >= 30
    assert {c.exit for c in CASES} <= DOCUMENTED_EXIT_CODES
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_ends_with_one_clean_line(case: Case, sb: Sandbox, stub: Stub, tmp_path: Path) -> None:
    if case.skip_as_root and os.geteuid() == 0:
        pytest.skip("running as root: a chmod 000 file is still readable")
    executions_before, imports_before = len(sb.store.executions()), imports(sb)
    stub.set(Answer(599, b""))
    try:
        args, env_extra = case.setup(Ctx(tmp_path, sb, stub))
        env = sandbox_env(sb, tmp_path, **env_extra)
        env = {k: v for k, v in env.items() if v != "" or k == "XRAY_CLIENT_SECRET"}
        proc = xray_tasks("import-results", *args, env=env, timeout=60)
    finally:
        sb.faults.clear()
    line = assert_one_clean_line(proc, SECRET, "stub-token-0123456789", *case.hides)
    assert proc.returncode == case.exit, f"{proc.returncode}: {line}"
    assert " — " in line, f"no fix in: {line}"
    for words in case.says:
        assert words in line, f"{words!r} not in: {line}"
    assert len(sb.store.executions()) == executions_before  # nothing was created
    if not case.sends:
        assert imports(sb) == imports_before, "a locally bad input reached the sandbox"
        assert stub.requests == [], "a locally bad input reached the stub"


@pytest.mark.parametrize("content", [BILLION_LAUGHS, XXE], ids=["billion laughs", "external entity"])
def test_entity_reports_are_refused_quickly(content: str, sb: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "evil.xml"
    path.write_text(content, encoding="utf-8")
    started = time.monotonic()
    proc = xray_tasks("import-results", "--report", str(path), "--format", "junit", env=sandbox_env(sb, tmp_path))
    elapsed = time.monotonic() - started
    line = assert_one_clean_line(proc, SECRET)
    assert proc.returncode == 12, line
    assert "root:" not in proc.stdout + proc.stderr  # /etc/passwd was never read into the output
    assert elapsed < 2.0, elapsed
