"""Many reports, one Test Execution: merging, mixed formats, outputs for machines, the failure policy,
and the Makefile example — the real command against the stand-in over loopback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import REPO, assert_one_clean_line, pytest_suite, sandbox_env, seeded_sandbox, xray_tasks
from xray_tasks.errors import ReportError
from xray_tasks.sandbox import Sandbox
from xray_tasks.settings import Settings


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with seeded_sandbox(60) as sandbox:
        yield sandbox


def import_requests(sb: Sandbox) -> list[dict[str, object]]:
    return [r for r in sb.store.requests() if "/import/" in str(r["path"])]


def write_junit_files(folder: Path, count: int, cases: int = 3, fail_every: int = 7, start: int = 0) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(start, start + count):
        body = []
        for j in range(cases):
            name = f"test_{i}_{j}"
            names.append(f"pkg.Module{i}.{name}")
            failure = '<failure message="boom">trace</failure>' if (i * cases + j) % fail_every == 0 else ""
            body.append(f'<testcase classname="pkg.Module{i}" name="{name}" time="0.01">{failure}</testcase>')
        xml = (f'<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="Module{i}" '
               f'tests="{cases}">{"".join(body)}</testsuite></testsuites>\n')
        (folder / f"TEST-Module{i}.xml").write_text(xml)
    return names


def test_fifty_junit_files_from_a_glob_and_a_directory_land_in_one_execution(sb: Sandbox, tmp_path: Path) -> None:
    """50 files (a glob plus a directory) → one Test Execution with every test case, in one request."""
    names = write_junit_files(tmp_path / "shard1", 25) + write_junit_files(tmp_path / "shard2" / "deep", 25,
                                                                          start=25)
    assert len(set(names)) == 150
    before = len(import_requests(sb))
    proc = xray_tasks("import-results", "--report", str(tmp_path / "shard1" / "*.xml"),
                      "--report", str(tmp_path / "shard2"), "--json", env=sandbox_env(sb, tmp_path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert len(data["keys"]) == 1
    assert len(data["files"]) == 50
    assert len(import_requests(sb)) - before <= 2
    execution = sb.store.execution(data["key"])
    assert execution is not None
    definitions = {run["definition"] for run in execution["runs"]}
    assert definitions == set(names)
    assert execution["total"] == 150
    assert execution["counts"]["FAILED"] == data["totals"]["failed"] > 0


def test_duplicate_patterns_collapse_and_an_unmatched_glob_is_an_error(sb: Sandbox, tmp_path: Path) -> None:
    """The same file named twice is sent once; a glob matching nothing names the pattern (exit 12)."""
    write_junit_files(tmp_path / "r", 2)
    env = sandbox_env(sb, tmp_path)
    proc = xray_tasks("import-results", "--report", str(tmp_path / "r" / "*.xml"),
                      "--report", str(tmp_path / "r" / "TEST-Module0.xml"), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["files"]) == 2
    missing = xray_tasks("import-results", "--report", str(tmp_path / "nothing" / "*.xml"), env=env)
    line = assert_one_clean_line(missing)
    assert missing.returncode == 12
    assert "nothing/*.xml" in line


def cucumber_feature(i: int, key: str, status: str) -> dict[str, object]:
    return {"uri": f"features/f{i}.feature", "id": f"f{i}", "keyword": "Feature", "name": f"Feature {i}",
            "line": 1, "description": "", "tags": [], "elements": [{
                "id": f"f{i};s", "keyword": "Scenario", "name": f"Scenario {i}", "line": 3, "type": "scenario",
                "description": "", "tags": [{"name": f"@{key}", "line": 2}],
                "steps": [{"keyword": "Given ", "name": "a step", "line": 4,
                           "result": {"status": status, "duration": 1000}}]}]}


def test_many_cucumber_files_land_in_one_execution(sb: Sandbox, tmp_path: Path) -> None:
    """20 Cucumber JSON files are spliced into one request and one Test Execution."""
    folder = tmp_path / "cucumber"
    folder.mkdir()
    for i in range(20):
        status = "failed" if i % 5 == 0 else "passed"
        (folder / f"c{i}.json").write_text(json.dumps([cucumber_feature(i, f"DEMO-{i + 2}", status)]))
    before = len(import_requests(sb))
    proc = xray_tasks("import-results", "--report", str(folder / "*.json"), "--json", env=sandbox_env(sb, tmp_path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert len(import_requests(sb)) - before == 1
    execution = sb.store.execution(data["key"])
    assert execution is not None
    assert {run["test_key"] for run in execution["runs"]} == {f"DEMO-{i + 2}" for i in range(20)}
    assert execution["counts"] == {"PASSED": 16, "FAILED": 4}


def test_gherkin_reports_that_need_two_requests_are_refused_before_sending(sb: Sandbox, tmp_path: Path,
                                                                          behave_report: Path) -> None:
    """Cucumber/Behave cannot be imported into an existing Test Execution, so reports needing two of their
    requests are refused up front, with the reason that applies (two formats, or the size limit)."""
    folder = tmp_path / "cucumber"
    folder.mkdir()
    for i in range(2):
        (folder / f"c{i}.json").write_text(json.dumps([cucumber_feature(i, f"DEMO-{i + 2}", "passed")]) + " " * 6000)
    before = len(import_requests(sb))
    mixed = xray_tasks("import-results", "--report", str(folder / "c0.json"), "--report", str(behave_report),
                       env=sandbox_env(sb, tmp_path))
    line = assert_one_clean_line(mixed)
    assert mixed.returncode == 11 and "Cucumber JSON and Behave JSON reports need a request each" in line
    oversized = xray_tasks("import-results", "--report", str(folder / "*.json"),
                           env=sandbox_env(sb, tmp_path, XRAY_MAX_REQUEST_MB="0.01"))
    line = assert_one_clean_line(oversized)
    assert oversized.returncode == 11 and "over XRAY_MAX_REQUEST_MB=0.01 together and need 2 requests" in line
    assert len(import_requests(sb)) == before  # nothing was sent


def test_many_xray_json_files_land_in_one_execution(sb: Sandbox, tmp_path: Path) -> None:
    """Xray JSON files are merged test by test into one request."""
    folder = tmp_path / "xray"
    folder.mkdir()
    for i in range(10):
        tests = [{"testKey": f"DEMO-{i * 3 + j + 2}", "status": "FAILED" if j == 0 else "PASSED"} for j in range(3)]
        (folder / f"x{i}.json").write_text(json.dumps({"tests": tests}))
    before = len(import_requests(sb))
    proc = xray_tasks("import-results", "--report", str(folder), "--json", env=sandbox_env(sb, tmp_path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert len(import_requests(sb)) - before == 1
    execution = sb.store.execution(data["key"])
    assert execution is not None
    assert execution["counts"] == {"PASSED": 20, "FAILED": 10}


def test_mixed_formats_land_in_one_execution(pytest_junit_report: Path, testng_report: Path, robot_report: Path,
                                              sb: Sandbox, tmp_path: Path) -> None:
    """JUnit, TestNG and Robot reports: the first request creates the execution, the others import into it."""
    before = len(import_requests(sb))
    proc = xray_tasks("import-results", "--report", str(pytest_junit_report), "--report", str(testng_report),
                      "--report", str(robot_report), "--json", env=sandbox_env(sb, tmp_path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert len(data["keys"]) == 1
    requests = import_requests(sb)[before:]
    assert len(requests) == 3
    assert [r["query"].get("testExecKey") for r in requests[1:]] == [data["key"], data["key"]]
    execution = sb.store.execution(data["key"])
    assert execution is not None
    assert execution["total"] == sum(1 for _ in execution["runs"])
    assert execution["imports"] == 3


def test_separate_gives_one_execution_per_file(sb: Sandbox, tmp_path: Path) -> None:
    """--separate keeps the old behaviour: a Test Execution per report."""
    write_junit_files(tmp_path / "r", 3)
    proc = xray_tasks("import-results", "--report", str(tmp_path / "r"), "--separate", "--json",
                      env=sandbox_env(sb, tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["keys"]) == 3


def test_summary_file_and_github_outputs_hold_the_key(sb: Sandbox, tmp_path: Path) -> None:
    """--summary-file, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY carry the key; no secret in any of them."""
    write_junit_files(tmp_path / "r", 2)
    gh_out, gh_summary, summary = tmp_path / "gh_out", tmp_path / "gh_summary.md", tmp_path / "s" / "xray.json"
    env = sandbox_env(sb, tmp_path, GITHUB_OUTPUT=str(gh_out), GITHUB_STEP_SUMMARY=str(gh_summary))
    proc = xray_tasks("import-results", "--report", str(tmp_path / "r"), "--summary-file", str(summary), env=env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(summary.read_text())
    key = data["key"]
    assert key and key in proc.stdout
    assert f"test-exec-key={key}\n" in gh_out.read_text()
    assert key in gh_summary.read_text() and "| Passed |" in gh_summary.read_text()
    assert [f["status"] for f in data["files"]] == ["imported", "imported"]
    assert data["totals"]["passed"] + data["totals"]["failed"] == 6
    for text in (summary.read_text(), gh_out.read_text(), gh_summary.read_text()):
        assert sb.config.client_secret not in text


def test_on_error_warn_turns_an_import_failure_into_the_tests_exit_code(sb: Sandbox, tmp_path: Path) -> None:
    """With --on-error warn a rejected import warns and ci exits with the tests' code; with fail, 16."""
    junit = tmp_path / "junit.xml"
    command = pytest_suite(tmp_path, "def test_bad():\n    assert False\n", junit)
    env = sandbox_env(sb, tmp_path, XRAY_PROJECT_KEY="NOPE")
    warn = xray_tasks("ci", "--command", command, "--report", str(junit), "--on-error", "warn",
                      "--summary-file", str(tmp_path / "s.json"), env=env, cwd=tmp_path)
    assert warn.returncode == 1, warn.stderr
    assert "warning: import failed" in warn.stderr and "No project could be found" in warn.stderr
    assert json.loads((tmp_path / "s.json").read_text())["error"]
    fail = xray_tasks("ci", "--command", command, "--report", str(junit), env=env, cwd=tmp_path)
    assert fail.returncode == 16
    assert_one_clean_line(fail)


ROBOT_UNKNOWN_KEY = ('<?xml version="1.0"?><robot generator="Robot 7.0"><suite name="S"><test name="T">'
                     '<tags><tag>NOPE-9</tag></tags><status status="PASS"/></test><status status="PASS"/>'
                     '</suite></robot>')


def test_json_and_summary_file_on_failure_keep_what_was_imported(sb: Sandbox, tmp_path: Path) -> None:
    """A later request failing: --json still prints one object (error, exit code, the key that was created)
    and --summary-file holds the same; stderr has the one error line naming what landed."""
    write_junit_files(tmp_path / "r", 2)
    (tmp_path / "r" / "output.xml").write_text(ROBOT_UNKNOWN_KEY)
    summary = tmp_path / "summary.json"
    proc = xray_tasks("import-results", "--report", str(tmp_path / "r"), "--json", "--summary-file", str(summary),
                      env=sandbox_env(sb, tmp_path))
    assert proc.returncode == 16, proc.stderr
    line = assert_one_clean_line(proc, sb.config.client_secret)
    data = json.loads(proc.stdout)  # stdout is exactly one JSON object
    assert data == json.loads(summary.read_text())
    assert data["exit_code"] == 16 and "NOPE-9" in data["error"]
    created = data["key"]
    assert created and data["keys"] == [created]
    assert f"1 of 2 requests were imported, into {created}" in line
    execution = sb.store.execution(created)
    assert execution is not None and execution["total"] == 2 * 3  # two JUnit files of 3 cases


def test_ci_json_keeps_stdout_for_the_json_object(sb: Sandbox, tmp_path: Path) -> None:
    """ci --json: the tests' own output goes to stderr, stdout holds only the result object."""
    junit = tmp_path / "junit.xml"
    command = pytest_suite(tmp_path, "def test_ok():\n    print('chatty test output')\n", junit, "-s")
    proc = xray_tasks("ci", "--command", command, "--report", str(junit), "--json", env=sandbox_env(sb, tmp_path),
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["key"] and data["tests_exit_code"] == 0
    assert "chatty test output" in proc.stderr


def test_exit_with_tests_in_a_separate_import_step(sb: Sandbox, tmp_path: Path) -> None:
    """import-results --exit-with-tests imports, then exits with the recorded run's code."""
    write_junit_files(tmp_path / "r", 1)
    env = sandbox_env(sb, tmp_path, XRAY_TEST_COMMAND="exit 3", XRAY_REPORT=str(tmp_path / "r" / "*.xml"))
    assert xray_tasks("run-tests", env=env, cwd=tmp_path).returncode == 0
    proc = xray_tasks("import-results", "--exit-with-tests", "--allow-stale", env=env, cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    assert "imported into DEMO-" in proc.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_the_makefile_example_runs_test_then_import(sb: Sandbox, tmp_path: Path) -> None:
    """examples/Makefile: `make test` then `make xray-import` imports into one execution; each step fails
    like the tests (make test does not hide a failing suite)."""
    suite = tmp_path / "tests"
    suite.mkdir()
    (suite / "test_calc.py").write_text("def test_ok():\n    assert 1 + 1 == 2\n\ndef test_bad():\n    assert 0\n")
    shutil.copy(REPO / "examples" / "Makefile", tmp_path / "Makefile")
    env = sandbox_env(sb, tmp_path)
    test_command = f"{sys.executable} -m pytest -q -p no:cacheprovider tests -c /dev/null --junitxml=reports/junit.xml"
    make = ["make", f"XRAY_TASKS={sys.executable} -m xray_tasks", f"TEST_COMMAND={test_command}"]
    step1 = subprocess.run([*make, "test"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert step1.returncode != 0 and "tests failed (exit 1)" in step1.stderr, step1.stderr
    step2 = subprocess.run([*make, "xray-import"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           check=False)
    assert step2.returncode != 0  # make reports the tests' failure
    assert "tests failed (exit 1)" in step2.stderr
    data = json.loads((tmp_path / "reports" / "xray.json").read_text())
    execution = sb.store.execution(data["key"])
    assert execution is not None
    assert execution["counts"] == {"PASSED": 1, "FAILED": 1}


def test_a_report_over_the_size_limit_is_split_into_one_execution(sb: Sandbox, tmp_path: Path) -> None:
    """A JUnit file above XRAY_MAX_REQUEST_MB is cut between test suites: several requests, one execution,
    every test case present."""
    big = tmp_path / "big.xml"
    with big.open("w") as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="all">\n')
        for i in range(40):
            cases = "".join(f'<testcase classname="split.C{i}" name="t{j}" time="0.001"/>' for j in range(25))
            fh.write(f'<testsuite name="C{i}" tests="25">{cases}</testsuite>\n')
        fh.write("</testsuites>\n")
    assert big.stat().st_size > 50_000
    before = len(import_requests(sb))
    proc = xray_tasks("import-results", "--report", str(big), "--json",
                      env=sandbox_env(sb, tmp_path, XRAY_MAX_REQUEST_MB="0.02"))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    requests = len(import_requests(sb)) - before
    assert requests >= 3
    assert len(data["keys"]) == 1
    execution = sb.store.execution(data["key"])
    assert execution is not None
    assert execution["total"] == 1000


def test_a_single_oversized_json_report_is_refused_before_sending(sb: Sandbox, tmp_path: Path) -> None:
    """Formats that cannot be cut are refused with the remedy, and nothing is sent."""
    report = tmp_path / "big.json"
    report.write_text(json.dumps([cucumber_feature(i, "DEMO-2", "passed") for i in range(200)]))
    before = len(import_requests(sb))
    proc = xray_tasks("import-results", "--report", str(report), env=sandbox_env(sb, tmp_path,
                                                                                  XRAY_MAX_REQUEST_MB="0.01"))
    line = assert_one_clean_line(proc)
    assert proc.returncode == 12
    assert "XRAY_MAX_REQUEST_MB" in line
    assert len(import_requests(sb)) == before


def test_stale_report_age_reads_like_a_person_would_say_it() -> None:
    from xray_tasks.reports import _span

    assert [_span(x) for x in (40, 700, 5 * 3600, 3 * 86400, 218080005)] == \
        ["40 s", "12 min", "5 h", "3 days", "2524 days"]


# -- Xray JSON reports that disagree ---------------------------------------------------------------------


def test_xray_json_naming_two_executions_is_refused_and_separate_imports_each(sb: Sandbox, tmp_path: Path) -> None:
    """Two Xray JSON reports with different testExecutionKeys are not merged (one's results would land in the
    other's execution): exit 12 naming both files, nothing sent; --separate imports each into its own."""
    env = sandbox_env(sb, tmp_path)
    write_junit_files(tmp_path / "setup", 2)
    created = xray_tasks("import-results", "--report", str(tmp_path / "setup"), "--separate", "--json", env=env)
    one, two = json.loads(created.stdout)["keys"]  # two existing executions
    folder = tmp_path / "xray"
    folder.mkdir()
    for i, key in enumerate((one, two)):
        (folder / f"x{i}.json").write_text(json.dumps(
            {"testExecutionKey": key, "tests": [{"testKey": f"DEMO-{i + 2}", "status": "PASSED"}]}))
    before = len(import_requests(sb))
    merged = xray_tasks("import-results", "--report", str(folder), env=env)
    line = assert_one_clean_line(merged)
    assert merged.returncode == 12
    assert (f"cannot merge the Xray JSON reports {folder / 'x0.json'} and {folder / 'x1.json'}: their "
            f'testExecutionKey differs ("{one}" vs "{two}")') in line
    assert "--separate" in line
    assert len(import_requests(sb)) == before
    separate = xray_tasks("import-results", "--report", str(folder), "--separate", "--json", env=env)
    assert separate.returncode == 0, separate.stderr
    assert json.loads(separate.stdout)["keys"] == [one, two]
    for i, key in enumerate((one, two)):
        execution = sb.store.execution(key)
        assert execution is not None and f"DEMO-{i + 2}" in [r["test_key"] for r in execution["runs"]]
        assert execution["total"] == 3 + 1  # the JUnit file's three cases, and this report's test


def test_xray_json_shards_of_one_run_land_in_one_execution_spanning_their_times(sb: Sandbox, tmp_path: Path) -> None:
    """pytest-jira-xray shards share the info but each has its own start and finish: one request, one
    execution from the earliest start to the latest finish; a different summary is refused."""
    folder = tmp_path / "shards"
    folder.mkdir()
    times = [("2026-03-01T10:00:30+0000", "2026-03-01T10:05:00+0000"),
             ("2026-03-01T10:00:10+0000", "2026-03-01T10:04:00+0000")]
    for i, (start, finish) in enumerate(times):
        (folder / f"shard{i}.json").write_text(json.dumps({
            "info": {"summary": "Nightly", "startDate": start, "finishDate": finish},
            "tests": [{"testKey": f"DEMO-{i + 2}", "status": "PASSED"}]}))
    env = sandbox_env(sb, tmp_path)
    before = len(import_requests(sb))
    proc = xray_tasks("import-results", "--report", str(folder), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert len(import_requests(sb)) - before == 1
    execution = sb.store.execution(json.loads(proc.stdout)["key"])
    assert execution is not None and execution["summary"] == "Nightly" and execution["total"] == 2
    assert execution["start_date"].startswith("2026-03-01T10:00:10")
    assert execution["finish_date"].startswith("2026-03-01T10:05:00")
    other = {"info": {"summary": "Other"}, "tests": [{"testKey": "DEMO-3", "status": "PASSED"}]}
    (folder / "shard1.json").write_text(json.dumps(other))
    refused = xray_tasks("import-results", "--report", str(folder), env=env)
    assert refused.returncode == 12
    assert 'their info.summary differs ("Nightly" vs "Other")' in assert_one_clean_line(refused)


# -- the temporary folder ---------------------------------------------------------------------------------


def test_a_single_report_needs_no_temporary_folder(sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                   ) -> None:
    """With no usable temporary folder, one report still imports (it is sent from its own file); a merge that
    needs the folder is refused naming TMPDIR, before anything is sent."""
    from xray_tasks.client import XrayClient
    from xray_tasks.console import Console
    from xray_tasks.importer import ImportOptions, ImportOutcome, plan_run, send_run
    from xray_tasks.merge import ScratchFolder
    from xray_tasks.settings import resolve_settings

    def import_reports(s: Settings, paths: list[Path], options: ImportOptions, client: XrayClient) -> ImportOutcome:
        with ScratchFolder() as scratch:
            return send_run(client, plan_run(s, paths, options, None, scratch), Console(quiet=True))

    write_junit_files(tmp_path / "r", 2)
    proc = xray_tasks("import-results", "--report", str(tmp_path / "r" / "TEST-Module0.xml"),
                      env=sandbox_env(sb, tmp_path, TMPDIR="/nonexistent"))
    assert proc.returncode == 0, proc.stderr
    missing = tmp_path / "no-tmp"
    monkeypatch.setattr(tempfile, "tempdir", str(missing))  # what Python falls back to is unusable too
    s = resolve_settings(environ=sandbox_env(sb, tmp_path))
    with XrayClient(s) as client:
        outcome = import_reports(s, [tmp_path / "r" / "TEST-Module0.xml"], ImportOptions(), client)
        assert len(outcome.keys) == 1
        before = len(import_requests(sb))
        with pytest.raises(ReportError) as info:
            import_reports(s, sorted((tmp_path / "r").glob("*.xml")), ImportOptions(), client)
    assert str(info.value).startswith(f"cannot make a temporary folder for the merged report in {missing} (TMPDIR): "
                                      "No such file or directory")
    assert len(import_requests(sb)) == before
    assert not missing.exists()


FILE_SIZE_LIMITED = ("import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (8000, 8000)); "
                     "sys.argv[0] = 'xray-tasks'; runpy.run_module('xray_tasks', run_name='__main__')")


def test_a_full_temporary_folder_is_one_line_and_leaves_nothing(sb: Sandbox, tmp_path: Path) -> None:
    """TMPDIR full while merging (a file-size limit gives EFBIG without root): exit 12 with one line naming
    the folder, TMPDIR and the OS error; no file is left there, nothing is sent."""
    write_junit_files(tmp_path / "r", 3, cases=40)
    assert all(p.stat().st_size < 8000 for p in (tmp_path / "r").iterdir())
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    before = len(import_requests(sb))
    proc = subprocess.run([sys.executable, "-c", FILE_SIZE_LIMITED, "import-results", "--report",
                           str(tmp_path / "r")], env=sandbox_env(sb, tmp_path, TMPDIR=str(tmp)),
                          capture_output=True, text=True, timeout=120, check=False)
    line = assert_one_clean_line(proc, sb.config.client_secret)
    assert proc.returncode == 12
    assert line.startswith(f"xray-tasks: error: cannot write the merged report to {tmp}/xray-tasks-")
    assert line.endswith("(TMPDIR): File too large — free space there or point TMPDIR at a larger folder")
    assert list(tmp.iterdir()) == []
    assert len(import_requests(sb)) == before
