"""``create-execution``: an empty Test Execution made up front from the info template and settings, in both
dialects, linked to its Test Plan, its key on stdout and in GITHUB_OUTPUT; bad input refused before
anything is created, or after with the key still shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import assert_one_clean_line, sandbox_env, xray_tasks
from xray_tasks.sandbox import Sandbox

SERVER_FIELDS = {"XRAY_SERVER_TEST_PLAN_FIELD": "customfield_11807",
                 "XRAY_SERVER_ENVIRONMENTS_FIELD": "customfield_11805"}


def env_for(sb: Sandbox, tmp: Path, dialect: str, **extra: str) -> dict[str, str]:
    env = sandbox_env(sb, tmp, **extra)
    if dialect == "server":
        env |= {"XRAY_DEPLOYMENT": "server", "XRAY_SERVER_USER": sb.config.server_user,
                "XRAY_SERVER_PASSWORD": sb.config.server_password}
    return env


@pytest.mark.parametrize("dialect", ["cloud", "server"])
def test_creates_an_empty_execution_from_the_info_template(dialect: str, sb: Sandbox, tmp_path: Path) -> None:
    """The key alone on stdout, GITHUB_OUTPUT's test-exec-key, and in Xray: the summary, the bundled
    template's labels and description, the Test Environments and the Test Plan link — and no runs."""
    output, step = tmp_path / "github_output", tmp_path / "step_summary"
    env = env_for(sb, tmp_path, dialect, GITHUB_OUTPUT=str(output), GITHUB_STEP_SUMMARY=str(step),
                  XRAY_FIX_VERSION="v3.0", **SERVER_FIELDS)
    proc = xray_tasks("create-execution", "--summary", "CI #1234 \"sharded\"", "--test-plan", "DEMO-1",
                      "--test-env", "chrome", "--test-env", "linux", "--var", "labels=nightly", env=env)
    assert proc.returncode == 0, proc.stderr
    key = proc.stdout.strip()
    assert key == "DEMO-2" and f"created Test Execution {key}" in proc.stderr
    assert "in the Test Plan DEMO-1" in proc.stderr
    assert f"test-exec-key={key}\n" in output.read_text() and not step.exists()
    stored = sb.store.execution(key)
    assert stored is not None
    assert (stored["summary"], stored["environments"], stored["test_plans"], stored["total"]) == (
        "CI #1234 \"sharded\"", ["chrome", "linux"], ["DEMO-1"], 0)
    assert stored["labels"] == ["xray-tasks", "sharded", "nightly"] and stored["fix_versions"] == ["v3.0"]
    assert stored["description"].startswith("Created by xray-tasks; the results of the CI shards")
    assert stored["endpoint"] == ("graphql createTestExecution" if dialect == "cloud" else "/rest/api/2/issue")


def test_the_key_goes_to_the_dotenv_and_properties_files_as_the_task_says(sb: Sandbox, tmp_path: Path) -> None:
    """XRAY_DOTENV_FILE and XRAY_PROPERTIES_FILE get the new key, so a GitLab or Jenkins job that creates the
    execution hands it to the shard jobs the way an import hands on its key."""
    dotenv, props = tmp_path / "xray.env", tmp_path / "xray.properties"
    env = env_for(sb, tmp_path, "cloud", XRAY_DOTENV_FILE=str(dotenv), XRAY_PROPERTIES_FILE=str(props))
    proc = xray_tasks("create-execution", "--summary", "pipeline 7", env=env)
    assert proc.returncode == 0, proc.stderr
    key = proc.stdout.strip()
    assert f"XRAY_TEST_EXEC_KEY={key}\n" in dotenv.read_text()
    assert f"XRAY_TEST_EXEC_KEY={key}\n" in props.read_text()


def test_json_and_a_template_of_ones_own(sb: Sandbox, tmp_path: Path) -> None:
    """--info-template renders the fields (here a custom summary from git-free variables); --json prints one
    object with the key, id and environments."""
    template = tmp_path / "info.json.j2"
    template.write_text('{"fields": {"project": {"key": {{ project_key | json }}}, "issuetype": {"name": '
                        '"Test Execution"}, "summary": {{ ("Build " ~ vars.build) | json }}},\n'
                        ' "xrayFields": {"environments": ["firefox"]}}\n')
    proc = xray_tasks("create-execution", "--info-template", str(template), "--var", "build=77", "--json",
                      env=env_for(sb, tmp_path, "cloud"))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["kind"], data["key"], data["environments"], data["error"]) == (
        "xray-tasks/execution", "DEMO-2", ["firefox"], None)
    stored = sb.store.execution(data["key"])
    assert stored is not None and stored["summary"] == "Build 77" and stored["id"] == data["id"]


@pytest.mark.parametrize("dialect", ["cloud", "server"])
def test_a_wrong_test_plan_is_refused_before_anything_is_created(dialect: str, sb: Sandbox, tmp_path: Path) -> None:
    """A Test Plan key that does not exist, or names an issue that is no Test Plan, ends with exit 16 and one
    line naming it; no Test Execution was created."""
    sb.store.create_test("DEMO", "a Test")  # DEMO-2, not a Test Plan
    for plan in ("DEMO-99", "DEMO-2"):
        proc = xray_tasks("create-execution", "--test-plan", plan, env=env_for(sb, tmp_path, dialect))
        line = assert_one_clean_line(proc, sb.config.client_secret, sb.config.server_password)
        assert proc.returncode == 16 and plan in line and "--test-plan" in line
    assert sb.store.executions() == []


@pytest.mark.parametrize("dialect", ["cloud", "server"])
def test_a_project_xray_does_not_know_is_xrays_own_refusal(dialect: str, sb: Sandbox, tmp_path: Path) -> None:
    """An unknown project comes back as a GraphQL error (Cloud, HTTP 200) or Jira's 400 (Server/DC): one line
    with Xray's words, exit 16."""
    proc = xray_tasks("create-execution", "--project", "NOPE", env=env_for(sb, tmp_path, dialect))
    line = assert_one_clean_line(proc, sb.config.client_secret, sb.config.server_password)
    assert proc.returncode == 16 and "create the Test Execution" in line and "project" in line.lower()
    assert sb.store.executions() == []


def test_server_environments_need_their_custom_field(sb: Sandbox, tmp_path: Path) -> None:
    """On Server/DC, Test Environments without XRAY_SERVER_ENVIRONMENTS_FIELD are a settings error (11) before
    any request; a Test Plan without its field is linked through Xray's own endpoint."""
    env = env_for(sb, tmp_path, "server")
    proc = xray_tasks("create-execution", "--test-env", "chrome", env=env)
    assert proc.returncode == 11 and "XRAY_SERVER_ENVIRONMENTS_FIELD" in assert_one_clean_line(proc)
    assert not [r for r in sb.store.requests() if r["method"] == "POST"]
    linked = xray_tasks("create-execution", "--test-plan", "DEMO-1", env=env)
    assert linked.returncode == 0, linked.stderr
    stored = sb.store.execution(linked.stdout.strip())
    assert stored is not None and stored["test_plans"] == ["DEMO-1"] and stored["test_plan"] is None
    assert any(r["path"].endswith("/api/testplan/DEMO-1/testexecution") and r["method"] == "POST"
               for r in sb.store.requests())


def test_no_project_is_a_settings_error(sb: Sandbox, tmp_path: Path) -> None:
    """Without XRAY_PROJECT_KEY or --project, create-execution says so (exit 11) and sends nothing."""
    env = env_for(sb, tmp_path, "cloud")
    del env["XRAY_PROJECT_KEY"]
    proc = xray_tasks("create-execution", env=env)
    assert proc.returncode == 11 and "--project" in assert_one_clean_line(proc)
    assert sb.store.requests() == []


@pytest.mark.parametrize("name", ["create-execution", "verify", "finalize"])
def test_the_new_tasks_render_help_for_every_flag(name: str) -> None:
    """`xray-tasks --help TASK` renders for the tasks of verification and sharded CI, every flag explained."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "xray_tasks", "--help", name], capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    options = [line for line in proc.stdout.splitlines() if line.strip().startswith("--")]
    assert options and all(len(line.split(None, 1)) == 2 for line in options), proc.stdout
