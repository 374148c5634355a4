"""The sandbox's web pages over HTTP: what they show, that they escape what reports say, stay out of the
request log, and cost the same number of queries for ten runs as for a thousand."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import struct
import zlib
from html.parser import HTMLParser
from pathlib import Path

import httpx

from tests.cli_helpers import pytest_suite, sandbox_env, xray_tasks
from xray_tasks.formats.enriched import iter_enriched
from xray_tasks.sandbox import Sandbox, Store

EVIL_ID = "<script>alert(1)</script>"
EVIL_COMMENT = "<img src=x onerror=alert(2)>"
SUITE = f'''import pytest

def test_add():
    assert 1 + 1 == 2

def test_sub():
    assert 2 - 1 == 0, "subtraction is broken"

@pytest.mark.skip(reason="later")
def test_mul():
    pass

@pytest.mark.parametrize("x", [1], ids=["{EVIL_ID}"])
def test_evil(x, record_property):
    record_property("testrun_comment", "{EVIL_COMMENT}")
    assert x
'''


def png(width: int = 8, height: int = 6) -> bytes:
    """A real, solid red PNG image (so a browser can decode it)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def import_report(sb: Sandbox, tmp: Path, report: Path, *args: str) -> str:
    """Import ``report`` with the real command; the Test Execution key."""
    proc = xray_tasks("import-results", "--report", str(report), "--json", *args, env=sandbox_env(sb, tmp))
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["key"])


def junit_from_pytest(tmp: Path) -> Path:
    """A JUnit report from a real pytest run of :data:`SUITE` (2 passed, 1 failed, 1 skipped)."""
    import subprocess

    junit = tmp / "junit.xml"
    subprocess.run(pytest_suite(tmp, SUITE, junit), shell=True, cwd=tmp, capture_output=True, check=False)
    assert junit.is_file()
    return junit


def xray_json_with_evidence(sb: Sandbox, tmp: Path) -> Path:
    """An Xray JSON report whose failed run carries a PNG and a text file as evidence, and a defect."""
    test = sb.store.create_test("DEMO", "Login page renders")
    report = {"info": {"summary": "Evidence run", "project": "DEMO"}, "tests": [{
        "testKey": test["key"], "status": "FAILED", "comment": "see the screenshot", "defects": ["DEMO-99"],
        "evidence": [{"data": base64.b64encode(png()).decode(), "filename": "screen.png", "contentType": "image/png"},
                     {"data": base64.b64encode(b"<script>alert(3)</script>").decode(), "filename": "page.html",
                      "contentType": "text/html"}]}]}
    path = tmp / "xray.json"
    path.write_text(json.dumps(report))
    return path


class Links(HTMLParser):
    """Every tag of a page with its attributes, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Links:
    parser = Links()
    parser.feed(html)
    return parser


def get(sb: Sandbox, path: str) -> httpx.Response:
    return httpx.get(sb.url + path, timeout=30)


def test_the_pages_are_html_with_a_strict_policy_and_stay_out_of_the_request_log(sb: Sandbox, tmp_path: Path) -> None:
    """Every page answers HTML with a no-script Content-Security-Policy, and reading pages logs no request."""
    key = import_report(sb, tmp_path, junit_from_pytest(tmp_path))
    logged = len(sb.store.requests())
    for path in ("/", "/tests", "/requests", f"/executions/{key}", "/favicon.ico"):
        answer = get(sb, path)
        assert answer.status_code in (200, 204), path
        if answer.status_code == 200:
            assert answer.headers["content-type"] == "text/html; charset=utf-8"
            assert "script-src" not in answer.headers["content-security-policy"]
            assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    assert get(sb, "/style.css").headers["content-type"].startswith("text/css")
    assert len(sb.store.requests()) == logged


def test_a_test_named_script_is_shown_as_text(sb: Sandbox, tmp_path: Path) -> None:
    """A test id and a run comment holding HTML are escaped on every page: no tag of theirs reaches the page."""
    key = import_report(sb, tmp_path, junit_from_pytest(tmp_path))
    for path in (f"/executions/{key}", "/tests"):
        html = get(sb, path).text
        page = parse(html)
        assert not [t for t, _ in page.tags if t in ("script", "img")], path
        text = "".join(page.text)
        assert f"test_evil[{EVIL_ID}]" in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert EVIL_COMMENT in "".join(parse(get(sb, f"/executions/{key}").text).text)


def test_the_executions_page_shows_each_execution_with_its_counts(sb: Sandbox, tmp_path: Path) -> None:
    """Each Test Execution is listed newest first with its summary, Test Plan, environments and the counts per
    status the sandbox recorded, as text beside the bar."""
    junit = junit_from_pytest(tmp_path)
    first = import_report(sb, tmp_path, junit, "--test-plan", "DEMO-1", "--test-env", "chrome")
    second = import_report(sb, tmp_path, junit, "--multipart", "--var", "summary=Nightly <b>run</b>")
    html = get(sb, "/").text
    assert html.index(f">{second}<") < html.index(f">{first}<")
    for key in (first, second):
        recorded = sb.store.execution(key)
        assert recorded is not None
        row = html[html.index(f">{key}<"):]
        row = row[:row.index("</tr>")]
        shown = dict((status, int(n)) for n, status in re.findall(r'<span class="n">(\d+)</span> (\w+)</li>', row))
        assert shown == recorded["counts"] and sum(shown.values()) == 4
    first_row = html[html.index(f">{first}<"):]
    assert "DEMO-1" in first_row[:first_row.index("</tr>")] and "chrome" in first_row[:first_row.index("</tr>")]
    assert "Nightly &lt;b&gt;run&lt;/b&gt;" in html


def test_the_executions_page_reloads_itself_unless_told_not_to(sb: Sandbox) -> None:
    """The executions page carries a meta refresh and a link that turns it off; ?refresh=0 has none."""
    on = get(sb, "/").text
    assert re.search(r'<meta http-equiv="refresh" content="\d+">', on)
    assert 'href="/?refresh=0"' in on
    off = get(sb, "/?refresh=0").text
    assert 'http-equiv="refresh"' not in off and "Reloading is off" in off


def test_one_execution_shows_runs_failure_evidence_and_how_it_was_imported(sb: Sandbox, tmp_path: Path) -> None:
    """An execution's page has each run's Test, status, failure message and comment, images inline and other
    evidence as links, and the endpoint, format and request that created it."""
    junit_key = import_report(sb, tmp_path, junit_from_pytest(tmp_path), "--multipart", "--var", "summary=Multi")
    html = get(sb, f"/executions/{junit_key}").text
    text = " ".join("".join(parse(html).text).split())
    assert "subtraction is broken" in text  # the JUnit failure message
    assert "/api/v2/import/execution/junit/multipart" in text and "multipart" in text
    assert '"summary": "Multi"' in html.replace("&#34;", '"')  # the info fields, pretty-printed
    assert re.search(r"POST /api/v2/import/execution/junit/multipart.*?<td>200</td>", html, re.S)

    key = import_report(sb, tmp_path, xray_json_with_evidence(sb, tmp_path))
    page = parse(get(sb, f"/executions/{key}").text)
    images = [a for t, a in page.tags if t == "img"]
    assert len(images) == 1 and images[0]["alt"] == "screen.png"
    image = get(sb, str(images[0]["src"]))
    assert image.status_code == 200 and image.content == png()
    html_links = [a["href"] for t, a in page.tags if t == "a" and str(a.get("href")).startswith("/sandbox/evidence/")]
    other = get(sb, str(html_links[-1]))
    assert other.text == "<script>alert(3)</script>"
    assert other.headers["content-security-policy"].startswith("sandbox")  # opened, it runs no script
    assert "DEMO-99" in "".join(page.text) and "see the screenshot" in "".join(page.text)


def test_the_tests_page_lists_every_run_of_a_test(sb: Sandbox, tmp_path: Path) -> None:
    """A Test imported twice shows one run per Test Execution, each linking to its execution."""
    junit = junit_from_pytest(tmp_path)
    keys = [import_report(sb, tmp_path, junit), import_report(sb, tmp_path, junit)]
    html = get(sb, "/tests").text
    row = html[html.index("test_sub"):]
    row = row[:row.index("</tr>")]
    assert re.findall(r'href="/executions/([\w-]+)">\1: FAILED<', row) == keys[::-1]


def test_the_request_log_page_shows_why_xray_refused(sb: Sandbox, tmp_path: Path) -> None:
    """A refused import is listed with its status and Xray's own error text."""
    junit = junit_from_pytest(tmp_path)
    proc = xray_tasks("import-results", "--report", str(junit), env=sandbox_env(sb, tmp_path, XRAY_PROJECT_KEY="NOPE"))
    assert proc.returncode == 16
    html = get(sb, "/requests").text
    refused = next(r for r in sb.store.requests() if r["status"] == 400)
    assert refused["error"] and "NOPE" in refused["error"]
    text = " ".join("".join(parse(html).text).split())
    assert " ".join(refused["error"].split()) in text and "400" in text


def test_an_unknown_execution_is_a_404_page(sb: Sandbox) -> None:
    """/executions/<unknown> answers 404 with a page saying so."""
    answer = get(sb, "/executions/DEMO-999")
    assert answer.status_code == 404 and "No Test Execution with key DEMO-999" in answer.text


def _statements(sb: Sandbox, path: str) -> int:
    counted: list[str] = []
    sb.store._conn.set_trace_callback(counted.append)
    try:
        assert get(sb, path).status_code == 200
    finally:
        sb.store._conn.set_trace_callback(None)
    return len(counted)


def _junit_cases(path: Path, count: int, failing_every: int = 7) -> Path:
    cases = "".join(f'<testcase classname="big.Suite" name="t{i}" time="0.001">'
                    + (f'<failure message="broke {i}"/>' if i % failing_every == 0 else "") + "</testcase>"
                    for i in range(count))
    path.write_text(f'<?xml version="1.0"?><testsuite name="big" tests="{count}">{cases}</testsuite>')
    return path


def test_pages_cost_the_same_queries_for_ten_runs_as_for_a_thousand(sb: Sandbox, tmp_path: Path) -> None:
    """No page issues a query per run or per execution: 10 runs and 1,000 runs cost the same statements."""
    small = import_report(sb, tmp_path, _junit_cases(tmp_path / "small.xml", 10))
    pages = ("/", "/tests", "/requests", f"/executions/{small}")
    before = {p: _statements(sb, p) for p in pages}
    big = import_report(sb, tmp_path, _junit_cases(tmp_path / "big.xml", 1000))
    after = {p: _statements(sb, p.replace(small, big)) for p in pages}
    assert after == before
    html = get(sb, f"/executions/{big}").text
    assert html.count('class="badge s-failed">FAILED<') == len(range(0, 1000, 7))


def test_junit_failure_messages_are_read_from_message_or_text(tmp_path: Path) -> None:
    """The enriched JUnit reader keeps <failure message>, else the element's text, and nothing for a pass."""
    report = tmp_path / "r.xml"
    report.write_text('<testsuite name="s"><testcase classname="a" name="one"><failure message="boom">trace'
                      '</failure></testcase><testcase classname="a" name="two"><error>only text</error></testcase>'
                      '<testcase classname="a" name="three"/></testsuite>')
    assert [r.details.failure for r in iter_enriched(report, "junit")] == ["boom", "only text", None]


def test_a_database_from_before_failure_messages_is_upgraded(tmp_path: Path) -> None:
    """A --db file whose run_details lacks the failure column gets it when the sandbox opens it."""
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE run_details (run_id INTEGER PRIMARY KEY, comment TEXT, defects TEXT NOT NULL, "
                     "started TEXT, finished TEXT, executed_by TEXT, assignee TEXT, iterations TEXT NOT NULL, "
                     "examples TEXT NOT NULL, custom_fields TEXT NOT NULL)")
    store = Store(db, ("DEMO",))
    try:
        columns = {row[1] for row in store._conn.execute("PRAGMA table_info(run_details)")}
        assert "failure" in columns
    finally:
        store.close()


def test_the_banner_names_the_web_page(sb: Sandbox) -> None:
    """The sandbox's start-up banner gives the address to open in a browser."""
    from xray_tasks.sandbox.app import banner

    assert f"In a browser: {sb.url}/ " in banner(sb)
