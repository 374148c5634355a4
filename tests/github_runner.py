"""A small stand-in for the GitHub Actions runner: runs a composite action's steps the way a runner does.

It reads ``action.yml`` (with Invoke's vendored YAML), fills ``${{ inputs.* }}``, ``${{ github.* }}``,
``${{ runner.temp }}`` and ``${{ steps.<id>.outputs.* }}`` into each step's ``env:``, runs each ``run:``
with ``bash --noprofile --norc -eo pipefail`` (GitHub's bash) and the environment a runner sets
(``GITHUB_ACTIONS``, ``GITHUB_OUTPUT`` per step, ``GITHUB_STEP_SUMMARY``, ``GITHUB_WORKSPACE``,
``RUNNER_TEMP``, ``GITHUB_ACTION_PATH``), reads each step's outputs back, and evaluates the action's
``outputs:``. Expressions inside ``run:`` are refused outright: that is where script injection happens.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from invoke.vendor import yaml

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class ActionRun:
    """What running an action left: every step's output lines, outputs and exit code, and the action's
    outputs."""

    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    failed: str | None = None


def read_outputs(path: Path) -> dict[str, str]:
    """A ``GITHUB_OUTPUT`` file: ``name=value`` lines and ``name<<DELIMITER`` … ``DELIMITER`` blocks."""
    values: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            values[name] = "\n".join(lines[i + 1:end])
            i = end + 1
            continue
        name, _, value = line.partition("=")
        values[name] = value
        i += 1
    return values


class Runner:
    """Runs ``action.yml`` from ``action_path`` in ``workspace`` with ``inputs`` and a job ``env``."""

    def __init__(self, action_path: Path, workspace: Path, temp: Path) -> None:
        self.action_path = action_path
        self.workspace = workspace
        self.temp = temp
        self.action = yaml.safe_load((action_path / "action.yml").read_text(encoding="utf-8"))
        self.summary = temp / "step_summary.md"
        self.summary.touch()

    def _inputs(self, given: Mapping[str, str]) -> dict[str, str]:
        declared = self.action["inputs"]
        unknown = set(given) - set(declared)
        assert not unknown, f"inputs the action does not declare: {unknown}"
        values = {}
        for name, spec in declared.items():
            if name in given:
                values[name] = given[name]
            else:
                assert not spec.get("required"), f"required input {name} missing"
                values[name] = str(spec.get("default", ""))
        return values

    def _evaluate(self, text: str, context: Mapping[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            value: Any = context
            for part in match.group(1).split("."):
                value = value.get(part, "") if isinstance(value, Mapping) else ""
            return str(value)

        return EXPRESSION.sub(one, text)

    def run(self, inputs: Mapping[str, str], env: Mapping[str, str], *,
            only: tuple[str, ...] | None = None, step_outputs: Mapping[str, Mapping[str, str]] | None = None,
            timeout: float = 300) -> ActionRun:
        """Run the steps (``only`` those ids or names, others' outputs taken from ``step_outputs``)."""
        result = ActionRun()
        context: dict[str, Any] = {
            "inputs": self._inputs(inputs), "runner": {"temp": str(self.temp)},
            "github": {"action_path": str(self.action_path), "workspace": str(self.workspace)},
            "steps": {k: {"outputs": dict(v)} for k, v in (step_outputs or {}).items()},
        }
        for n, step in enumerate(self.action["runs"]["steps"]):
            sid = step.get("id", f"step{n}")
            if only is not None and sid not in only and step.get("name") not in only:
                continue
            script = step["run"]
            assert not EXPRESSION.search(script), f"step {sid!r} splices an expression into run: (script injection)"
            assert step.get("shell") == "bash"
            output_file = self.temp / f"output_{sid}"
            output_file.write_text("")
            script_file = self.temp / f"{sid}.sh"
            script_file.write_text(script)
            step_env = {k: self._evaluate(str(v), context) for k, v in (step.get("env") or {}).items()}
            full_env = {**env, "GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_WORKSPACE": str(self.workspace),
                        "RUNNER_TEMP": str(self.temp), "GITHUB_ACTION_PATH": str(self.action_path),
                        "GITHUB_OUTPUT": str(output_file), "GITHUB_STEP_SUMMARY": str(self.summary), **step_env}
            proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
                                  cwd=self.workspace, env=full_env, capture_output=True, text=True, timeout=timeout,
                                  check=False)
            lines = (proc.stdout + proc.stderr).splitlines()
            result.log += lines
            outputs = read_outputs(output_file)
            result.steps[sid] = {"lines": lines, "outputs": outputs, "code": proc.returncode}
            context["steps"][sid] = {"outputs": outputs}
            if proc.returncode != 0:
                result.failed = sid
                break
        result.outputs = {name: self._evaluate(str(spec["value"]), context)
                          for name, spec in self.action.get("outputs", {}).items()}
        return result


def runner_env(**extra: str) -> dict[str, str]:
    """The job environment: the machine's PATH and HOME, nothing of xray-tasks' or the real runner's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XRAY_", "INVOKE_", "GITHUB_", "RUNNER_"))}
    return {**env, **extra}
