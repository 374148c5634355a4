"""The Invoke tasks: thin wrappers that parse flags, call the library, and exit cleanly.

Chains: ``run-tests`` → ``authenticate`` → ``import-results`` work as separate ``invoke`` calls (the run
is recorded in a state file, the token in the token cache) and in one call
(``invoke run-tests authenticate import-results``); ``ci`` is the one-shot chain. Settings are resolved
by :func:`xray_tasks.settings.resolve_settings` inside each task, never through pre-tasks, because
Invoke's pre-tasks do not see a mounted collection's config (pyinvoke/invoke#736).

This module is the command line's table of contents: at import it loads what ``--help`` and ``--list``
need (Invoke, the settings for the flags' choices) and each task imports the steps it runs when it runs,
so the help stays about as fast as Invoke itself (``bench/run.py``, start-up).
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from xray_tasks.errors import SettingsError, Terminated, XrayTasksError
from xray_tasks.redaction import redact
from xray_tasks.settings import (
    DEPLOYMENTS,
    EVIDENCE_FOR,
    FORMAT_CHOICES,
    MAX_SHARDS,
    ON_ERROR,
    REGIONS,
    RERUNS,
    Settings,
    resolve_settings,
)

if TYPE_CHECKING:
    from xray_tasks.afterimport import AfterImport
    from xray_tasks.runrecord import RunRecord
    from xray_tasks.workflow import StepEnd

__all__ = ["CHOICES", "PLACEHOLDERS", "authenticate", "ci", "create_execution", "demo", "doctor", "export_features",
           "finalize", "import_features", "import_results", "map_init", "ns", "run_tests", "sandbox", "verify"]

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
            from xray_tasks.console import clear_status, error_line

            clear_status()  # a live progress line must not run into the error line
            raise Exit(error_line(exc), code=exc.exit_code) from None
        except KeyboardInterrupt as stop:
            from xray_tasks.console import clear_status

            clear_status()
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


def _config(c: Context) -> Any:
    """The ``xray`` section of the Invoke config as it is: resolve_settings refuses one that is not a mapping."""
    return c.config.get("xray", None)


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


#: how ``xray-tasks --help TASK`` shows each flag's value (``invoke --help`` shows Invoke's ``=STRING``);
#: every flag that takes a value has one (tests/test_cli.py checks)
PLACEHOLDERS = {
    "report": "PATH", "format": "FORMAT", "project": "KEY", "test_exec": "KEY", "test_plan": "KEY",
    "test_env": "NAME", "revision": "REV", "fix_version": "VERSION", "info_template": "FILE",
    "test_info_template": "FILE", "var": "NAME=VALUE", "parallel": "N", "summary_file": "FILE",
    "on_error": "fail|warn", "base_url": "URL", "region": "REGION", "deployment": "cloud|server", "command": "CMD",
    "port": "N", "db": "PATH", "host": "ADDR", "features": "PATH", "source": "NAME",
    "precondition_info_template": "FILE", "keys": "KEYS", "filter": "ID", "out": "DIR", "features_from": "KEYS",
    "features_dir": "DIR", "dotenv_file": "FILE", "properties_file": "FILE", "map": "FILE", "evidence": "PATH",
    "evidence_for": "failed|all", "reruns": "last|worst|all", "summary": "TEXT", "shard": "I/N", "shard_dir": "DIR",
    "expect_shards": "N",
}
#: the values shell completion offers for a flag (``xray-tasks import-results --format <TAB>``)
CHOICES: dict[str, tuple[str, ...]] = {"format": FORMAT_CHOICES, "on_error": ON_ERROR, "evidence_for": EVIDENCE_FOR,
                                       "reruns": RERUNS, "region": tuple(REGIONS), "deployment": DEPLOYMENTS}

COMMON_HELP = {
    "base_url": "Xray Cloud host, or Jira base URL for Server/DC (XRAY_BASE_URL)",
    "region": "Xray Cloud region: global, us, eu, au (XRAY_REGION)",
    "deployment": "cloud or server (XRAY_DEPLOYMENT)",
    "verbose": "trace every HTTP request and answer on stderr, credentials redacted (XRAY_VERBOSE=1)",
}


@task(auto_shortflags=False, help={**COMMON_HELP,
            "print_token": "print the bare token alone on stdout, for scripts (Cloud)",
            "force": "authenticate even when a cached token is still valid"})
@exits_cleanly
def authenticate(c: Context, print_token: bool = False, force: bool = False, base_url: str | None = None,
                 region: str | None = None, deployment: str | None = None, verbose: bool = False) -> None:
    """Get an Xray token (cached on disk for later steps); never prints it unless asked.

    Examples:
      xray-tasks authenticate
      TOKEN=$(xray-tasks authenticate --print-token)      # Cloud: the bare token for your own scripts

    Exit codes: 0 authenticated; 11 settings (credentials missing, --print-token on Server/DC);
    15 Xray refused the credentials; 16 the base URL did not answer as Xray does; 17 Xray unreachable.
    """
    from xray_tasks.console import err

    s = settings_for(c, base_url=base_url, region=region, deployment=deployment, verbose=verbose or None)
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
    err(f"authenticated to {s.base_url} ({how}, valid until {token.valid_until})")


IMPORT_HELP = {
    "report": "report path, directory or glob (repeatable; XRAY_REPORT)",
    "format": f"{', '.join(FORMAT_CHOICES[:-1])} or {FORMAT_CHOICES[-1]}; auto detects it from the content "
              "(XRAY_REPORT_FORMAT)",
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
    "strict_tags": "refuse Cucumber/Behave reports with scenarios that carry no Test key tag (else: a note)",
}
ENRICH_HELP = {
    "map": "YAML or CSV file giving tests their Test keys, requirements and labels (XRAY_MAP)",
    "evidence": "screenshots/logs folder, glob or file to attach to matching tests' runs (repeatable)",
    "evidence_for": "failed (default: failing and flaky tests) or all: whose evidence is attached",
    "reruns": "several attempts of one test: last (default) or worst is sent, or all as they are",
}


def _enrich_flags(map: str | None, evidence: list[str] | None, evidence_for: str | None,
                  reruns: str | None) -> dict[str, Any]:
    if evidence and any(not e.strip() for e in evidence):
        raise SettingsError("--evidence was given an empty path (an unset CI variable?)",
                            "pass the folder or glob the tests write screenshots and logs to")
    return {"map": map, "evidence": tuple(evidence or ()) or None, "evidence_for": evidence_for,
            "reruns": reruns}


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
    from xray_tasks.shardspec import current_shard, refuse_gherkin, shard_settings

    part = current_shard(s)
    s = shard_settings(s, part)
    refuse_gherkin(s, part, record)
    if not verify and part is None:
        return s, None
    from xray_tasks.afterimport import after_import  # the read-back: loads httpx

    return s, after_import(s, verify=verify, shard=part, separate=separate)


OUTPUT_HELP = {
    "separate": "one Test Execution per report file instead of one for all",
    "parallel": "requests sent at once after the first, 1 to 32 (default 2)",
    "summary_file": "write the result (keys, files, totals, endpoint, duration) as JSON to this file",
    "quiet": "print only the result line (no progress lines)",
    "on_error": "fail: an import failure fails the step; warn: warn and exit with the tests' code (XRAY_ON_ERROR)",
    "dotenv_file": "write the key, URL and counts as NAME=value lines for GitLab's dotenv report (XRAY_DOTENV_FILE)",
    "properties_file": "write the key, URL and counts as a Java .properties file for Jenkins (XRAY_PROPERTIES_FILE)",
}


@task(auto_shortflags=False, help={**IMPORT_HELP, **COMMON_HELP, **OUTPUT_HELP, **ENRICH_HELP, **SHARD_HELP,
            "verify": "read the Test Execution back and compare it with the reports; exit 19 when runs are missing "
                      "(XRAY_VERIFY)"},
      iterable=["report", "test_env", "var", "evidence"])
@exits_cleanly
def import_results(c: Context, report: list[str] | None = None, format: str | None = None,
                   project: str | None = None, test_exec: str | None = None, test_plan: str | None = None,
                   test_env: list[str] | None = None, revision: str | None = None, fix_version: str | None = None,
                   multipart: bool = False, info_template: str | None = None,
                   test_info_template: str | None = None, var: list[str] | None = None, dry_run: bool = False,
                   json: bool = False, allow_stale: bool = False, separate: bool = False, parallel: str | None = None,
                   summary_file: str | None = None, quiet: bool = False, on_error: str | None = None,
                   exit_with_tests: bool = False, base_url: str | None = None, region: str | None = None,
                   deployment: str | None = None, verbose: bool = False,
                   strict_tags: bool = False, dotenv_file: str | None = None,
                   properties_file: str | None = None, map: str | None = None, evidence: list[str] | None = None,
                   evidence_for: str | None = None, reruns: str | None = None, verify: bool = False,
                   shard: str | None = None, shard_dir: str | None = None) -> None:
    """Import test reports into Xray and print the Test Execution key and link.

    Examples:
      xray-tasks import-results --report 'target/surefire-reports/*.xml' --test-plan CALC-15
      xray-tasks import-results --report cucumber.json --var summary='Nightly run' --dry-run
      xray-tasks import-results --test-exec CALC-90 --shard 2/8 --report 'reports/*.xml' --verify

    Exit codes: 0 imported; 11 settings; 12 report missing, empty or malformed; 13 report older than the
    recorded test run; 14 template; 15 authentication; 16 Xray refused the request; 17 Xray unreachable;
    18 the import may have landed (not sent again); 19 --verify found runs missing or different; 20 the
    shard record could not be written; with --exit-with-tests, the tests' own code after a
    successful import; 130/143 interrupted.
    """
    from xray_tasks.importer import ImportOptions
    from xray_tasks.runrecord import load_record, recorded_exit_code
    from xray_tasks.workflow import OutputOptions, import_step

    variables = parse_vars(var)
    s = settings_for(c, **_import_flags(project, test_exec, test_plan, test_env, revision, fix_version, report,
                                        format), **_enrich_flags(map, evidence, evidence_for, reruns),
                     on_error=on_error, base_url=base_url, region=region, deployment=deployment,
                     verbose=verbose or None, dotenv_file=dotenv_file, properties_file=properties_file,
                     variables=variables, verify=verify or None, shard=shard, shard_dir=shard_dir)
    options = ImportOptions(fmt=s.report_format, multipart=multipart, info_template=info_template,
                            test_info_template=test_info_template, cli_vars=bool(variables), allow_stale=allow_stale,
                            strict_tags=strict_tags)
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
            "clean": "delete the report files before running, so a failed run leaves no stale report",
            "exit_with_tests": "exit with the tests' code (after recording the run): a failing suite fails the "
                               "step, and stops an invoke chain"},
      iterable=["report"])
@exits_cleanly
def run_tests(c: Context, command: str | None = None, report: list[str] | None = None, clean: bool = False,
              exit_with_tests: bool = False) -> None:
    """Run the tests and record the run for import-results (test failures don't stop the chain).

    Examples:
      xray-tasks run-tests --command 'pytest --junitxml=reports/junit.xml' --report reports/junit.xml
      xray-tasks run-tests --clean --report reports -- -k smoke     # text after -- goes to the command

    Exit codes: 0 the tests ran, whether they passed or failed (import-results --exit-with-tests or ci
    later end with their code), unless --exit-with-tests: then the tests' own code; 11 no test command, or
    --clean refused; 130/143 interrupted.
    """
    from xray_tasks.workflow import run_test_command

    check_reports_given(report)
    s = settings_for(c, test_command=command, report=tuple(report or ()) or None)
    record = run_test_command(s, command, getattr(c, "remainder", "") or "", clean)
    if record.stop_code is not None:  # Ctrl-C / SIGTERM: no later task of this invoke call runs
        raise Exit(code=record.stop_code)
    if exit_with_tests and record.tests_exit:
        raise Exit(f"xray-tasks: tests failed (exit {record.tests_exit}); the run is recorded in {s.state_file}",
                   code=record.tests_exit)


IMPORT_ONLY_FLAGS = ("test_exec", "dry_run", "allow_stale", "exit_with_tests")


@task(auto_shortflags=False, help={**{k: v for k, v in IMPORT_HELP.items() if k not in IMPORT_ONLY_FLAGS},
            **COMMON_HELP, **OUTPUT_HELP, **ENRICH_HELP, **SHARD_HELP,
            "command": "test command (XRAY_TEST_COMMAND); text after -- is appended",
            "clean": "delete the report files (and, with --features-from, the earlier export's .feature files) first",
            "features_from": "first export these keys' Cucumber Tests as .feature files (Tests, Test Executions, "
                             "Test Plans, requirements; comma-separated)",
            "features_dir": "where --features-from puts the .feature files (default features/xray)",
            "test_exec": "import into this existing Test Execution, e.g. one create-execution made for CI shards "
                         "(XRAY_TEST_EXEC_KEY)",
            "no_verify": "do not read the Test Execution back after the import (XRAY_VERIFY=false)"},
      iterable=["report", "test_env", "var", "evidence"])
@exits_cleanly
def ci(c: Context, command: str | None = None, report: list[str] | None = None, format: str | None = None,
       project: str | None = None, test_plan: str | None = None, test_env: list[str] | None = None,
       revision: str | None = None, fix_version: str | None = None, multipart: bool = False,
       info_template: str | None = None, test_info_template: str | None = None, var: list[str] | None = None,
       json: bool = False, clean: bool = False, separate: bool = False, parallel: str | None = None,
       summary_file: str | None = None, quiet: bool = False, on_error: str | None = None,
       base_url: str | None = None, region: str | None = None, deployment: str | None = None,
       verbose: bool = False, strict_tags: bool = False, features_from: str | None = None,
       features_dir: str | None = None, dotenv_file: str | None = None,
       properties_file: str | None = None, map: str | None = None, evidence: list[str] | None = None,
       evidence_for: str | None = None, reruns: str | None = None, test_exec: str | None = None,
       no_verify: bool = False, shard: str | None = None, shard_dir: str | None = None) -> None:
    """Run the tests, authenticate, import the results and verify them; exit with the tests' exit code.

    Before the tests run it checks what the import will need — settings, credentials, the report
    setting, the templates (rendered) — and authenticates (a cached token costs nothing), so a missing
    secret is found in seconds, not after the suite. Xray being unreachable then is only a warning.

    Examples:
      xray-tasks ci --command 'pytest --junitxml=reports/junit.xml' --report 'reports/*.xml'
      xray-tasks ci --report reports --clean --summary-file xray.json -- -k smoke
      xray-tasks ci --test-exec CALC-90 --shard 3/8 --report 'reports/*.xml' -- --splits 8 --group 3

    Exit codes: 0 tests passed and imported; the tests' own code when they failed and their results were
    imported; 11 settings, 14 template or 15 authentication, found before the tests ran; 12-18 the import
    failed (as import-results; --on-error warn turns 16-19 into the tests' code); 19 the read-back found
    runs missing or different (--no-verify skips it); 20 the shard record; 130/143 interrupted.
    """
    from xray_tasks.console import Console
    from xray_tasks.importer import ImportOptions
    from xray_tasks.preflight import preflight
    from xray_tasks.workflow import OutputOptions, import_step, run_test_command

    variables = parse_vars(var)
    s = settings_for(c, **_import_flags(project, test_exec, test_plan, test_env, revision, fix_version, report,
                                        format),
                     **_enrich_flags(map, evidence, evidence_for, reruns),
                     test_command=command, on_error=on_error, base_url=base_url, region=region,
                     deployment=deployment, verbose=verbose or None, dotenv_file=dotenv_file,
                     properties_file=properties_file, variables=variables, verify=False if no_verify else None,
                     shard=shard, shard_dir=shard_dir)
    options = ImportOptions(fmt=s.report_format, multipart=multipart, info_template=info_template,
                            test_info_template=test_info_template, cli_vars=bool(variables), strict_tags=strict_tags)
    if features_dir is not None and not features_from:
        raise SettingsError("--features-dir without --features-from", "add --features-from KEYS to export the "
                            "features into it before the tests run")

    preflight(s, options, command=command)
    if features_from is not None:  # the BDD loop: export the features, run them, import the results

        from xray_tasks import featureexport  # loads httpx

        featureexport.export_before_tests(s, features_from, features_dir, clean, Console(as_json=json, quiet=quiet))
    record = run_test_command(s, command, getattr(c, "remainder", "") or "", clean, output_to_stderr=json)
    if record.stop_code is not None:  # Ctrl-C / SIGTERM: the interrupted run's reports are not imported
        raise Exit(code=record.stop_code)
    s, after = after_import_checks(s, record, verify=s.verify is not False, separate=separate)
    end_step(import_step(s, options, OutputOptions(json, quiet, summary_file), record, separate=separate,
                         parallel=whole_number(parallel, "--parallel", 2, low=1, high=32),
                         tests_exit=record.tests_exit, after=after))


FEATURES_HELP = {
    "features": ".feature file, folder or glob (repeatable); several are zipped with paths relative to their folder",
    "project": "Jira project key of the Tests (XRAY_PROJECT_KEY)",
    "source": "Xray Cloud: name of where the features come from (e.g. the repository); keep it stable",
    "update_repository": "Xray Server/DC: mirror the folders in the Test Repository",
    "test_info_template": "Jinja template file for the testInfo JSON of the Tests the import creates",
    "precondition_info_template": "Jinja template file for the JSON of the Preconditions the import creates",
    "var": "template variable NAME=VALUE (repeatable; also XRAY_VAR_NAME)",
    "dry_run": "list the files and what each scenario and Background maps to; send nothing",
    "json": "print one JSON object with the result instead of text",
    "on_error": "fail, or warn: Xray's refusals and outages only warn (XRAY_ON_ERROR)",
}


@task(auto_shortflags=False, help={**FEATURES_HELP, **COMMON_HELP}, iterable=["features", "var"])
@exits_cleanly
def import_features(c: Context, features: list[str] | None = None, project: str | None = None,
                    source: str | None = None, update_repository: bool = False,
                    test_info_template: str | None = None, precondition_info_template: str | None = None,
                    var: list[str] | None = None, dry_run: bool = False, json: bool = False,
                    on_error: str | None = None, base_url: str | None = None, region: str | None = None,
                    deployment: str | None = None, verbose: bool = False) -> None:
    """Create or update Xray Tests and Preconditions from .feature files; print their keys.

    Examples:
      xray-tasks import-features --features features/ --project CALC --source my-repo
      xray-tasks import-features --features 'features/**/*.feature' --dry-run

    Exit codes: 0 imported; 11 settings (--update-repository on Cloud, --source on Server/DC); 12 no feature
    file found; 14 template; 15 authentication; 16 Xray imported nothing or reported errors for some files
    (--on-error warn turns this into a warning); 17 Xray unreachable; 130/143 interrupted.
    """
    from xray_tasks.features import FeatureOptions, import_features_step  # loads httpx

    variables = parse_vars(var)
    s = settings_for(c, project_key=project, on_error=on_error, base_url=base_url, region=region,
                     deployment=deployment, verbose=verbose or None, variables=variables)
    options = FeatureOptions(tuple(features or ()), source=source, update_repository=update_repository,
                             test_info_template=test_info_template,
                             precondition_info_template=precondition_info_template)
    import_features_step(s, options, as_json=json, dry_run=dry_run)


@task(auto_shortflags=False, help={**COMMON_HELP,
            "keys": "Test, Test Set, Test Execution, Test Plan or requirement keys, comma-separated (repeatable)",
            "filter": "id of a saved Jira filter instead of --keys",
            "out": "folder for the .feature files (default features/xray; made if missing)",
            "clean": "first remove the .feature files an earlier export left in --out",
            "json": "print one JSON object with the files written"},
      iterable=["keys"])
@exits_cleanly
def export_features(c: Context, keys: list[str] | None = None, filter: str | None = None, out: str | None = None,
                    clean: bool = False, json: bool = False, base_url: str | None = None,
                    region: str | None = None, deployment: str | None = None, verbose: bool = False) -> None:
    """Download Cucumber Tests from Xray as .feature files into a folder, safely.

    Examples:
      xray-tasks export-features --keys CALC-15 --out features/xray --clean
      xray-tasks export-features --filter 10002

    Exit codes: 0 exported; 11 settings (--clean on the working directory, an unwritable folder); 15
    authentication; 16 Xray refused the keys, or the zip is unsafe or too large; 17 Xray unreachable;
    130/143 interrupted.
    """
    from xray_tasks import featureexport  # loads httpx
    from xray_tasks.console import Console

    s = settings_for(c, base_url=base_url, region=region, deployment=deployment, verbose=verbose or None)
    request = featureexport.ExportRequest(featureexport.split_keys(keys or [], "--keys"), filter,
                                          Path(out or featureexport.DEFAULT_OUT), clean)
    done = featureexport.export_features(s, request)
    console = Console(as_json=json)
    if json:
        console.data(done.to_dict())
    featureexport.show_exported(console, done)


@task(auto_shortflags=False, help={"port": "port on 127.0.0.1 (default 8765; 0 picks a free one)",
                                  "db": "SQLite file (default: in memory)",
                                  "host": "address to listen on (default 127.0.0.1)"})
@exits_cleanly
def sandbox(c: Context, port: str | None = None, db: str = ":memory:", host: str = "127.0.0.1") -> None:
    """Run the local Xray stand-in (Cloud and Server/DC API) in the foreground.

    It prints its URL and credentials, then one line per request, until Ctrl-C. More options (projects,
    credentials, faults, token lifetime) are in: python -m xray_tasks.sandbox --help

    Examples:
      xray-tasks sandbox                     # http://127.0.0.1:8765
      xray-tasks sandbox --port 0 --db sandbox.sqlite

    Exit codes: 0 stopped with Ctrl-C or SIGTERM; 11 a bad --port.
    """
    from xray_tasks.sandbox import serve

    serve(host=host, port=whole_number(port, "--port", 8765), db=db, out=sys.stdout)


@task(auto_shortflags=False, help={"keep": "keep the sandbox and its web pages running after the demo, until Ctrl-C",
                                  "open": "open the sandbox's web page in a browser (implies --keep)"})
@exits_cleanly
def demo(c: Context, keep: bool = False, open: bool = False) -> None:
    """Try everything on a local Xray stand-in: run example tests, authenticate, import.

    Examples:
      xray-tasks demo
      xray-tasks demo --keep                 # leave the stand-in and its web pages up, until Ctrl-C
      xray-tasks demo --open                 # and open the pages in a browser (implies --keep)

    Exit codes: 0 every step worked; otherwise the code of the step that failed (see xray-tasks --help).
    """
    from xray_tasks.demo import run_demo

    run_demo(keep=keep, open_browser=open)


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
           region: str | None = None, deployment: str | None = None, verbose: bool = False) -> None:
    """Check settings, connection, credentials, templates and reports without importing; say what to fix.

    Examples:
      xray-tasks doctor --report 'target/surefire-reports/*.xml'
      xray-tasks doctor --json | jq '.[] | select(.status != "OK")'

    Exit codes: 0 nothing failed (warnings allowed); 11 at least one check failed (named on stderr).
    """
    from xray_tasks import doctor as checks_


    variables = parse_vars(var)
    flags = {"report": tuple(report or ()) or None, "report_format": format, "project_key": project,
             "test_plan_key": test_plan, "base_url": base_url, "region": region, "deployment": deployment,
             "verbose": verbose or None}

    def resolve(ignore: frozenset[str] = frozenset(), **overrides: Any) -> Settings:
        return resolve_settings(flags={**flags, **overrides}, config=_config(c), variables=variables, ignore=ignore)

    results = checks_.diagnose(resolve, info_template=info_template, test_info_template=test_info_template)
    print(checks_.as_json(results) if json else checks_.format_table(results), flush=True)
    if checks_.has_failures(results):
        failed = [r.name for r in results if r.status == checks_.FAIL]
        raise Exit(redact(f"xray-tasks: doctor: {len(failed)} check(s) failed: {', '.join(failed)}"),
                   code=SettingsError.exit_code)


@task(auto_shortflags=False, help={"report": "report path, directory or glob to list the tests of (repeatable)",
                                  "format": "auto (detect from content) or the report format",
                                  "out": "write the map to this file instead of stdout (refused if it exists)"},
      iterable=["report"])
@exits_cleanly
def map_init(c: Context, report: list[str] | None = None, format: str | None = None, out: str | None = None) -> None:
    """Write a starting map file listing every test of the reports, each with an empty key to fill in.

    Examples:
      xray-tasks map-init --report 'target/surefire-reports/*.xml' --out xray-map.yaml
      xray-tasks map-init --report reports/ > xray-map.yaml

    Exit codes: 0 written; 11 settings (--out exists); 12 report missing, empty or malformed.
    """
    from xray_tasks.testmap import write_starting_map

    check_reports_given(report)
    s = settings_for(c, report=tuple(report or ()) or None, report_format=format)
    write_starting_map(s, out)




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
                     region: str | None = None, deployment: str | None = None, verbose: bool = False) -> None:
    """Create an empty Test Execution for CI shards to import into; print its key.

    Examples:
      KEY=$(xray-tasks create-execution --summary "CI $CI_PIPELINE_ID" --test-plan CALC-15 --test-env chrome)
      xray-tasks create-execution --project CALC --json

    Exit codes: 0 created (the key on stdout, and in GITHUB_OUTPUT and the dotenv/properties files);
    11 settings; 14 template; 15 authentication; 16 Xray refused it (or the Test Plan link, after the key
    is printed); 17 Xray unreachable.
    """
    from xray_tasks.console import Console
    from xray_tasks.pipeline import create_step  # loads httpx
    from xray_tasks.runrecord import load_record

    variables = parse_vars(var)
    if summary is not None:
        variables["summary"] = summary
    s = settings_for(c, project_key=project, test_plan_key=test_plan, test_environments=tuple(test_env or ()) or None,
                     base_url=base_url, region=region, deployment=deployment, verbose=verbose or None,
                     variables=variables)
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
           region: str | None = None, deployment: str | None = None, verbose: bool = False) -> None:
    """Check that a Test Execution holds the reports' results (exit 19 when not); or show its runs.

    Examples:
      xray-tasks verify --test-exec CALC-90 --report 'reports/*.xml'
      xray-tasks verify --test-exec CALC-90          # its runs per status

    Exit codes: 0 every run is there as sent; 11 settings; 12 report; 15 authentication; 16 Xray refused
    the key (not a Test Execution, unknown); 17 Xray unreachable; 19 runs missing, extra or different.
    """
    from xray_tasks.console import Console
    from xray_tasks.pipeline import verify_step  # loads httpx

    check_reports_given(report)
    s = settings_for(c, test_exec_key=test_exec, report=tuple(report or ()) or None, report_format=format,
                     base_url=base_url, region=region, deployment=deployment, verbose=verbose or None)
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
             region: str | None = None, deployment: str | None = None, verbose: bool = False) -> None:
    """After sharded CI: check every shard's record is there, verify the execution against all of them.

    Examples:
      xray-tasks finalize --test-exec CALC-90 --expect-shards 8 --shard-dir shard-records
      xray-tasks finalize --test-plan CALC-15 --expect-shards 4     # Cucumber/Behave: one execution per shard

    Exit codes: 0 every shard's runs are there; 11 settings; 15 authentication; 16 Xray refused the key;
    17 Xray unreachable; 19 runs missing or different; 20 a shard record missing, damaged or naming another
    Test Execution.
    """
    from xray_tasks.console import Console
    from xray_tasks.pipeline import finalize_step  # loads httpx

    expect = whole_number(expect_shards, "--expect-shards", 0, low=1, high=MAX_SHARDS) if expect_shards else None
    s = settings_for(c, test_exec_key=test_exec, test_plan_key=test_plan, shard_dir=shard_dir, base_url=base_url,
                     region=region, deployment=deployment, verbose=verbose or None)
    finalize_step(s, Console(as_json=json, quiet=quiet), expect=expect, summary_file=summary_file)




ns = Collection("xray", run_tests, authenticate, import_results, ci, import_features, export_features, sandbox, demo,
                doctor, map_init, create_execution, verify, finalize)
