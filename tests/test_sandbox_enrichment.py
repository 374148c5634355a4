"""What Xray reads from reports beyond statuses (contract §17) — keys, requirements, labels, summaries,
comments, evidence, defects, custom fields, iterations — read by xray_tasks.formats.enriched from real
reports, recorded by the sandbox and shown by its read APIs (GraphQL, Server REST, /sandbox)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cloud_api import RUNS, Cloud, all_runs
from xray_tasks.errors import ReportError
from xray_tasks.formats import iter_results
from xray_tasks.formats.enriched import EVIDENCE_BYTES, iter_enriched, split_custom_field
from xray_tasks.sandbox import Sandbox

AUTH = ("admin", "admin")


def png(width: int = 2, height: int = 2) -> bytes:
    """A real, tiny PNG image (red pixels)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


SCREENSHOT = png()
LOG = "step 1 ok\nstep 2 failed: ½ ≠ 1\n".encode()


def extended_junit(evidence: str | None = None) -> bytes:
    """JUnit XML laid out the way Xray's JUnit extension (xray-junit-extensions' XmlReportWriter) writes
    it: failure and system-out first, then <properties> with CDATA comment, requirements, key, tags,
    custom field items (';' joined, '\\;' escaped) and base64 evidence items, and the _dummy_ property."""
    shot = base64.b64encode(SCREENSHOT).decode()
    log = base64.b64encode(LOG).decode()
    wrapped = "\n".join(log[i:i + 16] for i in range(0, len(log), 16))  # line breaks inside base64 are fine
    items = evidence if evidence is not None else (f'<item name="screenshot.png">{shot}</item>\n'
                                                   f'<item name="run.log">{wrapped}</item>')
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
<testsuite name="JUnit Jupiter" tests="2" skipped="0" failures="1" errors="0" time="0.2" hostname="ci">
<properties>
<property name="java.version" value="17.0.9"/>
</properties>
<testcase name="canAddNumbers" classname="com.example.CalcTest" time="0.12" started-at="2026-11-27T10:00:00.100" finished-at="2026-11-27T10:00:00.220">
<failure message="expected: &lt;5&gt; but was: &lt;4&gt;" type="org.opentest4j.AssertionFailedError"><![CDATA[org.opentest4j.AssertionFailedError: expected: <5> but was: <4>]]></failure>
<system-out><![CDATA[
unique-id: [engine:junit-jupiter]/[class:com.example.CalcTest]/[method:canAddNumbers()]
display-name: canAddNumbers()
]]></system-out>
<properties>
<property name="testrun_comment"><![CDATA[Screenshot attached.
See run.log for the steps.]]></property>
<property name="requirements" value="CALC-10,CALC-11"/>
<property name="test_key" value="CALC-2"/>
<property name="tags" value="ui,smoke"/>
<property name="testrun_customfields">
<item name="Browser">chrome;firefox\\;nightly</item>
<item name="Build">1234</item>
</property>
<property name="testrun_evidence">
{items}
</property>
<property name="_dummy_" value=""/>
</properties>
</testcase>
<testcase name="createsATest" classname="com.example.CalcTest" time="0.01" started-at="2026-11-27T10:00:00.230" finished-at="2026-11-27T10:00:00.240">
<properties>
<property name="test_summary" value="Creating a Test from the report"/>
<property name="test_description"><![CDATA[Made by the import, with *wiki* markup.]]></property>
<property name="_dummy_" value=""/>
</properties>
</testcase>
</testsuite>
</testsuites>
""".encode()  # noqa: E501 - the writer's long lines, verbatim




def server_import(sandbox: Sandbox, query: str, report: bytes, fmt: str = "junit") -> httpx.Response:
    return httpx.post(f"{sandbox.url}/rest/raven/2.0/import/execution/{fmt}?{query}", auth=AUTH, timeout=30,
                      files={"file": ("report.xml", report, "application/xml")})


def stored_tests(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    return {t["key"]: t for t in httpx.get(f"{sandbox.url}/sandbox/tests").json()}


# -- the formats side -----------------------------------------------------------------------------


def test_enriched_results_are_the_plain_results_for_every_real_report(all_reports: dict[str, Path]) -> None:
    """iter_enriched finds exactly the tests iter_results finds (same order, names, statuses, keys) in
    every real report, so enrichment never changes which Tests an import touches."""
    assert all_reports, "no runner available at all"
    for fmt, path in all_reports.items():
        plain = [(r.name, r.definition, r.status, r.key, r.duration) for r in iter_results(path, fmt)]
        rich = list(iter_enriched(path, fmt))
        assert [(r.name, r.definition, r.status, r.key, r.duration) for r in rich] == plain, fmt


def test_extended_junit_properties_are_read(tmp_path: Path) -> None:
    """Every Xray JUnit property of §17.1 is read: comment (CDATA), requirements, tags, custom fields
    with escapes, evidence decoded to its bytes, summary and description, start and end."""
    report = tmp_path / "extended.xml"
    report.write_bytes(extended_junit())
    first, second = iter_enriched(report, "junit")
    assert (first.key, first.status, first.definition) == ("CALC-2", "failed", "com.example.CalcTest.canAddNumbers")
    d = first.details
    assert d.comment == "Screenshot attached.\nSee run.log for the steps."
    assert (d.requirements, d.labels) == (["CALC-10", "CALC-11"], ["ui", "smoke"])
    assert d.custom_fields == {"Browser": ["chrome", "firefox;nightly"], "Build": ["1234"]}
    assert [(e.filename, e.content_type, e.size, e.data) for e in d.evidence] == [
        ("screenshot.png", "image/png", len(SCREENSHOT), SCREENSHOT), ("run.log", "application/octet-stream",
                                                                       len(LOG), LOG)]
    assert (d.started, d.finished) == ("2026-11-27T10:00:00.100+00:00", "2026-11-27T10:00:00.220+00:00")
    assert (second.details.summary, second.details.description) == (
        "Creating a Test from the report", "Made by the import, with *wiki* markup.")
    assert split_custom_field(r"a\\b;c\;d;") == ["a\\b", "c;d", ""]


BAD_BASE64 = [("a character outside the alphabet", "iVBORw0K*GgoAAAA", "character '*' is not in the base64 alphabet"),
              ("a length that is not a multiple of 4", "iVBORw0KGgo", "its length is not a multiple of 4"),
              ("padding in the middle", "iVBO=w0KGgoAAAAN", "Discontinuous padding"),
              ("data after the padding", "aGk=aGk=", "Excess data after padding")]


@pytest.mark.parametrize(("text", "reason"), [b[1:] for b in BAD_BASE64], ids=[b[0] for b in BAD_BASE64])
def test_evidence_base64_is_decoded_strictly(tmp_path: Path, text: str, reason: str) -> None:
    """An evidence item that is not strict base64 is a ReportError naming the file, the test and why."""
    report = tmp_path / "bad.xml"
    report.write_bytes(extended_junit(f'<item name="shot.png">{text}</item>'))
    with pytest.raises(ReportError) as caught:
        list(iter_enriched(report, "junit"))
    assert "evidence 'shot.png' of test 'canAddNumbers' is not valid base64" in caught.value.message
    assert reason in caught.value.message


# -- JUnit into the sandbox -----------------------------------------------------------------------


def test_extended_junit_is_recorded_and_shown_by_every_read_api(sandbox: Sandbox, cloud: Cloud) -> None:
    """An extended JUnit import records the run's comment, evidence, custom fields and times and the
    Test's labels and requirement links; GraphQL, Server REST and /sandbox show them, and each
    evidence download gives back the file's bytes."""
    sandbox.store.create_test("CALC", "canAddNumbers by key")  # CALC-2, named by test_key
    reply = server_import(sandbox, "projectKey=CALC", extended_junit())
    assert reply.status_code == 200, reply.text
    execution = reply.json()["testExecIssue"]
    runs, _ = all_runs(cloud, execution["id"])
    keyed = next(r for r in runs if r["test"]["jira"]["key"] == "CALC-2")
    assert keyed["status"]["name"] == "FAILED"
    assert keyed["comment"] == "Screenshot attached.\nSee run.log for the steps."
    assert (keyed["startedOn"], keyed["finishedOn"]) == ("2026-11-27T10:00:00.100+00:00",
                                                         "2026-11-27T10:00:00.220+00:00")
    assert [e["filename"] for e in keyed["evidence"]] == ["screenshot.png", "run.log"]
    shot = httpx.get(keyed["evidence"][0]["downloadLink"], headers=cloud.headers)
    assert (shot.status_code, shot.headers["content-type"], shot.content) == (200, "image/png", SCREENSHOT)
    assert httpx.get(keyed["evidence"][0]["downloadLink"]).status_code == 401

    server_run = httpx.get(f"{sandbox.url}/rest/raven/2.0/api/testrun", auth=AUTH, params={
        "testExecIssueKey": execution["key"], "testIssueKey": "CALC-2"}).json()
    assert server_run["customFields"] == [{"name": "Browser", "value": ["chrome", "firefox;nightly"]},
                                          {"name": "Build", "value": ["1234"]}]
    log = httpx.get(server_run["evidences"][1]["fileURL"], auth=AUTH)
    assert (log.content, server_run["evidences"][1]["fileSize"]) == (LOG, len(LOG))

    stored = httpx.get(f"{sandbox.url}/sandbox/executions/{execution['key']}").json()
    run = next(r for r in stored["runs"] if r["test_key"] == "CALC-2")
    assert [(e["filename"], e["content_type"], e["size"], e["truncated"]) for e in run["evidence"]] == [
        ("screenshot.png", "image/png", len(SCREENSHOT), False), ("run.log", "application/octet-stream", len(LOG),
                                                                  False)]
    page = httpx.get(f"{sandbox.url}/sandbox/evidence/{run['evidence'][0]['id']}")
    assert (page.headers["content-type"], page.content) == ("image/png", SCREENSHOT)
    assert httpx.get(f"{sandbox.url}/sandbox/runs/{run['id']}").json()["comment"] == keyed["comment"]

    tests = stored_tests(sandbox)
    assert (tests["CALC-2"]["labels"], tests["CALC-2"]["requirements"]) == (["ui", "smoke"], ["CALC-10", "CALC-11"])
    created = next(t for t in tests.values() if t["definition"] == "com.example.CalcTest.createsATest")
    assert (created["summary"], created["description"]) == ("Creating a Test from the report",
                                                            "Made by the import, with *wiki* markup.")


def test_bad_evidence_is_an_xray_like_400_and_imports_nothing(sandbox: Sandbox, cloud: Cloud) -> None:
    """A JUnit or Xray JSON report with bad base64 evidence answers 400 {"error"} on both dialects and
    leaves no execution behind."""
    sandbox.store.create_test("CALC", "by key")
    junit_bad = extended_junit('<item name="shot.png">not base64!</item>')
    cloud_reply = cloud.import_xml("projectKey=CALC", junit_bad)
    server_reply = server_import(sandbox, "projectKey=CALC", junit_bad)
    xray_bad = {"info": {"project": "CALC", "summary": "s"}, "tests": [
        {"testKey": "CALC-2", "status": "PASSED", "evidence": [{"data": "@@@@", "filename": "a.txt"}]}]}
    json_reply = cloud.http.post("/api/v2/import/execution", json=xray_bad, headers=cloud.headers)
    for reply in (cloud_reply, server_reply, json_reply):
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"].startswith("Error importing results: ")
        assert "is not valid base64" in reply.json()["error"]
    assert "tests[0]: evidence[0] (a.txt)" in json_reply.json()["error"]
    assert sandbox.store.executions() == []


def test_big_evidence_keeps_its_size_and_only_the_first_mebibyte(sandbox: Sandbox, cloud: Cloud) -> None:
    """Evidence larger than the kept part reports its full size; the download holds the first
    EVIDENCE_BYTES bytes and the read API marks it truncated."""
    sandbox.store.create_test("CALC", "by key")
    blob = os.urandom(EVIDENCE_BYTES + 300_000)
    reply = cloud.import_xml("projectKey=CALC", extended_junit(
        f'<item name="trace.zip">{base64.b64encode(blob).decode()}</item>'))
    assert reply.status_code == 200, reply.text
    runs, _ = all_runs(cloud, reply.json()["id"])
    evidence = next(r for r in runs if r["test"]["jira"]["key"] == "CALC-2")["evidence"]
    assert [(e["filename"], e["size"]) for e in evidence] == [("trace.zip", len(blob))]
    download = httpx.get(evidence[0]["downloadLink"], headers=cloud.headers)
    assert download.content == blob[:EVIDENCE_BYTES]
    stored = httpx.get(f"{sandbox.url}/sandbox/runs", params={"execution": reply.json()["key"]}).json()
    assert stored["total"] == 2
    assert [e["truncated"] for r in stored["runs"] for e in r["evidence"]] == [True]


def test_pytest_record_property_values_become_keys_links_labels_and_comments(
        sandbox: Sandbox, cloud: Cloud, tmp_path: Path) -> None:
    """A real pytest run whose tests call record_property with Xray's names (test_key, requirements,
    tags, test_summary, test_description, testrun_comment) imports into the right Test, creates the
    other with the given summary, and records labels, requirement links and the run comment."""
    sandbox.store.create_test("DEMO", "adds")  # DEMO-2
    (tmp_path / "test_enriched.py").write_text(
        "def test_adds(record_property):\n"
        "    record_property('test_key', 'DEMO-2')\n"
        "    record_property('testrun_comment', 'checked on CI #42')\n"
        "    assert 2 + 3 == 5\n\n\n"
        "def test_divides(record_property):\n"
        "    record_property('requirements', 'CALC-10, CALC-11')\n"
        "    record_property('tags', 'core,math')\n"
        "    record_property('test_summary', 'Divides two numbers')\n"
        "    record_property('test_description', 'fails on purpose')\n"
        "    assert 1 / 1 == 2\n")
    report = tmp_path / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", os.devnull, "--rootdir",
                    str(tmp_path), "-o", "junit_family=xunit1", "--junitxml", str(report), "test_enriched.py"],
                   cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    reply = cloud.import_xml("projectKey=DEMO", report.read_bytes())
    assert reply.status_code == 200, reply.text
    runs, _ = all_runs(cloud, reply.json()["id"])
    assert [(r["test"]["jira"]["key"], r["test"]["jira"]["summary"], r["status"]["name"], r["comment"])
            for r in runs] == [("DEMO-2", "adds", "PASSED", "checked on CI #42"),
                               ("DEMO-3", "Divides two numbers", "FAILED", None)]
    created = stored_tests(sandbox)["DEMO-3"]
    assert (created["labels"], created["requirements"], created["description"]) == (
        ["core", "math"], ["CALC-10", "CALC-11"], "fails on purpose")


# -- Xray JSON --------------------------------------------------------------------------------------

JIRA_XRAY_CONFTEST = '''\
import pytest
from pytest_xray import evidence


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        report.evidences = [*getattr(report, "evidences", []), evidence.text(data="log of " + item.name,
                                                                              filename=item.name + ".log")]
'''
JIRA_XRAY_SUITE = '''\
import pytest


@pytest.mark.xray("DEMO-2")
def test_adds():
    assert 2 + 3 == 5


@pytest.mark.xray("DEMO-3", defects=["DEMO-4", "BUG-7"])
def test_divides():
    assert 1 / 1 == 2
'''


def test_pytest_jira_xray_evidence_defects_and_comment_are_recorded(sandbox: Sandbox, cloud: Cloud,
                                                                    tmp_path: Path) -> None:
    """pytest-jira-xray's Xray JSON (legacy "evidences", defects from the marker, the failure as comment)
    imports with each run's evidence file, defect ids (keys that are no issue stay keys) and comment."""
    pytest.importorskip("pytest_xray", reason="pytest-jira-xray is not installed: pip install pytest-jira-xray")
    for name in ("adds", "divides", "a bug"):
        sandbox.store.create_test("DEMO", name)  # DEMO-2, DEMO-3, and DEMO-4 standing in for a defect
    (tmp_path / "conftest.py").write_text(JIRA_XRAY_CONFTEST)
    (tmp_path / "test_calc.py").write_text(JIRA_XRAY_SUITE)
    report = tmp_path / "xray.json"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                    "--jira-xray", "--cloud", "--xraypath", str(report)], cwd=tmp_path, capture_output=True,
                   text=True, timeout=120, check=False)
    data = json.loads(report.read_text())
    assert "evidences" in data["tests"][0]
    reply = cloud.http.post("/api/v2/import/execution", content=report.read_bytes(),
                            headers={**cloud.headers, "Content-Type": "application/json"})
    assert reply.status_code == 200, reply.text
    runs, _ = all_runs(cloud, reply.json()["id"])
    by_key = {r["test"]["jira"]["key"]: r for r in runs}
    assert [e["filename"] for e in by_key["DEMO-2"]["evidence"]] == ["test_adds.log"]
    log = httpx.get(by_key["DEMO-3"]["evidence"][0]["downloadLink"], headers=cloud.headers)
    assert log.content == b"log of test_divides"
    demo4 = sandbox.store.issue("DEMO-4")
    assert demo4 is not None
    assert by_key["DEMO-3"]["defects"] == [str(demo4["id"]), "BUG-7"]
    assert "assert 1 / 1 == 2" in by_key["DEMO-3"]["comment"] and by_key["DEMO-2"]["comment"] is None


def test_xray_json_iterations_examples_custom_fields_and_test_info(sandbox: Sandbox, cloud: Cloud) -> None:
    """Xray JSON iterations (with parameters), examples, custom fields, times and testInfo requirement
    keys and labels are recorded; an iteration with a status of the other dialect is refused."""
    doc = {"info": {"project": "DEMO", "summary": "data driven"}, "tests": [{
        "testInfo": {"summary": "Divides", "projectKey": "DEMO", "type": "Generic", "requirementKeys": ["DEMO-9"],
                     "labels": ["data"]},
        "status": "FAILED", "start": "2026-11-27T10:00:00+01:00", "finish": "2026-11-27T10:00:05+01:00",
        "iterations": [{"name": "6/3", "parameters": [{"name": "a", "value": "6"}, {"name": "b", "value": "3"}],
                        "status": "PASSED"},
                       {"name": "1/0", "parameters": [{"name": "a", "value": "1"}, {"name": "b", "value": "0"}],
                        "status": "FAILED", "log": "ZeroDivisionError"}],
        "examples": ["PASSED", "FAILED"],
        "customFields": [{"name": "Browser", "value": ["chrome"]}, {"id": "customfield_5", "value": "x"}]}]}
    reply = cloud.http.post("/api/v2/import/execution", json=doc, headers=cloud.headers)
    assert reply.status_code == 200, reply.text
    query = RUNS.replace("evidence { filename downloadLink mimeType size }", """evidence { filename }
        iterations(limit: 1, start: 1) { total results { rank name log status { name }
                                                         parameters { name value } } }
        examples { status { name } } customFields { name values }""")
    run = cloud.data(query, {"ids": [reply.json()["id"]], "start": 0})["getTestRuns"]["results"][0]
    assert (run["startedOn"], run["finishedOn"]) == ("2026-11-27T10:00:00.000+01:00", "2026-11-27T10:00:05.000+01:00")
    second = {"rank": "2", "name": "1/0", "log": "ZeroDivisionError", "status": {"name": "FAILED"},
              "parameters": [{"name": "a", "value": "1"}, {"name": "b", "value": "0"}]}
    assert run["iterations"] == {"total": 2, "results": [second]}
    assert [e["status"]["name"] for e in run["examples"]] == ["PASSED", "FAILED"]
    assert run["customFields"] == [{"name": "Browser", "values": ["chrome"]}, {"name": "customfield_5",
                                                                               "values": ["x"]}]
    test = stored_tests(sandbox)[run["test"]["jira"]["key"]]
    assert (test["labels"], test["requirements"]) == (["data"], ["DEMO-9"])

    doc["tests"][0]["iterations"][0]["status"] = "PASS"
    refused = cloud.http.post("/api/v2/import/execution", json=doc, headers=cloud.headers)
    assert refused.status_code == 400 and 'test run status "PASS" does not exist' in refused.json()["error"]


# -- TestNG, NUnit, Robot ----------------------------------------------------------------------------

TESTNG_SOURCE = """\
import org.testng.Assert;
import org.testng.ITestResult;
import org.testng.Reporter;
import org.testng.annotations.Test;

public class EnrichedTest {
    @Test
    public void addsNumbers() {
        ITestResult result = Reporter.getCurrentTestResult();
        result.setAttribute("requirement", "CALC-77,CALC-78");
        result.setAttribute("labels", "core addition");
        result.setAttribute("summary", "Adds two numbers");
        result.setAttribute("description", "Checks that 2 + 3 is 5");
        Assert.assertEquals(2 + 3, 5);
    }

    @Test
    public void reportsToAnExistingTest() {
        Reporter.getCurrentTestResult().setAttribute("test", "CALC-2");
        Reporter.getCurrentTestResult().setAttribute("labels", "regression");
    }
}
"""


@pytest.mark.slow
def test_testng_attributes_from_a_real_run(sandbox: Sandbox, tmp_path: Path) -> None:
    """A real TestNG run (XMLReporter with result attributes, as xray-testng-extensions sets them) gives
    the new Test its summary, description, labels and requirement links, and labels the existing one."""
    javac, java = shutil.which("javac"), shutil.which("java")
    jars = [Path("/usr/share/java") / n for n in ("testng.jar", "jcommander.jar", "slf4j-api.jar")]
    if javac is None or java is None or not all(j.is_file() for j in jars):
        pytest.skip("no JDK or TestNG jars: apt-get install default-jdk-headless libtestng7-java libjcommander-java")
    sandbox.store.create_test("CALC", "existing")  # CALC-2
    (tmp_path / "EnrichedTest.java").write_text(TESTNG_SOURCE)
    classpath = os.pathsep.join(str(j) for j in jars)
    fast = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
    subprocess.run([javac, *(f"-J{f}" for f in fast), "-d", str(tmp_path), "-cp", classpath,
                    str(tmp_path / "EnrichedTest.java")], check=True, capture_output=True, timeout=180)
    subprocess.run([java, *fast, "-cp", os.pathsep.join([classpath, str(tmp_path)]), "org.testng.TestNG", "-d",
                    str(tmp_path / "out"), "-usedefaultlisteners", "false", "-reporter",
                    "org.testng.reporters.XMLReporter:generateTestResultAttributes=true", "-testclass",
                    "EnrichedTest"], cwd=tmp_path, capture_output=True, timeout=180, check=False)
    report = tmp_path / "out" / "testng-results.xml"
    reply = server_import(sandbox, "projectKey=CALC", report.read_bytes(), "testng")
    assert reply.status_code == 200, reply.text
    tests = stored_tests(sandbox)
    assert tests["CALC-2"]["labels"] == ["regression"]
    new = next(t for t in tests.values() if t["definition"] == "EnrichedTest.addsNumbers")
    assert (new["summary"], new["description"], new["labels"], new["requirements"]) == (
        "Adds two numbers", "Checks that 2 + 3 is 5", ["core", "addition"], ["CALC-77", "CALC-78"])


NUNIT = b"""<?xml version="1.0" encoding="utf-8"?>
<test-run id="0" testcasecount="2" result="Passed" total="2" passed="2">
  <test-suite type="TestFixture" name="CalculatorTests" fullname="Calculator.Tests.CalculatorTests">
    <test-case id="1" name="AddsTwoNumbers" fullname="Calculator.Tests.CalculatorTests.AddsTwoNumbers"
               result="Passed" start-time="2026-11-27T10:00:00.1100000Z" end-time="2026-11-27T10:00:00.1230000Z"
               duration="0.013">
      <properties>
        <property name="Test" value="CALC-2" />
        <property name="Requirement" value="CALC-69" />
        <property name="Category" value="smoke" />
      </properties>
    </test-case>
    <test-case id="2" name="Divides" fullname="Calculator.Tests.CalculatorTests.Divides" result="Passed">
      <properties><property name="Requirement" value="CALC-70" /></properties>
    </test-case>
  </test-suite>
</test-run>
"""


def test_nunit_test_and_requirement_properties(sandbox: Sandbox) -> None:
    """NUnit [Property("Test", KEY)] reports to that Test and [Property("Requirement", KEY)] links it,
    as public Xray samples use them (§17.1 note); times come from start-time/end-time."""
    sandbox.store.create_test("CALC", "adds")  # CALC-2
    reply = server_import(sandbox, "projectKey=CALC", NUNIT, "nunit")
    assert reply.status_code == 200, reply.text
    tests = stored_tests(sandbox)
    assert tests["CALC-2"]["requirements"] == ["CALC-69"]
    divides = next(t for t in tests.values() if t["definition"] == "Calculator.Tests.CalculatorTests.Divides")
    assert divides["requirements"] == ["CALC-70"]
    run = httpx.get(f"{sandbox.url}/rest/raven/2.0/api/testrun", auth=AUTH, params={
        "testExecIssueKey": reply.json()["testExecIssue"]["key"], "testIssueKey": "CALC-2"}).json()
    assert (run["startedOn"], run["finishedOn"]) == ("2026-11-27T10:00:00.110+00:00", "2026-11-27T10:00:00.123+00:00")


ROBOT_SUITE = """\
*** Test Cases ***
Adds Two Numbers
    [Tags]    DEMO-2    DEMO-50    smoke
    Should Be Equal As Integers    5    5

Divides
    [Tags]    DEMO-51    math
    Should Be Equal As Integers    2    2
"""


def test_robot_tags_name_the_test_link_requirements_and_label(sandbox: Sandbox, tmp_path: Path) -> None:
    """In a real Robot run, a tag that is an existing Test's key names the Test, tags naming a requirement
    (a Story) become links (§7.4), the remaining tags labels; a key tag naming nothing is refused."""
    pytest.importorskip("robot", reason="Robot Framework is not installed: pip install robotframework")
    sandbox.store.create_test("DEMO", "adds")  # DEMO-2
    for n in range(3, 52):  # DEMO-50 and DEMO-51 are Stories made with Jira's create
        kind = "Story" if n >= 50 else "Test Plan"
        made = httpx.post(f"{sandbox.url}/rest/api/2/issue", auth=AUTH, json={"fields": {
            "project": {"key": "DEMO"}, "issuetype": {"name": kind}, "summary": f"issue {n}"}})
        assert made.status_code == 201
    (tmp_path / "calc.robot").write_text(ROBOT_SUITE)
    output = tmp_path / "output.xml"
    subprocess.run([sys.executable, "-m", "robot", "--output", str(output), "--report", "NONE", "--log", "NONE",
                    "--console", "quiet", str(tmp_path / "calc.robot")], cwd=tmp_path, capture_output=True,
                   timeout=120, check=False)
    reply = server_import(sandbox, "projectKey=DEMO", output.read_bytes(), "robot")
    assert reply.status_code == 200, reply.text
    tests = stored_tests(sandbox)
    assert (tests["DEMO-2"]["requirements"], tests["DEMO-2"]["labels"]) == (["DEMO-50"], ["smoke"])
    divides = next(t for t in tests.values() if t["definition"] == "Calc.Divides")
    assert (divides["requirements"], divides["labels"]) == (["DEMO-51"], ["math"])
    runs = httpx.get(f"{sandbox.url}/rest/raven/2.0/api/testexec/{reply.json()['testExecIssue']['key']}/test",
                     auth=AUTH).json()
    assert [(r["key"], r["status"]) for r in runs] == [("DEMO-2", "PASS"), (divides["key"], "PASS")]
    unknown = server_import(sandbox, "projectKey=DEMO", output.read_bytes().replace(b"DEMO-51", b"DEMO-99"), "robot")
    assert (unknown.status_code, unknown.json()["error"]) == (400, "Test issue with key DEMO-99 not found.")


def test_a_later_import_replaces_the_run_with_all_it_holds(sandbox: Sandbox) -> None:
    """Re-importing a Test into the same execution replaces its run: status, comment and evidence of the
    earlier import are gone, and the old evidence download no longer exists."""
    sandbox.store.create_test("CALC", "by key")
    key = server_import(sandbox, "projectKey=CALC", extended_junit()).json()["testExecIssue"]["key"]
    before = httpx.get(f"{sandbox.url}/sandbox/executions/{key}").json()["runs"][0]
    assert before["evidence"]
    plain = (b'<testsuite name="s"><testcase classname="com.example.CalcTest" name="canAddNumbers">'
             b'<properties><property name="test_key" value="CALC-2"/></properties></testcase></testsuite>')
    assert server_import(sandbox, f"testExecKey={key}", plain).status_code == 200
    after = httpx.get(f"{sandbox.url}/sandbox/executions/{key}").json()["runs"][0]
    assert (after["id"], after["status"], after["comment"], after["evidence"]) == (before["id"], "PASS", None, [])
    gone = httpx.get(f"{sandbox.url}/sandbox/evidence/{before['evidence'][0]['id']}")
    assert gone.status_code == 404
