"""The sandbox over real loopback HTTP: Xray's documented curl commands, pytest-jira-xray, validation, faults."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from xray_tasks.sandbox import Faults, Sandbox
from xray_tasks.sandbox import errors as texts

REPO = Path(__file__).resolve().parents[1]
CLIENT = {"client_id": "sandbox-client", "client_secret": "sandbox-secret"}
INFO_CLOUD = {"fields": {"project": {"key": "DEMO"}, "summary": "Nightly run", "issuetype": {"name": "Test Execution"},
                         "labels": ["nightly"], "fixVersions": [{"name": "v1.0"}]},
              "xrayFields": {"testPlanKey": "DEMO-1", "environments": ["chrome", "linux"]}}


# -- reports built inline ---------------------------------------------------------------------------


def junit(*cases: tuple[str, str]) -> bytes:
    """A JUnit XML report: (name, outcome) pairs, outcome one of passed/failed/skipped, class calc.Calc."""
    body = {"passed": "", "failed": "<failure message='boom'/>", "skipped": "<skipped/>"}
    rows = "".join(f'<testcase classname="calc.Calc" name="{n}" time="0.01">{body[o]}</testcase>' for n, o in cases)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuites><testsuite name="calc" tests="{len(cases)}">'
            f"{rows}</testsuite></testsuites>\n").encode()


JUNIT = junit(("adds", "passed"), ("divides", "failed"), ("rounds", "skipped"))
TESTNG = (b'<?xml version="1.0"?><testng-results><suite name="s"><test name="t"><class name="calc.CalcTest">'
          b'<test-method status="PASS" name="adds" signature="adds()" duration-ms="3"/></class></test></suite>'
          b"</testng-results>")


def xray_json(tests: list[dict[str, Any]], **top: Any) -> bytes:
    return json.dumps({**top, "tests": tests}).encode()


# -- HTTP helpers -----------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: Any

    @property
    def error(self) -> str | None:
        return self.body.get("error") if isinstance(self.body, dict) else None


def call(base: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
         timeout: float = 10) -> Reply:
    """One request on a new connection; the body is JSON-decoded."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        raw = resp.read()
        return Reply(resp.status, resp.headers, json.loads(raw) if raw else None)
    finally:
        conn.close()


def token_for(base: str, version: str = "v2") -> str:
    reply = call(base, "POST", f"/api/{version}/authenticate", json.dumps(CLIENT).encode(),
                 {"Content-Type": "application/json"})
    assert reply.status == 200, reply.body
    return str(reply.body)


def multipart(fields: list[tuple[str, str, bytes, str]]) -> tuple[bytes, str]:
    """A multipart/form-data body from (name, filename, data, content type) and its Content-Type."""
    boundary = "sandbox-test-boundary-7d1f"
    out = b""
    for name, filename, data, ctype in fields:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {ctype}\r\n\r\n").encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def endpoint_suffix(fmt: str) -> str:
    """The format's part of an import path: "" for Xray JSON, "/junit" and so on for the others."""
    return "" if fmt == "xray" else f"/{fmt}"


class Api:
    """Requests against one sandbox, authenticated per dialect."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.base = sandbox.url
        self._token: str | None = None

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = token_for(self.base)
        return self._token

    def cloud(self, path: str, body: bytes, content_type: str, token: str | None = None) -> Reply:
        return call(self.base, "POST", path, body, {"Content-Type": content_type,
                                                    "Authorization": f"Bearer {token or self.token}"})

    def cloud_xml(self, query: str, report: bytes = JUNIT, fmt: str = "junit") -> Reply:
        return self.cloud(f"/api/v2/import/execution/{fmt}?{query}", report, "application/xml")

    def cloud_multipart(self, fields: list[tuple[str, str, bytes, str]], fmt: str = "junit") -> Reply:
        body, ctype = multipart(fields)
        return self.cloud(f"/api/v2/import/execution{endpoint_suffix(fmt)}/multipart", body, ctype)

    def server(self, path: str, body: bytes, content_type: str, auth: str = "Basic YWRtaW46YWRtaW4=") -> Reply:
        return call(self.base, "POST", path, body, {"Content-Type": content_type, "Authorization": auth})

    def server_multipart(self, path: str, fields: list[tuple[str, str, bytes, str]]) -> Reply:
        body, ctype = multipart(fields)
        return self.server(path, body, ctype)

    def get(self, path: str) -> Any:
        reply = call(self.base, "GET", path)
        assert reply.status == 200, reply.body
        return reply.body


@pytest.fixture
def api(sandbox: Sandbox) -> Api:
    return Api(sandbox)


# -- real clients -----------------------------------------------------------------------------------


needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


@needs_curl
def test_curl_commands_from_xray_cloud_docs_work_unchanged(sandbox: Sandbox, tmp_path: Path) -> None:
    """Xray Cloud's documented curl flow (authenticate | tr, raw XML, multipart -F) imports into the sandbox."""
    (tmp_path / "data.xml").write_bytes(JUNIT)
    (tmp_path / "info.json").write_text(json.dumps(INFO_CLOUD))
    script = textwrap.dedent("""\
        set -e
        token=$(curl -s -H "Content-Type: application/json" -X POST --data '{ "client_id": "sandbox-client","client_secret": "sandbox-secret" }' "$BASE/api/v2/authenticate" | tr -d '"')
        curl -s -H "Content-Type: text/xml" -X POST -H "Authorization: Bearer $token" --data @"data.xml" "$BASE/api/v2/import/execution/junit?projectKey=DEMO"
        echo
        curl -s -X POST -H "Authorization: Bearer $token" -F 'results=@data.xml;type=application/xml' -F 'info=@info.json;type=application/json' "$BASE/api/v2/import/execution/junit/multipart"
        """)  # noqa: E501 - the docs' command lines, verbatim
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env={**os.environ, "BASE": sandbox.url},
                          capture_output=True, text=True, timeout=30, check=True)
    standard, multi = (json.loads(line) for line in done.stdout.splitlines())
    assert standard["key"] == "DEMO-5" and standard["self"].endswith(f"/rest/api/2/issue/{standard['id']}")
    assert multi["key"] == "DEMO-6"
    first = sandbox.store.execution("DEMO-5")
    assert first is not None
    assert [(r["test_key"], r["definition"], r["status"]) for r in first["runs"]] == [
        ("DEMO-2", "calc.Calc.adds", "PASSED"), ("DEMO-3", "calc.Calc.divides", "FAILED"),
        ("DEMO-4", "calc.Calc.rounds", "TODO")]
    second = sandbox.store.execution("DEMO-6")
    assert second is not None
    assert (second["summary"], second["test_plan"], second["environments"], second["labels"],
            second["fix_version"]) == ("Nightly run", "DEMO-1", ["chrome", "linux"], ["nightly"], "v1.0")
    assert [r["test_key"] for r in second["runs"]] == ["DEMO-2", "DEMO-3", "DEMO-4"]  # same Tests reused
    assert second["info"] == INFO_CLOUD
    assert [r["parts"] for r in sandbox.store.requests()][-1] == ["results", "info"]


@needs_curl
def test_curl_commands_from_xray_server_docs_work_unchanged(sandbox: Sandbox, tmp_path: Path) -> None:
    """Server/DC's documented `curl -u … -F file=@junit.xml` works, with Basic auth and with a PAT."""
    (tmp_path / "junit.xml").write_bytes(JUNIT)
    base = sandbox.url
    basic = subprocess.run(["curl", "-s", "-u", "admin:admin", "-F", "file=@junit.xml",
                            f"{base}/rest/raven/2.0/import/execution/junit?projectKey=DEMO"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=30, check=True)
    pat = subprocess.run(["curl", "-s", "-H", "Authorization: Bearer sandbox-pat", "-F", "file=@junit.xml",
                          f"{base}/rest/raven/1.0/import/execution/junit?projectKey=CALC&testEnvironments=a;b"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=30, check=True)
    v2, v1 = json.loads(basic.stdout), json.loads(pat.stdout)
    assert v2["testExecIssue"]["key"] == "DEMO-5"
    assert [t["key"] for t in v2["testIssues"]["success"]] == ["DEMO-2", "DEMO-3", "DEMO-4"]
    assert v1 == {"testExecIssue": {"id": v1["testExecIssue"]["id"], "key": "CALC-5",
                                    "self": f"{base}/rest/api/2/issue/{v1['testExecIssue']['id']}"}}
    calc = sandbox.store.execution("CALC-5")
    assert calc is not None
    assert calc["counts"] == {"PASS": 1, "FAIL": 1, "TODO": 1} and calc["environments"] == ["a", "b"]
    assert [(r["auth"], r["dialect"]) for r in sandbox.store.requests()] == [("basic", "server"), ("pat", "server")]


def _inner_pytest(tmp_path: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent("""\
        import pytest

        @pytest.mark.xray("DEMO-2")
        def test_adds():
            assert 1 + 1 == 2

        @pytest.mark.xray("DEMO-3")
        def test_divides():
            assert 1 / 1 == 2

        @pytest.mark.xray("DEMO-4")
        @pytest.mark.skip(reason="not yet")
        def test_rounds():
            pass
        """))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--jira-xray", *args],
                          cwd=tmp_path, env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


def _three_tests(sandbox: Sandbox) -> None:
    for name in ("adds", "divides", "rounds"):
        sandbox.store.create_test("DEMO", name)


def test_pytest_jira_xray_cloud_mode_works_unchanged(sandbox: Sandbox, tmp_path: Path) -> None:
    """pytest-jira-xray --cloud --client-secret-auth authenticates and creates an execution with its runs."""
    _three_tests(sandbox)
    done = _inner_pytest(tmp_path, ["--cloud", "--client-secret-auth"],
                         {"XRAY_API_BASE_URL": sandbox.url, "XRAY_CLIENT_ID": CLIENT["client_id"],
                          "XRAY_CLIENT_SECRET": CLIENT["client_secret"]})
    assert "Uploaded results to JIRA XRAY. Test Execution Id: DEMO-5" in done.stdout, done.stdout + done.stderr
    execution = sandbox.store.execution("DEMO-5")
    assert execution is not None
    assert execution["summary"] == "Execution of automated tests" and execution["dialect"] == "cloud"
    assert {r["test_key"]: r["status"] for r in execution["runs"]} == {
        "DEMO-2": "PASSED", "DEMO-3": "FAILED", "DEMO-4": "ABORTED"}
    assert [r["path"] for r in sandbox.store.requests()] == ["/api/v2/authenticate", "/api/v2/import/execution"]


def test_pytest_jira_xray_server_mode_with_pat_imports_into_an_existing_execution(api: Api, tmp_path: Path) -> None:
    """pytest-jira-xray --api-key-auth --execution KEY updates that Server execution and keeps its other runs."""
    sandbox = api.sandbox
    _three_tests(sandbox)
    other = api.server_multipart("/rest/raven/2.0/import/execution/junit?projectKey=DEMO",
                                 [("file", "j.xml", junit(("other", "passed")), "application/xml")])
    key = other.body["testExecIssue"]["key"]
    done = _inner_pytest(tmp_path, ["--api-key-auth", "--execution", key],
                         {"XRAY_API_BASE_URL": sandbox.url, "XRAY_API_KEY": "sandbox-pat"})
    assert f"Test Execution Id: {key}" in done.stdout, done.stdout + done.stderr
    execution = sandbox.store.execution(key)
    assert execution is not None
    assert {r["test_key"]: r["status"] for r in execution["runs"]} == {
        "DEMO-5": "PASS", "DEMO-2": "PASS", "DEMO-3": "FAIL", "DEMO-4": "ABORTED"}
    assert execution["imports"] == 2


# -- validation -------------------------------------------------------------------------------------


def _info(**changes: Any) -> bytes:
    info = json.loads(json.dumps(INFO_CLOUD))
    for path, value in changes.items():
        where, _, name = path.rpartition("__")
        target = info[where] if where else info
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
    return json.dumps(info).encode()


def _cloud_mp(info: bytes, report_part: str = "results") -> Callable[[Api], Reply]:
    return lambda a: a.cloud_multipart([(report_part, "j.xml", JUNIT, "application/xml"),
                                        ("info", "info.json", info, "application/json")])


def _server_mp(info: dict[str, Any], fmt: str = "junit") -> Callable[[Api], Reply]:
    return lambda a: a.server_multipart(f"/rest/raven/2.0/import/execution/{fmt}/multipart",
                                        [("file", "j.xml", JUNIT, "application/xml"),
                                         ("info", "info.json", json.dumps(info).encode(), "application/json")])


SERVER_INFO = {"fields": {"project": {"key": "DEMO"}, "summary": "S"}}
BAD_REQUESTS: list[tuple[str, Callable[[Api], Reply], int, str]] = [
    ("unknown project", lambda a: a.cloud_xml("projectKey=NOPE"), 400, texts.project_not_found("NOPE")),
    ("unknown test plan", lambda a: a.cloud_xml("projectKey=DEMO&testPlanKey=DEMO-99"), 400,
     texts.test_plan_not_found("DEMO-99")),
    ("test plan key of a Test", lambda a: a.cloud_xml("projectKey=DEMO&testPlanKey=DEMO-2"), 400,
     texts.not_a("DEMO-2", "Test Plan", "Test")),
    ("unknown testExecKey", lambda a: a.cloud_xml("testExecKey=DEMO-99"), 400,
     texts.test_execution_not_found("DEMO-99")),
    ("testExecKey of a Test Plan", lambda a: a.cloud_xml("testExecKey=DEMO-1"), 400,
     texts.not_a("DEMO-1", "Test Execution", "Test Plan")),
    ("query parameter in the wrong case", lambda a: a.cloud_xml("projectKey=DEMO&TestPlanKey=DEMO-1"), 400,
     texts.unknown_query_params(["TestPlanKey"], ("projectKey", "testExecKey", "testPlanKey", "testEnvironments",
                                                  "revision", "fixVersion"))),
    ("neither projectKey nor testExecKey", lambda a: a.cloud_xml("revision=1"), 400, texts.NO_PROJECT_OR_EXECUTION),
    ("XML sent as multipart to Cloud standard",
     lambda a: a.cloud("/api/v2/import/execution/junit?projectKey=DEMO", *multipart(
         [("file", "j.xml", JUNIT, "application/xml")])), 400, "unsupported Content-Type 'multipart/form-data"),
    ("malformed XML", lambda a: a.cloud_xml("projectKey=DEMO", b"<testsuite><testcase"), 400,
     "Error importing results: "),
    ("TestNG XML posted to /junit", lambda a: a.cloud_xml("projectKey=DEMO", TESTNG), 400,
     "Error importing results: "),
    ("a report with zero tests", lambda a: a.cloud_xml("projectKey=DEMO", b"<testsuite name='e' tests='0'/>"), 400,
     texts.NO_TESTS),
    ("malformed Xray JSON", lambda a: a.cloud("/api/v2/import/execution", b"{nope", "application/json"), 400,
     "Error importing results: "),
    ("Xray JSON with an unknown Test key",
     lambda a: a.cloud("/api/v2/import/execution", xray_json([{"testKey": "DEMO-77", "status": "PASSED"}],
                                                             info={"summary": "s"}), "application/json"),
     400, texts.test_not_found("DEMO-77")),
    ("Xray JSON with a Server status on Cloud",
     lambda a: a.cloud("/api/v2/import/execution", xray_json([{"testKey": "DEMO-2", "status": "PASS"}]),
                       "application/json"), 400, 'test run status "PASS" does not exist'),
    ("Xray JSON on Server without a project",
     lambda a: a.server("/rest/raven/2.0/import/execution",
                        xray_json([{"testKey": "DEMO-2", "status": "PASS"}], info={"summary": "s"}),
                        "application/json"), 400, texts.PROJECT_REQUIRED),
    ("Cloud multipart with Server's part name 'file'", _cloud_mp(_info(), "file"), 400,
     "unexpected multipart part(s): file"),
    ("Cloud multipart without info",
     lambda a: a.cloud_multipart([("results", "j.xml", JUNIT, "application/xml")]), 400, texts.missing_part("info")),
    ("info that is not JSON", _cloud_mp(b"project: DEMO"), 400, "the 'info' part is not valid JSON"),
    ("info without a project", _cloud_mp(_info(fields__project=None)), 400, texts.PROJECT_REQUIRED),
    ("info without a summary", _cloud_mp(_info(fields__summary=None)), 400, texts.SUMMARY_REQUIRED_CLOUD),
    ("info with the wrong issue type", _cloud_mp(_info(fields__issuetype={"name": "Bug"})), 400,
     texts.ISSUETYPE_INVALID),
    ("xrayFields with an invalid key", _cloud_mp(_info(xrayFields__testEnvironments=["x"])), 400,
     "Error importing results: xrayFields in info file contains the following invalid fields: testEnvironments!"),
    ("a Server custom field on Cloud", _cloud_mp(_info(fields__customfield_11807=["DEMO-1"])), 400,
     texts.field_cannot_be_set(["customfield_11807"])),
    ("xrayFields on Server", _server_mp({**SERVER_INFO, "xrayFields": {"testPlanKey": "DEMO-1"}}), 400,
     texts.XRAY_FIELDS_ON_SERVER),
    ("an unknown custom field on Server",
     _server_mp({"fields": {**SERVER_INFO["fields"], "customfield_10001": "x"}}), 400,
     texts.field_cannot_be_set(["customfield_10001"])),
    ("raw XML body on Server's standard endpoint",
     lambda a: a.server("/rest/raven/2.0/import/execution/junit?projectKey=DEMO", JUNIT, "application/xml"), 400,
     "this endpoint expects multipart/form-data with one part 'file'"),
    ("untagged Cucumber scenario",
     lambda a: a.cloud("/api/v2/import/execution/cucumber", json.dumps(
         [{"name": "f", "elements": [{"name": "sc", "tags": [], "steps": []}]}]).encode(), "application/json"),
     400, 'the scenario "sc" is not tagged'),
    ("wrong client secret", lambda a: call(a.base, "POST", "/api/v2/authenticate", json.dumps(
        {**CLIENT, "client_secret": "nope"}).encode(), {"Content-Type": "application/json"}), 401,
     texts.BAD_CLIENT_CREDENTIALS),
    ("malformed authenticate body", lambda a: call(a.base, "POST", "/api/v1/authenticate", b"client_id=x",
                                                   {"Content-Type": "application/json"}), 400,
     "Error reading the request body"),
    ("import without a token",
     lambda a: call(a.base, "POST", "/api/v2/import/execution/junit?projectKey=DEMO", JUNIT,
                    {"Content-Type": "application/xml"}), 401, texts.TOKEN_MISSING),
    ("import with a forged token", lambda a: a.cloud("/api/v2/import/execution/junit?projectKey=DEMO", JUNIT,
                                                     "application/xml", token="eyJ.eyJ.sig"), 401,
     texts.TOKEN_INVALID),
    ("Server import with a wrong password",
     lambda a: a.server("/rest/raven/2.0/import/execution", b"{}", "application/json", auth="Basic YWRtaW46eA=="),
     401, texts.SERVER_UNAUTHENTICATED),
    ("unknown path", lambda a: call(a.base, "GET", "/api/v2/import/nothing"), 404,
     texts.NOT_FOUND.format(path="/api/v2/import/nothing")),
    ("wrong method", lambda a: call(a.base, "GET", "/api/v2/import/execution/junit"), 405, "Method GET is not allowed"),
]


@pytest.mark.parametrize(("send", "status", "error"), [c[1:] for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS])
def test_bad_requests_are_refused_like_xray(api: Api, send: Callable[[Api], Reply], status: int, error: str) -> None:
    """Each malformed, unknown or unauthorised request gets Xray's status and an ``{"error": ...}`` text."""
    api.sandbox.store.create_test("DEMO", "existing")  # DEMO-2, a Test
    before = len(api.sandbox.store.executions())
    reply = send(api)
    assert (reply.status, reply.headers.get_content_type()) == (status, "application/json")
    assert reply.error is not None and error in reply.error
    assert len(api.sandbox.store.executions()) == before  # nothing half-imported
    assert len(api.sandbox.store.tests()) == 1


# -- import semantics -------------------------------------------------------------------------------


def test_import_into_existing_execution_replaces_runs_of_the_same_tests_and_keeps_others(api: Api) -> None:
    """testExecKey updates runs of Tests in the report, adds new ones and keeps the rest."""
    first = api.cloud_xml("projectKey=DEMO&testEnvironments=chrome")
    key = first.body["key"]
    again = api.cloud_xml(f"testExecKey={key}&testEnvironments=firefox&revision=abc",
                          junit(("divides", "passed"), ("multiplies", "failed")))
    assert again.body == first.body
    execution = api.sandbox.store.execution(key)
    assert execution is not None
    assert {r["name"]: r["status"] for r in execution["runs"]} == {
        "adds": "PASSED", "divides": "PASSED", "rounds": "TODO", "multiplies": "FAILED"}
    assert (execution["environments"], execution["revision"], execution["imports"]) == (["firefox"], "abc", 2)
    assert len(api.sandbox.store.tests()) == 4


def test_multipart_always_creates_a_new_execution_and_reuses_tests_by_definition(api: Api) -> None:
    """Two identical multipart imports give two executions over the same three Tests."""
    send = _cloud_mp(_info())
    keys = [send(api).body["key"], send(api).body["key"]]
    assert keys == ["DEMO-5", "DEMO-6"]
    assert [t["key"] for t in api.sandbox.store.tests()] == ["DEMO-2", "DEMO-3", "DEMO-4"]
    assert [t["test_plans"] for t in api.sandbox.store.tests()] == [["DEMO-1"]] * 3


def test_xray_json_info_and_test_info_provision_tests_once(api: Api) -> None:
    """Xray JSON ``info`` fills the execution; ``testInfo`` creates a Test once; repeats join the worst status."""
    report = xray_json(
        [{"testInfo": {"summary": "Login works", "projectKey": "CALC", "type": "Manual", "labels": ["ui"]},
          "status": "PASSED"},
         {"testInfo": {"summary": "Login works", "projectKey": "CALC", "type": "Manual"}, "status": "FAILED"}],
        info={"project": "DEMO", "summary": "From JSON", "version": "v2", "revision": "r9",
              "testPlanKey": "DEMO-1", "testEnvironments": ["qa"], "startDate": "2026-11-27T10:00:00+00:00"})
    first = api.cloud("/api/v2/import/execution", report, "application/json")
    second = api.cloud("/api/v1/import/execution", report, "application/json")
    assert (first.status, first.body["key"], second.body["key"]) == (200, "DEMO-2", "DEMO-3")
    execution = api.sandbox.store.execution("DEMO-2")
    assert execution is not None
    assert (execution["summary"], execution["fix_version"], execution["revision"], execution["test_plan"],
            execution["environments"], execution["start_date"]) == (
        "From JSON", "v2", "r9", "DEMO-1", ["qa"], "2026-11-27T10:00:00+00:00")
    assert execution["runs"] == [{**execution["runs"][0], "test_key": "CALC-2", "status": "FAILED"}]
    assert [(t["key"], t["type"], t["labels"]) for t in api.sandbox.store.tests()] == [("CALC-2", "Manual", ["ui"])]


def test_server_multipart_uses_custom_fields_that_field_discovery_lists(api: Api) -> None:
    """GET /rest/api/2/field names the Test Plan/Environments ids; Server multipart info uses them."""
    fields = call(api.base, "GET", "/rest/api/2/field", headers={"Authorization": "Bearer sandbox-pat"}).body
    ids = {f["name"]: f["id"] for f in fields if f["custom"]}
    assert ids == {"Test Plan": "customfield_11807", "Test Environments": "customfield_11805"}
    info = {"fields": {"project": {"key": "CALC"}, "summary": "Server run", "issuetype": {"name": "Test Execution"},
                       ids["Test Plan"]: ["CALC-1"], ids["Test Environments"]: ["linux"]}}
    test_info = {"fields": {"labels": ["auto"], "description": "from testInfo"}}
    reply = api.server_multipart("/rest/raven/latest/import/execution/junit/multipart",
                                 [("file", "j.xml", JUNIT, "application/xml"),
                                  ("info", "info.json", json.dumps(info).encode(), "application/json"),
                                  ("testInfo", "testInfo.json", json.dumps(test_info).encode(), "application/json")])
    assert reply.status == 200, reply.body
    execution = api.sandbox.store.execution(reply.body["testExecIssue"]["key"])
    assert execution is not None
    assert (execution["test_plan"], execution["environments"], execution["test_info"]) == (
        "CALC-1", ["linux"], test_info)
    tests = api.sandbox.store.tests()
    assert {(t["labels"][0], t["description"], tuple(t["test_plans"])) for t in tests} == {
        ("auto", "from testInfo", ())}  # Server's custom field does not add Tests to the plan


def test_jira_myself_and_issue_check_credentials(api: Api) -> None:
    """/rest/api/2/myself answers for Basic and PAT and refuses bad credentials; issues resolve by id or key."""
    basic = call(api.base, "GET", "/rest/api/2/myself", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    pat = call(api.base, "GET", "/rest/api/2/myself", headers={"Authorization": "Bearer sandbox-pat"})
    bad = call(api.base, "GET", "/rest/api/2/myself", headers={"Authorization": "Bearer nope"})
    assert (basic.body["name"], pat.body["name"], bad.status) == ("admin", "admin", 401)
    assert bad.headers["WWW-Authenticate"].startswith("Basic")
    key = api.cloud_xml("projectKey=DEMO").body["id"]
    issue = call(api.base, "GET", f"/rest/api/2/issue/{key}", headers={"Authorization": f"Bearer {api.token}"})
    assert (issue.body["key"], issue.body["fields"]["issuetype"]["name"]) == ("DEMO-5", "Test Execution")


def test_concurrent_imports_get_distinct_keys(api: Api) -> None:
    """Eight imports at once create eight executions with consecutive keys and no duplicated Tests."""
    token = api.token
    replies: list[Reply] = []
    lock = threading.Lock()

    def one() -> None:
        reply = api.cloud_xml("projectKey=CALC")
        with lock:
            replies.append(reply)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert token and sorted(r.status for r in replies) == [200] * 8
    assert len({r.body["key"] for r in replies}) == 8
    assert len(api.sandbox.store.tests("CALC")) == 3


REPORTS: dict[str, bytes] = {
    "junit": JUNIT,
    "testng": TESTNG,
    "nunit": b'<test-run><test-suite type="Assembly" name="calc.dll"><test-case name="adds" '
             b'fullname="calc.Calc.adds" result="Passed" duration="0.1"/></test-suite></test-run>',
    "xunit": b'<assemblies><assembly name="calc.dll"><collection name="c"><test name="calc.Calc.adds" '
             b'type="calc.Calc" method="adds" result="Pass" time="0.1"/></collection></assembly></assemblies>',
    "robot": b'<robot><suite name="Calc"><test name="Adds"><status status="PASS"/></test></suite></robot>',
    "cucumber": json.dumps([{"uri": "calc.feature", "id": "calc", "name": "Calc", "keyword": "Feature", "elements": [
        {"id": "calc;adds", "line": 3, "name": "Adds", "type": "scenario",
         "tags": [{"name": "@TEST_DEMO-2", "line": 2}],
         "steps": [{"line": 4, "name": "x", "result": {"status": "passed"}}]}]}]).encode(),
    "behave": json.dumps([{"keyword": "Feature", "name": "Calc", "location": "calc.feature:1", "status": "failed",
                           "tags": [], "elements": [
                               {"keyword": "Scenario", "name": "Adds", "type": "scenario", "location": "calc.feature:3",
                                "status": "failed", "tags": ["DEMO-2"],
                                "steps": [{"step_type": "given", "name": "x", "result": {"status": "failed"}}]}]}]
                          ).encode(),
}


def _report(fmt: str, dialect: str) -> bytes:
    if fmt != "xray":
        return REPORTS[fmt]
    return xray_json([{"testKey": "DEMO-2", "status": "PASSED" if dialect == "cloud" else "PASS"}],
                     info={"project": "DEMO", "summary": "Xray JSON run"})


@pytest.mark.parametrize("fmt", ["xray", *REPORTS])
def test_every_format_imports_through_both_dialects_standard_and_multipart(api: Api, fmt: str) -> None:
    """Each format's Cloud and Server endpoints, standard and multipart, accept a small report of it."""
    api.sandbox.store.create_test("DEMO", "tagged")  # DEMO-2, named by the Cucumber/Behave tags and Xray JSON
    is_json = fmt in ("xray", "cucumber", "behave")
    ctype = "application/json" if is_json else "application/xml"
    query = "" if is_json else "?projectKey=DEMO"
    raven = f"/rest/raven/2.0/import/execution{endpoint_suffix(fmt)}"
    info = json.dumps({"fields": {"project": {"key": "DEMO"}, "summary": f"{fmt} run"}}).encode()
    cloud, server = _report(fmt, "cloud"), _report(fmt, "server")
    replies = [
        api.cloud(f"/api/v2/import/execution{endpoint_suffix(fmt)}{query}", cloud, ctype),
        api.cloud_multipart([("results", "r", cloud, ctype), ("info", "i.json", info, "application/json")], fmt),
        api.server(f"{raven}{query}", server, ctype) if is_json else
        api.server_multipart(f"{raven}{query}", [("file", "r.xml", server, ctype)]),
        api.server_multipart(f"{raven}/multipart", [("result" if is_json else "file", "r", server, ctype),
                                                    ("info", "i.json", info, "application/json")]),
    ]
    assert [r.status for r in replies] == [200] * 4, [r.body for r in replies]
    executions = api.sandbox.store.executions()
    assert [(e["format"], e["dialect"], e["multipart"]) for e in executions] == [
        (fmt, "cloud", False), (fmt, "cloud", True), (fmt, "server", False), (fmt, "server", True)]
    assert all(e["total"] >= 1 for e in executions)
    assert len({t["key"] for t in api.sandbox.store.tests()}) == len(api.sandbox.store.tests("DEMO"))


def test_untagged_scenarios_get_cucumber_tests_only_when_asked() -> None:
    """provision_untagged_scenarios=True turns the untagged-scenario 400 into a new Cucumber Test."""
    untagged = json.dumps([{"uri": "calc.feature", "id": "calc", "name": "Calc", "keyword": "Feature", "elements": [
        {"id": "calc;root", "line": 3, "name": "Root", "type": "scenario", "tags": [],
         "steps": [{"line": 4, "name": "x", "result": {"status": "passed"}}]}]}]).encode()
    with Sandbox(provision_untagged_scenarios=True) as sb:
        api = Api(sb)
        replies = [api.cloud("/api/v2/import/execution/cucumber", untagged, "application/json") for _ in range(2)]
        tests = sb.store.tests()
    assert [r.status for r in replies] == [200, 200]
    assert [(t["key"], t["type"]) for t in tests] == [("DEMO-2", "Cucumber")]


# -- tokens -----------------------------------------------------------------------------------------


def test_expired_token_is_refused() -> None:
    """A token past its ``exp`` gets 401 "Token has expired!"."""
    with Sandbox(token_ttl=0) as sb:
        reply = Api(sb).cloud_xml("projectKey=DEMO")
    assert (reply.status, reply.error) == (401, texts.TOKEN_EXPIRED)


def test_token_is_a_jwt_shaped_like_xrays(api: Api) -> None:
    """The token is an HS256 JWT with Xray's claims and a 24 h lifetime."""
    import base64

    header, payload, _ = api.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "HS256", "typ": "JWT"}
    assert (claims["iss"], claims["aud"], claims["sub"], claims["exp"] - claims["iat"]) == (
        "com.xpandit.xray", "sandbox-client", "sandbox-client", 86400)


def test_expire_tokens_fault_refuses_old_tokens_only(api: Api) -> None:
    """After expire_tokens every earlier token gets 401; a new one works."""
    old = api.token
    api.sandbox.faults.expire_tokens = True
    refused = api.cloud_xml("projectKey=DEMO")
    fresh = token_for(api.base)
    accepted = api.cloud("/api/v2/import/execution/junit?projectKey=DEMO", JUNIT, "application/xml", token=fresh)
    assert (refused.status, refused.error, accepted.status) == (401, texts.TOKEN_EXPIRED, 200)
    assert old != fresh


def test_file_database_keeps_executions_and_tokens_across_restarts(tmp_path: Path) -> None:
    """A sandbox reopened on the same SQLite file still has the execution and accepts the old token."""
    db = tmp_path / "xray.sqlite"
    with Sandbox(db=db) as first:
        api = Api(first)
        key = api.cloud_xml("projectKey=DEMO").body["key"]
        token = api.token
    with Sandbox(db=db) as second:
        again = Api(second).cloud("/api/v2/import/execution/junit?projectKey=DEMO", JUNIT, "application/xml",
                                  token=token)
        assert second.store.execution(key) is not None
    assert (key, again.status, again.body["key"]) == ("DEMO-5", 200, "DEMO-6")


# -- faults -----------------------------------------------------------------------------------------


def test_status_429_fault_sends_retry_after_then_recovers(api: Api) -> None:
    """status_429=2 answers two requests 429 with Retry-After, then imports normally."""
    token = api.token
    reply = call(api.base, "POST", "/sandbox/faults", json.dumps({"status_429": 2, "retry_after": 7}).encode())
    assert reply.body["status_429"] == 2
    first, second, third = (api.cloud_xml("projectKey=DEMO") for _ in range(3))
    assert [r.status for r in (first, second, third)] == [429, 429, 200]
    assert first.headers["Retry-After"] == "7" and "Retry after 7 seconds" in str(first.error)
    assert token and [r["status"] for r in api.get("/sandbox/requests")][-3:] == [429, 429, 200]


def test_status_503_fault_from_the_constructor_hits_authenticate() -> None:
    """Faults given to the constructor apply: the first authenticate gets 503, the next succeeds."""
    with Sandbox(faults=Faults(status_503=1)) as sb:
        first = call(sb.url, "POST", "/api/v2/authenticate", json.dumps(CLIENT).encode())
        second = call(sb.url, "POST", "/api/v2/authenticate", json.dumps(CLIENT).encode())
    assert (first.status, first.error, second.status) == (503, texts.UNAVAILABLE, 200)


def test_latency_fault_delays_api_answers_but_not_the_sandbox_api(api: Api) -> None:
    """latency_ms delays Xray API requests and leaves /sandbox/* fast."""
    api.sandbox.faults.latency_ms = 300
    started = time.monotonic()
    assert call(api.base, "GET", "/rest/api/2/myself", headers={"Authorization": "Bearer sandbox-pat"}).status == 200
    slow = time.monotonic() - started
    started = time.monotonic()
    api.get("/sandbox/health")
    assert slow >= 0.3 > time.monotonic() - started


@pytest.mark.parametrize("process", [True, False], ids=["processed", "not processed"])
def test_drop_after_body_closes_without_answering(api: Api, process: bool) -> None:
    """drop_after_body reads the body, closes the connection unanswered, and imports it only if asked."""
    token = api.token
    api.sandbox.faults.update({"drop_after_body": 1, "process_before_drop": process})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        api.cloud_xml("projectKey=DEMO")
    assert token and len(api.sandbox.store.executions()) == (1 if process else 0)
    logged = api.sandbox.store.requests()[-1]
    assert (logged["status"], logged["body_size"]) == (None, len(JUNIT))
    assert api.cloud_xml("projectKey=DEMO").status == 200  # one drop only


def test_region_mismatch_fault_refuses_data_calls_but_not_authenticate(api: Api) -> None:
    """region_mismatch: authenticate works, imports get Xray's "another region" 401."""
    api.sandbox.faults.region_mismatch = True
    reply = api.cloud_xml("projectKey=DEMO")
    assert (reply.status, reply.error) == (401, texts.REGION_MISMATCH)


def test_faults_api_validates_and_clears(api: Api) -> None:
    """POST /sandbox/faults refuses unknown switches; DELETE and reset clear them."""
    bad = call(api.base, "POST", "/sandbox/faults", json.dumps({"status_418": 1}).encode())
    wrong_type = call(api.base, "POST", "/sandbox/faults", json.dumps({"region_mismatch": 1}).encode())
    assert (bad.status, wrong_type.status) == (400, 400) and "status_418" in str(bad.error)
    call(api.base, "POST", "/sandbox/faults", json.dumps({"latency_ms": 5, "region_mismatch": True}).encode())
    assert api.get("/sandbox/faults")["latency_ms"] == 5
    assert call(api.base, "DELETE", "/sandbox/faults").body == Faults().as_dict()


# -- HTTP transport ---------------------------------------------------------------------------------


def test_chunked_upload_is_imported(api: Api) -> None:
    """A ``Transfer-Encoding: chunked`` body in small pieces is read, imported and logged as chunked."""
    parts = urlsplit(api.base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    pieces = [JUNIT[i:i + 50] for i in range(0, len(JUNIT), 50)]
    conn.request("POST", "/api/v2/import/execution/junit?projectKey=DEMO", body=iter(pieces), encode_chunked=True,
                 headers={"Content-Type": "application/xml", "Authorization": f"Bearer {api.token}",
                          "Transfer-Encoding": "chunked"})
    resp = conn.getresponse()
    body = json.loads(resp.read())
    conn.close()
    assert (resp.status, body["key"]) == (200, "DEMO-5")
    logged = api.sandbox.store.requests()[-1]
    assert (logged["chunked"], logged["body_size"]) == (True, len(JUNIT))
    assert api.sandbox.store.execution("DEMO-5")["total"] == 3  # type: ignore[index]


def _read_response(sock: socket.socket, buffered: bytes = b"") -> tuple[bytes, bytes]:
    data = buffered
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    lengths = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
    length = lengths[0] if lengths else 0
    while len(rest) < length:
        rest += sock.recv(65536)
    return head, rest


def test_expect_100_continue_is_answered_before_the_body(api: Api) -> None:
    """With ``Expect: 100-continue`` the server says 100 Continue first, then imports the body sent after it."""
    parts = urlsplit(api.base)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall((f"POST /api/v2/import/execution/junit?projectKey=DEMO HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                      f"Authorization: Bearer {api.token}\r\nContent-Type: application/xml\r\n"
                      f"Content-Length: {len(JUNIT)}\r\nExpect: 100-continue\r\n\r\n").encode())
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += sock.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        _, leftover = interim.split(b"\r\n\r\n", 1)
        sock.sendall(JUNIT)
        head, body = _read_response(sock, leftover)
    assert head.startswith(b"HTTP/1.1 200") and json.loads(body)["key"] == "DEMO-5"
    assert api.sandbox.store.requests()[-1]["expect_continue"] is True


def _vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_100_mb_upload_in_accept_without_parsing_mode_keeps_memory_flat(tmp_path: Path) -> None:
    """A sandbox process takes a 100 MiB body without its peak RSS growing, and stops cleanly on SIGTERM."""
    proc = subprocess.Popen([sys.executable, "-m", "xray_tasks.sandbox", "--port", "0", "--quiet",
                             "--faults", '{"accept_without_parsing": true}'], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("XRAY_SANDBOX_URL=http://127.0.0.1:")
        base = first.split("=", 1)[1]
        token = token_for(base)
        warm = call(base, "POST", "/api/v2/import/execution/junit?projectKey=CALC", JUNIT,
                    {"Content-Type": "application/xml", "Authorization": f"Bearer {token}"})
        assert warm.status == 200
        before = _vm_hwm_kib(proc.pid)
        chunk, count = b"x" * (1 << 20), 100
        parts = urlsplit(base)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        conn.putrequest("POST", "/api/v2/import/execution/junit?projectKey=DEMO")
        for name, value in (("Content-Type", "application/xml"), ("Authorization", f"Bearer {token}"),
                            ("Content-Length", str(len(chunk) * count))):
            conn.putheader(name, value)
        conn.endheaders()
        for _ in range(count):
            conn.send(chunk)
        resp = conn.getresponse()
        body = json.loads(resp.read())
        conn.close()
        grown_mib = (_vm_hwm_kib(proc.pid) - before) / 1024
        assert (resp.status, body["key"]) == (200, "DEMO-2")  # no Tests: nothing was parsed
        assert grown_mib < 16, f"peak RSS grew by {grown_mib:.1f} MiB"
        logged = call(base, "GET", "/sandbox/requests").body[-1]
        assert (logged["body_size"], logged["note"]) == (len(chunk) * count, "accepted without parsing")
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Xray sandbox stopped." in out


# -- the sandbox API --------------------------------------------------------------------------------


def test_read_api_lists_executions_tests_requests_and_resets(api: Api) -> None:
    """/sandbox/* shows what was imported with status counts, and reset forgets it all."""
    api.cloud_xml("projectKey=DEMO")
    created = call(api.base, "POST", "/sandbox/tests",
                   json.dumps({"project": "CALC", "summary": "Manual one"}).encode())
    assert (created.status, created.body["key"]) == (201, "CALC-2")
    listed = api.get("/sandbox/executions")
    assert [(e["key"], e["counts"], e["total"]) for e in listed] == [
        ("DEMO-5", {"PASSED": 1, "FAILED": 1, "TODO": 1}, 3)]
    assert api.get("/sandbox/executions/DEMO-5")["runs"][0]["test_key"] == "DEMO-2"
    assert call(api.base, "GET", "/sandbox/executions/DEMO-99").status == 404
    assert [t["key"] for t in api.get("/sandbox/tests?project=CALC")] == ["CALC-2"]
    assert [r["path"] for r in api.get("/sandbox/requests")] == [
        "/api/v2/authenticate", "/api/v2/import/execution/junit"]
    health = api.get("/sandbox/health")
    assert (health["status"], health["projects"], health["executions"]) == ("ok", ["DEMO", "CALC"], 1)
    assert call(api.base, "POST", "/sandbox/reset").status == 200
    assert (api.get("/sandbox/executions"), api.get("/sandbox/requests")) == ([], [])
    assert [i["key"] for i in api.sandbox.store.issues()] == ["DEMO-1", "CALC-1"]
