"""The files in examples/ and the README's snippets, run as far as they can run here: the Makefile's targets,
the GitHub Actions and GitLab CI steps and the Jenkinsfile's commands against the sandbox, with the
environment each CI system sets; the README's tasks.py under a real ``invoke``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from invoke.vendor import yaml  # the YAML parser Invoke ships

from tests.cli_helpers import REPO
from xray_tasks.sandbox import Sandbox

EXAMPLES = REPO / "examples"
BIN = Path(sys.executable).parent  # this venv's xray-tasks, pytest and invoke
PLACEHOLDER_INSTALL = '"xray-tasks @ git+https://github.com/YOUR-ORG/xray-tasks.git@main"'

PASSING = "def test_adds():\n    assert 1 + 1 == 2\n"
FAILING = "def test_adds():\n    assert 1 + 1 == 2\n\n\ndef test_breaks():\n    assert 1 + 1 == 3\n"


def project(tmp_path: Path, suite: str) -> Path:
    """A small project: one pytest file, an empty requirements.txt, no settings of its own."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "test_calc.py").write_text(suite, encoding="utf-8")
    (root / "requirements.txt").write_text("", encoding="utf-8")
    return root


def base_env(tmp_path: Path) -> dict[str, str]:
    """The machine's environment without any XRAY_* setting, with this venv's tools first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XRAY_", "INVOKE_", "GITHUB_", "GITLAB_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["XRAY_TOKEN_CACHE"] = str(tmp_path / "tokens.json")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def cloud_secrets(sb: Sandbox) -> dict[str, str]:
    return {"XRAY_BASE_URL": sb.url, "XRAY_CLIENT_ID": sb.config.client_id,
            "XRAY_CLIENT_SECRET": sb.config.client_secret}


def shell(script: str, env: Mapping[str, str], cwd: Path, shell_cmd: tuple[str, ...] = ("bash", "-e", "-c")
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*shell_cmd, script], env=dict(env), cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False)


# -- Makefile -------------------------------------------------------------------------------------------


def make(root: Path, env: Mapping[str, str], *targets: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-f", str(EXAMPLES / "Makefile"), *targets], cwd=root, env=dict(env),
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_test_fails_like_a_failing_suite_and_make_k_still_imports(sb: Sandbox, tmp_path: Path) -> None:
    """`make test` does not hide failing tests; `make xray-import` imports them and fails; `make -k test
    xray-import` does both, as CI runs it."""
    root = project(tmp_path, FAILING)
    env = base_env(tmp_path) | cloud_secrets(sb) | {"XRAY_PROJECT_KEY": "DEMO"}
    test = make(root, env, "test")
    assert test.returncode != 0, test.stdout + test.stderr
    assert "tests failed (exit 1)" in test.stderr
    assert json.loads((root / ".xray-run.json").read_text())["exit_code"] == 1
    assert sb.store.executions() == []
    imported = make(root, env, "xray-import")
    assert imported.returncode != 0 and "tests failed (exit 1); their results were imported" in imported.stderr
    [execution] = sb.store.executions()
    assert execution["counts"] == {"PASSED": 1, "FAILED": 1}
    both = make(root, env, "-k", "test", "xray-import")
    assert both.returncode != 0 and len(sb.store.executions()) == 2
    summary = json.loads((root / "reports" / "xray.json").read_text())
    assert summary["key"] == sb.store.executions()[-1]["key"]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_targets_pass_with_a_passing_suite(sb: Sandbox, tmp_path: Path) -> None:
    """A passing suite: `make test xray-import` and `make ci` both succeed and each import once."""
    root = project(tmp_path, PASSING)
    env = base_env(tmp_path) | cloud_secrets(sb) | {"XRAY_PROJECT_KEY": "DEMO"}
    steps = make(root, env, "test", "xray-import")
    assert steps.returncode == 0, steps.stdout + steps.stderr
    one = make(root, env, "ci")
    assert one.returncode == 0, one.stdout + one.stderr
    assert [e["counts"] for e in sb.store.executions()] == [{"PASSED": 1}, {"PASSED": 1}]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_ci_with_a_missing_secret_stops_before_the_tests(sb: Sandbox, tmp_path: Path) -> None:
    """`make ci` without XRAY_CLIENT_SECRET fails in seconds: no test ran, nothing was recorded."""
    root = project(tmp_path, PASSING)
    env = base_env(tmp_path) | cloud_secrets(sb) | {"XRAY_PROJECT_KEY": "DEMO"}
    del env["XRAY_CLIENT_SECRET"]
    proc = make(root, env, "ci")
    assert proc.returncode != 0
    assert "xray-tasks: error: XRAY_CLIENT_SECRET not set" in proc.stderr
    assert "running:" not in proc.stderr and not (root / ".xray-run.json").exists()


# -- GitHub Actions -------------------------------------------------------------------------------------


EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def evaluate(text: str, context: Mapping[str, str]) -> str:
    """GitHub's ${{ name }} expressions, for the plain names the example uses."""
    return EXPRESSION.sub(lambda m: context[m.group(1)], text)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_github_actions_passes_event_values_through_env_only() -> None:
    """No run: script holds a ${{ }} expression (a branch name pasted into a script can inject shell code),
    and the install names the git placeholder, not an index the package is not on."""
    steps = load_yaml(EXAMPLES / "github-actions.yml")["jobs"]["test"]["steps"]
    scripts = [step["run"] for step in steps if "run" in step]
    assert scripts and all("${{" not in script for script in scripts)
    assert PLACEHOLDER_INSTALL in scripts[0]


def test_github_actions_steps_run_as_a_runner_runs_them(sb: Sandbox, tmp_path: Path) -> None:
    """The workflow's run: steps, in order, with the environment a runner sets and the step's env: — a branch
    name full of shell syntax ends up as text in the Test Execution's summary, and the last step reads the
    key from the xray step's outputs."""
    workflow = load_yaml(EXAMPLES / "github-actions.yml")
    steps = workflow["jobs"]["test"]["steps"]
    root = project(tmp_path, FAILING)
    output, step_summary = tmp_path / "github_output", tmp_path / "step_summary"
    branch = 'feat/$(touch pwned)"`touch pwned2`'
    runner = base_env(tmp_path) | {
        "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(step_summary),
        "GITHUB_REF_NAME": branch, "GITHUB_RUN_NUMBER": "42", "GITHUB_SHA": "0123abc", "GITHUB_WORKSPACE": str(root),
        "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/calc", "GITHUB_RUN_ID": "7"}
    context = {"github.ref_name": branch, "github.run_number": "42", "github.sha": "0123abc",
               "secrets.XRAY_CLIENT_ID": sb.config.client_id, "secrets.XRAY_CLIENT_SECRET": sb.config.client_secret}
    ran = []
    failed = False
    for step in steps:
        if "run" not in step or step["run"].lstrip().startswith("pip install"):
            continue  # actions (uses:) and the install, which needs the network
        if failed and step.get("if") != "always()":
            continue
        outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line) \
            if output.exists() else {}
        context |= {f"steps.xray.outputs.{k}": v for k, v in outputs.items()}
        env = runner | {k: evaluate(str(v), context) for k, v in (step.get("env") or {}).items()}
        env |= {"XRAY_BASE_URL": sb.url, "XRAY_TEST_PLAN_KEY": "CALC-1"}  # the stand-in's host and Test Plan
        proc = shell(step["run"], env, root)
        ran.append(proc)
        failed = failed or proc.returncode != 0
    xray, echo = ran
    assert xray.returncode == 1, xray.stderr  # the failing test's exit code, after importing
    [execution] = sb.store.executions()
    assert execution["summary"] == f"CI {branch} #42"
    assert execution["test_plan"] == "CALC-1"
    assert "0123abc" in execution["description"]  # Cloud's multipart info has no revision field
    assert not (root / "pwned").exists() and not (root / "pwned2").exists()
    assert echo.returncode == 0 and echo.stdout.startswith(f"Test Execution {execution['key']} ")
    assert execution["key"] in step_summary.read_text()
    assert json.loads((root / "reports" / "xray.json").read_text())["key"] == execution["key"]


# -- GitLab CI ------------------------------------------------------------------------------------------


def test_gitlab_job_runs_as_gitlab_runs_it(sb: Sandbox, tmp_path: Path) -> None:
    """The job's script lines after the install, with the job's variables (expanded as GitLab expands
    them) and the CI_* environment: the job fails like the tests, the results are imported, and the JUnit
    report the artifacts name exists."""
    job = load_yaml(EXAMPLES / "gitlab-ci.yml")["tests"]
    assert job["script"][0].startswith("pip install") and PLACEHOLDER_INSTALL in job["script"][0]
    assert "one job runs the tests and imports" in (EXAMPLES / "gitlab-ci.yml").read_text().splitlines()[0]
    root = project(tmp_path, FAILING)
    gitlab = base_env(tmp_path) | {"CI": "true", "GITLAB_CI": "true", "CI_COMMIT_SHA": "feedbeef",
                                   "CI_JOB_ID": "99", "CI_JOB_URL": "https://gitlab.example.com/acme/calc/-/jobs/99",
                                   "CI_PROJECT_DIR": str(root)}
    variables = {k: re.sub(r"\$(\w+)", lambda m: gitlab.get(m.group(1), ""), str(v))
                 for k, v in job["variables"].items()}
    env = gitlab | variables | cloud_secrets(sb) | {"XRAY_PROJECT_KEY": variables["XRAY_PROJECT_KEY"].replace(
        "CALC", "DEMO")}
    proc = shell("\n".join(job["script"][1:]), env, root, ("sh", "-e", "-c"))
    assert proc.returncode == 1, proc.stderr
    [execution] = sb.store.executions()
    assert execution["revision"] == "feedbeef" and execution["counts"] == {"PASSED": 1, "FAILED": 1}
    assert (root / job["artifacts"]["reports"]["junit"]).is_file()


# -- Jenkins --------------------------------------------------------------------------------------------


def groovy_strings(text: str, call: str) -> list[str]:
    """The single-quoted string arguments of ``call`` in a Jenkinsfile (sh '...', script: '...')."""
    return re.findall(rf"{call}\s*'([^']*)'", text)


def test_jenkinsfile_is_balanced_and_uses_a_venv_unstable_and_junit() -> None:
    """The pipeline's braces and parentheses balance; it installs into a venv, marks failing tests
    UNSTABLE, fails on 11-18, and publishes the JUnit report."""
    text = (EXAMPLES / "Jenkinsfile").read_text(encoding="utf-8")
    code = re.sub(r"//[^\n]*|'[^']*'|\"[^\"]*\"", "", text)  # comments and strings out
    assert code.count("{") == code.count("}") and code.count("(") == code.count(")")
    installs = groovy_strings(text, "sh")
    assert installs[0] == "python3 -m venv .venv" and PLACEHOLDER_INSTALL in installs[1]
    assert installs[1].startswith(".venv/bin/pip install")
    assert "returnStatus: true" in text and "unstable(" in text and "code >= 11 && code <= 18" in text
    assert "junit allowEmptyResults: true, testResults: 'reports/*.xml'" in text


def test_jenkinsfile_commands_run_against_server_dc(sb: Sandbox, tmp_path: Path) -> None:
    """The Test stage's command, in a workspace whose .venv is this one, with the pipeline's environment
    block (credentials() and the Jira URL pointed at the stand-in's Server/DC API): failing tests exit 1
    after their results were imported."""
    text = (EXAMPLES / "Jenkinsfile").read_text(encoding="utf-8")
    block = text.split("environment {", 1)[1].split("}", 1)[0]
    env = base_env(tmp_path)
    for name, value in re.findall(r"^\s*(XRAY_\w+)\s*=\s*(.+?)\s*(?://.*)?$", block, re.M):
        env[name] = value.strip("'")
    assert env["XRAY_SERVER_TOKEN"] == "credentials('xray-pat')"
    env |= {"XRAY_SERVER_TOKEN": sb.config.server_token, "XRAY_BASE_URL": sb.url, "XRAY_PROJECT_KEY": "DEMO",
            "JENKINS_URL": "https://jenkins.example.com/", "BUILD_NUMBER": "12", "BUILD_URL": "https://j/12/"}
    assert env["XRAY_SERVER_TEST_PLAN_FIELD"] == sb.config.test_plan_field
    root = project(tmp_path, FAILING)
    (root / ".venv").symlink_to(BIN.parent)
    [command] = groovy_strings(text, "script:")
    proc = shell(command, env, root, ("sh", "-e", "-c"))  # Jenkins' sh step
    assert proc.returncode == 1, proc.stderr
    [execution] = sb.store.executions()
    assert execution["dialect"] == "server" and execution["counts"] == {"PASS": 1, "FAIL": 1}
    assert (root / "reports" / "junit.xml").is_file() and (root / "reports" / "xray.json").is_file()


# -- the README -----------------------------------------------------------------------------------------


def readme_block(after: str, lang: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return text.split(after, 1)[1].split(f"```{lang}\n", 1)[1].split("```", 1)[0]


def test_readme_tasks_py_mounts_the_tasks_beside_your_own(sb: Sandbox, tmp_path: Path) -> None:
    """The README's tasks.py, as is, under a real invoke: your own task beside the mounted ones, no sandbox
    or demo at the root, and `invoke ci` importing into the stand-in."""
    root = project(tmp_path, PASSING)
    (root / "tasks.py").write_text(readme_block("### In your own `tasks.py` (Invoke)", "python"), encoding="utf-8")
    env = base_env(tmp_path) | cloud_secrets(sb) | {"XRAY_PROJECT_KEY": "DEMO"}
    listed = subprocess.run(["invoke", "--list"], cwd=root, env=env, capture_output=True, text=True, timeout=60,
                            check=False)
    assert listed.returncode == 0, listed.stderr
    names = re.findall(r"(?m)^  (\S+)", listed.stdout)
    assert names == ["authenticate", "ci", "doctor", "import-results", "lint", "run-tests"], listed.stdout
    run = subprocess.run(["invoke", "ci", "--command", "pytest -q --junitxml=reports/junit.xml", "--report",
                          "reports/junit.xml"], cwd=root, env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert run.returncode == 0, run.stderr
    assert [e["counts"] for e in sb.store.executions()] == [{"PASSED": 1}]


def test_readme_install_lines_do_not_claim_an_index_it_is_not_on() -> None:
    """Every `pip install xray-tasks` in the README and examples/ says it is for once the package is
    published; the install lines given name a checkout, a wheel or the marked git placeholder."""
    for path in [REPO / "README.md", *(p for p in EXAMPLES.rglob("*") if p.is_file())]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if re.search(r"pip install (-\S+ )*xray-tasks\b(?! @)", line):
                assert "once" in line.lower() or "published" in line.lower(), f"{path.name}: {line}"
    install = readme_block("### Install", "bash")
    assert "pip install /path/to/xray-tasks" in install and "YOUR-ORG" in install and "pip wheel" in install


def test_readme_sandbox_flags_match_python_m_sandbox() -> None:
    """`xray-tasks sandbox`'s flags are flags of `python -m xray_tasks.sandbox` with the same defaults."""
    from xray_tasks.sandbox.__main__ import parser
    from xray_tasks.tasks import ns

    module = {a.option_strings[0]: a.default for a in parser()._actions if a.option_strings}
    context = next(c for c in ns.to_contexts() if c.name == "sandbox")
    task_defaults = {"--port": 8765, "--host": "127.0.0.1", "--db": ":memory:"}
    assert {f"--{a.name}" for a in context.args.values()} == set(task_defaults)
    for flag, default in task_defaults.items():
        assert module[flag] == default, flag
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "`sandbox [--port N] [--host ADDR] [--db PATH]`" in readme
    assert "`python -m xray_tasks.sandbox` takes the same three flags with the same defaults" in readme
