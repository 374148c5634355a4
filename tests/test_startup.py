"""Start-up and request-count behaviour: the command loads no heavy module before it needs one, and an
import with a cached token is exactly one HTTP request, streamed with a Content-Length (no timings here —
those are in bench/run.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import sandbox_env, xray_tasks

HEAVY = ("httpx", "httpcore", "jinja2", "xray_tasks.sandbox")


@pytest.mark.parametrize("module", ["xray_tasks", "xray_tasks.cli"])
def test_importing_the_command_loads_no_heavy_module(module: str) -> None:
    code = (f"import sys, {module}; "
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "", f"importing {module} loaded: {proc.stdout.strip()}"


def test_help_loads_no_heavy_module() -> None:
    code = ("import sys; sys.argv = ['xray-tasks', '--help']\n"
            "from xray_tasks.cli import program\n"
            "try:\n    program.run(exit=False)\nexcept SystemExit:\n    pass\n"
            f"sys.stderr.write(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "import-results" in proc.stdout
    assert proc.stderr.strip() == "", f"--help loaded: {proc.stderr.strip()}"


def test_import_with_a_cached_token_is_one_streamed_request(tmp_path: Path) -> None:
    from xray_tasks.sandbox import Sandbox

    report = tmp_path / "junit.xml"
    report.write_text('<?xml version="1.0"?>\n<testsuite name="s" tests="2">'
                      '<testcase classname="a.B" name="one"/><testcase classname="a.B" name="two"/>'
                      "</testsuite>\n", encoding="utf-8")
    with Sandbox() as sb:
        env = sandbox_env(sb, tmp_path)
        warm = xray_tasks("authenticate", env=env)
        assert warm.returncode == 0, warm.stderr
        before = len(sb.store.requests())
        proc = xray_tasks("import-results", "--report", str(report), env=env)
        assert proc.returncode == 0, proc.stderr
        sent = sb.store.requests()[before:]
    assert len(sent) == 1, sent
    assert sent[0]["method"] == "POST" and sent[0]["path"].endswith("/import/execution/junit"), sent[0]
    assert not sent[0]["chunked"] and sent[0]["body_size"] == report.stat().st_size, sent[0]
