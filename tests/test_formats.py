"""xray_tasks.formats: detection and parsing of real reports from real runners, and refusal of bad ones."""

from __future__ import annotations

import io
import json
import os
import socket
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli_helpers import BILLION_LAUGHS
from tests.runners import EXPECTED
from xray_tasks import formats
from xray_tasks.errors import ReportError

REAL_REPORTS = sorted(EXPECTED)


def results(path: Path | io.BytesIO, fmt: str) -> list[formats.TestResult]:
    return list(formats.iter_results(path, fmt))


def by_name(path: Path, fmt: str) -> dict[str, formats.TestResult]:
    return {r.name: r for r in results(path, fmt)}


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def refused(call: object, *args: object) -> ReportError:
    """The ReportError ``call(*args)`` raises (consuming an iterator when it returns one)."""
    with pytest.raises(ReportError) as caught:
        out = call(*args)  # type: ignore[operator]
        if hasattr(out, "__next__"):
            list(out)
    err = caught.value
    assert "\n" not in str(err), str(err)
    assert err.hint, f"no hint in: {err}"
    return err


# ---------------------------------------------------------------------------------------------------
# real reports


@pytest.mark.slow
@pytest.mark.parametrize("fixture", REAL_REPORTS)
def test_real_report_is_detected_and_counted(fixture: str, request: pytest.FixtureRequest) -> None:
    """Every real (or sample) report is detected from its content and counted exactly."""
    path: Path = request.getfixturevalue(fixture)
    fmt, nonzero = EXPECTED[fixture]
    assert formats.detect_format(path) == fmt
    summary = formats.summarize(path, fmt)
    totals = dict.fromkeys(formats.STATUSES, 0) | nonzero
    assert summary == formats.ReportSummary(format=fmt, tests=sum(totals.values()), totals=totals)
    assert list(summary.totals) == list(formats.STATUSES)
    assert formats.has_tests(path, fmt) is True


@pytest.mark.slow
@pytest.mark.parametrize("fixture", REAL_REPORTS)
def test_real_report_is_sniffed_from_its_first_kilobyte(fixture: str, request: pytest.FixtureRequest) -> None:
    """The first KiB of every real report is enough to tell its format."""
    path: Path = request.getfixturevalue(fixture)
    with path.open("rb") as fh:
        head = fh.read(1024)
    assert formats.sniff_format(head) == EXPECTED[fixture][0]


@pytest.mark.slow
def test_pytest_junit_keys_definitions_and_unicode(pytest_junit_report: Path) -> None:
    """pytest's JUnit XML gives classname.name definitions, test_key properties and the unicode name."""
    tests = by_name(pytest_junit_report, "junit")
    assert tests["test_adds_numbers"].definition == "sample_suite.test_adds_numbers"
    assert {n: t.key for n, t in tests.items() if t.key} == {"test_adds_numbers": "DEMO-2",
                                                             "test_rounding_is_exact": "DEMO-3"}
    odd = 'test_größe_café[it\'s "quoted" & <tagged>]'
    assert tests[odd].status == "passed"
    assert tests[odd].definition == f"sample_suite.{odd}"
    assert tests["test_square_root"].status == "skipped"
    assert all(t.duration is not None and t.duration >= 0 for t in tests.values())


@pytest.mark.slow
def test_xray_json_from_pytest_jira_xray(xray_json_report: Path) -> None:
    """pytest-jira-xray's Xray JSON yields its test keys, with the skip it wrote as ABORTED."""
    assert [(r.key, r.name, r.status) for r in results(xray_json_report, "xray")] == [
        ("DEMO-2", "DEMO-2", "passed"), ("DEMO-3", "DEMO-3", "failed"), ("DEMO-4", "DEMO-4", "aborted")]


@pytest.mark.slow
def test_robot_suite_paths_tags_and_durations(robot_report: Path) -> None:
    """Robot tests get Suite.Sub.Test definitions, a key from a tag and their own status and duration."""
    tests = by_name(robot_report, "robot")
    assert tests["Adds Two Numbers"].definition == "Robot.Calculator.Adds Two Numbers"
    assert tests["Adds Two Numbers"].key == "DEMO-3"
    assert tests["Rounding Is Exact"].key is None  # its tag "math" is no issue key
    odd = 'Größe "quoted" & <tagged> ✓'
    assert tests[odd].definition == f"Robot.Strings.Unicode.{odd}"
    assert [t.status for t in tests.values()] == ["passed", "failed", "skipped", "passed"]
    assert all(t.duration is not None and 0 < t.duration < 60 for t in tests.values())


@pytest.mark.slow
def test_robot_xunit_file_matches_output_xml(robot_report: Path, robot_xunit_report: Path) -> None:
    """Robot's --xunit (JUnit) file identifies the same tests with the same statuses as its output.xml."""
    def identity(path: Path, fmt: str) -> list[tuple[str, str]]:
        return [(r.definition, r.status) for r in results(path, fmt)]

    assert identity(robot_xunit_report, "junit") == identity(robot_report, "robot")


@pytest.mark.slow
def test_behave_scenarios_keys_and_statuses(behave_report: Path) -> None:
    """Behave scenarios (not the background) get feature: scenario definitions and keys from their tags."""
    got = results(behave_report, "behave")
    assert [(r.definition, r.status, r.key) for r in got] == [
        ("Calculator: Adds two numbers", "passed", "DEMO-2"),
        ("Calculator: Rounding is exact", "failed", "DEMO-3"),
        ("Calculator: Square root", "skipped", "DEMO-4"),  # undefined step
        ("Calculator: Skipped by tag", "skipped", "DEMO-4"),  # tags DEMO-4 and skip
        ('Calculator: Größe "quoted" & 1 plus 2 -- @1.1', "passed", "DEMO-2"),
        ('Calculator: Größe "quoted" & 4 plus 5 -- @1.2', "passed", "DEMO-2"),
    ]
    assert got[0].duration is not None and got[0].duration < 5  # seconds, not nanoseconds


@pytest.mark.slow
def test_cucumber_scenarios_keys_and_statuses(cucumber_report: Path) -> None:
    """cucumber-js scenarios get keys from their own tags, not from the feature's inherited @REQ_DEMO-1."""
    got = results(cucumber_report, "cucumber")
    assert [(r.name, r.status, r.key) for r in got] == [
        ("Adds two numbers", "passed", "DEMO-2"),
        ("Rounding is exact", "failed", "DEMO-3"),
        ("Square root", "skipped", "DEMO-4"),  # undefined step
        ("Cube root", "skipped", "DEMO-4"),  # pending step
        ('Größe "quoted" & 1 plus 2', "passed", "DEMO-2"),
        ('Größe "quoted" & 4 plus 5', "passed", "DEMO-2"),
    ]
    assert got[0].definition == "Calculator: Adds two numbers"
    assert got[0].duration is not None and got[0].duration < 5  # nanoseconds converted to seconds


@pytest.mark.slow
def test_testng_methods_attribute_key_and_config(testng_report: Path) -> None:
    """TestNG methods get class.method definitions and the test attribute as key; config methods vanish."""
    tests = by_name(testng_report, "testng")
    assert sorted(tests) == ["addsNumbers", "handlesUnicodeNames", "roundingIsExact", "squareRoot"]
    assert tests["addsNumbers"].key == "DEMO-2"
    assert tests["addsNumbers"].definition == "SampleTest.addsNumbers"
    assert tests["roundingIsExact"].status == "failed"
    assert tests["squareRoot"].status == "skipped"


def test_nunit_and_xunit_samples(nunit3_report: Path, nunit2_report: Path, xunit_report: Path) -> None:
    """NUnit 3 uses fullname, NUnit 2 the full test name and xUnit.net the test name as definition."""
    n3 = by_name(nunit3_report, "nunit")
    assert n3["Divides(1,0,0)"].status == "todo"  # Inconclusive
    assert n3['HandlesUnicode("Größe & <café>")'].definition == \
        'Calculator.Tests.CalculatorTests.HandlesUnicode("Größe & <café>")'
    n2 = by_name(nunit2_report, "nunit")
    assert (n2["SquareRoot"].status, n2["SquareRoot"].definition) == \
        ("skipped", "Calculator.Tests.CalculatorTests.SquareRoot")
    assert n2['HandlesUnicode("3.5")'].status == "passed"
    xu = by_name(xunit_report, "xunit")
    assert xu["Divides(a: 6, b: 3, expected: 2)"].definition == \
        "Calculator.Tests.CalculatorTests.Divides(a: 6, b: 3, expected: 2)"
    assert xu['Größe "quoted" & <tagged>'].status == "passed"


@pytest.mark.slow
def test_all_reports_and_report_for_agree(all_reports: dict[str, Path],
                                          report_for: Callable[[str], Path]) -> None:
    """all_reports maps each available format to a report of that format, the same report_for gives."""
    assert {"junit", "nunit", "xunit"} <= set(all_reports)
    for fmt, path in all_reports.items():
        assert formats.detect_format(path) == fmt
        assert report_for(fmt) == path


# ---------------------------------------------------------------------------------------------------
# detection from content


JUNIT = '<testsuite name="s"><testcase classname="c" name="t"/></testsuite>'


def test_detection_uses_content_not_the_file_name(tmp_path: Path) -> None:
    """A JUnit file named .json and an Xray JSON file named .xml are detected by what they hold."""
    assert formats.detect_format(write(tmp_path, "report.json", JUNIT)) == "junit"
    assert formats.detect_format(write(tmp_path, "report.xml", '{"tests": [{"status": "PASS"}]}')) == "xray"


@pytest.mark.parametrize("head, fmt", [
    (b"\xef\xbb\xbf  \n<?xml version='1.0'?>\n<!-- a comment -->\n<?pi x?>\n<testsuites/>", "junit"),
    (b'<!DOCTYPE testsuite SYSTEM "junit.dtd">\n<testsuite name="x">', "junit"),
    (b'<?xml version="1.0"?><testng-results total="1">', "testng"),
    (b"<test-run id='2'>", "nunit"),
    (b"<test-results name='x'>", "nunit"),
    (b"<assemblies><assembly>", "xunit"),
    (b'<robot generator="Robot 7.5" schemaversion="5"><suite', "robot"),
    ('<?xml version="1.0" encoding="UTF-16"?><testsuites>'.encode("utf-16"), "junit"),
    (b'{"testExecutionKey": "DEMO-9", "tests": [', "xray"),
    (b'{\n  "info": {"summary": "x"}}', "xray"),
    (b'[{"keyword": "Feature", "name": "f", "tags": [], "location": "f.feature:1", "status": "failed"',
     "behave"),
    (b'[{"description": "", "elements": [{"description": "", "id": "f;s", "keyword": "Scenario"', "cucumber"),
    (b'[{"uri": "features/f.feature", "id": "f", "keyword": "Feature", "elements": [', "cucumber"),
])
def test_sniff_format_recognises_heads(head: bytes, fmt: str) -> None:
    """sniff_format skips BOMs, declarations, comments and DOCTYPEs, and tells JSON formats apart."""
    assert formats.sniff_format(head) == fmt


@pytest.mark.parametrize("head", [
    b"", b"   \n", b"hello world", b"\x00\x01\x02\xff\xfe\x00garbage", b'{"a": 1}', b"[1, 2]", b"[]",
    b"<html><body>", b"<!-- never closed", b'[{"name": "x"}]', b'"just a string"',
])
def test_sniff_format_returns_none_for_non_reports(head: bytes) -> None:
    """sniff_format gives None for content that is no report format."""
    assert formats.sniff_format(head) is None


def test_ambiguous_json_head_is_resolved_by_reading_further(tmp_path: Path) -> None:
    """When the first 64 KiB hold only a long description, detect_format reads on (bounded) to decide."""
    feature = {"description": "x" * (formats.HEAD_BYTES + 10), "elements": [
        {"description": "", "id": "f;s", "keyword": "Scenario", "line": 3, "name": "s", "steps": [],
         "tags": [], "type": "scenario"}], "id": "f", "keyword": "Feature", "name": "F", "uri": "f.feature"}
    path = write(tmp_path, "long.json", json.dumps([feature]))
    assert formats.sniff_format(path.read_bytes()[:formats.HEAD_BYTES]) is None
    assert formats.detect_format(path) == "cucumber"


def test_encodings_and_stream_sources(tmp_path: Path) -> None:
    """UTF-16 and declared ISO-8859-1 JUnit files parse, and an open binary stream is accepted as source."""
    path = write(tmp_path, "u16.xml", ('<?xml version="1.0" encoding="UTF-16"?>' + JUNIT).encode("utf-16"))
    assert formats.check_readable(path) == path.stat().st_size
    assert [r.definition for r in results(path, "junit")] == ["c.t"]
    latin = ('<?xml version="1.0" encoding="ISO-8859-1"?><testsuite name="s">'
             + '<testcase classname="c" name="Größe äöü"/>' * 200 + "</testsuite>").encode("latin-1")
    path = write(tmp_path, "latin.xml", latin)
    assert formats.detect_format(path) == "junit"
    assert {r.name for r in results(path, "junit")} == {"Größe äöü"}
    assert formats.summarize(io.BytesIO(JUNIT.encode()), "junit").totals["passed"] == 1


def test_empty_feature_list_has_no_tests_when_the_format_is_given(tmp_path: Path) -> None:
    """An empty Cucumber/Behave list is a report without tests once the format is known."""
    path = write(tmp_path, "none.json", "[]")
    assert formats.summarize(path, "cucumber") == formats.ReportSummary(
        format="cucumber", tests=0, totals={"passed": 0, "failed": 0, "skipped": 0, "todo": 0, "aborted": 0})


# ---------------------------------------------------------------------------------------------------
# parsing rules on small documents


def test_junit_rules(tmp_path: Path) -> None:
    """JUnit: error fails, skipped skips, a flaky failure still passes, no classname falls back to the
    suite name, and a test_key property may carry its value as text."""
    path = write(tmp_path, "j.xml", """<testsuites><testsuite name="outer"><testsuite name="inner">
        <properties><property name="test_key" value="NOPE-1"/></properties>
        <testcase name="err" classname="k" time="1,5"><error message="boom"/></testcase>
        <testcase name="skip" classname="k"><skipped/></testcase>
        <testcase name="flaky" classname="k"><flakyFailure message="once"/></testcase>
        <testcase name="bare" time="0.25"><properties><property name="test_key">CALC-7</property>
        </properties><system-out>lots of output</system-out></testcase>
        </testsuite></testsuite></testsuites>""")
    assert [(r.definition, r.status, r.key, r.duration) for r in results(path, "junit")] == [
        ("k.err", "failed", None, 1.5), ("k.skip", "skipped", None, None), ("k.flaky", "passed", None, None),
        ("inner.bare", "passed", "CALC-7", 0.25)]


def test_robot_3_output_and_not_run_status(tmp_path: Path) -> None:
    """Robot 3-style <tags> and start/end times are read, and NOT RUN counts as skipped."""
    path = write(tmp_path, "output.xml", """<robot generator="Robot 3.2.2">
        <suite name="Top"><suite name="Sub"><test name="T1"><kw name="k">
        <status status="FAIL" starttime="20240101 12:00:00.000" endtime="20240101 12:00:01.000"/></kw>
        <tags><tag>CALC-12</tag><tag>x</tag></tags>
        <status status="PASS" starttime="20240101 12:00:00.000" endtime="20240101 12:00:02.500"/></test>
        <test name="T2"><status status="NOT RUN"/></test></suite></suite>
        <statistics><suite><stat name="Top">Top</stat></suite><tag><stat>x</stat></tag></statistics>
        </robot>""")
    assert [(r.definition, r.status, r.key, r.duration) for r in results(path, "robot")] == [
        ("Top.Sub.T1", "passed", "CALC-12", 2.5), ("Top.Sub.T2", "skipped", None, None)]


def test_xray_json_statuses_names_and_durations(tmp_path: Path) -> None:
    """Xray JSON statuses are normalised (EXECUTING and custom ones to todo), names fall back to testInfo,
    durations come from start/finish."""
    report = {"info": {"summary": "s"}, "tests": [
        {"testKey": "CALC-1", "status": "PASS", "start": "2026-11-27T10:00:00+00:00",
         "finish": "2026-11-27T10:00:03+00:00"},
        {"status": "FAILED", "testInfo": {"summary": "Login works", "projectKey": "CALC", "type": "Generic",
                                          "definition": "login.works"}},
        {"testKey": "CALC-3", "status": "TODO"}, {"testKey": "CALC-4", "status": "SKIPPED"},
        {"testKey": "CALC-5", "status": "EXECUTING"}, {"testKey": "CALC-6", "status": "ABORTED"},
        {"testKey": "CALC-7", "status": "FLAKY"}]}
    path = write(tmp_path, "x.json", json.dumps(report))
    assert [(r.name, r.definition, r.status, r.duration) for r in results(path, "xray")] == [
        ("CALC-1", "CALC-1", "passed", 3.0), ("Login works", "login.works", "failed", None),
        ("CALC-3", "CALC-3", "todo", None), ("CALC-4", "CALC-4", "skipped", None),
        ("CALC-5", "CALC-5", "todo", None), ("CALC-6", "CALC-6", "aborted", None),
        ("CALC-7", "CALC-7", "todo", None)]  # a custom status has no verdict we can read
    assert formats.summarize(path, "xray").totals == {"passed": 1, "failed": 1, "skipped": 1, "todo": 3,
                                                      "aborted": 1}


def test_cucumber_hooks_and_empty_scenarios(tmp_path: Path) -> None:
    """A failing hook fails its scenario, a scenario without steps passes, a background is not a test."""
    def step(status: str) -> dict[str, object]:
        return {"keyword": "Given ", "line": 2, "name": "s", "result": {"status": status, "duration": 10}}

    feature = {"uri": "f.feature", "id": "f", "keyword": "Feature", "name": "F", "tags": [], "elements": [
        {"type": "background", "keyword": "Background", "name": "", "line": 2, "steps": [step("passed")]},
        {"type": "scenario", "id": "f;a", "name": "hooked", "line": 3, "tags": [{"name": "@TEST_CALC-5"}],
         "before": [{"result": {"status": "failed"}}], "steps": [step("skipped")]},
        {"type": "scenario", "id": "f;b", "name": "empty", "line": 5, "steps": []},
        {"type": "scenario", "id": "f;c", "name": "ambiguous", "line": 7, "steps": [step("ambiguous")]}]}
    path = write(tmp_path, "c.json", json.dumps([feature]))
    assert [(r.name, r.status, r.key) for r in results(path, "cucumber")] == [
        ("hooked", "failed", "CALC-5"), ("empty", "passed", None), ("ambiguous", "failed", None)]


# ---------------------------------------------------------------------------------------------------
# the status table (docs/statuses.md): every runner value lands in one of the fixed statuses


def statuses_and_totals(path: Path, fmt: str) -> tuple[list[str], dict[str, int]]:
    """Each result's status, and the report's totals, whose keys must be exactly STATUSES."""
    totals = formats.summarize(path, fmt).totals
    assert list(totals) == list(formats.STATUSES)
    return [r.status for r in results(path, fmt)], totals


def test_nunit2_result_states(tmp_path: Path) -> None:
    """Every NUnit 2 ResultState maps to a fixed status: Inconclusive to todo, NotRunnable to failed,
    Cancelled to aborted, an unknown word to todo."""
    states = ["Success", "Failure", "Error", "NotRunnable", "Ignored", "Skipped", "NotRun", "Inconclusive",
              "Cancelled", "SomethingNew"]
    cases = "".join(f'<test-case name="N.T.{s}" executed="True" result="{s}"/>' for s in states)
    cases += '<test-case name="N.T.Old" executed="False"/>'  # NUnit 2.0-2.4 wrote no result
    path = write(tmp_path, "n2.xml", f'<test-results name="x"><test-suite name="N"><results>{cases}'
                                     "</results></test-suite></test-results>")
    got, totals = statuses_and_totals(path, "nunit")
    assert got == ["passed", "failed", "failed", "failed", "skipped", "skipped", "skipped", "todo", "aborted",
                   "todo", "skipped"]
    assert totals == {"passed": 1, "failed": 3, "skipped": 4, "todo": 2, "aborted": 1}


def test_nunit3_results_with_labels(tmp_path: Path) -> None:
    """NUnit 3 result and label: Error/Invalid fail, Cancelled aborts, Ignored/Explicit skip, Warning passes,
    Inconclusive is todo."""
    pairs = [("Passed", ""), ("Failed", ""), ("Failed", "Error"), ("Failed", "Invalid"), ("Failed", "Cancelled"),
             ("Skipped", "Ignored"), ("Skipped", "Explicit"), ("Inconclusive", ""), ("Warning", ""), ("Odd", "")]
    cases = "".join(f'<test-case name="t{i}" fullname="N.t{i}" result="{r}"' + (f' label="{lab}"' if lab else "")
                    + "/>" for i, (r, lab) in enumerate(pairs))
    path = write(tmp_path, "n3.xml", f'<test-run id="1"><test-suite name="N">{cases}</test-suite></test-run>')
    got, totals = statuses_and_totals(path, "nunit")
    assert got == ["passed", "failed", "failed", "failed", "aborted", "skipped", "skipped", "todo", "passed", "todo"]
    assert totals == {"passed": 2, "failed": 3, "skipped": 2, "todo": 2, "aborted": 1}


def test_xunit_testng_and_robot_share_one_table(tmp_path: Path) -> None:
    """xUnit.net NotRun, Robot NOT RUN and TestNG SUCCESS_PERCENTAGE_FAILURE land in the fixed statuses."""
    xunit = write(tmp_path, "x.xml", '<assemblies><assembly name="a"><collection name="c">' + "".join(
        f'<test name="T.{r}" type="T" method="{r}" result="{r}" time="0"/>' for r in ("Pass", "Fail", "Skip", "NotRun"))
        + "</collection></assembly></assemblies>")
    assert statuses_and_totals(xunit, "xunit")[0] == ["passed", "failed", "skipped", "skipped"]
    testng = write(tmp_path, "t.xml", '<testng-results><suite name="s"><test name="t"><class name="C">' + "".join(
        f'<test-method status="{s}" name="m{i}" duration-ms="1"/>' for i, s in
        enumerate(("PASS", "FAIL", "SKIP", "SUCCESS_PERCENTAGE_FAILURE")))
        + "</class></test></suite></testng-results>")
    assert statuses_and_totals(testng, "testng")[0] == ["passed", "failed", "skipped", "passed"]
    robot = write(tmp_path, "o.xml", '<robot><suite name="S">' + "".join(
        f'<test name="t{i}"><status status="{s}"/></test>' for i, s in enumerate(("PASS", "FAIL", "SKIP", "NOT RUN")))
        + "</suite></robot>")
    assert statuses_and_totals(robot, "robot")[0] == ["passed", "failed", "skipped", "skipped"]


def test_gherkin_step_statuses(tmp_path: Path) -> None:
    """Pending, undefined, skipped, untested and unknown steps leave a scenario skipped; error and a
    scenario-level hook_error fail it."""
    def scenario(name: str, *steps: str | None, own: str | None = None) -> dict[str, object]:
        element: dict[str, object] = {"type": "scenario", "name": name, "keyword": "Scenario", "steps": [
            {"keyword": "Given ", "name": "s", **({"result": {"status": s}} if s else {})} for s in steps]}
        if own:
            element["status"] = own
        return element

    feature = {"keyword": "Feature", "name": "F", "location": "f.feature:1", "status": "failed", "elements": [
        scenario("pending", "passed", "pending"), scenario("undefined", "undefined", "skipped"),
        scenario("untested", "passed", None), scenario("unknown", "weird"), scenario("error", "passed", "error"),
        scenario("hook", "passed", own="hook_error"), scenario("ok", "passed", "passed")]}
    path = write(tmp_path, "b.json", json.dumps([feature]))
    got, totals = statuses_and_totals(path, "behave")
    assert got == ["skipped", "skipped", "skipped", "skipped", "failed", "failed", "passed"]
    assert totals == {"passed": 1, "failed": 2, "skipped": 4, "todo": 0, "aborted": 0}


# ---------------------------------------------------------------------------------------------------
# bad input


def test_missing_file_is_refused(tmp_path: Path) -> None:
    """A missing report is a one-line ReportError naming it, from every entry point."""
    path = tmp_path / "nowhere.xml"
    for call in (formats.check_readable, formats.detect_format):
        assert "nowhere.xml does not exist" in str(refused(call, path))
    assert "nowhere.xml" in str(refused(formats.summarize, path, "junit"))


def test_directory_is_refused(tmp_path: Path) -> None:
    """A directory is refused, naming the reports it holds."""
    write(tmp_path, "junit.xml", JUNIT)
    err = refused(formats.detect_format, tmp_path)
    assert str(tmp_path) in str(err) and "directory" in str(err) and "junit.xml" in str(err)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    """An empty report is refused before any parsing."""
    path = write(tmp_path, "empty.xml", b"")
    assert "empty.xml is empty" in str(refused(formats.detect_format, path))
    assert "empty.xml is empty" in str(refused(formats.iter_results, path, "junit"))


def test_unreadable_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A report without read permission is refused with a permission hint."""
    path = write(tmp_path, "secret.xml", JUNIT)
    path.chmod(0)
    if os.geteuid() == 0:  # root reads anything: make open() fail the way it does for other users

        def denied(*_args: object, **_kwargs: object) -> None:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr("xray_tasks.formats.base.open", denied, raising=False)
    err = refused(formats.detect_format, path)
    assert "secret.xml cannot be read: permission denied" in str(err)




@pytest.mark.parametrize("content", [
    BILLION_LAUGHS,
    '<?xml version="1.0"?><!DOCTYPE testsuite [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<testsuite><testcase classname="c" name="&xxe;"/></testsuite>',
    '<!DOCTYPE testsuite [<!ENTITY logo SYSTEM "logo.gif" NDATA gif>]><testsuite/>',
], ids=["billion-laughs", "external-entity", "unparsed-entity"])
def test_entity_declarations_are_refused_quickly(tmp_path: Path, content: str) -> None:
    """Entity declarations (billion laughs, XXE, unparsed entities) are refused at once, by both calls."""
    path = write(tmp_path, "evil.xml", content)
    started = time.perf_counter()
    for err in (refused(formats.detect_format, path), refused(formats.iter_results, path, "junit")):
        assert "evil.xml declares XML entities" in str(err)
    assert time.perf_counter() - started < 1.0


def test_no_network_is_touched_for_external_dtds(tmp_path: Path) -> None:
    """An external DTD or parameter entity pointing at a local server never makes a connection."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.setblocking(False)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/evil.dtd"
        plain = write(tmp_path, "dtd.xml", f'<!DOCTYPE testsuite SYSTEM "{url}"><testsuite>'
                                           '<testcase classname="c" name="t"/></testsuite>')
        assert formats.summarize(plain, "junit").tests == 1
        param = write(tmp_path, "param.xml", f'<!DOCTYPE testsuite [<!ENTITY % ext SYSTEM "{url}"> %ext;]>'
                                             "<testsuite/>")
        assert "param.xml declares XML entities" in str(refused(formats.iter_results, param, "junit"))
        with pytest.raises(BlockingIOError):
            server.accept()


@pytest.mark.parametrize("name, content, fmt, expected", [
    ("garbage.bin", os.urandom(2048).replace(b"<", b"x").replace(b"{", b"x") + b"\x00", None,
     "garbage.bin is binary data"),
    ("garbage.xml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "junit",
     "garbage.xml is binary data"),
    ("cut.xml", JUNIT[:40], "junit", "cut.xml is not well-formed XML: unclosed token at line 1, column"),
    ("cut2.xml", "<testsuites><testsuite name='a'>", "junit",
     "cut2.xml is not well-formed XML: no element found"),
    ("bad.xml", "<testsuite><testcase></testsuite>", "junit",
     "bad.xml is not well-formed XML: mismatched tag at line 1, column 24"),
    ("bad.json", '{"tests": [{"status": "PASSED"},]}', None, "bad.json is not valid JSON: "),
    ("bad2.json", '{"tests": [{"status": "PASSED"}', "xray", "bad2.json is not valid JSON: "),
    ("obj.json", '{"a": 1}', None, "obj.json is a JSON object without tests"),
    ("obj2.json", '{"a": 1}', "xray", "obj2.json is a JSON object without tests"),
    ("list.json", "[1, 2]", None, "list.json is a JSON list that holds no Cucumber or Behave features"),
    ("list2.json", "[1, 2]", "cucumber", "list2.json is a JSON list that holds no Cucumber or Behave"),
    ("empty.json", "[]", None, "empty.json is an empty JSON list"),
    ("ng.xml", '<testng-results total="0"/>', "junit",
     "ng.xml looks like TestNG XML (root <testng-results>), not JUnit XML"),
    ("robot.xml", "<robot><suite name='x'/></robot>", "nunit", "robot.xml looks like Robot Framework XML"),
    ("junit.json", JUNIT, "xray", "junit.json looks like JUnit XML, not Xray JSON"),
    ("xray.xml", '{"tests": []}', "junit", "xray.xml looks like Xray JSON, not JUnit XML"),
    ("cuke.json", '[{"uri": "f", "id": "f", "keyword": "Feature", "elements": []}]', "behave",
     "cuke.json looks like Cucumber JSON, not Behave JSON"),
    ("page.xml", "<!DOCTYPE html><html><body/></html>", None, "page.xml is an HTML page"),
    ("testng.xml", "<suite name='s'><test name='t'/></suite>", None,
     "testng.xml is a TestNG suite definition"),
    ("other.xml", "<catalog/>", None, "other.xml is XML with root <catalog>"),
    ("other2.xml", "<catalog/>", "xunit", "other2.xml has root <catalog> at line 1"),
    ("text.txt", "all tests passed", None, "text.txt is neither XML nor JSON"),
    ("nostatus.json", '{"tests": [{"testKey": "CALC-1"}]}', "xray", "nostatus.json: tests[0] has no status"),
    ("blank.xml", "   \n\n", None, "blank.xml holds only whitespace"),
    ("fmt.xml", JUNIT, "pdf", "unknown report format 'pdf' for"),
])
def test_bad_reports_are_refused(tmp_path: Path, name: str, content: str | bytes, fmt: str | None,
                                 expected: str) -> None:
    """Each bad report raises a one-line ReportError that names the file, says what is wrong and hints."""
    path = write(tmp_path, name, content)
    err = refused(formats.detect_format, path) if fmt is None else refused(formats.summarize, path, fmt)
    assert expected in str(err)
    assert name in str(err)


def test_has_tests_checks_the_whole_file_after_the_first_test(tmp_path: Path) -> None:
    """has_tests stops building results early but still refuses damage far past the first test."""
    cases = "".join(f'<testcase classname="c" name="t{i}"/>' for i in range(20_000))  # several chunks
    whole = f'<testsuite name="s">{cases}</testsuite>'
    assert len(whole) > 4 * formats.CHUNK_BYTES
    assert formats.has_tests(write(tmp_path, "ok.xml", whole), "junit") is True
    assert formats.has_tests(write(tmp_path, "none.xml", '<testsuite name="s"></testsuite>'), "junit") is False
    damaged = whole.replace('name="t19990"/>', 'name="t19990">')
    err = refused(formats.has_tests, write(tmp_path, "damaged.xml", damaged), "junit")
    assert "not well-formed" in str(err) and "damaged.xml" in str(err)
    err = refused(formats.has_tests, write(tmp_path, "cut.xml", whole[:-200]), "junit")
    assert "not well-formed" in str(err)
    bad_entry = json.dumps({"tests": [{"testKey": "P-1", "status": "PASSED"}, {"status": 5}]})
    refused(formats.has_tests, write(tmp_path, "bad.json", bad_entry), "xray")


def test_truncated_report_hint_says_so(tmp_path: Path) -> None:
    """A report cut off mid-way gets a hint that the run may not have finished writing it."""
    path = write(tmp_path, "half.xml", "<testsuites><testsuite name='a'><testcase name='t'/>")
    assert "ends too early" in (refused(formats.summarize, path, "junit").hint or "")


def test_oversized_json_is_refused_without_reading_it(tmp_path: Path) -> None:
    """A JSON report above the 512 MiB limit is refused from its size (a sparse file, nothing is read)."""
    path = tmp_path / "huge.json"
    with path.open("wb") as fh:
        fh.write(b'{"tests": [')
        fh.truncate(formats.JSON_LIMIT + 1)
    started = time.perf_counter()
    err = refused(formats.summarize, path, "xray")
    assert "huge.json is too large for a JSON report" in str(err)
    assert time.perf_counter() - started < 1.0


# ---------------------------------------------------------------------------------------------------
# streaming


@pytest.mark.slow
def test_big_junit_file_streams_with_flat_memory(tmp_path: Path) -> None:
    """A ~50 MB JUnit file is summarised with a tracemalloc peak under 20 MB."""
    output = "x" * 1000
    blocks = []
    for i in range(1000):
        child = ('<failure message="boom">trace</failure>' if i % 10 == 0 else
                 "<skipped/>" if i % 25 == 1 else "")
        blocks.append(f'<testcase classname="pkg.Mod{i % 7}" name="test_{i}" time="0.001">{child}'
                      f"<system-out>{output}</system-out></testcase>\n")
    block = "".join(blocks).encode()
    path = tmp_path / "big.xml"
    repeats = 50 * 1024 * 1024 // len(block) + 1
    with path.open("wb") as fh:
        fh.write(b'<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="big">\n')
        for _ in range(repeats):
            fh.write(block)
        fh.write(b"</testsuite></testsuites>\n")
    assert path.stat().st_size > 50 * 1024 * 1024
    tracemalloc.start()
    try:
        summary = formats.summarize(path, "junit")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert summary.tests == 1000 * repeats
    assert summary.totals == {"passed": 860 * repeats, "failed": 100 * repeats, "skipped": 40 * repeats, "todo": 0,
                              "aborted": 0}
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
