"""Run the real ``xray-tasks`` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SECRET = "sandbox-secret"


def sandbox_env(sb: Any, tmp: Path, **extra: str) -> dict[str, str]:
    """Settings only through XRAY_* variables, pointed at the sandbox ``sb``; a private token cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XRAY_", "INVOKE_", "GITHUB_"))}
    env |= {
        "XRAY_BASE_URL": sb.url, "XRAY_CLIENT_ID": sb.config.client_id, "XRAY_CLIENT_SECRET": sb.config.client_secret,
        "XRAY_PROJECT_KEY": "DEMO", "XRAY_TOKEN_CACHE": str(tmp / "tokens.json"),
        "XRAY_ENV_FILE": str(tmp / "absent.env"), "XRAY_STATE_FILE": str(tmp / ".xray-run.json"),
        "XRAY_MAX_RETRIES": "0",
    }
    env.update(extra)
    return env


def xray_tasks(*args: str, env: Mapping[str, str], cwd: Path | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xray_tasks", *args], env=dict(env), cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)


def assert_one_clean_line(proc: subprocess.CompletedProcess[str], *secrets: str) -> str:
    """A failed run ends with one error line on stderr, no traceback, and no secret anywhere."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("xray-tasks: error:")]
    assert len(lines) == 1, proc.stderr
    for secret in secrets:
        assert secret not in proc.stdout + proc.stderr
    return lines[0]
