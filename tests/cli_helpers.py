"""Run the real ``xray-tasks`` command in a subprocess, as a user would."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tests.runners import FIXTURE_FOR

REPO = Path(__file__).resolve().parent.parent

#: format -> the session fixture (tests/runners.py) holding a real runner's report of that format
REPORT_FIXTURES = FIXTURE_FOR

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE testsuite [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<testsuite name="lol" tests="1"><testcase classname="a" name="&lol9;"/></testsuite>
"""


@contextlib.contextmanager
def seeded_sandbox(tests: int = 3) -> Iterator[Any]:
    """A sandbox in a thread whose project DEMO holds Tests DEMO-2 … DEMO-(tests+1), the keys the real
    runners' reports refer to (DEMO-1 is the seeded Test Plan)."""
    from xray_tasks.sandbox import Sandbox

    with Sandbox() as sandbox:
        for n in range(2, tests + 2):
            assert sandbox.store.create_test("DEMO", f"Existing test {n}")["key"] == f"DEMO-{n}"
        yield sandbox
SECRET = "sandbox-secret"


def sandbox_env(sb: Any, tmp: Path, **extra: str) -> dict[str, str]:
    """Settings only through XRAY_* variables, pointed at the sandbox ``sb``; a private token cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XRAY_", "INVOKE_", "GITHUB_"))}
    env |= {
        "XRAY_BASE_URL": sb.url, "XRAY_CLIENT_ID": sb.config.client_id, "XRAY_CLIENT_SECRET": sb.config.client_secret,
        "XRAY_PROJECT_KEY": "DEMO", "XRAY_TOKEN_CACHE": str(tmp / "tokens.json"),
        "XRAY_ENV_FILE": os.devnull, "XRAY_STATE_FILE": str(tmp / ".xray-run.json"),
        "XRAY_MAX_RETRIES": "0",
    }
    env.update(extra)
    return env


def pytest_suite(tmp: Path, source: str, junit: str | Path, *options: str) -> str:
    """Write ``source`` as ``tmp/suite/test_it.py``; return the command that runs it with a real pytest
    writing JUnit XML to ``junit`` (relative paths are relative to the command's working directory)."""
    suite = tmp / "suite"
    suite.mkdir(exist_ok=True)
    (suite / "test_it.py").write_text(source, encoding="utf-8")
    extra = "".join(f" {o}" for o in options)
    return f"{sys.executable} -m pytest -q{extra} -p no:cacheprovider {suite} --junitxml {junit} -c /dev/null"


def xray_tasks(*args: str, env: Mapping[str, str], cwd: Path | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xray_tasks", *args], env=dict(env), cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)


def secret_forms(secret: str) -> list[str]:
    """Every form a secret can take in output: as it is, escaped as repr() and JSON write it, URL-encoded,
    and inside a Basic credential (``user:secret`` for the users the tests use)."""
    import base64
    import json
    from urllib.parse import quote, quote_plus

    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)}
    forms |= {base64.b64encode(f"{user}:{secret}".encode()).decode() for user in ("ci-bot", "admin")}
    return sorted(forms)


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        for form in secret_forms(secret):
            assert form not in text, f"a form of a secret leaked: {form!r}"


def assert_one_clean_line(proc: subprocess.CompletedProcess[str], *secrets: str) -> str:
    """A failed run ends with one error line on stderr, no traceback, and no secret (in any form) anywhere."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("xray-tasks: error:")]
    assert len(lines) == 1, proc.stderr
    assert_no_secret(proc.stdout + proc.stderr, *secrets)
    return lines[0]
