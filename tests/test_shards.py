"""Sharded CI against one sandbox: an execution created up front, real ``xray-tasks import-results --shard``
processes importing into it at the same moment, and ``finalize`` checking the shard records and the runs.
What concurrency must not break — one authentication, retries without duplicates, environments set once —
and every way a pipeline can go wrong (a missing, foreign or damaged record, a lost run, Cucumber/Behave
shards) ends with its documented exit code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import assert_one_clean_line, sandbox_env, seeded_sandbox, xray_tasks
from xray_tasks.sandbox import Sandbox

TESTS_PER_SHARD = 5


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with seeded_sandbox(3) as sandbox:
        yield sandbox


def shard_reports(tmp: Path, shards: int) -> list[Path]:
    """A real pytest run per shard, all at once, each over its own module of TESTS_PER_SHARD tests (the last
    one fails); the JUnit reports."""
    procs, reports = [], []
    for i in range(1, shards + 1):
        suite = tmp / f"suite{i}"
        suite.mkdir()
        (suite / f"test_part{i}.py").write_text("".join(
            f"def test_{n}():\n    assert {n} != {TESTS_PER_SHARD - 1}\n\n" for n in range(TESTS_PER_SHARD)))
        reports.append(tmp / f"junit-{i}.xml")
        procs.append(subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", os.devnull,
                                       "--rootdir", str(suite), "--junitxml", str(reports[-1]), str(suite)],
                                      cwd=suite, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for proc in procs:
        proc.wait(timeout=120)
    assert all(r.is_file() for r in reports)
    return reports


def run_together(commands: list[list[str]], env: Mapping[str, str],
                 cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    """Start every ``xray-tasks`` command at once, then collect them all."""
    procs = [subprocess.Popen([sys.executable, "-m", "xray_tasks", *args], env=dict(env), cwd=cwd, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for args in commands]
    out = []
    for args, proc in zip(commands, procs, strict=True):
        stdout, stderr = proc.communicate(timeout=180)
        out.append(subprocess.CompletedProcess(args, proc.returncode, stdout, stderr))
    return out


def authentications(sb: Sandbox) -> int:
    return sum(1 for r in sb.store.requests() if r["path"].endswith("/authenticate"))


def shard_imports(key: str, reports: list[Path], records: Path) -> list[list[str]]:
    return [["import-results", "--test-exec", key, "--shard", f"{i}/{len(reports)}", "--report", str(r),
             "--shard-dir", str(records)] for i, r in enumerate(reports, 1)]


def finalize_json(key: str, records: Path, env: Mapping[str, str], *more: str) -> tuple[int, dict[str, Any]]:
    proc = xray_tasks("finalize", "--test-exec", key, "--shard-dir", str(records), "--json", *more, env=env)
    data: dict[str, Any] = json.loads(proc.stdout)
    return proc.returncode, data


def test_eight_shards_import_at_once_and_finalize_verifies_the_whole(sb: Sandbox, tmp_path: Path) -> None:
    """create-execution, then eight real shard processes importing into its key at the same moment: every
    run is there exactly once, each shard left its record, finalize --expect-shards 8 verifies all 40
    runs, and the whole pipeline authenticated once."""
    env = sandbox_env(sb, tmp_path)
    records = tmp_path / "records"
    reports = shard_reports(tmp_path, 8)
    created = xray_tasks("create-execution", "--summary", "Pipeline 42", env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()

    shards = run_together(shard_imports(key, reports, records), env, tmp_path)
    assert [p.returncode for p in shards] == [0] * 8, "\n".join(p.stderr for p in shards if p.returncode)
    assert all(f"into {key}" in p.stdout for p in shards)
    stored = sb.store.execution(key)
    assert stored is not None and stored["imports"] == 8
    names = sorted(r["definition"] for r in stored["runs"])
    assert names == sorted(f"test_part{i}.test_{n}" for i in range(1, 9) for n in range(TESTS_PER_SHARD))
    assert len({r["test_key"] for r in stored["runs"]}) == 40 and stored["counts"] == {"PASSED": 32, "FAILED": 8}
    assert sorted(p.name for p in records.iterdir()) == sorted(f"xray-shard-{i}.json" for i in range(1, 9))

    proc = xray_tasks("finalize", "--test-exec", key, "--expect-shards", "8", "--shard-dir", str(records), env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"8 shard record(s) in {records}, 1 Test Execution(s):"
    assert [line.split()[:4] for line in lines[2:10]] == [[f"{i}/8", key, "1", "5"] for i in range(1, 9)]
    assert lines[10].split() == ["all", "8", "40", "32", "8", "0", "0", "0"]
    assert f"Verified {key}: 40 runs recorded for the 40 Tests sent" in lines
    assert authentications(sb) == 1


def test_shards_with_an_empty_token_cache_authenticate_once(sb: Sandbox, tmp_path: Path) -> None:
    """Eight shard processes started together on one machine, none holding a token: the token cache's lock
    lets one authenticate and the other seven use its token."""
    env = sandbox_env(sb, tmp_path)
    key = xray_tasks("create-execution", env={**env, "XRAY_TOKEN_CACHE": "off"}).stdout.strip()
    before = authentications(sb)
    assert not (tmp_path / "tokens.json").exists()
    [report] = shard_reports(tmp_path, 1)  # the same Tests from every shard: the imports replace one another
    shards = run_together(shard_imports(key, [report] * 8, tmp_path), env, tmp_path)
    assert [p.returncode for p in shards] == [0] * 8, "\n".join(p.stderr for p in shards if p.returncode)
    assert authentications(sb) - before == 1
    stored = sb.store.execution(key)
    assert stored is not None and stored["imports"] == 8 and stored["total"] == TESTS_PER_SHARD


def test_a_retried_shard_import_replaces_runs_without_duplicating(sb: Sandbox, tmp_path: Path) -> None:
    """The sandbox imports a shard's report and drops the connection before answering: an import into an
    existing execution is sent again (it replaces the same Tests' runs), and the execution holds each run
    once."""
    env = sandbox_env(sb, tmp_path, XRAY_MAX_RETRIES="2")
    key = xray_tasks("create-execution", env=env).stdout.strip()
    [report] = shard_reports(tmp_path, 1)
    sb.faults.update({"drop_after_body": 1, "process_before_drop": True})
    proc = xray_tasks(*shard_imports(key, [report], tmp_path)[0], "--verify", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "retrying" in proc.stderr and f"Verified {key}: 5 runs recorded" in proc.stdout
    stored = sb.store.execution(key)
    assert stored is not None and stored["imports"] == 2 and stored["total"] == TESTS_PER_SHARD


def test_a_shard_does_not_send_environments_that_would_replace_the_executions(sb: Sandbox, tmp_path: Path) -> None:
    """Environments are set once by create-execution; a shard given --test-env (or XRAY_TEST_ENVIRONMENTS)
    leaves them out with a note, so the execution keeps its own."""
    env = sandbox_env(sb, tmp_path, XRAY_TEST_ENVIRONMENTS="firefox")
    key = xray_tasks("create-execution", "--test-env", "chrome", env={**env, "XRAY_TEST_ENVIRONMENTS": ""}
                     ).stdout.strip()
    [report] = shard_reports(tmp_path, 1)
    proc = xray_tasks(*shard_imports(key, [report], tmp_path)[0], "--test-env", "safari", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Test Environments (safari) are not sent" in proc.stderr and "create-execution" in proc.stderr
    stored = sb.store.execution(key)
    assert stored is not None and stored["environments"] == ["chrome"]
    imports = [r for r in sb.store.requests() if "/import/" in r["path"]]
    assert "testEnvironments" not in imports[-1]["query"]


def test_finalize_fails_for_each_kind_of_missing_or_wrong_record(sb: Sandbox, tmp_path: Path) -> None:
    """finalize ends with exit 20 and one line when records are too few for --expect-shards, one is missing,
    damaged, saved under another shard's name, or names another Test Execution — and with 19 when the
    records are all there but a run is not."""
    env = sandbox_env(sb, tmp_path, XRAY_VERIFY_WAIT="0")
    key = xray_tasks("create-execution", env=env).stdout.strip()
    records = tmp_path / "records"
    reports = shard_reports(tmp_path, 2)
    for args in shard_imports(key, reports, records):
        assert xray_tasks(*args, env=env).returncode == 0
    summary = tmp_path / "finalize.json"
    code, data = finalize_json(key, records, env, "--summary-file", str(summary))
    assert code == 0 and data["verification"]["ok"] and data["totals"]["failed"] == 2
    assert json.loads(summary.read_text()) == data and [s["shard"] for s in data["shards"]] == ["1/2", "2/2"]
    assert data["verification"]["executions"][0]["recorded"] == {"passed": 8, "failed": 2, "skipped": 0, "todo": 0,
                                                                 "aborted": 0}

    def fails(code: int, *words: str, args: tuple[str, ...] = ()) -> None:
        proc = xray_tasks("finalize", "--test-exec", key, "--shard-dir", str(records), *args, env=env)
        line = assert_one_clean_line(proc, sb.config.client_secret)
        assert proc.returncode == code and all(w in line for w in words), line

    fails(20, "--expect-shards 3", args=("--expect-shards", "3"))
    second = records / "xray-shard-2.json"
    kept = second.read_text()
    second.unlink()
    fails(20, "1 of 2 shard records missing", "xray-shard-2.json")
    second.write_text(kept[: len(kept) // 2])
    fails(20, "xray-shard-2.json is not a usable shard record")
    shutil.copy(records / "xray-shard-1.json", second)
    fails(20, "under another shard's name")

    other = xray_tasks("create-execution", env=env).stdout.strip()
    assert xray_tasks(*shard_imports(other, reports, records)[1], env=env).returncode == 0
    fails(20, f"xray-shard-2.json names {other}", f"another Test Execution than {key}")
    assert xray_tasks("finalize", "--shard-dir", str(records), env=env).returncode == 11  # which execution?

    lost, fresh = xray_tasks("create-execution", env=env).stdout.strip(), tmp_path / "fresh"
    first, second_import = shard_imports(lost, reports, fresh)
    assert xray_tasks(*first, env=env).returncode == 0
    sb.faults.update({"drop_runs": 1})
    assert xray_tasks(*second_import, env=env).returncode == 0
    proc = xray_tasks("finalize", "--test-exec", lost, "--shard-dir", str(fresh), env=env)
    assert proc.returncode == 19 and "test_part2.test_0 from shard 2/2" in assert_one_clean_line(proc)
    assert "  missing: test_part2.test_0 (sent passed)" in proc.stdout
    for empty in (tmp_path / "nowhere", tmp_path / "suite1"):
        proc = xray_tasks("finalize", "--test-exec", key, "--shard-dir", str(empty), env=env)
        assert proc.returncode == 20 and "shard" in assert_one_clean_line(proc)


def test_behave_shards_cannot_share_an_execution_and_use_one_per_shard_in_a_plan(
        sb: Sandbox, tmp_path: Path, behave_report: Path) -> None:
    """A shard with Behave results and --test-exec is refused (exit 11) with the way that works: each shard
    imports into its own execution in one Test Plan, and finalize --test-plan verifies each one and that it
    is in the plan — an execution outside the plan fails it (19)."""
    env = sandbox_env(sb, tmp_path, XRAY_VERIFY_WAIT="0")
    key = xray_tasks("create-execution", env=env).stdout.strip()
    refused = xray_tasks("import-results", "--test-exec", key, "--shard", "1/2", "--report", str(behave_report),
                         env=env)
    line = assert_one_clean_line(refused)
    assert refused.returncode == 11 and "Behave JSON" in line and "finalize --test-plan PLAN" in line
    assert sb.store.execution(key)["imports"] == 0  # type: ignore[index]

    records = tmp_path / "records"
    keys = []
    for i in (1, 2):
        proc = xray_tasks("import-results", "--test-plan", "DEMO-1", "--shard", f"{i}/2", "--report",
                          str(behave_report), "--shard-dir", str(records), env=env)
        assert proc.returncode == 0, proc.stderr
        keys.append(json.loads((records / f"xray-shard-{i}.json").read_text())["key"])
    assert len(set(keys)) == 2
    proc = xray_tasks("finalize", "--test-plan", "DEMO-1", "--expect-shards", "2", "--shard-dir", str(records),
                      env=env)
    assert proc.returncode == 0, proc.stderr
    assert all(f"Verified {k}:" in proc.stdout for k in keys)

    outside = xray_tasks("import-results", "--shard", "2/2", "--report", str(behave_report), "--shard-dir",
                         str(records), env=env)
    assert outside.returncode == 0, outside.stderr
    proc = xray_tasks("finalize", "--test-plan", "DEMO-1", "--shard-dir", str(records), env=env)
    assert proc.returncode == 19 and "not linked to the Test Plan DEMO-1" in assert_one_clean_line(proc)


def test_a_shard_record_is_never_taken_for_a_report(sb: Sandbox, tmp_path: Path) -> None:
    """A shard record written beside the reports is skipped, with a note, when that folder is imported."""
    env = sandbox_env(sb, tmp_path)
    key = xray_tasks("create-execution", env=env).stdout.strip()
    folder = tmp_path / "reports"
    folder.mkdir()
    [report] = shard_reports(tmp_path, 1)
    shutil.move(report, folder / report.name)
    assert xray_tasks(*shard_imports(key, [folder], folder)[0], env=env).returncode == 0
    again = xray_tasks("import-results", "--report", str(folder), env=env)
    assert again.returncode == 0, again.stderr
    assert "xray-shard-1.json: xray-tasks' own shard record" in again.stderr


def test_shard_flags_are_checked(sb: Sandbox, tmp_path: Path) -> None:
    """--shard must be I/N with 1 <= I <= N, GitLab's CI_NODE_* must make sense, and --shard with --separate
    is refused: each is exit 11 before anything is sent."""
    env = sandbox_env(sb, tmp_path)
    [report] = shard_reports(tmp_path, 1)
    for args, extra, word in ((("--shard", "9/8"), {}, "--shard"), (("--shard", "x"), {}, "I/N"),
                              (("--shard", "1/2", "--separate"), {}, "--separate"),
                              ((), {"CI_NODE_INDEX": "3", "CI_NODE_TOTAL": "2"}, "CI_NODE_INDEX")):
        proc = xray_tasks("import-results", "--report", str(report), *args, env={**env, **extra})
        assert proc.returncode == 11 and word in assert_one_clean_line(proc), proc.stderr
    assert not [r for r in sb.store.requests() if "/import/" in r["path"]]
