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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from xray_tasks.errors import SettingsError, XrayTasksError, redact
from xray_tasks.settings import Settings

if TYPE_CHECKING:
    from invoke.context import Context

    from xray_tasks.client import ImportResult, XrayClient
    from xray_tasks.importer import ImportOptions, ImportOutcome
    from xray_tasks.plan import ImportPlan

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
    from xray_tasks import formats, outputs
    from xray_tasks.importer import import_reports, plan_imports
    from xray_tasks.merge import ScratchFolder
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
        with ScratchFolder() as scratch:
            first, followers = plan_imports(s, paths, options, record, scratch, separate=separate)
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
        code = tests_exit if tests_exit is not None else (record.exit_code if record else 0)
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


def run_test_command(c: Context, s: Settings, command: str | None, remainder: str, clean: bool, *,
                     output_to_stderr: bool = False) -> int:
    """Run the tests, stream their output, record the run; return the tests' exit code.

    ``output_to_stderr`` keeps stdout for a JSON result (``ci --json``)."""
    from xray_tasks.runrecord import RunRecord, save_record

    cmd = command or s.test_command
    if not cmd:
        raise SettingsError("no test command", "set XRAY_TEST_COMMAND or pass --command 'pytest --junitxml=...'")
    if remainder:
        cmd = f"{cmd} {remainder}"
    if clean:
        _clean_reports(s.report)
    err(f"running: {cmd}")
    started = time.time()
    result = c.run(cmd, warn=True, pty=False, in_stream=False, echo=False,
                   out_stream=sys.stderr if output_to_stderr else None)
    finished = time.time()
    code = result.exited if result is not None and result.exited is not None else 1
    save_record(Path(s.state_file), RunRecord(command=cmd, started=started, finished=finished, exit_code=code,
                                              reports=s.report))
    state = "passed" if code == 0 else f"failed (exit {code}); the chain goes on so the results get imported"
    if code in (126, 127):  # the shell's "not executable" / "not found"
        state = (f"did not run (exit {code}: the shell could not find or execute the command; check "
                 "XRAY_TEST_COMMAND / --command)")
    err(f"tests {state} — {finished - started:.1f}s, recorded in {s.state_file}")
    return code


def _clean_reports(patterns: tuple[str, ...]) -> None:
    import glob

    for pattern in patterns:
        for match in glob.glob(pattern, recursive=True) if glob.has_magic(pattern) else [pattern]:
            path = Path(match)
            if path.is_file():
                path.unlink()
                err(f"removed old report {path}")
