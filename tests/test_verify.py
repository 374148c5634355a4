"""Proving an import landed: ``--verify`` after import-results and ci, and the ``verify`` task, against the
sandbox over loopback in both dialects, with reports from real runners; runs the sandbox drops are
found and named, a Test repeated in one report is expected with its worst result, and the read-back waits
a bounded time for Xray to catch up."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli_helpers import (
    REPORT_FIXTURES,
    assert_one_clean_line,
    pytest_suite,
    sandbox_env,
    seeded_sandbox,
    xray_tasks,
)
from tests.runners import EXPECTED
from tests.test_sandbox_readback import run_pytest
from xray_tasks import formats
from xray_tasks.answers import Answer, graphql_data
from xray_tasks.errors import XrayRejectedError
from xray_tasks.readback import ExecutionRef, Recorded, RecordedRun
from xray_tasks.sandbox import Sandbox
from xray_tasks.verify import SentTest, compare, settle

DIALECTS = ["cloud", "server"]


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    """A fresh sandbox whose DEMO project holds the Tests DEMO-2…4 the real reports name."""
    with seeded_sandbox(3) as sandbox:
        yield sandbox


def env_for(sb: Sandbox, tmp: Path, dialect: str, **extra: str) -> dict[str, str]:
    """Settings for one dialect; the read-back does not wait (a difference is final at once)."""
    env = sandbox_env(sb, tmp, XRAY_VERIFY_WAIT="0", **extra)
    if dialect == "server":
        env |= {"XRAY_DEPLOYMENT": "server", "XRAY_SERVER_USER": sb.config.server_user,
                "XRAY_SERVER_PASSWORD": sb.config.server_password}
    return env


def one_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def reads(sb: Sandbox) -> list[str]:
    """The read-back requests the sandbox saw: GraphQL, and Server/DC's run lists."""
    return [r["path"] for r in sb.store.requests()
            if r["path"].endswith("/graphql") or ("/test" in r["path"] and r["method"] == "GET")]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_import_verify_reads_back_and_shows_recorded_beside_sent(dialect: str, sb: Sandbox, tmp_path: Path,
                                                                  pytest_junit_report: Path) -> None:
    """import-results --verify (here through XRAY_VERIFY=1) reads the new execution back: the table shows the
    report's totals, what Xray should record (skipped as TODO) and what it recorded, and --json carries them."""
    env = env_for(sb, tmp_path, dialect, XRAY_VERIFY="1")
    proc = xray_tasks("import-results", "--report", str(pytest_junit_report), env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    key = lines[0].split(" into ")[1].split(":")[0]
    assert lines[1] == f"Verified {key}: 5 runs recorded for the 5 Tests sent"
    table = {line.split()[0]: line.split()[1:] for line in lines[3:9]}
    assert table == {"passed": ["3", "3", "3"], "failed": ["1", "1", "1"], "skipped": ["1", "0", "0"],
                     "todo": ["0", "1", "1"], "aborted": ["0", "0", "0"], "total": ["5", "5", "5"]}
    assert reads(sb)

    data = one_json(xray_tasks("import-results", "--report", str(pytest_junit_report), "--json", env=env))
    checked = data["verification"]["executions"][0]
    assert data["verification"]["ok"] and checked["key"] == data["key"]
    assert checked["recorded"] == {"passed": 3, "failed": 1, "skipped": 0, "todo": 1, "aborted": 0}
    assert checked["reports"] == data["totals"]
    assert (checked["missing"], checked["differ"], checked["extra"], checked["guessed"]) == ([], [], [], False)
    stored = sb.store.execution(data["key"])
    assert stored is not None and stored["total"] == checked["runs"] == 5


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_dropped_run_fails_with_exit_19_naming_the_missing_test(dialect: str, sb: Sandbox, tmp_path: Path,
                                                                   pytest_junit_report: Path) -> None:
    """The sandbox answers 200 but leaves one run out (drop_runs): --verify exits 19 with one line naming the
    missing Test, the summary file holds the key and the difference, and `verify` finds the same later."""
    sb.faults.update({"drop_runs": 1})
    summary = tmp_path / "out" / "xray.json"
    env = env_for(sb, tmp_path, dialect)
    proc = xray_tasks("import-results", "--report", str(pytest_junit_report), "--verify", "--summary-file",
                      str(summary), env=env)
    line = assert_one_clean_line(proc, sb.config.client_secret, sb.config.server_password)
    assert proc.returncode == 19
    first = next(iter(formats.iter_results(pytest_junit_report, "junit")))
    dropped = f"{first.key} ({first.name})" if first.key else first.definition
    assert "1 run(s) missing" in line and dropped in line
    assert f"missing: {dropped} (sent passed)" in proc.stdout
    data = json.loads(summary.read_text())
    key = data["key"]
    assert proc.stdout.startswith(f"Imported {pytest_junit_report.name} (JUnit XML) into {key}")
    assert (data["exit_code"], data["verification"]["ok"]) == (19, False)
    assert [t["name"] for t in data["verification"]["executions"][0]["missing"]] == [first.name]
    assert data["verification"]["executions"][0]["recorded"]["passed"] == 2

    again = xray_tasks("verify", "--test-exec", key, "--report", str(pytest_junit_report), env=env)
    assert again.returncode == 19 and dropped in assert_one_clean_line(again)
    counts = one_json(xray_tasks("verify", "--test-exec", key, "--json", env=env))
    assert counts["runs"] == 4 and counts["recorded"]["passed"] == 2


def test_a_test_repeated_in_one_report_is_expected_with_its_worst_result(sb: Sandbox, tmp_path: Path) -> None:
    """pytest --keep-duplicates runs a flaky test twice (FAIL, then PASS) into one JUnit file. Sent as it is
    (--reruns all), verify expects one FAILED run for it (worst wins, §17.2) and passes; the same file
    checked against a later passing rerun's report is a difference naming the Test and both statuses. With
    the default --reruns last only the passing attempt is sent, and verify expects that."""
    twice, rerun = tmp_path / "twice.xml", tmp_path / "rerun.xml"
    run_pytest(tmp_path, twice, "--keep-duplicates", "flaky_suite.py", "flaky_suite.py", marker=tmp_path / "m")
    run_pytest(tmp_path, rerun, "flaky_suite.py", marker=tmp_path / "m")
    env = env_for(sb, tmp_path, "cloud")
    last = one_json(xray_tasks("import-results", "--report", str(twice), "--verify", "--json", env=env))
    collapsed = last["verification"]["executions"][0]
    assert collapsed["ok"] and collapsed["recorded"]["failed"] == 0 and collapsed["recorded"]["passed"] == 2
    data = one_json(xray_tasks("import-results", "--report", str(twice), "--reruns", "all", "--verify", "--json",
                               env=env))
    checked = data["verification"]["executions"][0]
    assert checked["reports"]["failed"] == 1 and checked["reports"]["passed"] == 3  # each test ran twice
    assert (checked["tests"], checked["expected"]["failed"], checked["expected"]["passed"]) == (2, 1, 1)
    assert checked["ok"] and checked["recorded"]["failed"] == 1

    proc = xray_tasks("verify", "--test-exec", data["key"], "--report", str(rerun), env=env)
    line = assert_one_clean_line(proc)
    assert proc.returncode == 19 and "1 with another status" in line
    assert "other status: flaky_suite.test_flaky: sent passed, recorded FAILED" in proc.stdout


@pytest.mark.parametrize("fmt", [f for f in REPORT_FIXTURES if f not in ("junit",)])
def test_every_format_verifies_on_cloud(fmt: str, request: pytest.FixtureRequest, sb: Sandbox,
                                        tmp_path: Path) -> None:
    """A real runner's report of every other format imports and verifies: Tests matched by key (Xray JSON,
    Cucumber and Behave tags, Robot tags) or by definition, statuses as Xray records them."""
    report: Path = request.getfixturevalue(REPORT_FIXTURES[fmt])
    data = one_json(xray_tasks("import-results", "--report", str(report), "--verify", "--json",
                               env=env_for(sb, tmp_path, "cloud")))
    checked = data["verification"]["executions"][0]
    assert data["verification"]["ok"], checked
    assert checked["runs"] == checked["tests"] == sb.store.execution(data["key"])["total"]  # type: ignore[index]
    assert sum(checked["reports"].values()) == sum(EXPECTED[REPORT_FIXTURES[fmt]][1].values())


def test_ci_verifies_by_default_and_no_verify_turns_it_off(sb: Sandbox, tmp_path: Path) -> None:
    """ci reads the import back without being asked (a dropped run ends it with 19, not the tests' 0);
    --no-verify imports without reading back."""
    command = pytest_suite(tmp_path, "def test_one():\n    pass\n\ndef test_two():\n    pass\n", "junit.xml")
    env = env_for(sb, tmp_path, "cloud")
    sb.faults.update({"drop_runs": 1})
    proc = xray_tasks("ci", "--command", command, "--report", "junit.xml", env=env, cwd=tmp_path)
    assert proc.returncode == 19 and "test_it.test_one" in assert_one_clean_line(proc)
    before = len(reads(sb))
    sb.faults.update({"drop_runs": 1})
    quiet = xray_tasks("ci", "--command", command, "--report", "junit.xml", "--no-verify", env=env, cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "Verified" not in quiet.stdout and len(reads(sb)) == before


def test_xray_on_error_warn_turns_missing_runs_into_a_warning(sb: Sandbox, tmp_path: Path) -> None:
    """With XRAY_ON_ERROR=warn, runs missing on read-back are warned about and ci exits with the tests' own
    code (here 1: one test fails), the summary file still saying what is missing."""
    command = pytest_suite(tmp_path, "def test_ok():\n    pass\n\ndef test_bad():\n    assert False\n", "junit.xml")
    sb.faults.update({"drop_runs": 1})
    proc = xray_tasks("ci", "--command", command, "--report", "junit.xml", "--summary-file", "xray.json",
                      env=env_for(sb, tmp_path, "cloud", XRAY_ON_ERROR="warn"), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "xray-tasks: warning: import failed (XRAY_ON_ERROR=warn" in proc.stderr
    assert "1 run(s) missing" in proc.stderr
    data = json.loads((tmp_path / "xray.json").read_text())
    missing = data["verification"]["executions"][0]["missing"]
    assert data["exit_code"] == 1 and [t["name"] for t in missing] == ["test_ok"]


def test_every_exit_code_is_in_the_readme() -> None:
    """Each error class's exit code — 19 for verification and 20 for shard records among them — has a row in
    the README's exit-code table."""
    from tests.cli_helpers import REPO
    from xray_tasks import errors

    table = REPO.joinpath("README.md").read_text().split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(row.split("|")[1]) for row in table.splitlines() if row.split("|")[1:2] != []
                  and row.split("|")[1].strip().isdigit()}
    codes = {cls.exit_code for cls in vars(errors).values()
             if isinstance(cls, type) and issubclass(cls, errors.XrayTasksError)}
    assert codes - {10} <= documented and {19, 20} <= codes


def test_verify_without_reports_prints_the_recorded_counts(sb: Sandbox, tmp_path: Path,
                                                           pytest_junit_report: Path) -> None:
    """verify --test-exec KEY alone lists the execution's runs per Xray status; --json too."""
    env = env_for(sb, tmp_path, "cloud")
    key = one_json(xray_tasks("import-results", "--report", str(pytest_junit_report), "--json", env=env))["key"]
    proc = xray_tasks("verify", "--test-exec", key, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"{key}: 5 runs", "  PASSED             3", "  FAILED             1",
                                        "  TODO               1"]
    data = one_json(xray_tasks("verify", "--test-exec", key, "--json", env=env))
    assert data["statuses"] == {"FAILED": 1, "PASSED": 3, "TODO": 1}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("key, said", [("DEMO-99", "DEMO-99"), ("DEMO-1", "DEMO-1")], ids=["unknown", "a-test-plan"])
def test_a_key_that_is_no_test_execution_is_one_clean_line(dialect: str, key: str, said: str, sb: Sandbox,
                                                          tmp_path: Path) -> None:
    """verify --test-exec with an unknown key, or the key of a Test Plan, ends with exit 16 and one line
    naming the key and the flag to fix."""
    proc = xray_tasks("verify", "--test-exec", key, env=env_for(sb, tmp_path, dialect))
    line = assert_one_clean_line(proc, sb.config.client_secret)
    assert proc.returncode == 16 and said in line and "--test-exec" in line


def test_verify_needs_a_key(sb: Sandbox, tmp_path: Path) -> None:
    """verify without --test-exec or XRAY_TEST_EXEC_KEY is a settings error (exit 11)."""
    proc = xray_tasks("verify", env=env_for(sb, tmp_path, "cloud"))
    assert proc.returncode == 11 and "--test-exec" in assert_one_clean_line(proc)


# -- narrow unit tests -------------------------------------------------------------------------------


def test_graphql_errors_with_http_200_become_xray_rejected() -> None:
    """A GraphQL answer with errors[] (HTTP 200) is Xray's refusal with its messages; an answer that is not
    GraphQL names the base URL."""
    def answer(body: object) -> Answer:
        return Answer(200, {"content-type": "application/json"}, json.dumps(body).encode(), url="https://x/graphql")

    with pytest.raises(XrayRejectedError, match="limit must be between 1 and 100; and this") as caught:
        graphql_data(answer({"errors": [{"message": "limit must be between 1 and 100"}, {"message": "and this"}],
                             "data": None}), "read")
    assert caught.value.exit_code == 16
    with pytest.raises(XrayRejectedError, match="not a GraphQL answer"):
        graphql_data(answer(["not", "graphql"]), "read")
    assert graphql_data(answer({"data": {"getTestRuns": {"total": 0}}}), "read") == {"getTestRuns": {"total": 0}}


def test_graphql_errors_reach_the_client_as_one_error() -> None:
    """XrayClient.graphql over an httpx transport answering errors[] raises XrayRejectedError, not a
    KeyError or an empty result."""
    from xray_tasks.client import XrayClient
    from xray_tasks.settings import resolve_settings

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/authenticate"):
            return httpx.Response(200, json="a" * 40)
        return httpx.Response(200, json={"errors": [{"message": "User doesn't have permissions"}], "data": None})

    s = resolve_settings(environ={"XRAY_CLIENT_ID": "id", "XRAY_CLIENT_SECRET": "secret", "XRAY_TOKEN_CACHE": "off"})
    with XrayClient(s, httpx.Client(transport=httpx.MockTransport(handler))) as client, \
            pytest.raises(XrayRejectedError, match="User doesn't have permissions") as caught:
        client.graphql("{ getStatuses { name } }", action="read statuses")
    assert caught.value.hint is not None and "permission" in caught.value.hint


def test_settle_reads_again_until_the_runs_show_up_within_the_wait() -> None:
    """A run Xray has not indexed yet at the first read is found at the third; a run that never shows up
    is a difference once the bounded wait is over, after a handful of reads, not a loop."""
    sent = [SentTest(None, f"calc.{n}", n, ("passed",)) for n in ("a", "b")]
    ref = ExecutionRef("DEMO-5", "10005")
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    def judge(recorded: Recorded) -> Any:
        return compare("DEMO-5", sent, recorded.runs, {"passed": 2}, extras_fail=True)

    visible = iter([1, 1, 2])
    late = settle(lambda: Recorded(ref, tuple(RecordedRun(f"DEMO-{i}", "PASSED", None, f"calc.{n}") for i, n in
                                              enumerate(("a", "b")[:next(visible)], 2)), 1),
                  judge, wait=10, sleep=sleep, clock=lambda: clock[0])
    assert late.ok and (late.reads, slept) == (3, [0.5, 1.0])

    clock[0], slept[:] = 0.0, []
    never = settle(lambda: Recorded(ref, (RecordedRun("DEMO-2", "PASSED", None, "calc.a"),), 1), judge, wait=10,
                   sleep=sleep, clock=lambda: clock[0])
    assert not never.ok and [t.name for t in never.missing] == ["b"]
    assert never.reads == 6 and sum(slept) == pytest.approx(10) and never.waited == pytest.approx(10)


def test_tests_sharing_a_name_are_told_apart_by_status_and_say_so() -> None:
    """Two JUnit tests named alike in two classes, against runs known only by summary: each run goes to the
    Test whose status it has, and the result says the pairing was a guess."""
    sent = [SentTest(None, "calc.A.adds", "adds", ("failed",)), SentTest(None, "calc.B.adds", "adds", ("passed",))]
    runs = [RecordedRun("DEMO-2", "PASS", "adds"), RecordedRun("DEMO-3", "FAIL", "adds")]
    verdict = compare("DEMO-5", sent, runs, {}, extras_fail=True)
    assert verdict.ok and verdict.guessed
    lost = compare("DEMO-5", sent, runs[:1], {}, extras_fail=True)
    assert [t.definition for t in lost.missing] == ["calc.A.adds"]
    assert "candidates" in "\n".join(lost.problem_lines())


def test_verify_with_several_reports_accepts_each_import_or_the_merged_one(sb: Sandbox, tmp_path: Path) -> None:
    """``verify --report A --report B`` cannot know whether A and B went in one import or one each: for a
    Test in both it accepts either report's result or the merged worst. Each report counts once."""
    twice, rerun = tmp_path / "twice.xml", tmp_path / "rerun.xml"
    run_pytest(tmp_path, twice, "--keep-duplicates", "flaky_suite.py", "flaky_suite.py", marker=tmp_path / "m")
    run_pytest(tmp_path, rerun, "flaky_suite.py", marker=tmp_path / "m")
    env = env_for(sb, tmp_path, "cloud")
    key = one_json(xray_tasks("import-results", "--report", str(twice), "--reruns", "all", "--json", env=env))["key"]
    both = ("--report", str(twice), "--report", str(rerun))
    merged = one_json(xray_tasks("verify", "--test-exec", key, *both, "--json", env=env))["verification"]
    checked = merged["executions"][0]
    assert merged["ok"] and checked["recorded"]["failed"] == 1  # as if merged: the flaky test's worst, FAILED
    assert checked["reports"] == {"passed": 5, "failed": 1, "skipped": 0, "todo": 0, "aborted": 0}  # once each
    assert checked["expected"]["failed"] == 1  # the merged result is the likeliest

    again = xray_tasks("import-results", "--report", str(rerun), "--test-exec", key, "--quiet", env=env)
    assert again.returncode == 0, again.stderr
    each = one_json(xray_tasks("verify", "--test-exec", key, *both, "--json", env=env))["verification"]
    assert each["ok"] and each["executions"][0]["recorded"]["failed"] == 0  # the rerun's import, last: PASSED
    alone = xray_tasks("verify", "--test-exec", key, "--report", str(twice), env=env)
    assert alone.returncode == 19  # the first report alone expects the FAILED run that is no longer there
