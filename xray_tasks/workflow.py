"""The steps behind the tasks: run the tests, import the reports, print and record the results.

Plain functions over :class:`~xray_tasks.settings.Settings`, shared by the Invoke tasks and the demo.
They raise :class:`~xray_tasks.errors.XrayTasksError` for user errors and never exit the process;
the tasks turn errors and :class:`StepEnd` into Invoke's ``Exit``.

An import step goes one way: settings → reports (:mod:`~xray_tasks.reports`) → plan
(:mod:`~xray_tasks.importer`, :mod:`~xray_tasks.plan`) → client (:mod:`~xray_tasks.client`) → outcome →
what people see (:mod:`~xray_tasks.console`) → what machines read (:mod:`~xray_tasks.outputs`).
"""

from __future__ import annotations

import glob
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xray_tasks import outputs
from xray_tasks.console import Console, err
from xray_tasks.errors import CheckFailed, ImportFailed, Interrupted, SettingsError, XrayTasksError
from xray_tasks.importer import ImportOptions, ImportOutcome, plan_run, send_run
from xray_tasks.merge import ScratchFolder
from xray_tasks.reports import find_reports, protected_folder
from xray_tasks.runner import run_command
from xray_tasks.runrecord import RunRecord, save_record
from xray_tasks.settings import Settings

if TYPE_CHECKING:
    from xray_tasks.afterimport import AfterImport

__all__ = ["OutputOptions", "StepEnd", "import_step", "only_warns", "perform_import", "run_test_command",
           "write_results"]

#: import failures that XRAY_ON_ERROR=warn turns into a warning: Xray's refusals, outages and lost runs,
#: never a mistake in the configuration or the command line
WARNABLE_EXIT_CODES = frozenset({16, 17, 18, 19})


def only_warns(s: Settings, error: XrayTasksError) -> bool:
    """Whether ``error`` is only a warning: XRAY_ON_ERROR=warn covers Xray's refusals and outages, never a
    configuration or usage error."""
    return s.on_error == "warn" and error.exit_code in WARNABLE_EXIT_CODES


def write_results(s: Settings, console: Console, data: dict[str, Any], summary_file: str | None, *,
                  step_summary: bool = True) -> None:
    """The summary file, the dotenv and properties files (XRAY_DOTENV_FILE, XRAY_PROPERTIES_FILE) and the
    GitHub Actions files; the Markdown step summary only when ``step_summary`` (what an import table fits).
    A file that cannot be written is a warning: the result it holds has already happened."""
    environ = os.environ if step_summary else {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    for warning in outputs.write_outputs(data, summary_file, environ, dotenv_file=s.dotenv_file,
                                         properties_file=s.properties_file):
        console.warn(warning)


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
                tests_exit: int | None = None, after: AfterImport | None = None) -> StepEnd | None:
    """Import, show and keep the result, then apply the failure policy; how the step must end, when not
    with plain success.

    ``after`` runs once the import landed (the read-back, the shard record: :mod:`xray_tasks.afterimport`).
    ``record`` is the test run recorded by run-tests (read once by the caller). An import error fails the
    step (raised), or with XRAY_ON_ERROR=warn, for Xray's refusals and outages, is reported and the step
    ends with the tests' exit code. A successful import of failed tests ends with the tests' code when
    that code is known (``tests_exit``)."""
    console = Console(as_json=out.as_json, quiet=out.quiet)
    try:
        outcome = perform_import(s, options, out, record, console, dry_run=dry_run, separate=separate,
                                 parallel=parallel, tests_exit=tests_exit, after=after)
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
                   tests_exit: int | None = None, after: AfterImport | None = None) -> ImportOutcome | None:
    """Import and show the result (the key first), run ``after``, then write the summary and CI files; None
    on a dry run. A failing ``after`` raises :class:`CheckFailed` with what it found, for :func:`_failed`."""
    for note in s.notes:
        console.say(f"note: {note}")
    with ScratchFolder() as scratch:  # made only if a report is merged, split or rewritten
        outcome = _import(s, options, record, console, scratch, dry_run=dry_run, separate=separate,
                          parallel=parallel)
        if outcome is None:
            return None
        if not out.as_json:  # the key goes out first: what fails below must not hide it
            console.imported(outcome)
        # the checks read the bodies as they were sent (rewritten, merged), so they run before those go
        checked = after(outcome, console) if after is not None else {}
    data = outputs.summary(outcome, counts=outcome_counts(s, outcome, out), tests_exit=tests_exit, checks=checked)
    if out.as_json:
        console.data(data)
    console.annotate_results(data)
    write_results(s, console, data, out.summary_file)
    return outcome


def outcome_counts(s: Settings, outcome: ImportOutcome, out: OutputOptions) -> dict[str, dict[str, int]] | None:
    """Per-status counts of what each Test Execution received, when something will show them (they cost a
    parse)."""
    if not (out.as_json or outputs.shows_counts(out.summary_file, s.dotenv_file, s.properties_file)):
        return None
    return outputs.count_results(outcome)


def _import(s: Settings, options: ImportOptions, record: RunRecord | None, console: Console, scratch: ScratchFolder,
            *, dry_run: bool, separate: bool, parallel: int) -> ImportOutcome | None:
    """Find, plan and send (or, for a dry run, show) the import; None on a dry run."""
    from xray_tasks.client import XrayClient

    patterns = s.report
    if not patterns and record is not None and record.reports:
        # `run-tests --report X` in an earlier step (or earlier in this invoke call) names the reports
        patterns = record.report_patterns
        console.say(f"using the report(s) run-tests recorded in {s.state_file}: {', '.join(record.reports)}")
    paths = find_reports(patterns)
    run = plan_run(s, paths, options, record, scratch, separate=separate)
    if dry_run:
        console.dry_run(run, s.base_url, s.auth_scheme)
        return None
    with XrayClient(s, log=err, meter=console.upload) as client:
        return send_run(client, run, console, parallel=parallel)


def _failed(s: Settings, exc: XrayTasksError, out: OutputOptions, console: Console, record: RunRecord | None,
            tests_exit: int | None) -> StepEnd:
    """--json and --summary-file get their object on failure too: the error, its exit code, and what had
    been imported before it. Then the error is raised, or with XRAY_ON_ERROR=warn reported."""
    warn = only_warns(s, exc)
    code = tests_exit if tests_exit is not None else ((record.tests_exit if record else None) or 0)
    done = exc.outcome if isinstance(exc, ImportFailed | Interrupted | CheckFailed) and exc.outcome else ImportOutcome()
    data = outputs.summary(done, tests_exit=code if warn else tests_exit, error=str(exc),
                           exit_code=code if warn else exc.exit_code,
                           checks=exc.details if isinstance(exc, CheckFailed) else None)
    if out.as_json:
        console.data(data)
    write_results(s, console, data, out.summary_file)
    if not warn:
        raise exc
    console.warn(f"import failed (XRAY_ON_ERROR=warn, exiting with the tests' code {code}): {exc}")
    return StepEnd(code)


def run_test_command(s: Settings, command: str | None, remainder: str, clean: bool, *,
                     output_to_stderr: bool = False) -> RunRecord:
    """Run the tests with their output going straight to ours, record the run; return the record.

    ``output_to_stderr`` keeps stdout for a JSON result (``ci --json``). The record is written when the
    tests start (``running``) and again when they end; a record that cannot be written is a warning, not a
    reason to skip the tests, and the returned record serves the rest of this call all the same. When we
    were interrupted (SIGINT/SIGTERM, passed on to the tests), the run is recorded as ``interrupted`` and
    the caller must stop the chain with ``record.stop_code``."""

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
    final = replace(start, started=run.started, finished=run.finished, exit_code=run.exit_code, pid=run.pid,
                    state="interrupted" if run.interrupted else "finished", signal=run.signal_name)
    record(final)
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
    return final


def _clean_reports(patterns: tuple[str, ...]) -> None:
    """Delete the reports an earlier run left: matched files, and a folder's ``.xml``/``.json`` files below it
    (what ``import-results`` would import from it).

    A folder is emptied of report files only (never removed, nor anything else in it), and never when it is
    the working directory, the home folder or a parent of either: a mistyped ``--report .`` must not wipe a
    project's XML files. Every pattern is checked before anything is deleted."""
    doomed: list[Path] = []
    for pattern in patterns:
        pattern = os.path.expanduser(pattern)
        if glob.has_magic(pattern):
            doomed += [Path(m) for m in glob.glob(pattern, recursive=True)]
        elif Path(pattern).is_dir():
            if what := protected_folder(pattern):
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
