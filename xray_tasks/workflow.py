"""The steps behind the tasks: run the tests, import the reports, print and record the results.

Plain functions over :class:`~xray_tasks.settings.Settings`, shared by the Invoke tasks and the demo.
They raise :class:`~xray_tasks.errors.XrayTasksError` for user errors and never exit the process;
the tasks turn errors and :class:`StepEnd` into Invoke's ``Exit``.

An import step goes one way: settings → reports (:mod:`~xray_tasks.reports`) → plan
(:mod:`~xray_tasks.importer`, :mod:`~xray_tasks.plan`) → client (:mod:`~xray_tasks.client`) → outcome →
what people see (:mod:`~xray_tasks.console`) → what machines read (:mod:`~xray_tasks.outputs`).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from xray_tasks import outputs
from xray_tasks.console import Console, err
from xray_tasks.errors import ImportFailed, Interrupted, SettingsError, XrayTasksError
from xray_tasks.importer import ImportOptions, ImportOutcome, plan_run, send_run
from xray_tasks.reports import find_reports
from xray_tasks.runrecord import RunRecord, save_record
from xray_tasks.settings import Settings

if TYPE_CHECKING:
    from invoke.context import Context

__all__ = ["OutputOptions", "StepEnd", "import_step", "perform_import", "run_test_command"]

#: import failures that XRAY_ON_ERROR=warn turns into a warning: Xray's refusals and outages, never a
#: mistake in the configuration or the command line
WARNABLE_EXIT_CODES = frozenset({16, 17, 18})


@dataclass(frozen=True)
class StepEnd:
    """How a step ends when it is not plain success: the exit code, and a last line for stderr."""

    code: int
    message: str | None = None


@dataclass(frozen=True)
class OutputOptions:
    """How results are shown and kept: text or JSON, quiet or not, and the summary file."""

    as_json: bool = False
    quiet: bool = False
    summary_file: str | None = None


def import_step(s: Settings, options: ImportOptions, out: OutputOptions, record: RunRecord | None = None, *,
                dry_run: bool = False, separate: bool = False, parallel: int = 2,
                tests_exit: int | None = None) -> StepEnd | None:
    """Import, show and keep the result, then apply the failure policy; how the step must end, when not
    with plain success.

    ``record`` is the test run recorded by run-tests (read once by the caller). An import error fails the
    step (raised), or with XRAY_ON_ERROR=warn, for Xray's refusals and outages, is reported and the step
    ends with the tests' exit code. A successful import of failed tests ends with the tests' code when
    that code is known (``tests_exit``)."""
    console = Console(as_json=out.as_json, quiet=out.quiet)
    try:
        outcome = perform_import(s, options, out, record, console, dry_run=dry_run, separate=separate,
                                 parallel=parallel, tests_exit=tests_exit)
    except XrayTasksError as exc:
        if dry_run:
            raise
        return _failed(s, exc, out, console, record, tests_exit)
    if outcome is not None and tests_exit:
        return StepEnd(tests_exit, f"xray-tasks: tests failed (exit {tests_exit}); their results were imported "
                                   f"into {', '.join(outcome.keys)}")
    return None


def perform_import(s: Settings, options: ImportOptions, out: OutputOptions, record: RunRecord | None,
                   console: Console, *, dry_run: bool = False, separate: bool = False, parallel: int = 2,
                   tests_exit: int | None = None) -> ImportOutcome | None:
    """Import and show the result (the key first), then write the summary and CI files; None on a dry run."""
    for note in s.notes:
        console.say(f"note: {note}")
    outcome = _import(s, options, record, console, dry_run=dry_run, separate=separate, parallel=parallel)
    if outcome is None:
        return None
    data = outputs.summary(outcome, outcome_totals(outcome, out), tests_exit=tests_exit)
    if out.as_json:  # the key goes out first: a side effect that fails below must not hide it
        console.data(data)
    else:
        console.imported(outcome)
    for warning in outputs.write_outputs(data, out.summary_file):
        console.warn(warning)
    return outcome


def outcome_totals(outcome: ImportOutcome, out: OutputOptions) -> dict[str, int] | None:
    """Per-status counts of what was imported, when something will show them (they cost a parse)."""
    if not (out.as_json or out.summary_file or os.environ.get("GITHUB_STEP_SUMMARY")):
        return None
    from xray_tasks.reports import ReportInfo

    return ReportInfo([(p, plan.format) for plan, _ in outcome.results for p in plan.files]).totals


def _import(s: Settings, options: ImportOptions, record: RunRecord | None, console: Console, *, dry_run: bool,
            separate: bool, parallel: int) -> ImportOutcome | None:
    """Find, plan and send (or, for a dry run, show) the import; None on a dry run."""
    from xray_tasks.client import XrayClient

    patterns = s.report
    if not patterns and record is not None and record.reports:
        # `run-tests --report X` in an earlier step (or earlier in this invoke call) names the reports
        patterns = tuple(p if os.path.isabs(p) else os.path.join(record.cwd or ".", p) for p in record.reports)
        console.say(f"using the report(s) run-tests recorded in {s.state_file}: {', '.join(record.reports)}")
    paths = find_reports(patterns)
    with tempfile.TemporaryDirectory(prefix="xray-tasks-") as tmp:
        run = plan_run(s, paths, options, record, Path(tmp), separate=separate)
        if dry_run:
            console.dry_run(run, s.base_url, "Bearer" if s.is_cloud or s.server_token else "Basic")
            return None
        with XrayClient(s, log=err) as client:
            return send_run(client, run, console, parallel=parallel)


def _failed(s: Settings, exc: XrayTasksError, out: OutputOptions, console: Console, record: RunRecord | None,
            tests_exit: int | None) -> StepEnd:
    """--json and --summary-file get their object on failure too: the error, its exit code, and what had
    been imported before it. Then the error is raised, or with XRAY_ON_ERROR=warn reported."""
    warn = s.on_error == "warn" and exc.exit_code in WARNABLE_EXIT_CODES
    code = tests_exit if tests_exit is not None else (record.exit_code if record else 0)
    done = exc.outcome if isinstance(exc, ImportFailed | Interrupted) and exc.outcome else ImportOutcome()
    data = outputs.summary(done, tests_exit=code if warn else tests_exit, error=str(exc),
                           exit_code=code if warn else exc.exit_code)
    if out.as_json:
        console.data(data)
    for warning in outputs.write_outputs(data, out.summary_file):
        console.warn(warning)
    if not warn:
        raise exc
    console.warn(f"import failed (XRAY_ON_ERROR=warn, exiting with the tests' code {code}): {exc}")
    return StepEnd(code)


def run_test_command(c: Context, s: Settings, command: str | None, remainder: str, clean: bool, *,
                     output_to_stderr: bool = False) -> int:
    """Run the tests, stream their output, record the run; return the tests' exit code.

    ``output_to_stderr`` keeps stdout for a JSON result (``ci --json``)."""
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
