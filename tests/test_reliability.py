"""Reliability drills: the real ``xray-tasks`` command over loopback HTTP against the sandbox, with the
sandbox's faults switched on. Each drill counts what the sandbox recorded: every import lands exactly
once and no Test Execution is duplicated."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli_helpers import assert_one_clean_line, sandbox_env, xray_tasks
from tests.servers import ResetMidBodyServer, TricklingServer
from xray_tasks.sandbox import Sandbox

JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="drill" tests="3" failures="1" errors="0" skipped="0">
<testcase classname="drill.Calc" name="test_add" time="0.01"/>
<testcase classname="drill.Calc" name="test_sub" time="0.02"/>
<testcase classname="drill.Calc" name="test_div" time="0.03"><failure message="boom">trace</failure></testcase>
</testsuite></testsuites>
"""
TESTS_IN_REPORT = 3


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT, encoding="utf-8")
    return path


def imports(sb: Sandbox) -> list[dict[str, object]]:
    return [r for r in sb.store.requests() if "/import/" in str(r["path"])]


def auths(sb: Sandbox) -> list[dict[str, object]]:
    return [r for r in sb.store.requests() if str(r["path"]).endswith("/authenticate")]


def landed(sb: Sandbox) -> list[dict[str, object]]:
    """Import requests the sandbox answered with success (2xx)."""
    return [r for r in imports(sb) if isinstance(r["status"], int) and 200 <= r["status"] < 300]


def imported_key(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("Imported "), proc.stdout
    return line.split(" into ")[1].split(":")[0].split(" ")[0]


def assert_exactly_one_execution(sb: Sandbox, key: str) -> None:
    executions = sb.store.executions()
    assert [e["key"] for e in executions] == [key]
    execution = sb.store.execution(key)
    assert execution is not None
    assert execution["total"] == TESTS_IN_REPORT
    assert execution["imports"] == 1


@pytest.mark.parametrize("fault", ["status_429", "status_503"], ids=["429 with Retry-After", "503"])
def test_transient_answers_are_retried_and_the_import_lands_once(fault: str, sb: Sandbox, report: Path,
                                                                 tmp_path: Path) -> None:
    """authenticate is refused once (retried), then the import twice (retried): the command authenticates
    once and creates exactly one Test Execution."""
    env = sandbox_env(sb, tmp_path, XRAY_MAX_RETRIES="3", XRAY_RETRY_BUDGET="20")
    sb.faults.update({fault: 1, "retry_after": 1})
    proc = xray_tasks("authenticate", env=env)
    assert proc.returncode == 0, proc.stderr
    assert [a["status"] for a in auths(sb)] == [int(fault[-3:]), 200]
    sb.faults.update({fault: 2})
    started = time.monotonic()
    proc = xray_tasks("import-results", "--report", str(report), env=env)
    key = imported_key(proc)
    retries = [line for line in proc.stderr.splitlines() if "retrying in" in line]
    assert len(retries) == 2, proc.stderr
    assert all(line.startswith(f"import {report.name}: Xray answered {fault[-3:]}: ") for line in retries), retries
    assert "kept answering" not in proc.stderr
    assert_exactly_one_execution(sb, key)
    assert len(landed(sb)) == 1
    assert [r["status"] for r in imports(sb)] == [int(fault[-3:])] * 2 + [200]
    assert len(auths(sb)) == 2  # the cached token was reused
    if fault == "status_429":
        assert time.monotonic() - started >= 2 * 1.0  # Retry-After: 1 was honoured each time
    assert sb.faults.as_dict()[fault] == 0


def test_retries_stop_at_the_budget_and_nothing_lands(sb: Sandbox, report: Path, tmp_path: Path) -> None:
    """503 forever within a small XRAY_MAX_RETRIES: exit 17 saying how often it tried; nothing imported."""
    sb.faults.update({"status_503": 100})
    env = sandbox_env(sb, tmp_path, XRAY_MAX_RETRIES="2", XRAY_RETRY_BUDGET="10")
    proc = xray_tasks("import-results", "--report", str(report), env=env)
    line = assert_one_clean_line(proc, sb.config.client_secret)
    assert proc.returncode == 17
    assert "tried 3 times" in line
    assert sb.store.executions() == []


def test_an_expired_cached_token_is_replaced_once_and_the_import_retried(sb: Sandbox, report: Path,
                                                                        tmp_path: Path) -> None:
    env = sandbox_env(sb, tmp_path)
    assert xray_tasks("authenticate", env=env).returncode == 0
    assert len(auths(sb)) == 1
    sb.faults.update({"expire_tokens": True})
    proc = xray_tasks("import-results", "--report", str(report), env=env)
    key = imported_key(proc)
    assert "authenticating again" in proc.stderr
    assert len(auths(sb)) == 2  # re-authenticated exactly once
    assert [r["status"] for r in imports(sb)] == [401, 200]
    assert_exactly_one_execution(sb, key)


def test_a_dropped_connection_on_a_creating_import_is_not_retried(sb: Sandbox, report: Path, tmp_path: Path) -> None:
    """Xray processed the import but the answer was lost: exit 18, one attempt, one Test Execution."""
    sb.faults.update({"drop_after_body": 1})
    env = sandbox_env(sb, tmp_path, XRAY_MAX_RETRIES="3", XRAY_RETRY_BUDGET="10")
    proc = xray_tasks("import-results", "--report", str(report), env=env)
    line = assert_one_clean_line(proc, sb.config.client_secret)
    assert proc.returncode == 18, proc.stderr
    assert "was not sent again" in line and "look for a new Test Execution" in line
    assert len(imports(sb)) == 1  # exactly one attempt
    assert len(sb.store.executions()) == 1  # processed once, never duplicated


@pytest.mark.parametrize("processed", [True, False], ids=["processed before the drop", "dropped unprocessed"])
def test_a_dropped_connection_into_an_existing_execution_is_retried(processed: bool, sb: Sandbox, report: Path,
                                                                    tmp_path: Path) -> None:
    """Importing into an existing key cannot create a duplicate: retried, no new Test Execution, no
    duplicated run."""
    env = sandbox_env(sb, tmp_path, XRAY_MAX_RETRIES="3", XRAY_RETRY_BUDGET="10")
    key = imported_key(xray_tasks("import-results", "--report", str(report), env=env))
    sb.faults.update({"drop_after_body": 1, "process_before_drop": processed})
    proc = xray_tasks("import-results", "--report", str(report), env=env | {"XRAY_TEST_EXEC_KEY": key})
    assert imported_key(proc) == key
    assert "retrying in" in proc.stderr
    assert [e["key"] for e in sb.store.executions()] == [key]
    execution = sb.store.execution(key)
    assert execution is not None
    assert execution["total"] == TESTS_IN_REPORT  # runs upserted, never duplicated
    assert len(imports(sb)) == 3  # create, dropped, retried
    # the second import landed once: once if the dropped attempt was not processed, else processed + retry
    assert execution["imports"] == (3 if processed else 2)


def test_a_slow_server_hits_the_timeout_instead_of_hanging(sb: Sandbox, report: Path, tmp_path: Path) -> None:
    """Latency over XRAY_TIMEOUT=1: authenticate (idempotent) is retried then exits 17; a creating import
    with a cached token exits 18 — both within a bounded wall time."""
    env = sandbox_env(sb, tmp_path, XRAY_TIMEOUT="1", XRAY_MAX_RETRIES="1", XRAY_RETRY_BUDGET="5")
    sb.faults.update({"latency_ms": 2500})
    started = time.monotonic()
    proc = xray_tasks("import-results", "--report", str(report), env=env, timeout=30)
    elapsed = time.monotonic() - started
    line = assert_one_clean_line(proc, sb.config.client_secret)
    assert proc.returncode == 17, proc.stderr
    assert "no answer within 1s" in line and "XRAY_TIMEOUT" in line
    assert elapsed < 10, elapsed

    sb.faults.update({"latency_ms": 0})
    assert xray_tasks("authenticate", env=env).returncode == 0
    sb.faults.update({"latency_ms": 2500})
    started = time.monotonic()
    proc = xray_tasks("import-results", "--report", str(report), env=env, timeout=30)
    elapsed = time.monotonic() - started
    line = assert_one_clean_line(proc, sb.config.client_secret)
    assert proc.returncode == 18, proc.stderr
    assert "no answer within 1s" in line
    assert elapsed < 8, elapsed
    time.sleep(2.5)  # the sandbox finishes the slow request (it logs it once answered): it lands once
    assert len(imports(sb)) == 1  # not sent again
    assert len(sb.store.executions()) == 1


@pytest.mark.parametrize("existing", [False, True])
def test_a_trickling_server_is_cut_off_at_the_deadline(existing: bool, report: Path, tmp_path: Path) -> None:
    """A server that keeps sending a byte inside every read timeout is cut off at XRAY_DEADLINE: a creating
    import exits 18 without a second try; an import into an existing execution is retried, then exits 17."""
    server = TricklingServer()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("XRAY_")} | {
            "XRAY_BASE_URL": server.url, "XRAY_DEPLOYMENT": "server", "XRAY_SERVER_TOKEN": "pat-secret-0123456789",
            "XRAY_PROJECT_KEY": "DEMO", "XRAY_TIMEOUT": "1", "XRAY_DEADLINE": "2", "XRAY_MAX_RETRIES": "1",
            "XRAY_RETRY_BUDGET": "30", "XRAY_ENV_FILE": os.devnull,
            "XRAY_STATE_FILE": str(tmp_path / "run.json")}
        args = ["--test-exec", "DEMO-5"] if existing else []
        started = time.monotonic()
        proc = xray_tasks("import-results", "--report", str(report), *args, env=env, timeout=60)
        elapsed = time.monotonic() - started
    finally:
        server.close()
    line = assert_one_clean_line(proc, "pat-secret-0123456789")
    assert "no complete answer within XRAY_DEADLINE=2s" in line
    if existing:
        assert proc.returncode == 17 and "tried 2 times" in line
        assert server.connections == 2
        assert elapsed < 12, elapsed
    else:
        assert proc.returncode == 18 and "not sent again" in line
        assert server.connections == 1
        assert elapsed < 7, elapsed


def big_junit(path: Path, cases: int = 60_000, size: int = 0) -> Path:
    """A JUnit report of several MiB (at least ``size`` bytes)."""
    line = '<testcase classname="big.Suite" name="test_{}" time="0.001"/>\n'
    cases = max(cases, size // len(line.format(0)) + 1)
    body = "".join(line.format(i) for i in range(cases))
    path.write_text(f'<testsuite name="big" tests="{cases}">\n{body}</testsuite>\n', encoding="utf-8")
    return path


def test_an_upload_reset_mid_body_is_sent_again_even_when_it_creates(tmp_path: Path) -> None:
    """A connection reset before the report was fully sent cannot have imported anything: a creating
    import is sent again (once) instead of ending as 'may have been created'."""
    server = ResetMidBodyServer(resets=1)
    report = big_junit(tmp_path / "big.xml", size=server.unsendable_size())
    assert report.stat().st_size >= server.unsendable_size()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("XRAY_")} | {
            "XRAY_BASE_URL": server.url, "XRAY_DEPLOYMENT": "server", "XRAY_SERVER_TOKEN": "pat-secret-0123456789",
            "XRAY_PROJECT_KEY": "DEMO", "XRAY_MAX_RETRIES": "2", "XRAY_RETRY_BUDGET": "30",
            "XRAY_ENV_FILE": os.devnull, "XRAY_STATE_FILE": str(tmp_path / "run.json")}
        proc = xray_tasks("import-results", "--report", str(report), env=env, timeout=60)
    finally:
        server.close()
    assert proc.returncode == 0, proc.stderr
    assert "DEMO-7" in proc.stdout
    assert "broke before the report was sent completely" in proc.stderr and "retrying in" in proc.stderr
    assert (server.connections, server.whole_bodies) == (2, 1)


def test_processes_started_together_authenticate_once(sb: Sandbox, report: Path, tmp_path: Path) -> None:
    """Parallel CI jobs sharing a token cache: the cache's lock makes one authenticate, the others wait
    and take its token."""
    sb.faults.update({"latency_ms": 400})  # widen the window in which both would authenticate
    env = sandbox_env(sb, tmp_path)
    cmd = [sys.executable, "-m", "xray_tasks", "import-results", "--report", str(report)]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert len(auths(sb)) == 1
    assert len(landed(sb)) == 3


def test_a_region_mismatch_names_xray_region(sb: Sandbox, report: Path, tmp_path: Path) -> None:
    sb.faults.update({"region_mismatch": True})
    proc = xray_tasks("import-results", "--report", str(report), env=sandbox_env(sb, tmp_path))
    line = assert_one_clean_line(proc, sb.config.client_secret)
    assert proc.returncode == 15
    assert "another region" in line and "XRAY_REGION" in line
    assert len(imports(sb)) == 1  # not retried, not re-authenticated
    assert len(auths(sb)) == 1
    assert sb.store.executions() == []


def test_the_token_cache_is_private_and_a_readable_one_is_refused(sb: Sandbox, report: Path, tmp_path: Path) -> None:
    env = sandbox_env(sb, tmp_path)
    cache = Path(env["XRAY_TOKEN_CACHE"])
    assert xray_tasks("authenticate", env=env).returncode == 0
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    token = next(iter(json.loads(cache.read_text()).values()))["token"]
    assert token.count(".") == 2  # the sandbox's JWT is what is cached

    os.chmod(cache, 0o640)
    proc = xray_tasks("import-results", "--report", str(report), env=env)
    line = assert_one_clean_line(proc, sb.config.client_secret, token)
    assert proc.returncode == 11
    assert "readable by other users" in line and f"chmod 600 {cache}" in line
    assert imports(sb) == []
    assert len(auths(sb)) == 1


RECOGNISABLE_SECRET = "S3CRET-xray-tasks-canary-4242"
LEAKY_TEMPLATE = """{"fields": {"project": {"key": {{ project_key | json }}}, "issuetype": {"name": "Test Execution"},
 "summary": "leak check", "description": {{ ((env | string) ~ (settings | string) ~ (vars | string)) | json }}}}
"""


def test_secrets_and_tokens_never_reach_output_files_or_templates(report: Path, tmp_path: Path) -> None:
    """A recognisable client secret never appears in stdout, stderr, summary files, the token cache or a
    rendered template; the token appears only with ``authenticate --print-token``."""
    with Sandbox(client_secret=RECOGNISABLE_SECRET) as sb:
        env = sandbox_env(sb, tmp_path)
        template = tmp_path / "leaky.json.j2"
        template.write_text(LEAKY_TEMPLATE, encoding="utf-8")
        summaries = [tmp_path / f"summary-{n}.json" for n in range(3)]
        r = str(report)
        runs = {
            "import": xray_tasks("import-results", "--report", r, "--summary-file", str(summaries[0]), env=env),
            "dry run": xray_tasks("import-results", "--report", r, "--dry-run", env=env),
            "dry run json": xray_tasks("import-results", "--report", r, "--dry-run", "--json", env=env),
            "multipart dry run": xray_tasks("import-results", "--report", r, "--dry-run", "--info-template",
                                            str(template), env=env),
            "json": xray_tasks("import-results", "--report", r, "--json", "--summary-file", str(summaries[1]),
                               env=env),
            "failing import": xray_tasks("import-results", "--report", r, env=env | {"XRAY_PROJECT_KEY": "NOPE"}),
            "failing import, warn": xray_tasks("import-results", "--report", r, "--json", "--summary-file",
                                               str(summaries[2]), "--on-error", "warn",
                                               env=env | {"XRAY_PROJECT_KEY": "NOPE"}),
            "authenticate": xray_tasks("authenticate", "--force", env=env),
            "wrong secret": xray_tasks("import-results", "--report", r, "--quiet",
                                       env=env | {"XRAY_CLIENT_SECRET": RECOGNISABLE_SECRET + "-old",
                                                  "XRAY_TOKEN_CACHE": str(tmp_path / "other-cache.json")}),
        }
        assert runs["import"].returncode == 0 and runs["json"].returncode == 0, runs["import"].stderr
        assert runs["failing import"].returncode == 16 and runs["wrong secret"].returncode == 15
        assert runs["multipart dry run"].returncode == 0, runs["multipart dry run"].stderr
        assert "leak check" in runs["multipart dry run"].stdout  # the template was rendered and shown
        cache = Path(env["XRAY_TOKEN_CACHE"])
        tokens = [entry["token"] for entry in json.loads(cache.read_text()).values()]
        assert tokens
        printed = xray_tasks("authenticate", "--print-token", env=env)
        assert printed.returncode == 0
        assert printed.stdout.strip() in tokens  # the one place a token is printed

        texts = {name: p.stdout + p.stderr for name, p in runs.items()}
        texts |= {s.name: s.read_text() for s in summaries}
        texts["token cache"] = cache.read_text()
        for name, text in texts.items():
            assert RECOGNISABLE_SECRET not in text, f"the client secret leaked into: {name}"
            if name != "token cache":
                for token in tokens:
                    assert token not in text, f"the token leaked into: {name}"
        assert all(RECOGNISABLE_SECRET not in str(req) for req in sb.store.requests())
