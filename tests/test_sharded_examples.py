"""The sharded CI examples (``examples/sharded/``), run as far as they can run here: their own commands,
in their order, with the variables each CI system sets, against one sandbox, with real pytest runs and
real shard processes side by side.

Each harness below reads its file the way the CI system would (GitHub Actions and GitLab YAML through
``invoke.vendor.yaml``; the Jenkinsfile's ``environment``, ``sh``, ``env.X = sh(returnStdout)``,
``matrix`` and ``post`` blocks), gives every job a fresh workspace — a copy of a small project with eight
test modules, one failing test among them — and, where the CI system gives every job its own machine,
its own home folder (so its own token cache). What a runner does but this machine cannot is left out and
said so: ``pip install`` lines (the package under test is installed already) and job-level ``if:`` /
``when:`` (every job here runs; within a GitHub job, only ``if: always()`` steps run after a failure)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from invoke.vendor import yaml

from tests.cli_helpers import REPO
from xray_tasks.sandbox import Sandbox

EXAMPLES = REPO / "examples" / "sharded"
MODULES, TESTS_PER_MODULE, FAILING_MODULE = 8, 3, 3
RUNS = MODULES * TESTS_PER_MODULE


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    """A sandbox whose CALC project has the Test Plan CALC-15 the examples link to."""
    with Sandbox() as sandbox:
        for n in range(2, 15):
            sandbox.store.create_issue("CALC", "Story", f"story {n}")
        assert sandbox.store.create_issue("CALC", "Test Plan", "Release 3")["key"] == "CALC-15"
        yield sandbox


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The project a job checks out: eight test modules of three tests, one of which fails."""
    root = tmp_path / "project"
    (root / "tests").mkdir(parents=True)
    for m in range(1, MODULES + 1):
        body = "".join(f"def test_{n}():\n    assert {'False' if (m, n) == (FAILING_MODULE, 0) else 'True'}\n\n"
                       for n in range(TESTS_PER_MODULE))
        (root / "tests" / f"test_mod{m}.py").write_text(body)
    (root / "requirements.txt").write_text("pytest\n")
    return root


def runner_env(sb: Sandbox, home: Path, **more: str) -> dict[str, str]:
    """A CI machine's environment: no XRAY_* of ours, this venv first on PATH, its own home and cache, the
    Xray host and credentials as the CI system's secrets/variables would give them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XRAY_", "INVOKE_", "GITHUB_", "CI_"))}
    home.mkdir(parents=True, exist_ok=True)
    env |= {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", "HOME": str(home),
            "XDG_CACHE_HOME": str(home / ".cache"), "XRAY_BASE_URL": sb.url, "XRAY_ENV_FILE": os.devnull,
            "CI": "true", **more}
    return env


def run_script(script: str, cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """A job's shell lines, as runners run them: bash, stopping at the first failing line."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("pip install")]
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", "\n".join(lines)], cwd=cwd, env=dict(env),
                          capture_output=True, text=True, timeout=300, check=False)


def checkout(project: Path, workspace: Path) -> Path:
    shutil.copytree(project, workspace)
    return workspace


def authentications(sb: Sandbox) -> int:
    return sum(1 for r in sb.store.requests() if r["path"].endswith("/authenticate"))


def check_pipeline(sb: Sandbox, key: str, finalize: subprocess.CompletedProcess[str]) -> None:
    """What every example must leave: finalize passed over four shards, and one run per test."""
    assert finalize.returncode == 0, finalize.stdout + finalize.stderr
    assert f"Verified {key}: {RUNS} runs recorded for the {RUNS} Tests sent" in finalize.stdout
    assert "4 shard record(s)" in finalize.stdout
    stored = sb.store.execution(key)
    assert stored is not None and stored["imports"] == 4 and stored["total"] == RUNS
    assert stored["counts"] == {"PASSED": RUNS - 1, "FAILED": 1}
    assert sorted(r["definition"] for r in stored["runs"]) == sorted(
        f"tests.test_mod{m}.test_{n}" for m in range(1, MODULES + 1) for n in range(TESTS_PER_MODULE))


# -- GitHub Actions --------------------------------------------------------------------------------------------

_EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")


def expand(text: str, context: Mapping[str, str]) -> str:
    """``${{ name }}`` replaced from ``context``; a name the harness does not know fails the test."""
    def value(match: re.Match[str]) -> str:
        assert match.group(1) in context, f"the harness does not know ${{{{ {match.group(1)} }}}}"
        return context[match.group(1)]
    return _EXPRESSION.sub(value, text)


def github_job(name: str, job: dict[str, Any], workflow: dict[str, Any], context: dict[str, str], sb: Sandbox,
               project: Path, where: Path, artifacts: Path) -> tuple[int, dict[str, str], str]:
    """One job (one matrix cell) on a fresh runner: its exit code, its outputs and what it printed."""
    workspace = where / "work"
    workspace.mkdir(parents=True)
    env = runner_env(sb, where / "home", GITHUB_ACTIONS="true", GITHUB_RUN_ID="9001", GITHUB_RUN_NUMBER="42",
                     GITHUB_REF_NAME="main", GITHUB_WORKSPACE=str(workspace), GITHUB_REPOSITORY="acme/calc")
    env |= {k: expand(str(v), context) for k, v in {**workflow.get("env", {}), **job.get("env", {})}.items()}
    steps: dict[str, str] = {}
    printed = ""
    failed = 0
    for n, step in enumerate(job["steps"]):
        if failed and "always()" not in str(step.get("if", "")):  # after a failure only `if: always()` steps run
            continue
        uses = step.get("uses", "")
        given = step.get("with", {})
        if uses.startswith("actions/checkout"):
            shutil.rmtree(workspace)
            checkout(project, workspace)
        elif uses.startswith("actions/upload-artifact"):  # no files: GitHub warns and uploads nothing
            if (workspace / given["path"]).is_dir():
                shutil.copytree(workspace / given["path"], artifacts / expand(given["name"], context))
        elif uses.startswith("actions/download-artifact"):
            target = workspace / given["path"]
            target.mkdir(parents=True, exist_ok=True)
            for found in sorted(artifacts.glob(given["pattern"])):
                shutil.copytree(found, target if given.get("merge-multiple") else target / found.name,
                                dirs_exist_ok=True)
        elif "run" in step:
            output = where / f"output-{n}"
            output.touch()
            here = {**context, **{f"steps.{k}": v for k, v in steps.items()}}
            proc = run_script(expand(step["run"], here), workspace,
                              {**env, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(where / "summary.md")})
            printed += proc.stdout + proc.stderr
            for line in output.read_text().splitlines():
                out_name, _, out_value = line.partition("=")
                steps[f"{step.get('id', n)}.outputs.{out_name}"] = out_value
            failed = failed or proc.returncode
    here = {**context, **{f"steps.{k}": v for k, v in steps.items()}}
    return failed, {} if failed else {k: expand(v, here) for k, v in job.get("outputs", {}).items()}, printed


def test_github_actions_matrix_creates_shards_and_finalizes(sb: Sandbox, project: Path, tmp_path: Path) -> None:
    """create → a four-shard matrix, run at once on four runners → finalize after `needs:`, with artifacts
    carrying the shard records: one Test Execution holds every run, finalize verifies it, the failing
    shard fails its job, and each runner authenticated once."""
    workflow = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    jobs = workflow["jobs"]
    assert jobs["test"]["needs"] == "create" and jobs["finalize"]["needs"] == ["create", "test"]
    context = {"secrets.XRAY_CLIENT_ID": sb.config.client_id, "secrets.XRAY_CLIENT_SECRET": sb.config.client_secret,
               "github.ref_name": "main", "github.run_number": "42"}
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()

    code, outputs, printed = github_job("create", jobs["create"], workflow, context, sb, project,
                                        tmp_path / "create", artifacts)
    assert code == 0, printed
    key = outputs["test-exec-key"]
    context["needs.create.outputs.test-exec-key"] = key
    cells = jobs["test"]["strategy"]["matrix"]["shard"]
    assert cells == [1, 2, 3, 4]
    with ThreadPoolExecutor(len(cells)) as pool:
        shards = list(pool.map(lambda cell: github_job(
            "test", jobs["test"], workflow, {**context, "matrix.shard": str(cell)}, sb, project,
            tmp_path / f"test-{cell}", artifacts), cells))
    assert [code for code, _, _ in shards] == [0, 0, 1, 0], "\n".join(p for _, _, p in shards)  # module 3 fails
    code, _, printed = github_job("finalize", jobs["finalize"], workflow, context, sb, project,
                                  tmp_path / "finalize", artifacts)
    check_pipeline(sb, key, subprocess.CompletedProcess([], code, printed, ""))
    stored = sb.store.execution(key)
    assert stored is not None and (stored["summary"], stored["environments"], stored["test_plans"]) == (
        "CI main #42", ["ubuntu"], ["CALC-15"])
    assert authentications(sb) == 1 + len(cells) + 1  # one per runner: create, each shard, finalize


# -- GitLab CI -------------------------------------------------------------------------------------------------


def gitlab_job(name: str, job: dict[str, Any], pipeline: dict[str, Any], env: dict[str, str], sb: Sandbox,
               project: Path, where: Path, artifacts: Path) -> subprocess.CompletedProcess[str]:
    """One job (one parallel node) on a fresh runner, with the earlier stages' artifacts in its workspace."""
    workspace = checkout(project, where / "work")
    if artifacts.is_dir():
        shutil.copytree(artifacts, workspace, dirs_exist_ok=True)
    variables = {**pipeline.get("variables", {}), **job.get("variables", {})}
    job_env = runner_env(sb, where / "home", GITLAB_CI="true", CI_PIPELINE_ID="777", CI_COMMIT_REF_NAME="main",
                         CI_JOB_NAME=name, CI_PROJECT_DIR=str(workspace), **env)
    job_env |= {k: str(v) for k, v in variables.items()}
    lines = [*pipeline.get("default", {}).get("before_script", []), *job["script"]]
    proc = run_script("\n".join(lines), workspace, job_env)
    kept = job.get("artifacts", {})
    for pattern in kept.get("paths", []):
        for found in workspace.glob(pattern.rstrip("/")):
            target = artifacts / found.relative_to(workspace)
            if found.is_dir():
                shutil.copytree(found, target, dirs_exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(found, target)
    dotenv = kept.get("reports", {}).get("dotenv")
    if dotenv and (workspace / dotenv).is_file():
        shutil.copy(workspace / dotenv, where.parent / f"{name}.env")
    return proc


def dotenv_variables(folder: Path) -> dict[str, str]:
    """The variables the dotenv reports of earlier jobs hand to later ones."""
    out = {}
    for path in sorted(folder.glob("*.env")):
        for line in path.read_text().splitlines():
            name, _, value = line.partition("=")
            out[name] = value
    return out


def test_gitlab_parallel_job_shards_by_ci_node_index(sb: Sandbox, project: Path, tmp_path: Path) -> None:
    """prepare → a `parallel: 4` job (CI_NODE_INDEX/CI_NODE_TOTAL make each node a shard) → finalize, the key
    passed on by a dotenv report and the records as artifacts: every run lands once and finalize verifies."""
    pipeline = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())
    secrets = {"XRAY_CLIENT_ID": sb.config.client_id, "XRAY_CLIENT_SECRET": sb.config.client_secret}
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    jobs = {name: job for name, job in pipeline.items() if isinstance(job, dict) and "stage" in job}
    results: dict[str, list[subprocess.CompletedProcess[str]]] = {}
    for stage in pipeline["stages"]:
        for name, job in ((n, j) for n, j in jobs.items() if j["stage"] == stage):
            env = {**secrets, **dotenv_variables(tmp_path)}
            nodes = int(job.get("parallel", 0))
            if not nodes:
                results[name] = [gitlab_job(name, job, pipeline, env, sb, project, tmp_path / name, artifacts)]
                continue
            cells = [{**env, "CI_NODE_INDEX": str(i), "CI_NODE_TOTAL": str(nodes)} for i in range(1, nodes + 1)]
            with ThreadPoolExecutor(nodes) as pool:
                results[name] = list(pool.map(lambda cell, name=name, job=job: gitlab_job(
                    name, job, pipeline, cell, sb, project, tmp_path / f"{name}-{cell['CI_NODE_INDEX']}", artifacts),
                    cells))
    [created] = results["xray-execution"]
    assert created.returncode == 0, created.stderr
    key = dotenv_variables(tmp_path)["XRAY_TEST_EXEC_KEY"]
    assert [p.returncode for p in results["tests"]] == [0, 0, 1, 0], [p.stderr for p in results["tests"]]
    assert sorted(p.name for p in artifacts.glob("xray-shard-*.json")) == [f"xray-shard-{i}.json" for i in (1, 2, 3, 4)]
    [finalize] = results["xray-finalize"]
    check_pipeline(sb, key, finalize)
    stored = sb.store.execution(key)
    assert stored is not None and stored["summary"] == "Pipeline 777 on main" and stored["environments"] == ["linux"]


# -- Jenkins ---------------------------------------------------------------------------------------------------

_SH = re.compile(r"""sh\s*(?:\(\s*script:\s*)?('''(?P<long>.*?)'''|'(?P<short>[^'\n]*)')""", re.S)
_ASSIGN = re.compile(r"env\.(?P<name>\w+)\s*=\s*sh\(script:\s*'(?P<cmd>[^']*)',\s*returnStdout:\s*true\)\.trim\(\)")


def _block(text: str, opener: str) -> tuple[int, int]:
    """Where the ``opener { … }`` block starts and ends (braces balanced)."""
    found = re.search(rf"^\s*{opener}\s*\{{", text, re.M)
    assert found is not None, f"no {opener} block"
    start = found.start()
    depth, i = 0, text.index("{", start)
    while True:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return start, i + 1
        i += 1


def jenkins_commands(text: str) -> list[tuple[str, str | None]]:
    """The shell commands of a block in order, each with the env variable its output is assigned to (if any)."""
    found = []
    for match in re.finditer(f"{_ASSIGN.pattern}|{_SH.pattern}", text, re.S):
        if match.group("name"):
            found.append((match.group("cmd"), match.group("name")))
        else:
            found.append(((match.group("long") or match.group("short") or "").replace("\\\n", " "), None))
    return found


def test_jenkins_matrix_shards_share_one_agent_and_authenticate_once(sb: Sandbox, project: Path,
                                                                       tmp_path: Path) -> None:
    """The stage that creates the execution, a matrix of four shards running at once in one workspace on one
    agent, and finalize in post: every run lands once, finalize verifies, and the shards shared the agent's
    token cache — one authentication for the whole build."""
    text = (EXAMPLES / "Jenkinsfile").read_text()
    credentials = {"xray-client-id": sb.config.client_id, "xray-client-secret": sb.config.client_secret}
    env = runner_env(sb, tmp_path / "agent-home", JENKINS_URL="https://jenkins.example.com/", BUILD_NUMBER="314",
                     JOB_NAME="calc", NODE_NAME="agent-1")
    start, end = _block(text, "environment")
    for name, value in re.findall(r"(\w+)\s*=\s*(credentials\('[^']*'\)|'[^']*')", text[start:end]):
        env[name] = credentials[value[13:-2]] if value.startswith("credentials(") else value.strip("'")
    workspace = checkout(project, tmp_path / "workspace")
    env["WORKSPACE"] = str(workspace)
    m_start, m_end = _block(text, "matrix")
    p_start, _ = _block(text, "post")
    axis = re.search(r"name\s+'(\w+)'\s+values\s+((?:'[^']*'\s*,?\s*)+)", text[m_start:m_end])
    assert axis is not None
    values = re.findall(r"'([^']*)'", axis.group(2))
    assert values == ["1", "2", "3", "4"]

    def run(cmd: str, extra: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run_script(cmd, workspace, {**env, **(extra or {})})

    for cmd, assign in jenkins_commands(text[:m_start]):
        proc = run(cmd)
        assert proc.returncode == 0, proc.stderr
        if assign:
            env[assign] = proc.stdout.strip()
    key = env["XRAY_TEST_EXEC_KEY"]
    [(shard_cmd, _)] = jenkins_commands(text[m_start:m_end])
    with ThreadPoolExecutor(len(values)) as pool:
        shards = list(pool.map(lambda v: run(shard_cmd, {axis.group(1): v}), values))
    assert [p.returncode for p in shards] == [0, 0, 1, 0], "\n".join(p.stderr for p in shards)
    [(finalize_cmd, _)] = jenkins_commands(text[p_start:])
    check_pipeline(sb, key, run(finalize_cmd))
    stored = sb.store.execution(key)
    assert stored is not None and stored["summary"] == "Build 314"
    assert authentications(sb) == 1
