"""End to end: the real ``xray-tasks`` command, settings only through XRAY_* variables, against the
sandbox over loopback, with reports made by real test runners."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import (
    REPO,
    REPORT_FIXTURES,
    SECRET,
    assert_one_clean_line,
    pytest_suite,
    sandbox_env,
    seeded_sandbox,
    xray_tasks,
)
from tests.runners import EXPECTED
from xray_tasks import formats
from xray_tasks.sandbox import Sandbox


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with seeded_sandbox(3) as sandbox:
        yield sandbox


def auth_requests(sb: Sandbox) -> int:
    return sum(1 for r in sb.store.requests() if r["path"].endswith("/authenticate"))


def import_requests(sb: Sandbox) -> list[dict[str, object]]:
    return [r for r in sb.store.requests() if "/import/" in str(r["path"])]


def imported_key(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("Imported "), proc.stdout
    return line.split(" into ")[1].split(":")[0]




@pytest.mark.parametrize("fmt", list(REPORT_FIXTURES))
def test_every_format_is_detected_imported_and_recorded(fmt: str, request: pytest.FixtureRequest, sb: Sandbox,
                                                        tmp_path: Path) -> None:
    """A real runner's report imports with its format auto-detected, and the sandbox holds its runs."""
    report: Path = request.getfixturevalue(REPORT_FIXTURES[fmt])
    proc = xray_tasks("import-results", "--report", str(report), env=sandbox_env(sb, tmp_path))
    key = imported_key(proc)
    assert f"detected {proc.stderr.split('detected ')[1].split(' in ')[0]}" in proc.stderr
    execution = sb.store.execution(key)
    assert execution is not None
    assert execution["format"] == fmt
    results = list(formats.iter_results(report, fmt))
    assert len(results) == sum(EXPECTED[REPORT_FIXTURES[fmt]][1].values())
    # one run per Test: results of one Test (scenario outline rows tagged with one key) share a run
    assert execution["total"] == len({r.key or r.definition for r in results})
    assert sum(execution["counts"].values()) == execution["total"]


@pytest.mark.parametrize("fmt", list(REPORT_FIXTURES))
def test_every_format_imports_through_multipart_with_the_default_templates(
        fmt: str, request: pytest.FixtureRequest, sb: Sandbox, tmp_path: Path) -> None:
    """--multipart renders info/testInfo and creates a Test Execution carrying the template's fields."""
    report: Path = request.getfixturevalue(REPORT_FIXTURES[fmt])
    proc = xray_tasks("import-results", "--report", str(report), "--multipart",
                      "--var", f"summary=Multipart {fmt} \"run\" ✓", env=sandbox_env(sb, tmp_path))
    key = imported_key(proc)
    execution = sb.store.execution(key)
    assert execution is not None
    assert execution["summary"] == f'Multipart {fmt} "run" ✓'
    assert execution["multipart"] is True
    assert "xray-tasks" in execution["labels"]


def test_multipart_testng_carries_test_plan_and_var_into_info(testng_report: Path, sb: Sandbox,
                                                              tmp_path: Path) -> None:
    """--test-plan lands in xrayFields.testPlanKey and --var in the summary of the rendered info."""
    env = sandbox_env(sb, tmp_path, XRAY_TEST_ENVIRONMENTS="chrome;linux")
    proc = xray_tasks("import-results", "--report", str(testng_report), "--multipart", "--test-plan", "DEMO-1",
                      "--var", "summary=Nightly TestNG #42", env=env)
    key = imported_key(proc)
    execution = sb.store.execution(key)
    assert execution is not None
    assert execution["info"]["xrayFields"] == {"testPlanKey": "DEMO-1", "environments": ["chrome", "linux"]}
    assert execution["info"]["fields"]["summary"] == "Nightly TestNG #42"
    assert execution["test_plan"] == "DEMO-1"
    assert execution["format"] == "testng"


def test_standard_import_passes_options_as_query(pytest_junit_report: Path, sb: Sandbox, tmp_path: Path) -> None:
    """Test plan, environments, revision and fix version reach the Test Execution via the query."""
    env = sandbox_env(sb, tmp_path, XRAY_TEST_PLAN_KEY="DEMO-1", XRAY_TEST_ENVIRONMENTS="linux",
                      XRAY_REVISION="abc123", XRAY_FIX_VERSION="1.0")
    key = imported_key(xray_tasks("import-results", "--report", str(pytest_junit_report), env=env))
    execution = sb.store.execution(key)
    assert execution is not None
    assert (execution["test_plan"], execution["environments"], execution["revision"], execution["fix_version"]) == \
        ("DEMO-1", ["linux"], "abc123", "1.0")


def test_test_env_on_an_existing_execution_warns_that_xray_replaces_them(pytest_junit_report: Path, sb: Sandbox,
                                                                        tmp_path: Path) -> None:
    """--test-exec with --test-env: a note says the execution's environments are replaced, and they are."""
    env = sandbox_env(sb, tmp_path, XRAY_TEST_ENVIRONMENTS="linux")
    key = imported_key(xray_tasks("import-results", "--report", str(pytest_junit_report), env=env))
    proc = xray_tasks("import-results", "--report", str(pytest_junit_report), "--test-exec", key,
                      "--test-env", "chrome", env=env)
    assert imported_key(proc) == key
    assert f"note: Xray replaces the Test Environments of {key} with the ones sent (chrome)" in proc.stderr
    execution = sb.store.execution(key)
    assert execution is not None and execution["environments"] == ["chrome"]


def test_xray_var_in_the_environment_alone_reaches_the_test_execution(pytest_junit_report: Path, sb: Sandbox,
                                                                      tmp_path: Path) -> None:
    """XRAY_VAR_SUMMARY without --multipart: multipart is chosen (with a note) and the summary lands."""
    env = sandbox_env(sb, tmp_path, XRAY_VAR_SUMMARY="Nightly from the environment")
    proc = xray_tasks("import-results", "--report", str(pytest_junit_report), env=env)
    key = imported_key(proc)
    assert "note: using the multipart endpoint: only it uses template variables (summary)" in proc.stderr
    execution = sb.store.execution(key)
    assert execution is not None and execution["summary"] == "Nightly from the environment"


def test_separate_processes_authenticate_once_in_total(pytest_junit_report: Path, sb: Sandbox,
                                                       tmp_path: Path) -> None:
    """authenticate, then two imports, each its own process: one authentication request in all."""
    env = sandbox_env(sb, tmp_path)
    before = auth_requests(sb)
    first = xray_tasks("authenticate", env=env)
    assert first.returncode == 0, first.stderr
    assert "authenticated" in first.stderr and "new token" in first.stderr
    for _ in range(2):
        imported_key(xray_tasks("import-results", "--report", str(pytest_junit_report), env=env))
    again = xray_tasks("authenticate", env=env)
    assert "cached token" in again.stderr
    assert auth_requests(sb) - before == 1
    assert oct(os.stat(tmp_path / "tokens.json").st_mode & 0o777) == "0o600"
    wrong = xray_tasks("import-results", "--report", str(pytest_junit_report),
                       env=env | {"XRAY_CLIENT_SECRET": "mistyped-secret"})
    assert wrong.returncode == 15, wrong.stderr  # a cached token does not vouch for another secret
    assert auth_requests(sb) - before == 2
    for proc in (first, again):
        assert SECRET not in proc.stdout + proc.stderr


def test_api_version_1_authenticates_and_imports_under_api_v1(pytest_junit_report: Path, sb: Sandbox,
                                                              tmp_path: Path) -> None:
    """XRAY_API_VERSION=1: /api/v1/authenticate and /api/v1/import/...; a v2 token is not reused for v1."""
    env = sandbox_env(sb, tmp_path)
    imported_key(xray_tasks("import-results", "--report", str(pytest_junit_report), env=env))  # caches a v2 token
    start = len(sb.store.requests())
    key = imported_key(xray_tasks("import-results", "--report", str(pytest_junit_report),
                                  env=env | {"XRAY_API_VERSION": "1"}))
    paths = [r["path"] for r in sb.store.requests()[start:]]
    assert paths == ["/api/v1/authenticate", "/api/v1/import/execution/junit"]
    assert sb.store.execution(key) is not None


def test_print_token_prints_the_bare_token_only(sb: Sandbox, tmp_path: Path) -> None:
    """--print-token writes the token alone on stdout, for scripts; the token works against Xray."""
    proc = xray_tasks("authenticate", "--print-token", env=sandbox_env(sb, tmp_path))
    token = proc.stdout.strip()
    assert proc.returncode == 0
    assert token.count(".") == 2 and "\n" not in token
    assert token not in proc.stderr


def test_dry_run_sends_nothing_shows_summary_and_no_secret(pytest_junit_report: Path, sb: Sandbox,
                                                           tmp_path: Path) -> None:
    """--dry-run prints the request and the rendered summary, sends no import and leaks no secret."""
    before = len(sb.store.requests())
    proc = xray_tasks("import-results", "--report", str(pytest_junit_report), "--multipart", "--dry-run",
                      "--var", "summary=Dry run check", env=sandbox_env(sb, tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert '"summary": "Dry run check"' in proc.stdout
    assert "/api/v2/import/execution/junit/multipart" in proc.stdout
    assert "Authorization: Bearer <redacted>" in proc.stdout
    assert "nothing was sent" in proc.stdout
    assert len(sb.store.requests()) == before
    assert SECRET not in proc.stdout + proc.stderr


def test_wrong_credentials_exit_15_with_one_clear_line(pytest_junit_report: Path, sb: Sandbox,
                                                        tmp_path: Path) -> None:
    """A wrong secret ends with Xray's message, exit code 15, no traceback and no secret."""
    wrong = "wrong-secret-value-xyz"
    env = sandbox_env(sb, tmp_path, XRAY_CLIENT_SECRET=wrong)
    proc = xray_tasks("import-results", "--report", str(pytest_junit_report), env=env)
    line = assert_one_clean_line(proc, wrong)
    assert proc.returncode == 15
    assert "Invalid client credentials" in line
    assert "XRAY_CLIENT_ID" in line


def test_json_output_is_one_object_with_key_url_and_totals(pytest_junit_report: Path, sb: Sandbox,
                                                           tmp_path: Path) -> None:
    """--json prints exactly one JSON object with key, id, url, format, endpoint, file, duration."""
    proc = xray_tasks("import-results", "--report", str(pytest_junit_report), "--json",
                      env=sandbox_env(sb, tmp_path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) >= {"key", "id", "url", "format", "endpoint", "file", "duration", "totals"}
    assert data["format"] == "junit"
    assert data["url"].endswith(f"/browse/{data['key']}")
    execution = sb.store.execution(data["key"])
    assert execution is not None
    assert data["totals"]["failed"] == execution["counts"].get("FAILED", 0)


def test_ci_imports_failing_tests_and_keeps_their_exit_code(sb: Sandbox, tmp_path: Path) -> None:
    """ci runs a failing suite, imports its results, and exits with pytest's code 1."""
    junit = tmp_path / "out" / "junit.xml"
    command = pytest_suite(tmp_path, "def test_ok():\n    pass\n\ndef test_bad():\n    assert 1 == 2\n", junit)
    proc = xray_tasks("ci", "--command", command, "--report", str(junit), env=sandbox_env(sb, tmp_path),
                      cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "tests failed (exit 1); their results were imported into DEMO-" in proc.stderr
    key = proc.stderr.split("imported into ")[1].split()[0]
    execution = sb.store.execution(key)
    assert execution is not None
    assert execution["counts"] == {"PASSED": 1, "FAILED": 1}


def test_run_tests_and_import_in_separate_processes_chain(sb: Sandbox, tmp_path: Path) -> None:
    """run-tests records the run; a later import-results process renders its exit code into the info."""
    junit = tmp_path / "junit.xml"
    env = sandbox_env(sb, tmp_path, XRAY_REPORT=str(junit),
                      XRAY_TEST_COMMAND=pytest_suite(tmp_path, "def test_bad():\n    assert False\n", junit))
    run = xray_tasks("run-tests", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "tests failed (exit 1)" in run.stderr
    record = json.loads((tmp_path / ".xray-run.json").read_text())
    assert record["exit_code"] == 1
    key = imported_key(xray_tasks("import-results", "--multipart", env=env, cwd=tmp_path))
    execution = sb.store.execution(key)
    assert execution is not None
    assert "(exit 1)" in execution["description"]


@pytest.mark.parametrize("chained", [True, False], ids=["one-call", "separate-processes"])
def test_import_results_takes_the_reports_run_tests_recorded(chained: bool, sb: Sandbox, tmp_path: Path) -> None:
    """`run-tests --report X` names the reports once: import-results (same call or a later process) uses them."""
    command = pytest_suite(tmp_path, "def test_ok():\n    pass\n\ndef test_bad():\n    assert False\n",
                           "reports/junit.xml")
    env = sandbox_env(sb, tmp_path)
    run_tests = ["run-tests", "--command", command, "--report", "reports/junit.xml"]
    if chained:
        proc = xray_tasks(*run_tests, "authenticate", "import-results", env=env, cwd=tmp_path)
    else:
        assert xray_tasks(*run_tests, env=env, cwd=tmp_path).returncode == 0
        proc = xray_tasks("import-results", env=env, cwd=tmp_path)
    assert proc.returncode == (1 if chained else 0), proc.stderr  # one call ends with the tests' code
    assert "using the report(s) run-tests recorded" in proc.stderr
    key = proc.stdout.strip().splitlines()[-1].split(" into ")[1].split(":")[0]
    execution = sb.store.execution(key)
    assert execution is not None and execution["total"] == 2


def test_invoke_yaml_in_the_working_directory_counts_for_the_console_command(pytest_junit_report: Path,
                                                                            sb: Sandbox, tmp_path: Path) -> None:
    """./invoke.yaml's xray: section is read by `xray-tasks` as by `invoke`; an XRAY_* variable still wins."""
    (tmp_path / "invoke.yaml").write_text("xray:\n  project_key: YAML\n  test_plan_key: YAML-1\n")
    env = sandbox_env(sb, tmp_path)
    env.pop("XRAY_PROJECT_KEY")
    proc = xray_tasks("import-results", "--report", str(pytest_junit_report), "--dry-run", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "projectKey=YAML&testPlanKey=YAML-1" in proc.stdout
    proc = xray_tasks("import-results", "--report", str(pytest_junit_report), "--dry-run",
                      env=env | {"XRAY_PROJECT_KEY": "ENV"}, cwd=tmp_path)
    assert "projectKey=ENV&testPlanKey=YAML-1" in proc.stdout


def test_run_tests_says_when_the_command_was_not_found(sb: Sandbox, tmp_path: Path) -> None:
    proc = xray_tasks("run-tests", "--command", "no-such-test-runner-here", env=sandbox_env(sb, tmp_path),
                      cwd=tmp_path)
    assert proc.returncode == 0  # run-tests never ends a chain ...
    assert "tests did not run (exit 127" in proc.stderr and "XRAY_TEST_COMMAND" in proc.stderr  # ... but says why


def test_a_report_older_than_the_recorded_run_is_refused(pytest_junit_report: Path, sb: Sandbox,
                                                         tmp_path: Path) -> None:
    """Yesterday's report after today's failed build is refused (exit 13) unless --allow-stale."""
    old = tmp_path / "old.xml"
    shutil.copy(pytest_junit_report, old)
    os.utime(old, (1_000_000_000, 1_000_000_000))
    env = sandbox_env(sb, tmp_path, XRAY_REPORT=str(old), XRAY_TEST_COMMAND="true")
    assert xray_tasks("run-tests", env=env, cwd=tmp_path).returncode == 0
    before = len(import_requests(sb))
    proc = xray_tasks("import-results", env=env, cwd=tmp_path)
    line = assert_one_clean_line(proc)
    assert proc.returncode == 13
    assert "older than the test run" in line
    assert len(import_requests(sb)) == before
    imported_key(xray_tasks("import-results", "--allow-stale", env=env, cwd=tmp_path))


def test_invoke_list_in_the_repo_shows_the_chain() -> None:
    """`invoke --list` in this repository shows run-tests, authenticate and import-results."""
    proc = subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=REPO, capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for name in ("run-tests", "authenticate", "import-results", "ci", "sandbox", "demo", "test"):
        assert f"  {name} " in proc.stdout or f"  {name}\n" in proc.stdout


@pytest.mark.parametrize("name", ["run-tests", "authenticate", "import-results", "ci", "sandbox", "demo"])
def test_every_task_has_help(name: str) -> None:
    """`xray-tasks --help TASK` renders, with help for every flag."""
    proc = subprocess.run([sys.executable, "-m", "xray_tasks", "--help", name], capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"Usage: xray-tasks {name} [options]" in proc.stdout
    options = [line for line in proc.stdout.splitlines() if line.strip().startswith("-")]
    assert options
    assert all(len(line.split(None, 1)) == 2 for line in options), proc.stdout
