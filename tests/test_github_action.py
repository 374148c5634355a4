"""The repository's action.yml, run step by step as a GitHub runner would, against a local sandbox; and the
annotations plain xray-tasks steps write when GITHUB_ACTIONS=true."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import REPO, pytest_suite, sandbox_env, xray_tasks
from tests.github_runner import Runner, runner_env
from xray_tasks.console import workflow_command
from xray_tasks.sandbox import Sandbox

SUITE = '''import pytest

def test_ok():
    assert True

def test_broken():
    assert 1 == 2, "one is not two"

@pytest.mark.skip(reason="later")
def test_later():
    pass
'''
SECRET = "sandbox-secret-for-the-action"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The action's install step, run once: a virtual environment with xray-tasks from this checkout."""
    temp = tmp_path_factory.mktemp("runner-temp")
    workspace = tmp_path_factory.mktemp("workspace")
    run = Runner(REPO, workspace, temp).run({"report": "unused"}, runner_env(), only=("install",), timeout=600)
    assert run.failed is None, "\n".join(run.log)
    bin_dir = Path(run.steps["install"]["outputs"]["bin"])
    assert (bin_dir / "xray-tasks").is_file() and bin_dir.is_relative_to(temp)
    return {"install": {"bin": str(bin_dir)}}


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(client_secret=SECRET) as sandbox:
        yield sandbox


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A checked-out repository whose tests were just run by real pytest into reports/junit.xml."""
    work = tmp_path / "workspace"
    work.mkdir()
    (work / "reports").mkdir()
    subprocess.run(pytest_suite(tmp_path, SUITE, work / "reports" / "junit.xml"), shell=True, cwd=work,
                   capture_output=True, check=False)
    assert (work / "reports" / "junit.xml").is_file()
    return work


def run_action(installed: dict[str, Any], sb: Sandbox, workspace: Path, tmp_path: Path, **inputs: str) -> Any:
    temp = tmp_path / "runner"
    temp.mkdir(exist_ok=True)
    given = {"report": "reports/*.xml", "client-id": sb.config.client_id, "client-secret": SECRET,
             "base-url": sb.url, "project": "DEMO", **inputs}
    job_env = runner_env(XRAY_TOKEN_CACHE=str(tmp_path / "tokens.json"))
    return Runner(REPO, workspace, temp).run(given, job_env, only=("mask", "import"),
                                             step_outputs=installed)


def test_the_action_imports_and_sets_its_outputs(installed: dict[str, Any], sb: Sandbox, workspace: Path,
                                                 tmp_path: Path) -> None:
    """Inputs reach xray-tasks through env: the Test Execution gets the plan, environments and revision; the
    action's outputs, the step summary and the failed-tests annotation say what the sandbox recorded."""
    run = run_action(installed, sb, workspace, tmp_path, **{"test-plan": "DEMO-1", "test-env": "chrome\nlinux",
                                                             "revision": "abc123"})
    assert run.failed is None, "\n".join(run.log)
    key = run.outputs["test-exec-key"]
    execution = sb.store.execution(key)
    assert execution is not None
    assert execution["test_plan"] == "DEMO-1" and execution["environments"] == ["chrome", "linux"]
    assert execution["revision"] == "abc123"
    counts = execution["counts"]
    assert run.outputs["passed"] == str(counts["PASSED"]) == "1"
    assert run.outputs["failed"] == str(counts["FAILED"]) == "1"
    assert run.outputs["skipped"] == "1" and run.outputs["count"] == "3"
    assert run.outputs["url"].endswith(f"/browse/{key}") and run.outputs["test-exec-keys"] == key
    summary = (tmp_path / "runner" / "step_summary.md").read_text()
    assert f"| [{key}]({run.outputs['url']}) | JUnit XML | 1 | 1 | 1 | 1 |" in summary
    errors = [line for line in run.steps["import"]["lines"] if line.startswith("::error ")]
    assert errors == [f"::error file=reports/junit.xml,title=1 failed tests ({key})::1 of 3 tests failed in "
                      f"{workspace / 'reports' / 'junit.xml'}; imported into {key} {run.outputs['url']}"]


def test_secrets_are_masked_and_never_printed(installed: dict[str, Any], sb: Sandbox, workspace: Path,
                                              tmp_path: Path) -> None:
    """The client secret is registered with ::add-mask:: before anything runs, and no line shows it otherwise."""
    run = run_action(installed, sb, workspace, tmp_path)
    assert run.failed is None, "\n".join(run.log)
    mask_lines = run.steps["mask"]["lines"]
    assert mask_lines == [f"::add-mask::{SECRET}"]
    assert all(SECRET not in line for line in run.steps["import"]["lines"])
    assert SECRET not in (tmp_path / "runner" / "step_summary.md").read_text()


def test_an_input_cannot_inject_shell_commands(installed: dict[str, Any], sb: Sandbox, workspace: Path,
                                               tmp_path: Path) -> None:
    """Inputs holding shell syntax arrive as plain text: nothing is executed, the revision is stored as given."""
    hostile = '$(touch PWNED)`touch PWNED2`"; touch PWNED3; "'
    plain = run_action(installed, sb, workspace, tmp_path, revision=hostile)
    templated = run_action(installed, sb, workspace, tmp_path, var=f"summary={hostile}", multipart="true")
    for run in (plain, templated):
        assert run.failed is None, "\n".join(run.log)
    assert not list(workspace.glob("PWNED*")) and not list(tmp_path.glob("**/PWNED*"))
    first = sb.store.execution(plain.outputs["test-exec-key"])
    second = sb.store.execution(templated.outputs["test-exec-key"])
    assert first is not None and first["revision"] == hostile
    assert second is not None and second["summary"] == hostile


def test_a_refused_import_fails_the_step_with_an_error_annotation(installed: dict[str, Any], sb: Sandbox,
                                                                  workspace: Path, tmp_path: Path) -> None:
    """Xray refusing the import fails the action with exit 16, one ::error:: line and the failure in the summary;
    with on-error=warn the step passes with a ::warning:: instead."""
    run = run_action(installed, sb, workspace, tmp_path, project="NOPE")
    assert run.failed == "import" and run.steps["import"]["code"] == 16
    errors = [line for line in run.steps["import"]["lines"] if line.startswith("::error")]
    assert len(errors) == 1 and errors[0].startswith("::error title=xray-tasks::xray-tasks: error: ")
    assert "No project could be found with key 'NOPE'" in errors[0]
    assert "**Import failed:**" in (tmp_path / "runner" / "step_summary.md").read_text()
    assert run.outputs["test-exec-key"] == ""

    warned = run_action(installed, sb, workspace, tmp_path, project="NOPE", **{"on-error": "warn"})
    assert warned.failed is None
    assert [line for line in warned.steps["import"]["lines"] if line.startswith("::warning")]


def test_the_action_declares_every_setting_it_maps() -> None:
    """Every input the import step reads is declared, and every declared input is read (no dead input)."""
    from invoke.vendor import yaml

    action = yaml.safe_load((REPO / "action.yml").read_text())
    steps = {s.get("id", s["name"]): s for s in action["runs"]["steps"]}
    used = {v[len("${{ inputs."):-3] for s in steps.values() for v in (s.get("env") or {}).values()
            if str(v).startswith("${{ inputs.")}
    assert used == set(action["inputs"])


def test_plain_steps_annotate_warnings_in_github_actions(sb: Sandbox, tmp_path: Path) -> None:
    """A plain `xray-tasks` step under GITHUB_ACTIONS=true writes a warning as ::warning::, escaped per
    GitHub's rules (a newline becomes %0A); outside Actions the same warning is a plain line."""
    junit = tmp_path / "junit.xml"
    junit.write_text('<testsuite name="s"><testcase classname="a" name="t"/></testsuite>')
    env = sandbox_env(sb, tmp_path, GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(tmp_path))  # a folder: a warning
    proc = xray_tasks("import-results", "--report", str(junit), env=env)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("::warning")]
    assert len(warnings) == 1 and "could not write GITHUB_OUTPUT" in warnings[0]
    plain = xray_tasks("import-results", "--report", str(junit), env={**env, "GITHUB_ACTIONS": "false"})
    assert "xray-tasks: warning: could not write GITHUB_OUTPUT" in plain.stderr
    assert workflow_command("warning", "50% done\nnext", file="a,b:c.xml", title="T") == \
        "::warning file=a%2Cb%3Ac.xml,title=T::50%25 done%0Anext"


def test_the_summary_json_lists_each_execution_with_its_counts(sb: Sandbox, tmp_path: Path) -> None:
    """--separate with --json: one entry per Test Execution, each with the counts the sandbox recorded."""
    for n in range(2):
        (tmp_path / f"r{n}.xml").write_text(f'<testsuite name="s{n}"><testcase classname="c{n}" name="ok"/>'
                                            f'<testcase classname="c{n}" name="bad"><failure/></testcase></testsuite>')
    proc = xray_tasks("import-results", "--report", str(tmp_path / "r*.xml"), "--separate", "--json",
                      env=sandbox_env(sb, tmp_path))
    data = json.loads(proc.stdout)
    assert [e["key"] for e in data["executions"]] == data["keys"] and len(data["keys"]) == 2
    for entry in data["executions"]:
        recorded = sb.store.execution(entry["key"])
        assert recorded is not None
        assert {"PASSED": entry["totals"]["passed"], "FAILED": entry["totals"]["failed"]} == recorded["counts"]
    assert data["totals"]["failed"] == 2


def test_the_usage_example_runs_the_action(installed: dict[str, Any], sb: Sandbox, workspace: Path,
                                           tmp_path: Path) -> None:
    """examples/github-action-usage.yml: its `with:` names only inputs the action declares, no `run:` splices an
    expression, and the action run with its values (secrets and github context filled in) imports into the
    sandbox; the step after it prints what the outputs say."""
    import re

    from invoke.vendor import yaml

    workflow = yaml.safe_load((REPO / "examples" / "github-action-usage.yml").read_text())
    steps = workflow["jobs"]["test"]["steps"]
    assert not [s for s in steps if "${{" in str(s.get("run", ""))]
    step = next(s for s in steps if str(s.get("uses", "")).split("@")[0].endswith("/xray-tasks"))
    context = {"secrets.XRAY_CLIENT_ID": sb.config.client_id, "secrets.XRAY_CLIENT_SECRET": SECRET,
               "github.sha": "0a1b2c3d", "github.ref_name": "main", "github.run_number": "42"}
    given = {k: re.sub(r"\$\{\{\s*(.*?)\s*\}\}", lambda m: context[m.group(1)], str(v))
             for k, v in step["with"].items()}
    given["project"] = "DEMO"
    given["test-plan"] = "DEMO-1"
    run = Runner(REPO, workspace, tmp_path).run({**given, "base-url": sb.url},
                                                runner_env(XRAY_TOKEN_CACHE=str(tmp_path / "tokens.json")),
                                                only=("mask", "import"), step_outputs=installed)
    assert run.failed is None, "\n".join(run.log)
    execution = sb.store.execution(run.outputs["test-exec-key"])
    assert execution is not None
    assert execution["summary"] == "CI main #42" and execution["environments"] == ["ubuntu", "python-3.12"]
    echo = next(s for s in steps if "KEY" in (s.get("env") or {}))
    env = {k: re.sub(r"\$\{\{\s*steps\.xray\.outputs\.(.*?)\s*\}\}", lambda m: run.outputs[m.group(1)], str(v))
           for k, v in echo["env"].items()}
    shown = subprocess.run(["bash", "-c", echo["run"]], env=env, capture_output=True, text=True, check=True).stdout
    assert shown.strip() == f"Test Execution {execution['key']} (1 failed): {run.outputs['url']}"
