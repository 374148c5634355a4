"""The steps behind the tasks: run the tests, import the reports, print and record the results.

Plain functions over :class:`~xray_tasks.settings.Settings`, shared by the Invoke tasks and the demo.
They raise :class:`~xray_tasks.errors.XrayTasksError` for user errors and never exit the process;
the tasks turn errors and :class:`StepEnd` into Invoke's ``Exit``.
"""

from __future__ import annotations

import json as _json
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from xray_tasks.errors import SettingsError, XrayTasksError, redact
from xray_tasks.settings import Settings

if TYPE_CHECKING:
    from xray_tasks.client import ImportResult, XrayClient
    from xray_tasks.importer import ImportOptions, ImportOutcome
    from xray_tasks.plan import ImportPlan
    from xray_tasks.runner import CommandRun

__all__ = ["Output", "StepEnd", "client_for", "err", "import_step", "run_import", "run_test_command"]


_ERR_LOCK = threading.Lock()


def err(message: str) -> None:
    """One line on stderr, secrets redacted; whole lines even when parallel requests report at once."""
    with _ERR_LOCK:
        sys.stderr.write(redact(message) + "\n")
        sys.stderr.flush()


def _some(paths: Sequence[Path], shown: int = 3) -> str:
    """``a.xml, b.xml, c.xml and 47 more``: a progress line stays one readable line."""
    names = ", ".join(str(p) for p in paths[:shown])
    return f"{names} and {len(paths) - shown} more" if len(paths) > shown else names


def client_for(s: Settings) -> XrayClient:
    from xray_tasks.client import XrayClient

    return XrayClient(s, log=err)


@dataclass(frozen=True)
class StepEnd:
    """How a step ends when it is not plain success: the exit code, and a last line for stderr."""

    code: int
    message: str | None = None


@dataclass(frozen=True)
class Output:
    """How results are shown: text or JSON, quiet or not, and where summaries go."""

    as_json: bool = False
    quiet: bool = False
    summary_file: str | None = None


def run_import(s: Settings, options: ImportOptions, out: Output, *, dry_run: bool = False, separate: bool = False,
               parallel: int = 2, tests_exit: int | None = None) -> ImportOutcome | None:
    """Import the configured reports and print the result; None on a dry run."""
    import tempfile

    from xray_tasks import formats, outputs
    from xray_tasks.importer import import_reports, plan_imports
    from xray_tasks.reports import ReportInfo, find_reports
    from xray_tasks.runrecord import load_record

    record = load_record(Path(s.state_file))
    live = sys.stderr.isatty() and not (out.quiet or out.as_json)
    clear = "\x1b[K" if live else ""  # erase a live progress line before writing over it

    def say(message: str) -> None:
        if not (out.quiet or out.as_json):
            err(clear + message)

    patterns = s.report
    if not patterns and record is not None and record.reports:
        # `run-tests --report X` in an earlier step (or earlier in this invoke call) names the reports
        patterns = tuple(p if os.path.isabs(p) else os.path.join(record.cwd or ".", p) for p in record.reports)
        say(f"using the report(s) run-tests recorded in {s.state_file}: {', '.join(record.reports)}")
    paths = find_reports(patterns)

    if dry_run:
        with tempfile.TemporaryDirectory(prefix="xray-tasks-") as tmp:
            first, followers = plan_imports(s, paths, options, record, Path(tmp), separate=separate)
            plans = [first] + [p for _, p in followers]
            auth = "Bearer" if s.is_cloud or s.server_token else "Basic"
            if out.as_json:
                print(_json.dumps({"dry_run": True, "requests": [p.to_dict(s.base_url) for p in plans]},
                                  ensure_ascii=False))
                return None
            for i, plan in enumerate(plans, 1):
                if plan.detected:
                    say(f"detected {formats.FORMAT_LABELS[plan.format]} in {_some(plan.files)}")
                print(f"request {i} of {len(plans)}:" if len(plans) > 1 else "request:")
                print(plan.describe(s.base_url, auth))
        print("dry run: nothing was sent")
        return None

    def on_plan(plan: ImportPlan) -> None:
        if plan.detected:
            say(f"detected {formats.FORMAT_LABELS[plan.format]} in {_some(plan.files)}")
        for note in plan.notes:
            say(f"note: {note}")

    progress = {"done": 0, "total": 0}

    def on_start(total: int) -> None:
        progress["total"] = total
        if live and total > 1:
            print(f"importing {total} requests…", end="\r", file=sys.stderr, flush=True)

    def on_result(plan: ImportPlan, result: ImportResult) -> None:
        progress["done"] += 1
        files = plan.files[0].name if len(plan.files) == 1 else f"{len(plan.files)} files"
        count = f"[{progress['done']}/{progress['total']}] " if progress["total"] > 1 else ""
        say(f"{count}POST {plan.endpoint} ({files}): {result.status} in {result.duration:.2f}s → {result.key}")
        if live and progress["done"] < progress["total"]:  # a live line under the log, overwritten next time
            print(f"  {progress['done']}/{progress['total']} requests done…", end="\r", file=sys.stderr, flush=True)

    with client_for(s) as client:
        outcome = import_reports(s, paths, options, client, record, separate=separate, parallel=parallel,
                                 on_plan=on_plan, on_result=on_result, on_start=on_start)
    wants_summary = out.as_json or out.summary_file or os.environ.get("GITHUB_STEP_SUMMARY")
    totals = None
    if wants_summary:
        items = [(p, plan.format) for plan, _ in outcome.results for p in plan.files]
        totals = ReportInfo(items).totals
    data = outputs.summary(outcome, totals, tests_exit=tests_exit)
    if out.summary_file:
        outputs.write_summary_file(out.summary_file, data)
    outputs.write_ci_outputs(data)
    if out.as_json:
        print(_json.dumps(data, ensure_ascii=False), flush=True)
        return outcome
    plan, result = outcome.results[0]
    where = f": {result.url}" if result.url else " (set XRAY_JIRA_URL for a browse link)"
    files = sorted({str(p) for plan_, _ in outcome.results for p in plan_.files})
    what = plan.files[0].name if len(files) == 1 else f"{len(files)} reports"
    label = " + ".join(dict.fromkeys(formats.FORMAT_LABELS[p.format] for p, _ in outcome.results))
    if len(outcome.keys) == 1:
        print(f"Imported {what} ({label}) into {result.key}{where}", flush=True)
    else:
        print(f"Imported {what} ({label}) into {len(outcome.keys)} Test Executions:", flush=True)
        for p, r in outcome.results:
            print(f"  {r.key} {r.url or ''}  ← {', '.join(f.name for f in p.files)}", flush=True)
    return outcome


def import_step(s: Settings, options: ImportOptions, out: Output, *, dry_run: bool = False,
                separate: bool = False, parallel: int = 2, tests_exit: int | None = None) -> StepEnd | None:
    """Import, then apply the failure policy; returns how the step must end when not with success.

    An import error fails the step (raised), or with XRAY_ON_ERROR=warn is reported and the step ends
    with the tests' exit code. A successful import of failed tests ends with the tests' code when the
    tests' exit code is known (same call, or ``--exit-with-tests``)."""
    from xray_tasks import outputs

    try:
        outcome = run_import(s, options, out, dry_run=dry_run, separate=separate, parallel=parallel,
                             tests_exit=tests_exit)
    except XrayTasksError as exc:
        if dry_run:
            raise
        from xray_tasks.importer import ImportOutcome
        from xray_tasks.runrecord import load_record

        warn = s.on_error == "warn"
        record = load_record(Path(s.state_file))
        recorded = record.tests_exit if record else None  # a run that did not finish has no usable code
        code = tests_exit if tests_exit is not None else (recorded or 0)
        message = redact(str(exc))
        # --json and --summary-file get their object on failure too: the error, its exit code, and
        # whatever had been imported before it
        done = getattr(exc, "outcome", None) or ImportOutcome()
        data = outputs.summary(done, tests_exit=code if warn else tests_exit, error=message)
        data["exit_code"] = code if warn else exc.exit_code
        if out.summary_file:
            outputs.write_summary_file(out.summary_file, data)
        outputs.write_ci_outputs(data)
        if out.as_json:
            print(_json.dumps(data, ensure_ascii=False), flush=True)
        if not warn:
            raise
        err(f"xray-tasks: warning: import failed (XRAY_ON_ERROR=warn, exiting with the tests' code {code}): "
            f"{message}")
        return StepEnd(code)
    if outcome is not None and tests_exit:
        return StepEnd(tests_exit, f"xray-tasks: tests failed (exit {tests_exit}); their results were imported "
                                   f"into {', '.join(outcome.keys)}")
    return None


def run_test_command(s: Settings, command: str | None, remainder: str, clean: bool, *,
                     output_to_stderr: bool = False) -> CommandRun:
    """Run the tests with their output going straight to ours, record the run; return how it ended.

    ``output_to_stderr`` keeps stdout for a JSON result (``ci --json``). The record is written when the
    tests start (``running``) and again when they end; a record that cannot be written is a warning, not a
    reason to skip the tests. When we were interrupted (SIGINT/SIGTERM, passed on to the tests), the run is
    recorded as ``interrupted`` and the caller must stop the chain with ``run.stop_code``."""
    from xray_tasks.runner import run_command
    from xray_tasks.runrecord import RunRecord, save_record

    cmd = command or s.test_command
    if not cmd:
        raise SettingsError("no test command", "set XRAY_TEST_COMMAND or pass --command 'pytest --junitxml=...'")
    if remainder:
        cmd = f"{cmd} {remainder}"
    if clean:
        _clean_reports(s.report)
    path = Path(s.state_file)
    saved = failed = 0

    def record(run: RunRecord) -> None:
        nonlocal saved, failed
        try:
            save_record(path, run)
            saved += 1
        except OSError as exc:
            if not failed:
                earlier = " (an earlier run's record stays there)" if not saved and path.is_file() else ""
                err(f"xray-tasks: warning: cannot record the test run in {path}{earlier}: "
                    f"{exc.strerror or exc}; the tests run anyway, but later steps cannot use the record")
            failed += 1

    start = RunRecord(command=cmd, started=time.time(), finished=None, exit_code=None, reports=s.report,
                      state="running")
    err(f"running: {cmd}")
    run = run_command(cmd, stdout_to_stderr=output_to_stderr,
                      on_start=lambda pid: record(replace(start, pid=pid)))
    record(replace(start, started=run.started, finished=run.finished, exit_code=run.exit_code, pid=run.pid,
                   state="interrupted" if run.interrupted else "finished", signal=run.signal_name))
    code = run.exit_code
    if run.interrupted:
        state = (f"interrupted by {run.signal_name} (the tests exited {code}); the chain stops here with exit "
                 f"{run.stop_code}")
    elif code in (126, 127):  # the shell's "not executable" / "not found"
        state = (f"did not run (exit {code}: the shell could not find or execute the command; check "
                 "XRAY_TEST_COMMAND / --command)")
    else:
        state = "passed" if code == 0 else f"failed (exit {code}); the chain goes on so the results get imported"
    where = "not recorded" if failed else f"recorded in {path}"
    err(f"tests {state} — {run.duration:.1f}s, {where}")
    return run


def _clean_reports(patterns: tuple[str, ...]) -> None:
    """Delete the reports an earlier run left: matched files, and a folder's ``.xml``/``.json`` files below it
    (what ``import-results`` would import from it).

    A folder is emptied of report files only (never removed, nor anything else in it), and never when it is
    the working directory, the home folder or a parent of either: a mistyped ``--report .`` must not wipe a
    project's XML files. Every pattern is checked before anything is deleted."""
    import glob

    here, home = Path.cwd().resolve(), Path.home().resolve()
    doomed: list[Path] = []
    for pattern in patterns:
        pattern = os.path.expanduser(pattern)
        if glob.has_magic(pattern):
            doomed += [Path(m) for m in glob.glob(pattern, recursive=True)]
        elif Path(pattern).is_dir():
            real = Path(pattern).resolve()
            if real in (here, home) or real in here.parents or real in home.parents:
                what = ("the working directory" if real == here else "the home folder" if real == home
                        else "a parent of the working directory or of the home folder")
                raise SettingsError(f"--clean: refusing to delete the reports in {pattern}: it is {what}, which "
                                    "holds more than the test run's reports",
                                    "point --report at the folder the tests write their reports to (e.g. "
                                    "--report reports), or at the report files")
            doomed += [p for p in Path(pattern).rglob("*") if p.suffix.lower() in (".xml", ".json")]
        else:
            doomed.append(Path(pattern))
    for path in doomed:
        if path.is_file():
            path.unlink()
            err(f"removed old report {path}")
