"""The Invoke tasks: thin wrappers that parse flags, call the library, and exit cleanly.

Chains: ``run-tests`` → ``authenticate`` → ``import-results`` work as separate ``invoke`` calls (the run
is recorded in a state file, the token in the token cache) and in one call
(``invoke run-tests authenticate import-results``); ``ci`` is the one-shot chain. Settings are resolved
by :func:`xray_tasks.settings.resolve_settings` inside each task, never through pre-tasks, because
Invoke's pre-tasks do not see a mounted collection's config (pyinvoke/invoke#736).

Heavy imports (httpx, Jinja2, the sandbox) happen inside the tasks, so ``--help`` stays fast.
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from xray_tasks.console import err
from xray_tasks.errors import SettingsError, Terminated, XrayTasksError
from xray_tasks.importer import ImportOptions
from xray_tasks.redaction import redact
from xray_tasks.runrecord import RunRecord, load_record, recorded_exit_code
from xray_tasks.settings import Settings, resolve_settings
from xray_tasks.workflow import OutputOptions, StepEnd, import_step, run_test_command

if TYPE_CHECKING:
    from xray_tasks.afterimport import AfterImport

__all__ = ["authenticate", "ci", "create_execution", "demo", "doctor", "finalize", "import_results", "ns",
           "run_tests", "sandbox", "verify"]

F = TypeVar("F", bound=Callable[..., Any])


def exits_cleanly(func: F) -> F:
    """Turn our errors into ``Exit(message, code)`` so no user error ends in a traceback, and an interrupt
    (Ctrl-C, or SIGTERM while the task runs) into exit 130 / 143 after everything has unwound."""

    @functools.wraps(func)
    def wrapper(c: Context, *args: Any, **kwargs: Any) -> Any:
        try:
            with _sigterm_interrupts():
                return func(c, *args, **kwargs)
        except XrayTasksError as exc:
            raise Exit(redact(f"xray-tasks: error: {exc}"), code=exc.exit_code) from None
        except KeyboardInterrupt as stop:
            signum = stop.signum if isinstance(stop, Terminated) else signal.SIGINT
            name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
            raise Exit(f"xray-tasks: interrupted ({name})", code=128 + signum) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While a task runs, SIGTERM raises :class:`Terminated` the way Ctrl-C raises KeyboardInterrupt, so
    temporary files are removed and requests under way are cut (only the main thread gets signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def end_step(end: StepEnd | None) -> None:
    if end is not None:
        raise Exit(end.message, code=end.code)


def _config(c: Context) -> dict[str, Any]:
    section = c.config.get("xray", None)
    return dict(section) if section else {}


def settings_for(c: Context, **flags: Any) -> Settings:
    return resolve_settings(flags=flags, config=_config(c), variables=flags.pop("variables", None))


def whole_number(value: str | int | None, flag: str, default: int, *, low: int = 0, high: int = 65535) -> int:
    """A numeric flag, taken as text so a typo is one clean error instead of Invoke's ValueError traceback."""
    if value is None:
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise SettingsError(f"{flag} {value!r} is not a whole number from {low} to {high}",
                            f"write e.g. {flag} {default}")
    return number


def parse_vars(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise SettingsError(f"--var {pair!r} is not NAME=VALUE with NAME a plain identifier",
                                "write e.g. --var summary='Nightly run' (letters, digits, underscores)")
        out[name] = value
    return out


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(ts))


COMMON_HELP = {
    "base_url": "Xray Cloud host, or Jira base URL for Server/DC (XRAY_BASE_URL)",
    "region": "Xray Cloud region: global, us, eu, au (XRAY_REGION)",
    "deployment": "cloud or server (XRAY_DEPLOYMENT)",
}


@task(auto_shortflags=False, help={**COMMON_HELP,
            "print_token": "print the bare token alone on stdout, for scripts (Cloud)",
            "force": "authenticate even when a cached token is still valid"})
@exits_cleanly
def authenticate(c: Context, print_token: bool = False, force: bool = False, base_url: str | None = None,
                 region: str | None = None, deployment: str | None = None) -> None:
    """Get an Xray token (cached on disk for later steps); never prints it unless asked."""
    s = settings_for(c, base_url=base_url, region=region, deployment=deployment)
    if print_token and not s.is_cloud:
        raise SettingsError("--print-token: Xray Server/DC has no token to print; requests carry the personal "
                            "access token or user/password themselves",
                            "use XRAY_SERVER_TOKEN (or XRAY_SERVER_USER/XRAY_SERVER_PASSWORD) in your script")
    from xray_tasks.client import XrayClient

    with XrayClient(s, log=err) as client:
        if not s.is_cloud:
            err(f"Xray Server/DC at {s.base_url}: {client.whoami()}")
            return
        token = client.authenticate(force=force)
    if print_token:
        print(token.value, flush=True)
        return
    how = "cached token" if token.from_cache else "new token"
    err(f"authenticated to {s.base_url} ({how}, valid until {_when(token.expires_at)})")


IMPORT_HELP = {
    "report": "report path, directory or glob (repeatable; XRAY_REPORT)",
    "format": "auto (detect from content) or xray, cucumber, behave, junit, testng, nunit, xunit, robot",
    "project": "Jira project key (XRAY_PROJECT_KEY)",
    "test_exec": "import into this existing Test Execution (XRAY_TEST_EXEC_KEY)",
    "test_plan": "link the Test Execution to this Test Plan (XRAY_TEST_PLAN_KEY)",
    "test_env": "Test Environment (repeatable; XRAY_TEST_ENVIRONMENTS)",
    "revision": "source revision (XRAY_REVISION)",
    "fix_version": "fix version name (XRAY_FIX_VERSION)",
    "multipart": "use the multipart endpoint with the info/testInfo templates (always a new Test Execution)",
    "info_template": "Jinja template file for the Test Execution's info JSON",
    "test_info_template": "Jinja template file for the testInfo JSON of created Tests",
    "var": "template variable NAME=VALUE (repeatable; also XRAY_VAR_NAME)",
    "dry_run": "print the request(s) with the rendered JSON and send nothing",
    "json": "print one JSON object with the result instead of text",
    "allow_stale": "import a report even if it is older than the recorded test run",
    "exit_with_tests": "after importing, exit with the recorded test run's exit code (separate CI steps)",
}


def _import_flags(project: str | None, test_exec: str | None, test_plan: str | None, test_env: list[str] | None,
                  revision: str | None, fix_version: str | None, report: list[str] | None,
                  format: str | None) -> dict[str, Any]:
    check_reports_given(report)
    return {"project_key": project, "test_exec_key": test_exec, "test_plan_key": test_plan,
            "test_environments": tuple(test_env or ()) or None, "revision": revision,
            "fix_version": fix_version, "report": tuple(report or ()) or None, "report_format": format}


def check_reports_given(report: list[str] | None) -> None:
    """``--report ""`` (an unset CI variable, typically) is an error, not a silent fall-back to XRAY_REPORT."""
    if report and any(not r.strip() for r in report):
        raise SettingsError("--report was given an empty path (an unset CI variable?)",
                            "pass the report's path, directory or glob, or leave --report out to use XRAY_REPORT")


SHARD_HELP = {
    "shard": "this job is shard I of N (e.g. 2/8): leave the shard record finalize reads (XRAY_SHARD; GitLab's "
             "CI_NODE_INDEX/CI_NODE_TOTAL)",
    "shard_dir": "folder of the shard records xray-shard-<I>.json (default: the working folder; XRAY_SHARD_DIR)",
}


def after_import_checks(s: Settings, record: RunRecord | None, *, verify: bool,
                        separate: bool) -> tuple[Settings, AfterImport | None]:
    """The settings a (sharded) import runs with, and its checks after the import (:mod:`afterimport`)."""
    from xray_tasks.afterimport import after_import
    from xray_tasks.shards import current_shard, refuse_gherkin, shard_settings

    part = current_shard(s)
    s = shard_settings(s, part)
    refuse_gherkin(s, part, record)
    return s, after_import(s, verify=verify, shard=part, separate=separate)


OUTPUT_HELP = {
    "separate": "one Test Execution per report file instead of one for all",
    "parallel": "requests sent at once after the first, 1 to 32 (default 2)",
    "summary_file": "write the result (keys, files, totals, endpoint, duration) as JSON to this file",
    "quiet": "print only the result line (no progress lines)",
    "on_error": "fail: an import failure fails the step; warn: warn and exit with the tests' code (XRAY_ON_ERROR)",
}


@task(auto_shortflags=False, help={**IMPORT_HELP, **COMMON_HELP, **OUTPUT_HELP, **SHARD_HELP,
            "verify": "read the Test Execution back and compare it with the reports; exit 19 when runs are missing "
                      "(XRAY_VERIFY)"},
      iterable=["report", "test_env", "var"])
@exits_cleanly
def import_results(c: Context, report: list[str] | None = None, format: str | None = None,
                   project: str | None = None, test_exec: str | None = None, test_plan: str | None = None,
                   test_env: list[str] | None = None, revision: str | None = None, fix_version: str | None = None,
                   multipart: bool = False, info_template: str | None = None,
                   test_info_template: str | None = None, var: list[str] | None = None, dry_run: bool = False,
                   json: bool = False, allow_stale: bool = False, separate: bool = False, parallel: str | None = None,
                   summary_file: str | None = None, quiet: bool = False, on_error: str | None = None,
                   exit_with_tests: bool = False, base_url: str | None = None, region: str | None = None,
                   deployment: str | None = None, verify: bool = False, shard: str | None = None,
                   shard_dir: str | None = None) -> None:
    """Import test reports into Xray and print the Test Execution key and link."""
    variables = parse_vars(var)
    s = settings_for(c, **_import_flags(project, test_exec, test_plan, test_env, revision, fix_version, report,
                                        format),
                     on_error=on_error, base_url=base_url, region=region, deployment=deployment,
                     variables=variables, verify=verify or None, shard=shard, shard_dir=shard_dir)
    options = ImportOptions(fmt=s.report_format, multipart=multipart, info_template=info_template,
                            test_info_template=test_info_template, cli_vars=bool(variables), allow_stale=allow_stale)
    record = load_record(Path(s.state_file))
    if exit_with_tests:
        tests_exit: int | None = recorded_exit_code(record, Path(s.state_file))
    else:  # run-tests earlier in this same invoke call: the step ends with the tests' code too
        tests_exit = record.tests_exit if record and record.this_process else None
    s, after = after_import_checks(s, record, verify=bool(s.verify), separate=separate)
    end_step(import_step(s, options, OutputOptions(json, quiet, summary_file), record, dry_run=dry_run,
                         separate=separate, parallel=whole_number(parallel, "--parallel", 2, low=1, high=32),
                         tests_exit=tests_exit, after=after))


@task(auto_shortflags=False, help={"command": "test command (XRAY_TEST_COMMAND); text after -- is appended",
            "report": "report path/glob the tests write (repeatable; XRAY_REPORT), recorded for later steps",
            "clean": "delete the report files before running, so a failed run leaves no stale report"},
      iterable=["report"])
@exits_cleanly
def run_tests(c: Context, command: str | None = None, report: list[str] | None = None, clean: bool = False) -> None:
    """Run the tests and record the run for import-results (test failures don't stop the chain)."""
    check_reports_given(report)
    s = settings_for(c, test_command=command, report=tuple(report or ()) or None)
    record = run_test_command(s, command, getattr(c, "remainder", "") or "", clean)
    if record.stop_code is not None:  # Ctrl-C / SIGTERM: no later task of this invoke call runs
        raise Exit(code=record.stop_code)


IMPORT_ONLY_FLAGS = ("test_exec", "dry_run", "allow_stale", "exit_with_tests")


@task(auto_shortflags=False, help={**{k: v for k, v in IMPORT_HELP.items() if k not in IMPORT_ONLY_FLAGS},
            **COMMON_HELP, **OUTPUT_HELP, **SHARD_HELP,
            "command": "test command (XRAY_TEST_COMMAND); text after -- is appended",
            "clean": "delete the report files before running the tests",
            "test_exec": "import into this existing Test Execution, e.g. one create-execution made for CI shards "
                         "(XRAY_TEST_EXEC_KEY)",
            "no_verify": "do not read the Test Execution back after the import (XRAY_VERIFY=false)"},
      iterable=["report", "test_env", "var"])
@exits_cleanly
def ci(c: Context, command: str | None = None, report: list[str] | None = None, format: str | None = None,
       project: str | None = None, test_plan: str | None = None, test_env: list[str] | None = None,
       revision: str | None = None, fix_version: str | None = None, multipart: bool = False,
       info_template: str | None = None, test_info_template: str | None = None, var: list[str] | None = None,
       json: bool = False, clean: bool = False, separate: bool = False, parallel: str | None = None,
       summary_file: str | None = None, quiet: bool = False, on_error: str | None = None,
       base_url: str | None = None, region: str | None = None, deployment: str | None = None,
       test_exec: str | None = None, no_verify: bool = False, shard: str | None = None,
       shard_dir: str | None = None) -> None:
    """Run the tests, authenticate, import the results and verify them; exit with the tests' exit code."""
    variables = parse_vars(var)
    s = settings_for(c, **_import_flags(project, test_exec, test_plan, test_env, revision, fix_version, report,
                                        format),
                     test_command=command, on_error=on_error, base_url=base_url, region=region,
                     deployment=deployment, variables=variables, verify=False if no_verify else None, shard=shard,
                     shard_dir=shard_dir)
    options = ImportOptions(fmt=s.report_format, multipart=multipart, info_template=info_template,
                            test_info_template=test_info_template, cli_vars=bool(variables))
    record = run_test_command(s, command, getattr(c, "remainder", "") or "", clean, output_to_stderr=json)
    if record.stop_code is not None:  # Ctrl-C / SIGTERM: the interrupted run's reports are not imported
        raise Exit(code=record.stop_code)
    s, after = after_import_checks(s, record, verify=s.verify is not False, separate=separate)
    end_step(import_step(s, options, OutputOptions(json, quiet, summary_file), record, separate=separate,
                         parallel=whole_number(parallel, "--parallel", 2, low=1, high=32),
                         tests_exit=record.tests_exit, after=after))


@task(auto_shortflags=False, help={"port": "port on 127.0.0.1 (default 8765; 0 picks a free one)",
                                  "db": "SQLite file (default: in memory)",
                                  "host": "address to listen on (default 127.0.0.1)"})
@exits_cleanly
def sandbox(c: Context, port: str | None = None, db: str = ":memory:", host: str = "127.0.0.1") -> None:
    """Run the local Xray stand-in (Cloud and Server/DC API) in the foreground."""
    from xray_tasks.sandbox import serve

    serve(host=host, port=whole_number(port, "--port", 8765), db=db, out=sys.stdout)


@task(auto_shortflags=False, help={"keep": "keep the sandbox running after the demo, until Ctrl-C"})
@exits_cleanly
def demo(c: Context, keep: bool = False) -> None:
    """Try everything on a local Xray stand-in: run example tests, authenticate, import."""
    from xray_tasks.demo import run_demo

    run_demo(keep=keep)


@task(auto_shortflags=False, help={**COMMON_HELP,
            "report": "report path, directory or glob to check (repeatable; XRAY_REPORT)",
            "format": "auto (detect from content) or the report format to expect (XRAY_REPORT_FORMAT)",
            "project": "Jira project key (XRAY_PROJECT_KEY)",
            "test_plan": "Test Plan key the templates render with (XRAY_TEST_PLAN_KEY)",
            "info_template": "Jinja template file for the Test Execution's info JSON",
            "test_info_template": "Jinja template file for the testInfo JSON of created Tests",
            "var": "template variable NAME=VALUE (repeatable; also XRAY_VAR_NAME)",
            "json": "print the checks as a JSON list instead of a table"},
      iterable=["report", "var"])
@exits_cleanly
def doctor(c: Context, report: list[str] | None = None, format: str | None = None, project: str | None = None,
           test_plan: str | None = None, info_template: str | None = None, test_info_template: str | None = None,
           var: list[str] | None = None, json: bool = False, base_url: str | None = None,
           region: str | None = None, deployment: str | None = None) -> None:
    """Check settings, connection, credentials, templates and reports without importing; say what to fix."""
    from xray_tasks import doctor as checks_

    variables = parse_vars(var)
    flags = {"report": tuple(report or ()) or None, "report_format": format, "project_key": project,
             "test_plan_key": test_plan, "base_url": base_url, "region": region, "deployment": deployment}

    def resolve(**overrides: Any) -> Settings:
        return settings_for(c, **{**flags, **overrides}, variables=variables)

    results = checks_.diagnose(resolve, info_template=info_template, test_info_template=test_info_template)
    print(checks_.as_json(results) if json else checks_.format_table(results), flush=True)
    if checks_.has_failures(results):
        failed = [r.name for r in results if r.status == checks_.FAIL]
        raise Exit(redact(f"xray-tasks: doctor: {len(failed)} check(s) failed: {', '.join(failed)}"),
                   code=SettingsError.exit_code)


@task(auto_shortflags=False, help={**COMMON_HELP,
            "summary": "the Test Execution's summary (the info template's vars.summary)",
            "project": "Jira project key (XRAY_PROJECT_KEY)",
            "test_plan": "link the Test Execution to this Test Plan (XRAY_TEST_PLAN_KEY)",
            "test_env": "Test Environment (repeatable; XRAY_TEST_ENVIRONMENTS): set them here, once, for all shards",
            "var": "template variable NAME=VALUE (repeatable; also XRAY_VAR_NAME)",
            "info_template": "Jinja template file for the Test Execution's fields (the multipart info template)",
            "json": "print one JSON object instead of the bare key"},
      iterable=["test_env", "var"])
@exits_cleanly
def create_execution(c: Context, summary: str | None = None, project: str | None = None,
                     test_plan: str | None = None, test_env: list[str] | None = None, var: list[str] | None = None,
                     info_template: str | None = None, json: bool = False, base_url: str | None = None,
                     region: str | None = None, deployment: str | None = None) -> None:
    """Create an empty Test Execution for CI shards to import into; print its key."""
    from xray_tasks.console import Console
    from xray_tasks.pipeline import create_step

    variables = parse_vars(var)
    if summary is not None:
        variables["summary"] = summary
    s = settings_for(c, project_key=project, test_plan_key=test_plan, test_environments=tuple(test_env or ()) or None,
                     base_url=base_url, region=region, deployment=deployment, variables=variables)
    create_step(s, Console(as_json=json), info_template=info_template, record=load_record(Path(s.state_file)))


READ_HELP = {
    **COMMON_HELP,
    "json": "print one JSON object with what Xray recorded and the differences",
    "summary_file": "write that JSON object to this file",
    "quiet": "print only the result line, not the table",
}


@task(auto_shortflags=False, help={**READ_HELP,
            "test_exec": "the Test Execution to check (XRAY_TEST_EXEC_KEY)",
            "report": "report path, directory or glob it should hold (repeatable; XRAY_REPORT); without one, show "
                      "its runs per status",
            "format": "auto (detect from content) or the reports' format (XRAY_REPORT_FORMAT)"},
      iterable=["report"])
@exits_cleanly
def verify(c: Context, test_exec: str | None = None, report: list[str] | None = None, format: str | None = None,
           json: bool = False, summary_file: str | None = None, quiet: bool = False, base_url: str | None = None,
           region: str | None = None, deployment: str | None = None) -> None:
    """Check that a Test Execution holds the reports' results (exit 19 when not); or show its runs."""
    from xray_tasks.console import Console
    from xray_tasks.pipeline import verify_step

    check_reports_given(report)
    s = settings_for(c, test_exec_key=test_exec, report=tuple(report or ()) or None, report_format=format,
                     base_url=base_url, region=region, deployment=deployment)
    verify_step(s, Console(as_json=json, quiet=quiet), summary_file)


@task(auto_shortflags=False, help={**READ_HELP,
            "test_exec": "the Test Execution every shard imported into (XRAY_TEST_EXEC_KEY)",
            "test_plan": "without --test-exec: each shard has its own Test Execution, linked to this Test Plan "
                         "(Cucumber/Behave shards)",
            "expect_shards": "how many shard records must be there (default: the N the records name)",
            "shard_dir": "folder holding the shards' records xray-shard-<I>.json (XRAY_SHARD_DIR)"})
@exits_cleanly
def finalize(c: Context, test_exec: str | None = None, test_plan: str | None = None,
             expect_shards: str | None = None, shard_dir: str | None = None, json: bool = False,
             summary_file: str | None = None, quiet: bool = False, base_url: str | None = None,
             region: str | None = None, deployment: str | None = None) -> None:
    """After sharded CI: check every shard's record is there, verify the execution against all of them."""
    from xray_tasks.console import Console
    from xray_tasks.pipeline import finalize_step
    from xray_tasks.settings import MAX_SHARDS

    expect = whole_number(expect_shards, "--expect-shards", 0, low=1, high=MAX_SHARDS) if expect_shards else None
    s = settings_for(c, test_exec_key=test_exec, test_plan_key=test_plan, shard_dir=shard_dir, base_url=base_url,
                     region=region, deployment=deployment)
    finalize_step(s, Console(as_json=json, quiet=quiet), expect=expect, summary_file=summary_file)


ns = Collection("xray", run_tests, authenticate, import_results, ci, sandbox, demo, doctor, create_execution, verify,
                finalize)
