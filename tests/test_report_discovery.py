"""Finding and checking reports: a bounded walk through symlink loops, xray-tasks' own outputs left out,
empty reports skipped among real ones — in process, and through the real command against the stand-in."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import assert_one_clean_line, sandbox_env, seeded_sandbox, xray_tasks
from tests.test_many_reports import import_requests, write_junit_files
from xray_tasks import outputs, reports
from xray_tasks.errors import ReportError
from xray_tasks.importer import ImportOutcome
from xray_tasks.reports import check_reports, find_reports, own_output
from xray_tasks.runrecord import RunRecord, save_record
from xray_tasks.sandbox import Sandbox


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with seeded_sandbox(3) as sandbox:
        yield sandbox


def looping_tree(root: Path) -> Path:
    """r/ with two reports and three symlinks back up the tree (two loops in one folder never ended)."""
    folder = root / "r"
    write_junit_files(folder, 1)
    write_junit_files(folder / "sub", 1, start=1)
    (folder / "a").symlink_to(".")
    (folder / "b").symlink_to(".")
    (folder / "sub" / "up").symlink_to("..")
    return folder


@pytest.mark.parametrize("form", ["glob", "directory"])
def test_symlink_loops_end_and_each_report_is_imported_once(sb: Sandbox, tmp_path: Path, form: str) -> None:
    """`--report 'r/**/*.xml'` and `--report r` through `ln -s . r/a; ln -s . r/b` finish and import the two
    reports once, into one Test Execution."""
    folder = looping_tree(tmp_path)
    pattern = str(folder / "**" / "*.xml") if form == "glob" else str(folder)
    proc = xray_tasks("import-results", "--report", pattern, "--json", env=sandbox_env(sb, tmp_path), timeout=60)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert sorted(Path(f["file"]).name for f in data["files"]) == ["TEST-Module0.xml", "TEST-Module1.xml"]
    execution = sb.store.execution(data["key"])
    assert execution is not None and execution["total"] == 6


@pytest.mark.parametrize("form", ["glob", "directory"])
def test_a_walk_over_the_entry_limit_is_an_error_naming_the_pattern(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    form: str) -> None:
    """More entries than WALK_LIMIT under one pattern is one ReportError naming the pattern and the limit."""
    monkeypatch.setattr(reports, "WALK_LIMIT", 40)
    folder = tmp_path / "huge"
    for i in range(30):
        (folder / f"d{i}").mkdir(parents=True)
        (folder / f"d{i}" / "x.xml").write_text("<testsuite/>")
    pattern = str(folder / "**" / "*.xml") if form == "glob" else str(folder)
    with pytest.raises(ReportError) as info:
        find_reports([pattern])
    assert repr(pattern) in str(info.value) and "40" in str(info.value)
    monkeypatch.setattr(reports, "WALK_LIMIT", 100)  # 30 folders + 30 files: within the limit
    assert len(find_reports([pattern])) == 30


def plain_tree(root: Path) -> Path:
    """Reports at several depths, hidden files and folders, an upper-case suffix, a non-report, a symlinked
    folder and file inside the tree, a dangling symlink."""
    folder = root / "t"
    for rel in ["x.xml", ".hidden.xml", "sub/a.xml", "sub/deep/b.XML", "sub/deep/c.json", ".git/d.xml",
                "other/e.json", "other/notes.txt", "sub2/deeper/f.xml"]:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text("x")
    (folder / "link").symlink_to("sub")
    (folder / "g.xml").symlink_to("sub/a.xml")
    (folder / "dangling.xml").symlink_to("nowhere.xml")
    return folder


def resolved_glob(pattern: str) -> list[Path]:
    """What find_reports returned for a glob before its walk was bounded: glob.glob, files only, resolved."""
    found = dict.fromkeys(Path(m).resolve() for m in sorted(glob.glob(pattern, recursive=True)) if Path(m).is_file())
    return list(found)


@pytest.mark.parametrize("pattern", ["**/*.xml", "**", "*/*.xml", "s*/**/*.xml", "**/deep/*", "[sx]*", "?.xml",
                                     ".*/*.xml", "*/deep/*.json", "sub/../other/*.json"])
def test_globs_match_what_the_standard_library_matches(tmp_path: Path, pattern: str) -> None:
    """Without loops, a glob finds exactly the files glob.glob(recursive=True) finds (hidden names only when
    the pattern names them), in the same order."""
    folder = plain_tree(tmp_path)
    full = str(folder / pattern)
    assert find_reports([full]) == resolved_glob(full)


def test_a_relative_glob_is_taken_from_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--report '**/*.xml'` walks the working directory, like glob.glob."""
    plain_tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert find_reports(["**/*.xml"]) == resolved_glob("**/*.xml")


def test_a_directory_means_every_xml_and_json_below_it_hidden_ones_included(tmp_path: Path) -> None:
    """A directory takes every .xml/.json file below it (any case, hidden ones too, symlinked folders followed
    once), not other files, sorted and de-duplicated."""
    folder = plain_tree(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "h.xml").write_text("x")
    (folder / "shared").symlink_to(outside)
    names = [p.relative_to(tmp_path).as_posix() for p in find_reports([str(folder)])]
    assert sorted(names) == ["elsewhere/h.xml", "t/.git/d.xml", "t/.hidden.xml", "t/other/e.json", "t/sub/a.xml",
                             "t/sub/deep/b.XML", "t/sub/deep/c.json", "t/sub2/deeper/f.xml", "t/x.xml"]


# -- xray-tasks' own outputs ---------------------------------------------------------------------------


def legacy_summary(files: int) -> dict[str, object]:
    """The summary object as versions without "kind" wrote it (the keys in their order)."""
    listed = [{"file": f"reports/TEST-{i}.xml", "format": "junit", "key": "DEMO-9", "status": "imported"}
              for i in range(files)]
    return {"key": "DEMO-9", "keys": ["DEMO-9"], "id": "10009", "url": None, "format": "junit",
            "endpoint": "/api/v2/import/execution/junit", "file": "reports/TEST-0.xml", "files": listed,
            "requests": [{"key": "DEMO-9", "files": [f["file"] for f in listed]}], "totals": {"passed": 3},
            "duration": 0.5, "tests_exit_code": 0, "error": None}


def test_own_outputs_are_recognised(tmp_path: Path) -> None:
    """The summary file (as written today, with a "kind", and the older shape), the run record, a shard record
    and any xray-tasks/ kind are ours."""
    written = tmp_path / "written.json"
    assert outputs.write_outputs(outputs.summary(ImportOutcome(), tests_exit=1, error="boom"), str(written),
                                 environ={}) == []
    run = tmp_path / ".xray-run.json"
    save_record(run, RunRecord(command="pytest", started=1.0, finished=2.0, exit_code=0, reports=("r/*.xml",)))
    cases = {
        written: "summary file",
        run: "run record",
        tmp_path / "kind.json": ({"kind": "xray-tasks/summary", **legacy_summary(1)}, "summary file"),
        tmp_path / "legacy.json": (legacy_summary(2), "summary file"),
        tmp_path / "compact.json": (legacy_summary(2), "summary file"),
        tmp_path / "xray-shard-2.json": ({"kind": "xray-tasks/shard", "index": 2}, "shard record"),
        tmp_path / "later.json": ({"kind": "xray-tasks/plan"}, "output (xray-tasks/plan)"),
    }
    for path, case in cases.items():
        if isinstance(case, tuple):
            data, case = case
            path.write_text(json.dumps(data, indent=None if path.name == "compact.json" else 2))
        assert own_output(path) == case, path


def test_a_large_summary_is_recognised_from_its_head_alone(tmp_path: Path) -> None:
    """A summary listing thousands of files is recognised from its first OWN_HEAD bytes: what follows is never
    read (here it is not even JSON)."""
    path = tmp_path / "big-summary.json"
    text = json.dumps(legacy_summary(20_000), indent=2)
    assert len(text) > 4 * reports.OWN_HEAD
    path.write_text(text[: 2 * reports.OWN_HEAD] + "\x00 not json \x00")
    assert own_output(path) == "summary file"


@pytest.mark.parametrize("data", [
    {"info": {"summary": "run"}, "tests": [{"testKey": "DEMO-2", "status": "PASSED"}]},
    {"tests": [{"testKey": "DEMO-2", "status": "PASSED", "kind": "xray-tasks/summary"}]},
    {"testExecutionKey": "DEMO-9", "keys": [], "requests": [], "tests_exit_code": 0, "tests": []},
    {"kind": "junit", "keys": []},
    {"command": "x", "started": 1, "finished": 2},
    [{"id": "feature", "elements": []}],
], ids=["xray json", "kind inside a test", "summary keys beside a report's", "someone else's kind",
        "half a run record", "cucumber"])
def test_reports_are_not_taken_for_own_outputs(tmp_path: Path, data: object) -> None:
    """Reports — even ones sharing a key name with our outputs — are not ours."""
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data))
    assert own_output(path) is None


def test_a_big_report_is_decided_without_reading_it_whole(tmp_path: Path) -> None:
    """An Xray JSON whose tests run past the head is still a report; XML is decided on its first bytes."""
    path = tmp_path / "big.json"
    tests = [{"testKey": f"DEMO-{i}", "status": "PASSED", "comment": "x" * 100} for i in range(5000)]
    path.write_text(json.dumps({"tests": tests, "info": {"summary": "s"}}))
    assert path.stat().st_size > reports.OWN_HEAD
    assert own_output(path) is None
    xml = tmp_path / "r.xml"
    xml.write_text('<testsuite tests="1"><testcase name="a"/></testsuite>')
    assert own_output(xml) is None


def test_the_summary_file_inside_the_report_folder_is_skipped_on_the_next_run(sb: Sandbox, tmp_path: Path) -> None:
    """--summary-file written into the report folder: the second import skips it with a note and imports the
    same reports again."""
    folder = tmp_path / "reports"
    write_junit_files(folder, 2)
    env = sandbox_env(sb, tmp_path)
    first = xray_tasks("import-results", "--report", str(folder), "--summary-file", str(folder / "xray.json"),
                       env=env)
    assert first.returncode == 0, first.stderr
    second = xray_tasks("import-results", "--report", str(folder), "--summary-file", str(folder / "xray.json"),
                        env=env)
    assert second.returncode == 0, second.stderr
    assert f"note: skipped {folder / 'xray.json'}: xray-tasks' own summary file, not test results" in second.stderr
    data = json.loads((folder / "xray.json").read_text())
    assert len(data["files"]) == 2
    execution = sb.store.execution(data["key"])
    assert execution is not None and execution["total"] == 6


def test_the_run_record_inside_the_report_folder_is_skipped(sb: Sandbox, tmp_path: Path) -> None:
    """ci with XRAY_STATE_FILE inside the report folder: the run record is not taken for a report."""
    folder = tmp_path / "reports"
    write_junit_files(folder, 1)
    env = sandbox_env(sb, tmp_path, XRAY_STATE_FILE=str(folder / ".xray-run.json"))
    proc = xray_tasks("ci", "--command", f"touch {folder}/TEST-Module0.xml", "--report", str(folder), env=env,
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "xray-tasks' own run record, not test results" in proc.stderr
    assert "Imported TEST-Module0.xml (JUnit XML)" in proc.stdout


def test_only_own_outputs_is_an_error(tmp_path: Path) -> None:
    """A --report naming nothing but our own outputs (and maybe an empty report) is refused, saying what
    each file is."""
    summary = tmp_path / "xray.json"
    summary.write_text(json.dumps(legacy_summary(1)))
    with pytest.raises(ReportError, match=r"xray\.json is xray-tasks' own summary file, not test results"):
        check_reports([summary], "auto", None)
    zero = tmp_path / "zero.xml"
    zero.write_text('<testsuite name="z" tests="0"/>')
    with pytest.raises(ReportError) as info:
        check_reports([zero, summary], "auto", None)
    assert str(info.value) == (f"{zero} holds no test results (JUnit XML with 0 tests); {summary} is xray-tasks' "
                               "own summary file — check that the tests ran; Xray rejects an empty report")


# -- reports without tests -----------------------------------------------------------------------------


def pytest_junit(folder: Path, name: str, source: str | None) -> Path:
    """A JUnit report written by a real pytest run: of ``source``, or of an empty folder (tests="0")."""
    suite = folder / f"suite-{name}"
    suite.mkdir(parents=True)
    if source is not None:
        (suite / "test_it.py").write_text(source)
    junit = folder / f"{name}.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite), "--junitxml",
                    str(junit), "-c", os.devnull], capture_output=True, check=False, cwd=folder)
    assert junit.is_file()
    return junit


def test_an_empty_report_beside_real_ones_is_skipped_with_a_note(sb: Sandbox, tmp_path: Path) -> None:
    """A shard that ran no test (pytest writes tests="0", as JUnit Platform's ConsoleLauncher does for an idle
    engine) no longer blocks the others: it is skipped with a note."""
    folder = tmp_path / "reports"
    pytest_junit(folder, "shard1", "def test_a():\n    pass\n\ndef test_b():\n    assert 0\n")
    empty = pytest_junit(folder, "shard2", None)
    (folder / "cucumber.json").write_text("[]\n")
    before = len(import_requests(sb))
    proc = xray_tasks("import-results", "--report", str(folder), env=sandbox_env(sb, tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert f"note: skipped {folder / 'cucumber.json'}, {empty}: no test results" in proc.stderr
    assert "JUnit XML with 0 tests" in proc.stderr and "an empty JSON list" in proc.stderr
    assert len(import_requests(sb)) - before == 1
    key = proc.stdout.split(" into ")[1].split()[0].rstrip(":")
    execution = sb.store.execution(key)
    assert execution is not None and execution["counts"] == {"PASSED": 1, "FAILED": 1}


def test_reports_that_are_all_empty_are_refused(sb: Sandbox, tmp_path: Path) -> None:
    """When no report holds a test, the import is refused naming them, and nothing is sent."""
    folder = tmp_path / "reports"
    pytest_junit(folder, "shard1", None)
    pytest_junit(folder, "shard2", None)
    before = len(import_requests(sb))
    proc = xray_tasks("import-results", "--report", str(folder), env=sandbox_env(sb, tmp_path))
    line = assert_one_clean_line(proc)
    assert proc.returncode == 12
    assert "none of the 2 reports holds a test result" in line and "shard1.xml" in line and "shard2.xml" in line
    assert len(import_requests(sb)) == before


def test_a_zero_byte_report_among_several_is_still_refused(tmp_path: Path) -> None:
    """A 0-byte file is more likely a run that crashed while writing than one without tests: refused."""
    folder = tmp_path / "reports"
    write_junit_files(folder, 1)
    (folder / "TEST-crashed.xml").write_bytes(b"")
    with pytest.raises(ReportError, match=r"TEST-crashed.xml is empty \(0 bytes\).*crashed"):
        check_reports(find_reports([str(folder)]), "auto", None)


def test_skipped_reports_come_back_as_notes(tmp_path: Path) -> None:
    """check_reports returns the reports to import and one note per kind of skipped file; it prints nothing."""
    folder = tmp_path / "reports"
    write_junit_files(folder, 1)
    (folder / "zero.xml").write_text('<testsuite name="z" tests="0"/>')
    (folder / "xray.json").write_text(json.dumps(legacy_summary(1)))
    checked = check_reports(find_reports([str(folder)]), "auto", None)
    assert [(p.name, fmt) for p, fmt, _ in checked.reports] == [("TEST-Module0.xml", "junit")]
    assert checked.notes == (f"skipped {folder / 'xray.json'}: xray-tasks' own summary file, not test results",
                             f"skipped {folder / 'zero.xml'}: no test results (JUnit XML with 0 tests)")
