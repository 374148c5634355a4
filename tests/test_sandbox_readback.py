"""Reading imports back from the sandbox, Server/DC REST and Cloud GraphQL over loopback: creating a Test
Execution with Jira's REST call, linking it to a Test Plan, paging its runs, one run per Test (worst result
wins inside an import, the later import wins across imports), dropped runs, and eight concurrent shards."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cloud_api import Cloud, all_runs, junit
from xray_tasks.merge import ScratchFolder, merge_to_file
from xray_tasks.sandbox import Sandbox

AUTH = ("admin", "admin")
FIELDS = {"project": {"key": "DEMO"}, "issuetype": {"name": "Test Execution"}, "summary": "Nightly #7",
          "labels": ["nightly"], "fixVersions": [{"name": "v3.0"}]}


@pytest.fixture
def jira(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """An httpx client with the sandbox's Server/DC Basic credentials."""
    with httpx.Client(base_url=sandbox.url, auth=AUTH, timeout=30) as client:
        yield client


def server_import(jira: httpx.Client, query: str, report: bytes, fmt: str = "junit",
                  version: str = "2.0") -> httpx.Response:
    """A standard Server/DC XML import: multipart part ``file`` and query parameters."""
    return jira.post(f"/rest/raven/{version}/import/execution/{fmt}?{query}",
                     files={"file": ("report.xml", report, "application/xml")})


def create_execution(jira: httpx.Client, **fields: Any) -> dict[str, Any]:
    reply = jira.post("/rest/api/2/issue", json={"fields": {**FIELDS, **fields}})
    assert reply.status_code == 201, reply.text
    body: dict[str, Any] = reply.json()
    return body


def pages(jira: httpx.Client, path: str, limit: int, **params: str) -> list[list[dict[str, Any]]]:
    """Every page of a Server paged GET, page 1 on, up to and including the first empty page."""
    out = []
    page = 1
    while True:
        reply = jira.get(path, params={**params, "limit": limit, "page": page})
        assert reply.status_code == 200, reply.text
        out.append(reply.json())
        if not out[-1]:
            return out
        page += 1


# -- Server/DC: create, import, link, read back ----------------------------------------------------


def test_server_create_import_link_to_plan_and_read_back_in_pages(jira: httpx.Client,
                                                                  pytest_junit_report: Path) -> None:
    """A Test Execution made with POST /rest/api/2/issue (custom fields included) takes a real pytest
    import by testExecKey, is linked to a Test Plan, and testexec/{key}/test pages its runs two at a
    time until an empty page, with Test Run ids, Test keys and Server status names."""
    sandbox_store = jira.get("/sandbox/health").json()
    assert sandbox_store["executions"] == 0
    for name in ("adds", "rounds", "roots"):  # DEMO-2..4 for the report's test_key properties
        created_test = jira.post("/rest/api/2/issue", json={"fields": {
            "project": {"key": "DEMO"}, "issuetype": {"name": "Test"}, "summary": name}})
        assert created_test.status_code == 201
    created = create_execution(jira, customfield_11805=["chrome"])
    key = created["key"]
    assert created == {"id": created["id"], "key": "DEMO-5",
                       "self": f"{jira.base_url}/rest/api/2/issue/{created['id']}"}
    assert jira.get(f"/rest/api/2/issue/{key}").json()["fields"]["issuetype"]["name"] == "Test Execution"

    imported = server_import(jira, f"testExecKey={key}", pytest_junit_report.read_bytes())
    assert imported.status_code == 200, imported.text
    assert imported.json()["testExecIssue"]["key"] == key

    linked = jira.post("/rest/raven/2.0/api/testplan/DEMO-1/testexecution", json={"add": [key]})
    assert (linked.status_code, linked.json()) == (200, [])
    refused = jira.post("/rest/raven/1.0/api/testplan/DEMO-1/testexecution", json={"add": ["CALC-11", "DEMO-2"]})
    assert (refused.status_code, refused.json()) == (200, [
        "Issue with key CALC-11 not found or is not of type Test Execution.",
        "Issue with key DEMO-2 not found or is not of type Test Execution."])
    listed = jira.get("/rest/raven/2.0/api/testplan/DEMO-1/testexecution").json()
    assert listed == [{"id": int(created["id"]), "key": key, "summary": "Nightly #7", "self": created["self"],
                       "testEnvironments": ["chrome"]}]

    got = pages(jira, f"/rest/raven/2.0/api/testexec/{key}/test", 2)
    assert [len(p) for p in got] == [2, 2, 1, 0]
    runs = [run for page in got for run in page]
    assert [r["rank"] for r in runs] == [1, 2, 3, 4, 5]
    assert len({r["id"] for r in runs}) == 5 and all(isinstance(r["id"], int) for r in runs)
    assert sorted(r["status"] for r in runs) == ["FAIL", "PASS", "PASS", "PASS", "TODO"]
    by_key = {r["key"]: r for r in runs}
    assert by_key["DEMO-2"]["status"] == "PASS" and by_key["DEMO-3"]["status"] == "FAIL"
    everything = jira.get(f"/rest/raven/latest/api/testexec/{key}/test").json()
    assert [r["id"] for r in everything] == [r["id"] for r in runs]  # no paging parameters: all of them

    detailed = jira.get(f"/rest/raven/1.0/api/testexec/{key}/test", params={"detailed": "true"}).json()
    assert set(detailed[0]) >= {"id", "key", "rank", "status", "startedOn", "finishedOn", "executedBy", "defects",
                                "evidences"}
    one = jira.get("/rest/raven/2.0/api/testrun", params={"testExecIssueKey": key, "testIssueKey": "DEMO-3"})
    assert one.status_code == 200
    assert (one.json()["id"], one.json()["status"], one.json()["testKey"], one.json()["testExecKey"]) == (
        by_key["DEMO-3"]["id"], "FAIL", "DEMO-3", key)
    assert jira.get(f"/rest/raven/2.0/api/testrun/{by_key['DEMO-3']['id']}").json() == one.json()


def test_testruns_export_pages_on_both_paths_of_2_0(jira: httpx.Client) -> None:
    """GET testruns pages until an empty array on /rest/raven/1.0/testruns, /2.0/testruns and
    /2.0/api/testruns, filters by execution, Test and Test Plan, and adds includeTestFields."""
    key = create_execution(jira)["key"]
    server_import(jira, f"testExecKey={key}&testPlanKey=DEMO-1", junit(("a", "passed"), ("b", "failed"),
                                                                        ("c", "skipped")))
    other = server_import(jira, "projectKey=DEMO", junit(("a", "failed"))).json()["testExecIssue"]["key"]
    for path in ("/rest/raven/1.0/testruns", "/rest/raven/2.0/testruns", "/rest/raven/2.0/api/testruns"):
        got = pages(jira, path, 2, testExecKey=key)
        assert [len(p) for p in got] == [2, 1, 0], path
        runs = [r for p in got for r in p]
        assert [(r["testKey"], r["status"], r["testExecKey"]) for r in runs] == [
            ("DEMO-3", "PASS", key), ("DEMO-4", "FAIL", key), ("DEMO-5", "TODO", key)]
    by_test = jira.get("/rest/raven/2.0/testruns", params={"testKey": "DEMO-3"}).json()
    assert [(r["testExecKey"], r["status"]) for r in by_test] == [(key, "PASS"), (other, "FAIL")]
    by_plan = jira.get("/rest/raven/2.0/testruns", params={"testPlanKey": "DEMO-1",
                                                           "includeTestFields": "summary,labels"}).json()
    assert {r["testExecKey"] for r in by_plan} == {key}
    assert by_plan[0]["testFields"] == {"summary": "a", "labels": []}
    for params, status in (({}, 400), ({"testExecKey": "DEMO-99"}, 404), ({"testExecKey": key, "page": "0"}, 400),
                           ({"savedFilterId": "3"}, 400)):
        assert jira.get("/rest/raven/2.0/testruns", params=params).status_code == status, params


def test_jira_create_issue_refuses_like_jira(jira: httpx.Client) -> None:
    """POST /rest/api/2/issue answers Jira's 400 {"errorMessages", "errors"} naming each bad field, and
    Server credentials are required."""
    def errors(fields: dict[str, Any]) -> dict[str, str]:
        reply = jira.post("/rest/api/2/issue", json={"fields": fields})
        assert reply.status_code == 400, reply.text
        assert reply.json()["errorMessages"] == []
        found: dict[str, str] = reply.json()["errors"]
        return found

    assert errors({"project": {"key": "DEMO"}, "issuetype": {"name": "Test Execution"}}) == {
        "summary": "You must specify a summary of the issue."}
    assert errors({"summary": "s", "issuetype": {"name": "Test Execution"}}) == {"project": "project is required"}
    assert errors({"summary": "s", "project": {"key": "NOPE"}, "issuetype": {"id": "10101"}}) == {
        "project": "valid project is required"}
    assert errors({"summary": "s", "project": {"key": "DEMO"}, "issuetype": {"name": "Bogus"}}) == {
        "issuetype": "valid issue type is required"}
    assert errors({**FIELDS, "customfield_10115": 3}) == {
        "customfield_10115": "Field 'customfield_10115' cannot be set. It is not on the appropriate screen, "
                             "or unknown."}
    assert errors({**FIELDS, "customfield_11807": ["DEMO-99"]}) == {
        "customfield_11807": "Issue with key DEMO-99 not found or is not of type Test Plan."}
    assert jira.post("/rest/api/2/issue", content=b"[1]", headers={"Content-Type": "application/json"}
                     ).json()["errorMessages"]
    anonymous = httpx.post(f"{jira.base_url}/rest/api/2/issue", json={"fields": FIELDS})
    assert anonymous.status_code == 401
    plan = create_execution(jira, issuetype={"name": "Test Plan"}, summary="Release plan")
    with_plan = create_execution(jira, customfield_11807=[plan["key"]])
    assert jira.get(f"/sandbox/executions/{with_plan['key']}").json()["test_plans"] == [plan["key"]]


def test_testexec_tests_can_be_added_and_removed_and_unlinking_works(jira: httpx.Client) -> None:
    """POST testexec/{key}/test adds TODO runs for Tests (problems as a 200 list) and removes them;
    POST testplan/{key}/testexecution {"remove"} unlinks an execution."""
    key = create_execution(jira)["key"]
    for name in ("a", "b"):
        jira.post("/rest/api/2/issue", json={"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Test"},
                                                        "summary": name}})
    added = jira.post(f"/rest/raven/2.0/api/testexec/{key}/test", json={"add": ["DEMO-3", "DEMO-4", "DEMO-1"]})
    assert added.json() == ["Issue with key DEMO-1 not found or is not of type Test."]
    assert [(r["key"], r["status"]) for r in jira.get(f"/rest/raven/2.0/api/testexec/{key}/test").json()] == [
        ("DEMO-3", "TODO"), ("DEMO-4", "TODO")]
    removed = jira.post(f"/rest/raven/2.0/api/testexec/{key}/test", json={"remove": ["DEMO-3"]})
    assert removed.json() == []
    assert [r["key"] for r in jira.get(f"/rest/raven/2.0/api/testexec/{key}/test").json()] == ["DEMO-4"]
    assert jira.post(f"/rest/raven/2.0/api/testexec/{key}/test", json={"add": "DEMO-3"}).status_code == 400
    twin = jira.post("/rest/api/2/issue", json={"fields": {"project": {"key": "DEMO"}, "issuetype": {"id": "10100"},
                                                           "summary": "a"}})
    assert (twin.status_code, twin.json()["key"]) == (201, "DEMO-5")  # Jira allows two Tests with one summary
    jira.post("/rest/raven/2.0/api/testplan/DEMO-1/testexecution", json={"add": [key]})
    assert jira.post("/rest/raven/2.0/api/testplan/DEMO-1/testexecution", json={"remove": [key]}).json() == []
    assert jira.get("/rest/raven/2.0/api/testplan/DEMO-1/testexecution").json() == []
    assert jira.get("/rest/raven/2.0/api/testplan/DEMO-2/testexecution").status_code == 404


def test_runs_imported_on_cloud_read_back_on_server_in_server_names(sandbox: Sandbox, jira: httpx.Client) -> None:
    """One store, two dialects: a Cloud import's PASSED/FAILED runs read back as PASS/FAIL on Server (whose
    status list has Server names), and a Server import's PASS reads back as PASSED on GraphQL."""
    cloud = Cloud(sandbox)
    cloud_key = cloud.import_xml("projectKey=DEMO", junit(("a", "passed"), ("b", "failed"))).json()["key"]
    assert [r["status"] for r in jira.get(f"/rest/raven/2.0/api/testexec/{cloud_key}/test").json()] == ["PASS",
                                                                                                        "FAIL"]
    statuses = jira.get("/rest/raven/2.0/api/settings/teststatuses").json()
    assert [(s["name"], s["final"]) for s in statuses] == [("PASS", True), ("FAIL", True), ("TODO", False),
                                                           ("EXECUTING", False), ("ABORTED", True)]
    server_reply = server_import(jira, "projectKey=DEMO", junit(("a", "passed"))).json()["testExecIssue"]
    runs, _ = all_runs(cloud, server_reply["id"])
    assert [r["status"]["name"] for r in runs] == ["PASSED"]
    cloud.http.close()


# -- one run per (Test, Test Execution) -----------------------------------------------------------

FLAKY = """\
import os
import pathlib


def test_flaky():
    marker = pathlib.Path(os.environ["FLAKY_MARKER"])
    first = not marker.exists()
    marker.write_text("ran")
    assert not first, "fails the first time it runs"


def test_steady():
    assert True
"""


def run_pytest(tmp: Path, junit_path: Path, *args: str, marker: Path) -> None:
    """Run the flaky suite with a real pytest writing JUnit XML to ``junit_path``."""
    suite = tmp / "flaky_suite.py"
    suite.write_text(FLAKY)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", os.devnull,
                           "--rootdir", str(tmp), "-o", "junit_family=xunit1", "--junitxml", str(junit_path), *args],
                          cwd=tmp, env={**os.environ, "FLAKY_MARKER": str(marker)}, capture_output=True, text=True,
                          timeout=120, check=False)
    assert junit_path.is_file(), done.stdout + done.stderr


def test_a_test_repeated_in_one_real_pytest_report_keeps_its_worst_result(jira: httpx.Client, tmp_path: Path) -> None:
    """pytest --keep-duplicates runs the flaky test twice (FAIL, then PASS) into one JUnit file: the
    import records one run per Test, FAIL for the flaky one (contract §17.2)."""
    report = tmp_path / "twice.xml"
    run_pytest(tmp_path, report, "--keep-duplicates", "flaky_suite.py", "flaky_suite.py", marker=tmp_path / "m")
    text = report.read_text()
    assert text.count('name="test_flaky"') == 2 and text.count("<failure") == 1
    key = server_import(jira, "projectKey=DEMO", report.read_bytes()).json()["testExecIssue"]["key"]
    runs = jira.get("/rest/raven/2.0/testruns", params={"testExecKey": key}).json()
    assert [(r["testKey"], r["status"]) for r in runs] == [("DEMO-2", "FAIL"), ("DEMO-3", "PASS")]
    assert "fails the first time" not in (runs[0]["comment"] or "")  # JUnit failures are not run comments


def test_two_real_reports_merged_into_one_request_keep_the_worst_result(jira: httpx.Client, tmp_path: Path) -> None:
    """A failing run and its passing rerun, two JUnit files merged by xray_tasks.merge into one request,
    give FAIL; the same two files imported one after the other give the later result, PASS."""
    marker = tmp_path / "m"
    first, rerun = tmp_path / "first.xml", tmp_path / "rerun.xml"
    run_pytest(tmp_path, first, "flaky_suite.py", marker=marker)
    run_pytest(tmp_path, rerun, "flaky_suite.py", marker=marker)
    assert "<failure" in first.read_text() and "<failure" not in rerun.read_text()
    with ScratchFolder(tmp_path) as scratch:
        merged = merge_to_file([first, rerun], "junit", scratch)
        key = server_import(jira, "projectKey=DEMO", merged.read_bytes()).json()["testExecIssue"]["key"]
    statuses = {r["key"]: r["status"] for r in jira.get(f"/rest/raven/2.0/api/testexec/{key}/test").json()}
    assert statuses == {"DEMO-2": "FAIL", "DEMO-3": "PASS"}

    server_import(jira, f"testExecKey={key}", rerun.read_bytes())
    after = jira.get(f"/rest/raven/2.0/api/testexec/{key}/test").json()
    assert [(r["key"], r["status"]) for r in after] == [("DEMO-2", "PASS"), ("DEMO-3", "PASS")]
    assert jira.get(f"/sandbox/executions/{key}").json()["imports"] == 2


WORST_FIRST = {  # format -> a report holding one test twice, failing first and passing second
    "testng": b'<testng-results><suite name="s"><test name="t"><class name="calc.T">'
              b'<test-method status="FAIL" name="adds"/><test-method status="PASS" name="adds"/>'
              b"</class></test></suite></testng-results>",
    "nunit": b'<test-run><test-suite type="TestFixture" name="T"><test-case name="Adds" fullname="Calc.T.Adds" '
             b'result="Failed"/><test-case name="Adds" fullname="Calc.T.Adds" result="Passed"/>'
             b"</test-suite></test-run>",
    "xunit": b'<assemblies><assembly name="a"><collection name="c"><test name="Calc.T.Adds" type="Calc.T" '
             b'method="Adds" result="Fail"/><test name="Calc.T.Adds" type="Calc.T" method="Adds" result="Pass"/>'
             b"</collection></assembly></assemblies>",
    "robot": b'<robot><suite name="Calc"><test name="Adds"><status status="FAIL"/></test>'
             b'<test name="Adds"><status status="PASS"/></test></suite></robot>',
}


@pytest.mark.parametrize("fmt", sorted(WORST_FIRST))
def test_worst_result_wins_in_every_xml_format(jira: httpx.Client, fmt: str) -> None:
    """TestNG, NUnit, xUnit.net and Robot reports holding one test twice (FAIL, PASS) give one FAIL run."""
    reply = server_import(jira, "projectKey=DEMO", WORST_FIRST[fmt], fmt)
    assert reply.status_code == 200, reply.text
    runs = jira.get(f"/rest/raven/2.0/api/testexec/{reply.json()['testExecIssue']['key']}/test").json()
    assert [r["status"] for r in runs] == ["FAIL"]


def test_worst_result_wins_in_xray_json_and_cucumber(jira: httpx.Client) -> None:
    """Xray JSON with one testKey twice (FAIL, PASS) and Cucumber JSON with one tagged scenario twice give
    FAIL; TODO loses to PASS only when nothing failed (PASS + TODO ⇒ TODO)."""
    jira.post("/rest/api/2/issue", json={"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Test"},
                                                    "summary": "adds"}})
    xray = {"info": {"project": "DEMO", "summary": "twice"},
            "tests": [{"testKey": "DEMO-2", "status": "FAIL", "comment": "first"},
                      {"testKey": "DEMO-2", "status": "PASS", "comment": "second"}]}
    key = jira.post("/rest/raven/2.0/import/execution", json=xray).json()["testExecIssue"]["key"]
    run = jira.get("/rest/raven/2.0/api/testrun", params={"testExecIssueKey": key, "testIssueKey": "DEMO-2"}).json()
    assert (run["status"], run["comment"]) == ("FAIL", "first\n\nsecond")
    todo = {"info": {"project": "DEMO", "summary": "todo"},
            "tests": [{"testKey": "DEMO-2", "status": "PASS"}, {"testKey": "DEMO-2", "status": "TODO"}]}
    key = jira.post("/rest/raven/2.0/import/execution", json=todo).json()["testExecIssue"]["key"]
    assert [r["status"] for r in jira.get(f"/rest/raven/2.0/api/testexec/{key}/test").json()] == ["TODO"]
    scenario = {"keyword": "Scenario", "type": "scenario", "name": "adds", "tags": [{"name": "@TEST_DEMO-2"}]}
    cucumber = [{"name": "Calc", "keyword": "Feature", "uri": "calc.feature", "elements": [
        {**scenario, "steps": [{"name": "x", "keyword": "Given ", "result": {"status": "failed"}}]},
        {**scenario, "steps": [{"name": "x", "keyword": "Given ", "result": {"status": "passed"}}]}]}]
    reply = jira.post("/rest/raven/2.0/import/execution/cucumber", json=cucumber)
    assert reply.status_code == 200, reply.text
    runs = jira.get(f"/rest/raven/2.0/api/testexec/{reply.json()['testExecIssue']['key']}/test").json()
    assert [(r["key"], r["status"]) for r in runs] == [("DEMO-2", "FAIL")]


# -- dropped runs ---------------------------------------------------------------------------------


def test_drop_runs_fault_leaves_runs_out_so_a_verify_can_fail(sandbox: Sandbox, jira: httpx.Client) -> None:
    """drop_runs (set over /sandbox/faults) makes the next N runs vanish while the import still answers
    200 with every Test; drop_runs_of keeps one Test's runs out until the faults are cleared."""
    faults = httpx.post(f"{sandbox.url}/sandbox/faults", json={"drop_runs": 1})
    assert faults.status_code == 200 and faults.json()["drop_runs"] == 1
    reply = server_import(jira, "projectKey=DEMO", junit(("a", "passed"), ("b", "failed"), ("c", "passed")))
    assert reply.status_code == 200
    key = reply.json()["testExecIssue"]["key"]
    assert [t["key"] for t in reply.json()["testIssues"]["success"]] == ["DEMO-2", "DEMO-3", "DEMO-4"]
    assert [r["key"] for r in jira.get(f"/rest/raven/2.0/api/testexec/{key}/test").json()] == ["DEMO-3", "DEMO-4"]
    assert sandbox.faults.drop_runs == 0

    httpx.post(f"{sandbox.url}/sandbox/faults", json={"drop_runs_of": ["calc.Calc.b", "DEMO-4"]})
    for _ in range(2):
        server_import(jira, f"testExecKey={key}", junit(("a", "failed"), ("b", "passed"), ("c", "failed")))
    runs = {r["key"]: r["status"] for r in jira.get(f"/rest/raven/2.0/api/testexec/{key}/test").json()}
    assert runs == {"DEMO-2": "FAIL", "DEMO-3": "FAIL", "DEMO-4": "PASS"}  # b and c kept their old runs
    cleared = httpx.delete(f"{sandbox.url}/sandbox/faults").json()
    assert (cleared["drop_runs"], cleared["drop_runs_of"]) == (0, [])
    bad = httpx.post(f"{sandbox.url}/sandbox/faults", json={"drop_runs_of": "DEMO-4"})
    assert bad.status_code == 400 and "list of strings" in bad.json()["error"]


# -- shards ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("on_disk", [False, True], ids=["memory", "file"])
def test_eight_concurrent_shards_import_into_one_graphql_execution(tmp_path: Path, on_disk: bool) -> None:
    """Eight clients import disjoint Tests into one Test Execution created by GraphQL, all at once (an
    in-memory and an on-disk database): every run is there exactly once, no Test is duplicated, and the
    imports are all counted."""
    with Sandbox(db=tmp_path / "xray.db" if on_disk else ":memory:") as sandbox:
        _eight_shards(sandbox)


def _eight_shards(sandbox: Sandbox) -> None:
    cloud = Cloud(sandbox)
    execution = cloud.create(summary="sharded CI")["testExecution"]
    key = execution["jira"]["key"]
    shards, per_shard = 8, 6
    start = threading.Barrier(shards, timeout=60)
    replies: dict[int, int] = {}
    failures: list[BaseException] = []

    def shard(n: int) -> None:
        report = junit(*((f"shard{n}_test{i}", "failed" if i == 0 else "passed") for i in range(per_shard)))
        try:
            with httpx.Client(base_url=sandbox.url, headers=cloud.headers, timeout=60) as client:
                start.wait()
                reply = client.post(f"/api/v2/import/execution/junit?testExecKey={key}", content=report,
                                    headers={"Content-Type": "application/xml"})
                replies[n] = reply.status_code
        except BaseException as exc:  # reported below: a thread's exception would otherwise vanish
            failures.append(exc)

    threads = [threading.Thread(target=shard, args=(n,)) for n in range(shards)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures and replies == dict.fromkeys(range(shards), 200)

    runs, _ = all_runs(cloud, execution["issueId"])
    names = sorted(r["test"]["jira"]["summary"] for r in runs)
    assert names == sorted(f"shard{n}_test{i}" for n in range(shards) for i in range(per_shard))
    assert len({r["id"] for r in runs}) == shards * per_shard
    assert sum(r["status"]["name"] == "FAILED" for r in runs) == shards
    assert len(sandbox.store.tests()) == shards * per_shard
    stored = sandbox.store.execution(key)
    assert stored is not None and stored["imports"] == shards and stored["total"] == shards * per_shard
    cloud.http.close()
