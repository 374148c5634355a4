"""Hostile servers, careless settings and broken surroundings, beyond the one-line bad-input table.

Each test names a way things go wrong after (or around) the import itself: an answer that never ends, an
output file that cannot be written once the Test Execution exists, a secret with a newline, a proxy that
must not see credentials, a token cache switched off or pointing at a FIFO, an interrupt mid-upload."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.cli_helpers import assert_no_secret, assert_one_clean_line, sandbox_env, xray_tasks
from tests.servers import ConnectProxy, EndlessBodyServer, LoopbackServer, read_request
from xray_tasks.answers import Answer, error_text, retry_after
from xray_tasks.redaction import redact, redact_data, register_basic, register_secret
from xray_tasks.sandbox import Sandbox
from xray_tasks.transport import stays_on_machine

JUNIT = '<testsuite name="h" tests="1"><testcase classname="hard.Case" name="test_it"/></testsuite>'


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT, encoding="utf-8")
    return path


def imported_key(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip().splitlines()[-1]
    return line.split(" into ")[1].split(" ")[0].rstrip(":")


# -- secrets ----------------------------------------------------------------------------------------------


def test_a_secret_with_a_trailing_newline_still_authenticates(sb: Sandbox, report: Path, tmp_path: Path) -> None:
    """`echo`'s newline (or a Windows \\r\\n) around a secret is dropped, not sent, not printed."""
    env = sandbox_env(sb, tmp_path, XRAY_CLIENT_SECRET=sb.config.client_secret + "\r\n")
    proc = xray_tasks("import-results", "--report", str(report), env=env)
    assert sb.store.execution(imported_key(proc)) is not None
    assert_no_secret(proc.stdout + proc.stderr, sb.config.client_secret)


def test_redaction_catches_every_form_of_a_secret() -> None:
    """Raw, repr-escaped, JSON-escaped, URL-encoded and Basic forms are all replaced, in text and in data
    before it is serialised."""
    secret = 'p@ss "w\\rd"/+ é'
    register_secret(secret)
    basic = register_basic("ci-bot", secret)
    import json
    from urllib.parse import quote, quote_plus

    for form in (secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret),
                 basic):
        assert form not in redact(f"before {form} after"), form
        assert "<redacted>" in redact(f"before {form} after")
    dumped = json.dumps(redact_data({"error": f"echo {secret}", "list": [secret], secret: 1}))
    assert "p@ss" not in dumped and dumped.count("<redacted>") == 3


def test_doctor_never_shows_proxy_credentials(sb: Sandbox, tmp_path: Path) -> None:
    """XRAY_PROXY's user:password is masked in doctor's table and JSON."""
    env = sandbox_env(sb, tmp_path, XRAY_PROXY="http://proxyuser:Pr0xy-Pass-77@proxy.example.com:3128")
    for args in (("doctor",), ("doctor", "--json")):
        proc = xray_tasks(*args, env=env)
        assert "proxy.example.com" in proc.stdout
        assert_no_secret(proc.stdout + proc.stderr, "Pr0xy-Pass-77")
        assert "proxyuser" not in proc.stdout


# -- plain http stays on the machine ----------------------------------------------------------------------


def test_plain_http_to_this_machine_never_goes_through_a_proxy(sb: Sandbox, report: Path, tmp_path: Path) -> None:
    """With HTTP_PROXY/XRAY_PROXY set, credentials for an http:// loopback Xray go straight to it: a proxy
    elsewhere would read them in clear."""
    proxy = ConnectProxy()
    try:
        env = sandbox_env(sb, tmp_path, HTTP_PROXY=proxy.url, http_proxy=proxy.url, XRAY_PROXY=proxy.url)
        imported_key(xray_tasks("import-results", "--report", str(report), env=env))
    finally:
        proxy.close()
    assert proxy.requests == []


@pytest.mark.parametrize(("addresses", "expected"), [
    (["127.0.0.1"], True), (["::1", "127.0.0.2"], True), (["10.1.2.3"], False), (["127.0.0.1", "192.0.2.7"], False),
    ([], False)], ids=["loopback", "both families", "private address", "one of several elsewhere", "no address"])
def test_a_name_is_on_this_machine_only_if_all_its_addresses_are(addresses: list[str], expected: bool,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`xray.localhost` is decided by what it resolves to, not by its name."""
    def resolve(host: str, port: object) -> list[tuple[object, ...]]:
        if not addresses:
            raise socket.gaierror("no address")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    assert stays_on_machine("xray.localhost") is expected
    assert stays_on_machine("127.0.0.1") is True and stays_on_machine("[::1]") is True


def test_plain_http_to_a_name_that_resolves_elsewhere_is_refused(report: Path, tmp_path: Path) -> None:
    """A host name that does not resolve to this machine gets no credentials over plain http."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XRAY_")} | {
        "XRAY_BASE_URL": "http://no-such-host.invalid:8765", "XRAY_CLIENT_ID": "id", "XRAY_CLIENT_SECRET": "s3cret-x",
        "XRAY_PROJECT_KEY": "DEMO", "XRAY_ENV_FILE": os.devnull, "XRAY_STATE_FILE": str(tmp_path / "run.json")}
    proc = xray_tasks("import-results", "--report", str(report), env=env)
    line = assert_one_clean_line(proc, "s3cret-x")
    assert proc.returncode == 11 and "plain http" in line and "not this machine" in line


# -- answers that are hostile ------------------------------------------------------------------------------


def test_an_answer_that_never_ends_is_cut_at_the_cap(report: Path, tmp_path: Path) -> None:
    """A 200 whose body never ends is read up to the cap (8 MiB), then the run ends in one line: the Test
    Execution may exist, so it is not sent again; memory stays bounded."""
    server = EndlessBodyServer()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("XRAY_")} | {
            "XRAY_BASE_URL": server.url, "XRAY_DEPLOYMENT": "server", "XRAY_SERVER_TOKEN": "pat-secret-0123456789",
            "XRAY_PROJECT_KEY": "DEMO", "XRAY_ENV_FILE": os.devnull, "XRAY_STATE_FILE": str(tmp_path / "run.json")}
        proc = subprocess.run(["/usr/bin/time", "-f", "maxrss=%M", sys.executable, "-m", "xray_tasks",
                               "import-results", "--report", str(report)], env=env, capture_output=True, text=True,
                              timeout=120, check=False) if Path("/usr/bin/time").exists() else \
            xray_tasks("import-results", "--report", str(report), env=env)
    finally:
        server.close()
    stderr = "\n".join(line for line in proc.stderr.splitlines() if not line.startswith("maxrss="))
    line = assert_one_clean_line(subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout, stderr),
                                 "pat-secret-0123456789")
    assert proc.returncode == 18 and "over 8 MiB" in line
    assert server.connections == 1
    assert server.sent < 64 * 1024 * 1024  # it stopped reading long before the server's own limit
    rss = [int(x.split("=")[1]) for x in proc.stderr.splitlines() if x.startswith("maxrss=")]
    if rss:
        assert rss[0] < 120 * 1024, rss  # KiB: a bounded read, not the stream


def test_error_text_of_a_pathological_page_is_found_in_one_pass() -> None:
    """1 MiB of unclosed tags and scripts (the shape that made the old extraction quadratic) still yields the
    page's text; only the first 256 KiB are looked at."""
    page = (b"<html><body><h1>Service Unavailable</h1>" + b"<script>x" * 60_000 + b"<" * 300_000
            + b"<style" * 60_000)[: 1024 * 1024]
    text = error_text(Answer(503, {"content-type": "text/html"}, page))
    assert text.startswith("Service Unavailable")
    assert len(text) <= 301


@pytest.mark.parametrize(("value", "expected"), [
    ("0", 0.0), ("12", 12.0), ("-5", 0.0), ("1e308", 60.0), ("inf", None), ("nan", None), ("soon", None),
    ("Mon, 01 Jan 2024 00:00:00 +99999999999999", None), ("Mon, 01 Jan 2024 00:00:00 GMT", 0.0),
    ("Fri, 31 Dec 9999 23:59:59 GMT", 60.0), ("x" * 10_000, None)])
def test_retry_after_is_untrusted_input(value: str, expected: float | None) -> None:
    """Numbers and HTTP-dates are capped to 60 s; absurd ones are ignored, never an exception."""
    assert retry_after(value, now=time.time()) == expected


# -- nothing crashes after the import landed --------------------------------------------------------------


@pytest.mark.parametrize("broken", ["summary file is a folder", "GITHUB_OUTPUT is a folder",
                                    "GITHUB_STEP_SUMMARY is a folder"])
def test_an_output_file_that_cannot_be_written_is_a_warning_after_the_key(broken: str, sb: Sandbox, report: Path,
                                                                        tmp_path: Path) -> None:
    """Once the Test Execution exists its key is printed first; a side file that fails is a warning naming
    it, and the exit code stays the import's (0): a rerun would create a duplicate."""
    folder = tmp_path / "a-folder"
    folder.mkdir()
    args = ["import-results", "--report", str(report)]
    extra: dict[str, str] = {}
    if broken.startswith("summary"):
        args += ["--summary-file", str(folder)]
    else:
        extra[broken.split()[0]] = str(folder)
    proc = xray_tasks(*args, env=sandbox_env(sb, tmp_path, **extra))
    key = imported_key(proc)
    assert sb.store.execution(key) is not None
    assert "Traceback" not in proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("xray-tasks: warning:")]
    assert len(warnings) == 1 and str(folder) in warnings[0] and "import itself succeeded" in warnings[0]


def test_a_key_the_server_makes_up_never_reaches_github_output(tmp_path: Path, report: Path) -> None:
    """A "key" with a line break and a workflow command in it is refused before any file is written."""
    class Lying(LoopbackServer):
        def handle(self, conn: socket.socket, number: int) -> None:
            with conn:
                if read_request(conn) is None:
                    return
                body = b'{"id": "1", "key": "DEMO-1\\n::add-mask::x\\ntest-exec-key=EVIL-9", "self": "x"}'
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)

    server = Lying()
    out = tmp_path / "github_output"
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XRAY_", "GITHUB_"))} | {
            "XRAY_BASE_URL": server.url, "XRAY_DEPLOYMENT": "server", "XRAY_SERVER_TOKEN": "pat-secret-0123456789",
            "XRAY_PROJECT_KEY": "DEMO", "XRAY_ENV_FILE": os.devnull, "XRAY_STATE_FILE": str(tmp_path / "run.json"),
            "GITHUB_OUTPUT": str(out)}
        proc = xray_tasks("import-results", "--report", str(report), env=env)
    finally:
        server.close()
    line = assert_one_clean_line(proc, "pat-secret-0123456789")
    assert proc.returncode == 16 and "not an issue key" in line
    assert not out.exists() or "EVIL-9" not in out.read_text()


# -- the token cache --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["off", "/dev/null", "fifo"])
def test_the_token_cache_can_be_switched_off(value: str, sb: Sandbox, report: Path, tmp_path: Path) -> None:
    """`off`, `/dev/null` or a FIFO mean no cache: each run authenticates, nothing hangs, no chmod advice."""
    if value == "fifo":
        value = str(tmp_path / "cache.fifo")
        os.mkfifo(value)
    env = sandbox_env(sb, tmp_path, XRAY_TOKEN_CACHE=value)
    before = sum(1 for r in sb.store.requests() if str(r["path"]).endswith("/authenticate"))
    for _ in range(2):
        proc = xray_tasks("import-results", "--report", str(report), env=env, timeout=30)
        imported_key(proc)
        assert "chmod" not in proc.stderr
    after = sum(1 for r in sb.store.requests() if str(r["path"]).endswith("/authenticate"))
    assert after - before == 2
    assert not (tmp_path / "tokens.json").exists()


# -- interrupts -------------------------------------------------------------------------------------------


class Silent(LoopbackServer):
    """Reads each request whole, then never answers; ``arrived`` is set once a body is in."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        super().__init__()

    def handle(self, conn: socket.socket, number: int) -> None:
        with conn:
            if read_request(conn) is None:
                return
            self.arrived.set()
            self.stop.wait(60)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_an_interrupt_during_an_upload_says_what_may_exist_and_leaves_no_temp_files(
        signum: int, tmp_path: Path) -> None:
    """Interrupted while Xray has the report but has not answered: exit 130/143, the message says the Test
    Execution may exist, and the merged report in TMPDIR is gone."""
    server = Silent()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    for n in range(2):  # two reports: merged into a file in TMPDIR
        (tmp_path / f"r{n}.xml").write_text(JUNIT.replace("test_it", f"test_{n}"), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("XRAY_")} | {
        "XRAY_BASE_URL": server.url, "XRAY_DEPLOYMENT": "server", "XRAY_SERVER_TOKEN": "pat-secret-0123456789",
        "XRAY_PROJECT_KEY": "DEMO", "XRAY_ENV_FILE": os.devnull, "XRAY_STATE_FILE": str(tmp_path / "run.json"),
        "TMPDIR": str(scratch)}
    proc = subprocess.Popen([sys.executable, "-m", "xray_tasks", "import-results", "--report",
                             str(tmp_path / "r*.xml")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert server.arrived.wait(60), "the upload never arrived"
        assert any(scratch.iterdir())  # the merged report exists while the request waits
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        server.close()
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    assert "may have been created" in err
    assert list(scratch.iterdir()) == []


# -- one client, parallel requests -------------------------------------------------------------------------


def test_parallel_sends_each_count_their_own_attempts(tmp_path: Path) -> None:
    """Two imports sent at once from one client: the one retried once reports 2 attempts, the other 1 — the
    count travels with each request, not through the client."""
    from xray_tasks.client import XrayClient
    from xray_tasks.plan import build_plan, decide
    from xray_tasks.settings import resolve_settings

    slow_first = threading.Event()
    other_done = threading.Event()
    calls = {"a": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        if b"test_a" in request.content:
            calls["a"] += 1
            if calls["a"] == 1:
                slow_first.set()
                assert other_done.wait(10)
                return httpx.Response(503, json={"error": "busy"})
        return httpx.Response(200, json={"testExecIssue": {"id": "1", "key": "DEMO-9", "self": "x"}})

    s = resolve_settings(environ={"XRAY_DEPLOYMENT": "server", "XRAY_BASE_URL": "https://jira.example.com",
                                  "XRAY_SERVER_TOKEN": "pat-0123456789", "XRAY_TEST_EXEC_KEY": "DEMO-9",
                                  "XRAY_ENV_FILE": os.devnull})
    client = XrayClient(s, httpx.Client(transport=httpx.MockTransport(handler)), sleep=lambda _s: None)
    plans = {}
    for name in ("a", "b"):
        path = tmp_path / f"{name}.xml"
        path.write_text(JUNIT.replace("test_it", f"test_{name}"), encoding="utf-8")
        plans[name] = build_plan(s, path, "junit", decide(s, "junit"))
    results: dict[str, int] = {}

    def send(name: str) -> None:
        results[name] = client.send(plans[name]).attempts

    first = threading.Thread(target=send, args=("a",))
    first.start()
    assert slow_first.wait(10)
    send("b")
    other_done.set()
    first.join(10)
    assert results == {"a": 2, "b": 1}
