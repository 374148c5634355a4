"""Reports enriched on their way into Xray: the map file (keys, requirements, labels), evidence files and
reruns, from reports real runners write (pytest with pytest-rerunfailures, Surefire, Playwright, TestNG,
Robot, pytest-nunit, pytest-jira-xray), imported through the real command into the sandbox, and checked
by what the sandbox recorded."""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli_helpers import sandbox_env, seeded_sandbox, xray_tasks
from tests.runners import FIXTURES, REPO, _env
from xray_tasks import reruns
from xray_tasks.errors import SettingsError
from xray_tasks.evidence import EvidenceFile, EvidenceIndex
from xray_tasks.merge import ScratchFolder
from xray_tasks.rewrite import EnrichOptions, prepare
from xray_tasks.settings import resolve_settings
from xray_tasks.testmap import load_map

SUREFIRE = FIXTURES / "surefire"


def png(width: int = 4, height: int = 3, seed: int = 0) -> bytes:
    """A real PNG image made with zlib and struct."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"".join(bytes(((seed + x * 40) % 256, 120, 200)) for x in range(width))
                    for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


FLAKY_SUITE = '''\
import pathlib

COUNT = pathlib.Path(__file__).with_name("count.txt")


def test_adds_item():
    assert 1 + 1 == 2


def test_total_is_flaky():
    n = int(COUNT.read_text()) if COUNT.exists() else 0
    COUNT.write_text(str(n + 1))
    assert n >= 1, f"total was 0 on attempt {n + 1}"


def test_checkout_is_broken():
    assert 1 == 2, "checkout button missing"
'''


@pytest.fixture(scope="module")
def rerun_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """JUnit XML from a real pytest run with pytest-rerunfailures (--reruns 2): test_adds_item passes,
    test_total_is_flaky fails once then passes, test_checkout_is_broken fails three times."""
    pytest.importorskip("pytest_rerunfailures", reason="pytest-rerunfailures is not installed: "
                                                        "pip install pytest-rerunfailures")
    work = tmp_path_factory.mktemp("reruns")
    (work / "test_cart.py").write_text(FLAKY_SUITE)
    report = work / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", os.devnull, "--rootdir",
                    str(work), "--reruns", "2", "--junitxml", str(report), "test_cart.py"], cwd=work, env=_env(),
                   capture_output=True, text=True, timeout=120, check=False)
    assert report.is_file(), "pytest wrote no report"
    return report


@pytest.fixture(scope="module")
def surefire_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(report, where it came from): a real Surefire run with -Dsurefire.rerunFailingTestsCount=2 of
    tests/fixtures/surefire when Maven resolves its plugins offline here, else the run recorded there."""
    mvn = shutil.which("mvn")
    if mvn is not None:
        work = tmp_path_factory.mktemp("surefire") / "project"
        shutil.copytree(SUREFIRE, work, ignore=shutil.ignore_patterns("recorded", "README.md"))
        subprocess.run([mvn, "-o", "-q", "test", "-Dsurefire.rerunFailingTestsCount=2"], cwd=work,
                       capture_output=True, text=True, timeout=300, check=False)
        report = work / "target" / "surefire-reports" / "TEST-calc.CartTest.xml"
        if report.is_file():
            return report, "a Maven run"
    return SUREFIRE / "recorded" / "TEST-calc.CartTest.xml", "the recorded Surefire report (Maven unavailable)"


@pytest.fixture
def sb() -> Iterator[Any]:
    """A sandbox whose project DEMO holds Tests DEMO-2 … DEMO-4."""
    with seeded_sandbox() as sandbox:
        yield sandbox


def executions(sandbox: Any) -> list[dict[str, Any]]:
    keys = [e["key"] for e in httpx.get(f"{sandbox.url}/sandbox/executions").json()]
    return [httpx.get(f"{sandbox.url}/sandbox/executions/{k}").json() for k in keys]


def runs_by_definition(sandbox: Any) -> dict[str, dict[str, Any]]:
    """definition -> the run the sandbox recorded for that Test, with the Test's labels and requirements."""
    tests = {t["key"]: t for t in httpx.get(f"{sandbox.url}/sandbox/tests").json()}
    out = {}
    for execution in executions(sandbox):
        for run in execution["runs"]:
            test = tests[run["test_key"]]
            out[test["definition"] or test["summary"]] = {**run, "labels": test["labels"],
                                                          "requirements": test["requirements"]}
    return out


def imports(sandbox: Any) -> int:
    return sum(1 for r in httpx.get(f"{sandbox.url}/sandbox/requests").json() if "/import/" in r["path"])


def evidence_bytes(sandbox: Any, run: dict[str, Any]) -> dict[str, bytes]:
    return {e["filename"]: httpx.get(f"{sandbox.url}/sandbox/evidence/{e['id']}").content for e in run["evidence"]}


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stderr + done.stdout
    return done


# -- the map ---------------------------------------------------------------------------------------------------

MAP = """\
tests:
  - match: "test_cart.test_adds_item"   # classname.name
    key: DEMO-2
    requirements: [DEMO-10]
    labels: [cart]
  - match: "test_cart.*"
    labels: [shop]
  - match: "nothing.matches_this"
    key: DEMO-3
"""


def test_map_links_tests_to_keys_requirements_and_labels(sb: Any, rerun_report: Path, tmp_path: Path) -> None:
    """A YAML map gives the matching JUnit test its Test key, requirement link and labels, a glob entry
    labels every test of the class, and the dry run lists what matched and the entry that matched nothing."""
    (tmp_path / "map.yaml").write_text(MAP)
    env = sandbox_env(sb, tmp_path)
    dry = ok(xray_tasks("import-results", "--report", str(rerun_report), "--map", str(tmp_path / "map.yaml"),
                        "--dry-run", env=env))
    assert "map: test_cart.test_adds_item → DEMO-2; requirements DEMO-10; labels cart, shop" in dry.stdout
    assert "map.yaml entry 3 (match 'nothing.matches_this') matched no test" in dry.stdout
    assert imports(sb) == 0
    ok(xray_tasks("import-results", "--report", str(rerun_report), "--map", str(tmp_path / "map.yaml"), env=env))
    runs = runs_by_definition(sb)
    adds = runs["Existing test 2"]  # DEMO-2 was made by Jira's create: it keeps its summary
    assert (adds["test_key"], adds["status"], adds["labels"], adds["requirements"]) == (
        "DEMO-2", "PASSED", ["cart", "shop"], ["DEMO-10"])
    assert runs["test_cart.test_checkout_is_broken"]["labels"] == ["shop"]


def test_csv_map_and_the_report_key_winning(sb: Any, tmp_path: Path) -> None:
    """A CSV map works like the YAML one; a key already in the report wins over the map's, with a note."""
    report = tmp_path / "junit.xml"
    report.write_text('<testsuite name="s"><testcase classname="calc.Calc" name="adds"><properties>'
                      '<property name="test_key" value="DEMO-3"/></properties></testcase>'
                      '<testcase classname="calc.Calc" name="divides"/></testsuite>')
    (tmp_path / "map.csv").write_text('match,key,requirements,labels,evidence\n'
                                      'calc.Calc.adds,DEMO-2,,math,\n'
                                      '"calc.Calc.div*",DEMO-4,DEMO-11;DEMO-12,math core,\n')
    done = ok(xray_tasks("import-results", "--report", str(report), "--map", str(tmp_path / "map.csv"),
                         env=sandbox_env(sb, tmp_path)))
    assert "calc.Calc.adds: the report's key DEMO-3 wins over the map's DEMO-2" in done.stderr
    runs = {r["test_key"]: r for e in executions(sb) for r in e["runs"]}
    assert set(runs) == {"DEMO-3", "DEMO-4"}
    tests = {t["key"]: t for t in httpx.get(f"{sb.url}/sandbox/tests").json()}
    assert (tests["DEMO-4"]["labels"], tests["DEMO-4"]["requirements"]) == (["math", "core"], ["DEMO-11", "DEMO-12"])
    assert tests["DEMO-3"]["labels"] == ["math"]


BAD_MAPS = [
    ("map.yaml", "tests:\n  - match: [unclosed\n", "is not valid YAML"),
    ("map.yaml", "tests:\n  - match: a.b\n    key: calc-12\n", "key 'calc-12' is not a Jira issue key "
                                                               "(Jira keys are upper case: CALC-12)"),
    ("map.yaml", "tests:\n  - match: a.b\n    requirements: [CALC]\n", "requirement 'CALC' is not a Jira issue key"),
    ("map.yaml", "tests:\n  - match: a.b\n    labels: ['two words']\n", "label 'two words' holds whitespace"),
    ("map.yaml", "tests:\n  - match: a.b\n    keys: CALC-1\n", "unknown field(s) keys"),
    ("map.yaml", "- match: a.b\n", "has no 'tests:' list"),
    ("map.csv", 'match,key\n"a.b,CALC-1\n', "is not valid CSV"),
    ("map.csv", "name,key\na.b,CALC-1\n", "has the header"),
    ("missing.yaml", None, "does not exist"),
]


@pytest.mark.parametrize(("name", "text", "said"), BAD_MAPS, ids=[
    "not YAML", "a lower-case key", "a requirement without a number", "a label with a space", "an unknown field",
    "no tests list", "not CSV", "a CSV without match column", "a missing file"])
def test_a_bad_map_is_one_clear_line_and_nothing_is_sent(sb: Any, rerun_report: Path, tmp_path: Path, name: str,
                                                         text: str | None, said: str) -> None:
    """A map that is not valid YAML/CSV, or holds a key of the wrong shape, stops the import before any
    request with exit 11 and one line saying what and where."""
    if text is not None:
        (tmp_path / name).write_text(text)
    done = xray_tasks("import-results", "--report", str(rerun_report), "--map", str(tmp_path / name),
                      env=sandbox_env(sb, tmp_path))
    assert done.returncode == 11, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0] and "Traceback" not in done.stderr, done.stderr
    assert imports(sb) == 0


def test_map_init_lists_every_test_once_and_loads_as_a_map(rerun_report: Path, tmp_path: Path,
                                                           pytest_junit_report: Path) -> None:
    """map-init writes a YAML map naming every test of the reports once (reruns too) with an empty key;
    it loads as a map that matches each of them, and an existing file is never overwritten."""
    out = tmp_path / "xray-map.yaml"
    env = {**os.environ, "XRAY_ENV_FILE": os.devnull}
    done = xray_tasks("map-init", "--report", str(rerun_report), "--report", str(pytest_junit_report), "--out",
                      str(out), env=env)
    assert done.returncode == 0, done.stderr
    test_map = load_map(out)
    from xray_tasks.formats import iter_results

    expected = list(dict.fromkeys(r.definition for p in (rerun_report, pytest_junit_report)
                                  for r in iter_results(p, "junit")))
    assert [e.match.replace("[[]", "[") for e in test_map.entries] == expected
    assert all(e.key is None for e in test_map.entries)
    for definition in expected:
        assert test_map.lookup([definition]) is not None
    assert not test_map.unused()
    again = xray_tasks("map-init", "--report", str(rerun_report), "--out", str(out), env=env)
    assert again.returncode == 11 and "exists; it is not overwritten" in again.stderr


def test_map_on_testng_robot_nunit_and_xray_json(sb: Any, tmp_path: Path, testng_report: Path, robot_report: Path,
                                                 nunit_pytest_report: Path, xray_json_report: Path) -> None:
    """The map reaches each format the way Xray reads it: TestNG attributes, Robot tags, NUnit
    properties, Xray JSON testKey and testInfo — recorded as links and labels by the sandbox."""
    story = httpx.post(f"{sb.url}/rest/api/2/issue", auth=("admin", "admin"), json={"fields": {
        "project": {"key": "DEMO"}, "issuetype": {"name": "Story"}, "summary": "a requirement"}}).json()["key"]
    (tmp_path / "map.yaml").write_text("tests:\n"
                                       f"  - match: '*'\n    requirements: [{story}]\n    labels: [mapped]\n")
    env = sandbox_env(sb, tmp_path)
    for report in (testng_report, robot_report, nunit_pytest_report, xray_json_report):
        done = ok(xray_tasks("import-results", "--report", str(report), "--map", str(tmp_path / "map.yaml"),
                             env=env))
    tests = httpx.get(f"{sb.url}/sandbox/tests").json()
    linked = [t for t in tests if t["requirements"] == [story]]
    labelled = [t for t in tests if "mapped" in t["labels"]]
    # every Test an import touched got the link and the label, whatever the format — except an Xray JSON
    # test without testInfo (pytest-jira-xray writes none): Xray takes links and labels only from testInfo
    touched = {r["test_key"] for e in executions(sb) for r in e["runs"]}
    assert {t["key"] for t in linked} == touched - {"DEMO-4"} == {t["key"] for t in labelled}
    assert "Xray JSON test(s) have no testInfo" in done.stderr
    definitions = {t["definition"] for t in linked}
    assert any(d.startswith("SampleTest.") for d in definitions)  # TestNG
    assert any(d.startswith("Robot.") for d in definitions)  # Robot
    assert len(touched) >= 10


def test_gherkin_reports_get_a_note_not_an_error(sb: Any, tmp_path: Path, behave_report: Path) -> None:
    """Cucumber/Behave: the map does not apply; the import says so and goes through unchanged."""
    (tmp_path / "map.yaml").write_text(MAP)
    done = ok(xray_tasks("import-results", "--report", str(behave_report), "--map", str(tmp_path / "map.yaml"),
                         env=sandbox_env(sb, tmp_path)))
    assert "Behave JSON: the map and evidence do not apply" in done.stderr
    assert len(executions(sb)) == 1


# -- evidence ----------------------------------------------------------------------------------------------------

SHOT = png(seed=7)


def test_evidence_goes_to_failing_tests_by_name_streamed_byte_exact(sb: Any, rerun_report: Path,
                                                                    tmp_path: Path) -> None:
    """Screenshots named after a failing test (in a Playwright-style folder, or by file name) arrive as
    that run's evidence, byte for byte; a passing test's file stays out by default with a note, and
    --evidence-for all attaches it too."""
    shots = tmp_path / "test-results"
    (shots / "test-cart-py-test-checkout-is-broken-chromium").mkdir(parents=True)
    (shots / "test-cart-py-test-checkout-is-broken-chromium" / "test-failed-1.png").write_bytes(SHOT)
    (shots / "test_checkout_is_broken.log").write_bytes("step 1\nstep 2 ½ failed\n".encode())
    (shots / "test_adds_item.png").write_bytes(png(seed=99))
    env = sandbox_env(sb, tmp_path)
    done = ok(xray_tasks("import-results", "--report", str(rerun_report), "--evidence", str(shots), env=env))
    assert "1 evidence file(s) match no test and are not attached: test_adds_item.png" in done.stderr
    runs = runs_by_definition(sb)
    got = evidence_bytes(sb, runs["test_cart.test_checkout_is_broken"])
    assert got == {"test-failed-1.png": SHOT, "test_checkout_is_broken.log": "step 1\nstep 2 ½ failed\n".encode()}
    assert runs["test_cart.test_adds_item"]["evidence"] == []
    ok(xray_tasks("import-results", "--report", str(rerun_report), "--evidence", str(shots / "*.png"),
                  "--evidence-for", "all", env=env))
    latest = executions(sb)[-1]
    attached = {e["filename"] for r in latest["runs"] for e in r["evidence"]}
    assert attached == {"test_adds_item.png"}


def test_evidence_caps_and_missing_files_are_notes_never_failures(sb: Any, rerun_report: Path,
                                                                  tmp_path: Path) -> None:
    """Over XRAY_EVIDENCE_MAX_MB a file is left out with a note; a glob that matches nothing is a note;
    the import still lands."""
    shots = tmp_path / "shots"
    shots.mkdir()
    (shots / "test_checkout_is_broken.bin").write_bytes(os.urandom(300_000))
    done = ok(xray_tasks("import-results", "--report", str(rerun_report), "--evidence", str(shots),
                         "--evidence", str(tmp_path / "videos" / "*.webm"),
                         env=sandbox_env(sb, tmp_path, XRAY_EVIDENCE_MAX_MB="0.1")))
    assert "over the 0.1 MiB per file (XRAY_EVIDENCE_MAX_MB): not attached" in done.stderr
    assert "--evidence " in done.stderr and "videos/*.webm' matches no file" in done.stderr
    assert all(r["evidence"] == [] for e in executions(sb) for r in e["runs"])


def test_evidence_that_would_overflow_the_request_is_left_out(sb: Any, rerun_report: Path, tmp_path: Path) -> None:
    """Evidence is kept, smallest first, only while the request stays under XRAY_MAX_REQUEST_MB; the rest
    gets a note, and the import lands."""
    shots = tmp_path / "shots"
    shots.mkdir()
    small, big = os.urandom(2_000), os.urandom(40_000)
    (shots / "test_checkout_is_broken-small.bin").write_bytes(small)
    (shots / "test_checkout_is_broken-big.bin").write_bytes(big)
    limit = (rerun_report.stat().st_size + 20_000) / 2**20
    done = ok(xray_tasks("import-results", "--report", str(rerun_report), "--evidence", str(shots),
                         env=sandbox_env(sb, tmp_path, XRAY_MAX_REQUEST_MB=f"{limit:.6f}")))
    assert "test_checkout_is_broken-big.bin (0.0 MiB) left out: with it the request" in done.stderr
    run = runs_by_definition(sb)["test_cart.test_checkout_is_broken"]
    assert evidence_bytes(sb, run) == {"test_checkout_is_broken-small.bin": small}


def test_an_unreadable_evidence_file_stops_before_sending(sb: Any, rerun_report: Path, tmp_path: Path) -> None:
    """An evidence file that cannot be read (here /proc/self/mem, which refuses reads) is one clear line,
    exit 11, and nothing is sent."""
    if not Path("/proc/self/mem").exists():
        pytest.skip("needs Linux's /proc")
    done = xray_tasks("import-results", "--report", str(rerun_report), "--evidence", "/proc/self/mem",
                      env=sandbox_env(sb, tmp_path))
    assert done.returncode == 11 and "evidence file /proc/self/mem cannot be read" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and imports(sb) == 0


def test_evidence_into_xray_json_and_a_note_for_testng(sb: Any, tmp_path: Path, xray_json_report: Path,
                                                       testng_report: Path) -> None:
    """Xray JSON gets the file in its test's evidence (streamed base64); TestNG, which Xray reads no
    evidence from, gets a note instead."""
    data = json.loads(xray_json_report.read_text())
    failed = next(t for t in data["tests"] if t["status"] == "FAILED")
    shots = tmp_path / "shots"
    shots.mkdir()
    (shots / f"{failed['testKey']}-screenshot.png").write_bytes(SHOT)
    (shots / "multipliesNumbers.png").write_bytes(SHOT)  # SampleTest's failing TestNG test
    (tmp_path / "map.yaml").write_text(f"tests:\n  - match: '{failed['testKey']}'\n    evidence: ['{shots}/D*.png']\n")
    env = sandbox_env(sb, tmp_path)
    ok(xray_tasks("import-results", "--report", str(xray_json_report), "--map", str(tmp_path / "map.yaml"), env=env))
    run = next(r for e in executions(sb) for r in e["runs"] if r["test_key"] == failed["testKey"])
    assert evidence_bytes(sb, run)[f"{failed['testKey']}-screenshot.png"] == SHOT
    names = [n.split(".")[-1] for n in _testng_failures(testng_report)]
    (shots / f"{names[0]}.png").write_bytes(SHOT)
    done = ok(xray_tasks("import-results", "--report", str(testng_report), "--evidence", str(shots), env=env))
    assert "Xray reads no evidence: not attached" in done.stderr


def _testng_failures(report: Path) -> list[str]:
    from xray_tasks.formats import iter_results

    return [r.definition for r in iter_results(report, "testng") if r.status == "failed"]


# -- reruns ------------------------------------------------------------------------------------------------------


def test_pytest_reruns_become_one_result_per_test_and_flaky_is_marked(sb: Any, rerun_report: Path,
                                                                      tmp_path: Path) -> None:
    """pytest-rerunfailures writes every attempt as a testcase; the import sends one per test (the last),
    marks the flaky one in its run's comment and counts it in --json and the summary file."""
    summary = tmp_path / "summary.json"
    done = ok(xray_tasks("import-results", "--report", str(rerun_report), "--json", "--summary-file", str(summary),
                         env=sandbox_env(sb, tmp_path)))
    data = json.loads(done.stdout)
    assert data["flaky"] == 1 == json.loads(summary.read_text())["flaky"]
    assert data["totals"]["passed"] == 2 and data["totals"]["failed"] == 1
    runs = runs_by_definition(sb)
    assert {d: r["status"] for d, r in runs.items()} == {
        "test_cart.test_adds_item": "PASSED", "test_cart.test_total_is_flaky": "PASSED",
        "test_cart.test_checkout_is_broken": "FAILED"}
    assert runs["test_cart.test_total_is_flaky"]["comment"] == (
        "Flaky: passed on attempt 2 of 2; attempt 1 failed: (its failure is not in the report)")
    assert runs["test_cart.test_checkout_is_broken"]["comment"] is None


def test_surefire_flaky_and_rerun_failures(sb: Any, surefire_report: tuple[Path, str], tmp_path: Path) -> None:
    """Surefire's flakyFailure (failed, then passed) gets the comment with the first failure's message and
    counts as flaky; --reruns worst reports it failed; --reruns all sends the report as it is."""
    report, _ = surefire_report
    env = sandbox_env(sb, tmp_path)
    data = json.loads(ok(xray_tasks("import-results", "--report", str(report), "--json", env=env)).stdout)
    assert data["flaky"] == 1
    runs = runs_by_definition(sb)
    assert runs["calc.CartTest.flaky"]["status"] == "PASSED"
    assert runs["calc.CartTest.flaky"]["comment"].startswith(
        "Flaky: passed on attempt 2 of 2; attempt 1 failed: first attempt fails on purpose (attempt 1)")
    assert runs["calc.CartTest.alwaysFails"]["status"] == "FAILED"
    worst = json.loads(ok(xray_tasks("import-results", "--report", str(report), "--json", "--reruns", "worst",
                                     env=env)).stdout)
    run = next(r for r in httpx.get(f"{sb.url}/sandbox/executions/{worst['key']}").json()["runs"]
               if r["status"] in ("FAILED", "FAIL") and r["comment"])
    assert "reported as failed (--reruns worst)" in run["comment"]
    plain = json.loads(ok(xray_tasks("import-results", "--report", str(report), "--json", "--reruns", "all",
                                     env=env)).stdout)
    assert plain["flaky"] is None
    sent = httpx.get(f"{sb.url}/sandbox/executions/{plain['key']}").json()["runs"]
    assert all(r["comment"] is None for r in sent)


def test_reruns_across_reports_last_written_wins(sb: Any, tmp_path: Path) -> None:
    """The same test in two reports (a job retried into one folder): the later-written report's result is
    sent, the earlier left out, and a failure then a pass is flaky; Playwright's projects (same test,
    different hostname) are not taken for reruns."""
    first, second = tmp_path / "b-first.xml", tmp_path / "a-second.xml"
    first.write_text('<testsuite name="s" hostname="ci"><testcase classname="c.C" name="t">'
                     '<failure message="boom"/></testcase><testcase classname="c.C" name="u"/></testsuite>')
    second.write_text('<testsuite name="s" hostname="ci"><testcase classname="c.C" name="t"/></testsuite>')
    os.utime(first, (time.time() - 60, time.time() - 60))
    data = json.loads(ok(xray_tasks("import-results", "--report", str(tmp_path / "*.xml"), "--json",
                                    env=sandbox_env(sb, tmp_path))).stdout)
    assert data["flaky"] == 1 and data["totals"]["passed"] == 2
    runs = runs_by_definition(sb)
    assert runs["c.C.t"]["status"] == "PASSED" and runs["c.C.t"]["comment"].endswith("attempt 1 failed: boom")
    projects = tmp_path / "pw" / "junit.xml"
    projects.parent.mkdir()
    projects.write_text('<testsuites><testsuite name="cart.spec.js" hostname="chromium"><testcase classname='
                        '"cart.spec.js" name="adds"><failure message="x"/></testcase></testsuite><testsuite '
                        'name="cart.spec.js" hostname="firefox"><testcase classname="cart.spec.js" name="adds"/>'
                        '</testsuite></testsuites>')
    dry = json.loads(ok(xray_tasks("import-results", "--report", str(projects), "--dry-run", "--json",
                                   env=sandbox_env(sb, tmp_path))).stdout)
    rewrites = dry.get("rewrites") or {"left_out_attempts": 0, "flaky": 0}  # none at all: the probe saw no rerun
    assert rewrites["left_out_attempts"] == 0 and rewrites["flaky"] == 0


@pytest.fixture(scope="module")
def playwright_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real Playwright Test run (no browser needed) with retries: 'flaky total' fails once and passes,
    attaching a PNG; writes JUnit XML to results/junit.xml and attachments below test-results/."""
    cli = REPO / ".tools" / "node_modules" / "@playwright" / "test" / "cli.js"
    if shutil.which("node") is None or not cli.is_file():
        pytest.skip("Playwright Test not found: npm install --prefix .tools @playwright/test")
    work = tmp_path_factory.mktemp("playwright")
    (work / "tests").mkdir()
    (work / "playwright.config.js").write_text(
        "module.exports = { testDir: 'tests', retries: 2, outputDir: 'test-results', workers: 1,\n"
        "  reporter: [['junit', { outputFile: 'results/junit.xml' }]] };\n")
    shot = base64.b64encode(SHOT).decode()
    (work / "tests" / "cart.spec.js").write_text(
        "const { test, expect } = require('@playwright/test');\n"
        "const fs = require('fs');\n"
        "test('adds item', async () => { expect(1 + 1).toBe(2); });\n"
        "test('flaky total', async ({}, testInfo) => {\n"
        f"  fs.writeFileSync(testInfo.outputPath('screenshot.png'), Buffer.from('{shot}', 'base64'));\n"
        "  expect(testInfo.retry).toBeGreaterThan(0);\n"
        "});\n"
        "test('checkout is broken', async ({}, testInfo) => {\n"
        f"  fs.writeFileSync(testInfo.outputPath('failure.png'), Buffer.from('{shot}', 'base64'));\n"
        "  expect(1).toBe(2);\n"
        "});\n")
    modules = REPO / ".tools" / "node_modules"
    subprocess.run(["node", str(cli), "test"], cwd=work, env=_env(NODE_PATH=str(modules), CI="1", NO_COLOR="1"),
                   capture_output=True, text=True, timeout=180, check=False)
    if not (work / "results" / "junit.xml").is_file():
        pytest.fail("Playwright wrote no JUnit report")
    return work


@pytest.mark.slow
def test_playwright_retries_and_its_screenshots(sb: Any, playwright_run: Path, tmp_path: Path) -> None:
    """Playwright's JUnit holds one testcase per test (retries are inside Playwright); its per-test
    folders under test-results are matched to the failing test, retries' folders included."""
    done = ok(xray_tasks("import-results", "--report", str(playwright_run / "results" / "junit.xml"), "--evidence",
                         str(playwright_run / "test-results"), env=sandbox_env(sb, tmp_path)))
    runs = runs_by_definition(sb)
    broken = runs["cart.spec.js.checkout is broken"]
    got = evidence_bytes(sb, broken)
    shots = [data for name, data in got.items() if name.endswith(".png")]
    assert shots == [SHOT] * 3, done.stderr  # the first attempt's and both retries' folders
    assert any(b"Following Playwright test failed" in data for data in got.values())  # error-context.md
    assert runs["cart.spec.js.flaky total"]["evidence"] == []  # passing in the report: not attached by default


@pytest.mark.parametrize("how", ["merged", "separate", "parallel split", "server multipart", "cloud multipart"])
def test_every_path_carries_the_changes(tmp_path: Path, rerun_report: Path, how: str) -> None:
    """Map key, evidence and the collapsed reruns arrive whether the reports are merged, sent separately,
    split into parallel requests, or sent as multipart on Server/DC and Cloud."""
    other = tmp_path / "other.xml"
    other.write_text("<testsuites>" + "".join(f"<testsuite name='o{s}'>" + "".join(
        f"<testcase classname='o.O{s}' name='t{i}'><system-out>{'x' * 3000}</system-out></testcase>"
        for i in range(3)) + "</testsuite>" for s in range(10)) + "</testsuites>")
    shots = tmp_path / "shots"
    shots.mkdir()
    (shots / "test_checkout_is_broken.png").write_bytes(SHOT)
    (tmp_path / "map.yaml").write_text("tests:\n  - match: test_cart.test_adds_item\n    key: DEMO-2\n")
    args = ["--report", str(rerun_report), "--report", str(other), "--map", str(tmp_path / "map.yaml"),
            "--evidence", str(shots)]
    extra: dict[str, str] = {}
    if how == "separate":
        args.append("--separate")
    elif how == "parallel split":
        args += ["--parallel", "3"]
        extra["XRAY_MAX_REQUEST_MB"] = "0.05"  # other.xml (90 KB) is cut in two; 3 requests in all
    elif how == "cloud multipart":
        args += ["--multipart"]
    with seeded_sandbox() as sandbox:
        env = sandbox_env(sandbox, tmp_path, **extra)
        if how == "server multipart":
            env = {k: v for k, v in env.items() if k not in ("XRAY_CLIENT_ID", "XRAY_CLIENT_SECRET")}
            env |= {"XRAY_DEPLOYMENT": "server", "XRAY_SERVER_USER": "admin", "XRAY_SERVER_PASSWORD": "admin"}
            args += ["--multipart"]
        ok(xray_tasks("import-results", *args, env=env))
        runs = runs_by_definition(sandbox)
        assert runs["Existing test 2"]["test_key"] == "DEMO-2"
        broken = runs["test_cart.test_checkout_is_broken"]
        assert evidence_bytes(sandbox, broken) == {"test_checkout_is_broken.png": SHOT}
        flaky = runs["test_cart.test_total_is_flaky"]
        assert flaky["comment"].startswith("Flaky: passed on attempt 2 of 2")
        assert len(executions(sandbox)) == (2 if how == "separate" else 1)
        assert imports(sandbox) >= (2 if how in ("separate", "parallel split") else 1)


def test_a_report_in_another_encoding_is_sent_as_it_is(sb: Any, tmp_path: Path) -> None:
    """A JUnit report declared ISO-8859-1 cannot be edited byte for byte: it is sent unchanged, with a note."""
    report = tmp_path / "latin.xml"
    report.write_bytes('<?xml version="1.0" encoding="ISO-8859-1"?>\n<testsuite name="s"><testcase '
                       'classname="c.C" name="caf\xe9"/></testsuite>'.encode("latin-1"))
    (tmp_path / "map.yaml").write_text("tests:\n  - match: '*'\n    labels: [x]\n")
    done = ok(xray_tasks("import-results", "--report", str(report), "--map", str(tmp_path / "map.yaml"),
                         env=sandbox_env(sb, tmp_path)))
    assert "is not UTF-8: sent as it is" in done.stderr
    assert httpx.get(f"{sb.url}/sandbox/tests").json()[-1]["labels"] == []


# -- in-process: the rules and memory --------------------------------------------------------------------------

RERUN_CASES = [
    ("pass after a failure is flaky, last kept", "last", [("failed", "boom"), ("passed", None)], 1, True,
     "Flaky: passed on attempt 2 of 2; attempt 1 failed: boom", None),
    ("worst keeps the failure and says so", "worst", [("failed", "boom"), ("passed", None)], 0, True,
     "Flaky: failed on attempt 1 of 2, passed on attempt 2; reported as failed (--reruns worst)", None),
    ("two failures are not flaky", "last", [("failed", "a"), ("failed", "b")], 1, False, None, None),
    ("a job run twice that passed twice is not flaky", "last", [("passed", None), ("passed", None)], 1, False,
     None, None),
    ("the latest failure with a message is quoted", "last", [("failed", "first"), ("failed", None),
                                                            ("passed", None)], 2, True,
     "Flaky: passed on attempt 3 of 3; attempt 1 failed: first (attempt 2 failed too)", None),
]


@pytest.mark.parametrize(("policy", "seen", "kept", "flaky", "comment", "fail_with"),
                         [c[1:] for c in RERUN_CASES], ids=[c[0] for c in RERUN_CASES])
def test_rerun_verdicts(policy: str, seen: list[tuple[str, str | None]], kept: int, flaky: bool,
                        comment: str | None, fail_with: str | None) -> None:
    """Each policy keeps the appearance it says, marks flakiness only after a real failure, and words it."""
    verdict = reruns.decide([reruns.Attempt(n, status, message) for n, (status, message) in enumerate(seen)], policy)
    assert (verdict.keep, verdict.flaky, verdict.comment, verdict.fail_with) == (kept, flaky, comment, fail_with)
    assert sorted(verdict.drop) == [n for n in range(len(seen)) if n != kept]


def test_surefire_attempts_inside_one_testcase_and_hidden_failures() -> None:
    """Attempts recorded inside a testcase count, and a re-run appearance counts as failed even when the
    report writes it without a failure (pytest-rerunfailures); worst then reports a failure."""
    inside = reruns.decide([reruns.Attempt(1, "passed", earlier=(("failed", "npe"),))], "worst")
    assert (inside.keep, inside.attempts, inside.fail_with) == (1, 2, "npe")
    hidden = reruns.decide([reruns.Attempt(1, "passed", hidden=True), reruns.Attempt(2, "passed")], "worst")
    assert (hidden.keep, hidden.fail_with, hidden.flaky) == (1, reruns.HIDDEN, True)


def test_evidence_matching_rule() -> None:
    """Whole words only, the more specific test wins, equal matches of different tests are ambiguous."""
    files = [EvidenceFile(Path(p), p, 1) for p in (
        "tests-test-cart-py-test-adds-item-chromium/test-failed-1.png", "cart.cy.js/Cart -- adds item (failed).png",
        "test_add.png", "TestA.test_x.png", "test_x.png")]
    index = EvidenceIndex(files)
    assert [i for i, _ in index.match("test_adds_item", "tests.test_cart.test_adds_item")] == [0]
    assert [i for i, _ in index.match("Cart adds item", "cart.cy.js.Cart adds item")] == [1]
    assert [i for i, _ in index.match("test_add", "m.test_add")] == [2]
    a = dict(index.match("test_x", "pkg.TestA.test_x"))
    b = dict(index.match("test_x", "pkg.TestB.test_x"))
    assert a[3] > b.get(3, 0) and a[4] == b[4]


def test_map_lookup_first_key_wins_and_lists_merge(tmp_path: Path) -> None:
    """Every matching entry adds requirements and labels; the first entry with a key gives the key."""
    (tmp_path / "m.yaml").write_text("tests:\n  - match: 'a.*'\n    labels: [one]\n    key: A-1\n"
                                     "  - match: 'a.b'\n    key: A-2\n    requirements: 'A-3, A-4'\n    labels: two\n")
    hit = load_map(tmp_path / "m.yaml").lookup(["a.b"])
    assert hit is not None
    assert (hit.key, hit.other_keys, hit.requirements, hit.labels) == ("A-1", ("A-2",), ("A-3", "A-4"), ("one", "two"))
    with pytest.raises(SettingsError):
        (tmp_path / "bad.yaml").write_text("tests:\n  - key: A-1\n")
        load_map(tmp_path / "bad.yaml")


def test_rewrite_memory_stays_flat_on_a_large_report(tmp_path: Path) -> None:
    """A 24 MB report of 100 000 tests with a map entry for every test, reruns and 4 MB of evidence is
    rewritten with Python's own allocations peaking far below the report's size."""
    report = tmp_path / "big.xml"
    with report.open("w") as fh:
        fh.write("<testsuites>\n")
        for s in range(500):
            fh.write(f'<testsuite name="S{s}">\n')
            for c in range(200):
                fail = '<failure message="boom"/>' if c == 0 else ""
                fh.write(f'<testcase classname="big.S{s}" name="test_{c}">{fail}<system-out>{"y" * 180}'
                         "</system-out></testcase>\n")
            fh.write("</testsuite>\n")
        fh.write('<testsuite name="S0"><testcase classname="big.S0" name="test_0"/></testsuite>\n</testsuites>\n')
    shots = tmp_path / "shots"
    shots.mkdir()
    (shots / "big.S1.test_0.bin").write_bytes(os.urandom(4 << 20))
    (tmp_path / "map.yaml").write_text("tests:\n  - match: 'big.*'\n    labels: [big]\n")
    s = resolve_settings(flags={"project_key": "DEMO", "max_request_mb": 1000}, environ={"XRAY_ENV_FILE": os.devnull})
    options = EnrichOptions(map_file=str(tmp_path / "map.yaml"), evidence=(str(shots),))
    tracemalloc.start()
    try:
        rewrites = prepare(s, [(report, "junit", True)], options=options)
        assert rewrites is not None
        with ScratchFolder(tmp_path) as scratch:
            body = rewrites.body(report, scratch)
            size = body.stat().st_size
            assert size == rewrites.size(report)
            with body.open("rb") as fh:
                fh.seek(-2000, os.SEEK_END)
                tail = fh.read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rewrites.close()
    assert rewrites.summary.mapped == 100_000 and rewrites.summary.flaky == 1 and rewrites.summary.evidence == 1
    assert size > report.stat().st_size + (4 << 20)
    assert b'name="tags" value="big"' in tail
    assert peak < 16 << 20, f"peak {peak / 2**20:.1f} MiB"


def test_cucumber_js_report_is_left_alone(sb: Any, tmp_path: Path, cucumber_report: Path) -> None:
    """cucumber-js JSON with evidence asked for: a note, and the report sent unchanged."""
    shots = tmp_path / "shots"
    shots.mkdir()
    (shots / "x.png").write_bytes(SHOT)
    done = ok(xray_tasks("import-results", "--report", str(cucumber_report), "--evidence", str(shots),
                         env=sandbox_env(sb, tmp_path)))
    assert "Cucumber JSON: the map and evidence do not apply" in done.stderr
