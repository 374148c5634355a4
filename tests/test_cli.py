"""The ``xray-tasks`` command line: its core options, task help, usage errors, completion, ./invoke.yaml,
``--verbose`` tracing, upload progress, and ``ci`` checking what it can before the tests run."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import SECRET, assert_one_clean_line, sandbox_env, xray_tasks
from xray_tasks.cli import REMOVED_OPTIONS, USAGE_ERROR
from xray_tasks.console import Console, err
from xray_tasks.progress import PIPE_EVERY, PIPE_QUIET, UploadProgress
from xray_tasks.sandbox import Sandbox
from xray_tasks.tasks import CHOICES, PLACEHOLDERS, ns

TASKS = sorted(ns.task_names)
JUNIT = ('<testsuite name="s" tests="2"><testcase classname="a" name="b"/><testcase classname="a" name="c"/>'
         '</testsuite>')
KEPT = ("--help", "--list", "--version", "--complete", "--print-completion-script")


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT, encoding="utf-8")
    return path


def bare_env(tmp_path: Path) -> dict[str, str]:
    """No XRAY_* setting at all, and an empty .env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XRAY_", "INVOKE_", "GITHUB_"))}
    return env | {"XRAY_ENV_FILE": os.devnull, "XRAY_STATE_FILE": str(tmp_path / ".xray-run.json"),
                  "XRAY_TOKEN_CACHE": str(tmp_path / "tokens.json")}


def usage_line(proc: subprocess.CompletedProcess[str]) -> str:
    """A usage error: exit 1, no traceback, one line on stderr."""
    assert proc.returncode == USAGE_ERROR, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xray-tasks: usage error: "), proc.stderr
    return lines[0]


# -- core options ---------------------------------------------------------------------------------------


def test_help_offers_only_the_options_that_mean_something(tmp_path: Path) -> None:
    """`--help` lists the tasks and the kept core options, none of Invoke's run/config options, and the exit
    codes."""
    proc = xray_tasks("--help", env=bare_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    offered = set(re.findall(r"(?m)^\s+(?:-\w, )?(--[a-z-]+)", proc.stdout))
    assert offered == set(KEPT), proc.stdout
    for name in TASKS:
        assert re.search(rf"(?m)^  {name}\s", proc.stdout), name
    assert "Exit codes:" in proc.stdout and "11 settings" in proc.stdout and "1 usage error" in proc.stdout


@pytest.mark.parametrize("option", sorted(REMOVED_OPTIONS))
def test_a_removed_invoke_option_is_a_usage_error_with_the_alternative(option: str, tmp_path: Path) -> None:
    """Each of Invoke's options that means nothing here is refused with what to use instead."""
    line = usage_line(xray_tasks(option, "doctor", env=bare_env(tmp_path)))
    assert f"{option} is an option of Invoke's that xray-tasks does not take" in line
    assert line.endswith(REMOVED_OPTIONS[option])


@pytest.mark.parametrize("short", ["-R", "-e", "-w", "-p", "-T", "-f", "-d"])
def test_removed_short_options_are_refused_too(short: str, tmp_path: Path) -> None:
    """Invoke's short spellings (-R for --dry, -w for --warn-only, ...) are refused the same way."""
    line = usage_line(xray_tasks(short, "doctor", env=bare_env(tmp_path)))
    assert f"{short} (--" in line and "does not take" in line


def test_dry_no_longer_imports(sb: Sandbox, tmp_path: Path, report: Path) -> None:
    """`xray-tasks --dry import-results` used to import for real; now it is refused and nothing is sent."""
    before = len(sb.store.requests())
    line = usage_line(xray_tasks("--dry", "import-results", "--report", str(report),
                                 env=sandbox_env(sb, tmp_path)))
    assert "import-results --dry-run" in line
    assert len(sb.store.requests()) == before


def test_version_and_list(tmp_path: Path) -> None:
    """--version prints the name and version; --list the tasks with their first docstring line."""
    version = xray_tasks("--version", env=bare_env(tmp_path))
    assert version.returncode == 0 and re.fullmatch(r"xray-tasks \S+\n", version.stdout), version.stdout
    listed = xray_tasks("--list", env=bare_env(tmp_path))
    assert listed.returncode == 0
    assert re.search(r"\n  import-results +Import test reports into Xray", listed.stdout), listed.stdout
    assert [n for n in TASKS if f"  {n} " not in listed.stdout] == []


# -- task help ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TASKS)
def test_task_help_has_examples_exit_codes_and_placeholders(name: str, tmp_path: Path) -> None:
    """Every task's help: usage, examples that use the task, its exit codes, and each value flag with a
    placeholder instead of Invoke's =STRING."""
    proc = xray_tasks("--help", name, env=bare_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert text.startswith(f"Usage: xray-tasks {name} [options]\n")
    examples = text.split("Examples:")[1].split("Exit codes:")[0]
    assert f"xray-tasks {name}" in examples
    assert re.search(r"Exit codes: 0 ", text), text
    assert "=STRING" not in text and "=INT" not in text and "--core-opts" not in text
    context = next(c for c in ns.to_contexts() if c.name == name)
    for arg in context.args.values():
        if arg.kind is not bool:
            assert f"--{arg.name.replace('_', '-')} {PLACEHOLDERS[arg.name]}" in text


def test_every_value_flag_of_every_task_has_a_placeholder() -> None:
    """A new flag that takes a value needs its placeholder in tasks.PLACEHOLDERS (and a choice list where
    it takes one of a few values)."""
    missing = sorted({f"{c.name} --{a.name}" for c in ns.to_contexts() for a in c.args.values()
                      if a.kind is not bool and a.name not in PLACEHOLDERS})
    assert missing == []
    assert set(CHOICES) <= set(PLACEHOLDERS)


def test_help_for_a_task_given_after_it(tmp_path: Path) -> None:
    """`xray-tasks ci --help` is the same as `xray-tasks --help ci`."""
    after = xray_tasks("ci", "--help", env=bare_env(tmp_path))
    before = xray_tasks("--help", "ci", env=bare_env(tmp_path))
    assert after.returncode == 0 and after.stdout == before.stdout


# -- usage errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "expected"), [
    (["import-results", "--reprot", "x.xml"], "import-results has no flag --reprot; did you mean --report?"),
    (["ci", "--comand", "pytest"], "ci has no flag --comand; did you mean --command?"),
    (["import-result"], "no task named 'import-result'; did you mean import-results?"),
    (["run-tests", "--dry-run"],
     "run-tests has no flag --dry-run (--dry-run is a flag of import-features, import-results)"),
    (["--versoin"], "unknown option --versoin; did you mean --version?"),
    (["import-results", "--parallel"], "--parallel needs a value: --parallel N"),
    (["import-results", "--json=yes"], "--json takes no value"),
    (["import-results", "--report", "a.xml", "b.xml"], "'b.xml' is not a task, nor the value of a flag"),
    (["--help", "imports"], "no task named 'imports'"),
    (["--print-completion-script", "tcsh"], "--print-completion-script takes bash, fish, zsh, not 'tcsh'"),
], ids=["flag", "ci-flag", "task", "other-task", "core", "no-value", "switch-value", "unquoted-glob",
        "help-task", "shell"])
def test_usage_errors_name_what_is_wrong_and_the_nearest_spelling(argv: list[str], expected: str,
                                                                 tmp_path: Path) -> None:
    """A mistyped flag or task is exit 1 with one line naming the nearest valid one (difflib)."""
    assert expected in usage_line(xray_tasks(*argv, env=bare_env(tmp_path)))


def test_an_unquoted_glob_is_explained(tmp_path: Path) -> None:
    """The shell expanding --report reports/*.xml into several words gets the advice to quote it."""
    line = usage_line(xray_tasks("import-results", "--report", "a.xml", "b.xml", env=bare_env(tmp_path)))
    assert "--report 'reports/*.xml'" in line and "repeat it" in line


# -- completion -----------------------------------------------------------------------------------------


def complete(words: str, tmp_path: Path) -> list[str]:
    proc = xray_tasks("--complete", "--", *words.split(), env=bare_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@pytest.mark.parametrize(("words", "expected"), [
    ("xray-tasks import-results --format", list(CHOICES["format"])),
    ("xray-tasks import-results --format ju", list(CHOICES["format"])),
    ("xray-tasks ci --on-error", ["fail", "warn"]),
    ("xray-tasks doctor --deployment", ["cloud", "server"]),
    ("xray-tasks authenticate --region", ["global", "us", "eu", "au"]),
    ("xray-tasks --help", TASKS),
    ("xray-tasks --print-completion-script", ["bash", "fish", "zsh"]),
    ("xray-tasks", TASKS),
    ("xray-tasks import-results --report", []),  # a path: the shell completes file names
])
def test_completion_offers_the_values_of_a_flag(words: str, expected: list[str], tmp_path: Path) -> None:
    """Invoke's --complete protocol: a flag with choices completes with them, --help with the tasks."""
    assert complete(words, tmp_path) == expected


def test_completion_of_flags_is_the_tasks_flags(tmp_path: Path) -> None:
    """A partial flag completes with the flags of the task being typed (and the core ones), not another's."""
    offered = complete("xray-tasks run-tests --c", tmp_path)
    assert "--command" in offered and "--clean" in offered and "--dry-run" not in offered


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_format_values_through_the_printed_script(tmp_path: Path) -> None:
    """The bash script `--print-completion-script bash` prints, sourced in a real bash, completes
    `xray-tasks import-results --format ju<TAB>` to junit."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    launcher = bindir / "xray-tasks"
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} -m xray_tasks \"$@\"\n")
    launcher.chmod(0o755)
    script = ('eval "$(xray-tasks --print-completion-script bash)"\n'
              "COMP_WORDS=(xray-tasks import-results --format ju); COMP_CWORD=3\n"
              "_complete_xray-tasks xray-tasks ju --format\n"
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    env = bare_env(tmp_path) | {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["junit"]


# -- ./invoke.yaml --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "expected"), [
    ("xray: [a, b]\n", "the 'xray' section of the Invoke config (invoke.yaml) is a list"),
    ("xray: {project_key: [\n", "cannot read ./invoke.yaml (line 2)"),
    ("- a\n- b\n", "cannot read ./invoke.yaml: its top level is not a mapping"),
    ("xray:\n  projekt_key: CALC\n", "unknown key(s) in the Invoke config section 'xray': projekt_key"),
], ids=["xray-list", "bad-yaml", "top-list", "unknown-key"])
def test_a_bad_invoke_yaml_is_one_line_and_exit_11(content: str, expected: str, tmp_path: Path,
                                                   report: Path) -> None:
    """An invoke.yaml that cannot be used is one line naming the problem, exit 11, no traceback."""
    (tmp_path / "invoke.yaml").write_text(content, encoding="utf-8")
    proc = xray_tasks("import-results", "--report", str(report), "--dry-run", env=bare_env(tmp_path), cwd=tmp_path)
    assert proc.returncode == 11, proc.stderr
    assert expected in assert_one_clean_line(proc)


def test_invoke_yaml_in_the_working_directory_is_read(tmp_path: Path, report: Path) -> None:
    """./invoke.yaml's xray section supplies settings, as it does for invoke beside a tasks.py."""
    (tmp_path / "invoke.yaml").write_text("xray:\n  project_key: YAMLKEY\n", encoding="utf-8")
    proc = xray_tasks("import-results", "--report", str(report), "--dry-run", env=bare_env(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "projectKey=YAMLKEY" in proc.stdout


# -- --verbose ------------------------------------------------------------------------------------------


def test_verbose_traces_each_request_and_answer_without_credentials(sb: Sandbox, tmp_path: Path,
                                                                     report: Path) -> None:
    """--verbose: one stderr line per request with method, URL and query, status, time and sizes; the
    Authorization header, the secret and the token never appear."""
    env = sandbox_env(sb, tmp_path)
    proc = xray_tasks("import-results", "--verbose", "--report", str(report), "--test-env", "a b", env=env)
    assert proc.returncode == 0, proc.stderr
    trace = [line for line in proc.stderr.splitlines() if line.startswith("xray-tasks: http: ")]
    assert len(trace) == 2, proc.stderr
    assert re.fullmatch(rf"xray-tasks: http: POST {sb.url}/api/v2/authenticate → 200 in \d+\.\d\ds "
                        r"\(sent \d+ B, got \d+ B\)", trace[0]), trace[0]
    size = report.stat().st_size
    assert re.fullmatch(rf"xray-tasks: http: POST {sb.url}/api/v2/import/execution/junit\?projectKey=DEMO"
                        rf"&testEnvironments=a\+b → 200 in \d+\.\d\ds \(sent {size} B, got \d+ B\)", trace[1]), trace[1]
    token = json.loads((tmp_path / "tokens.json").read_text())
    text = proc.stdout + proc.stderr
    assert SECRET not in text and "Bearer" not in text and "Authorization" not in text
    assert all(entry["token"] not in text for entry in token.values())


def test_xray_verbose_shows_the_start_of_an_error_body(sb: Sandbox, tmp_path: Path, report: Path) -> None:
    """XRAY_VERBOSE=1 does the same; an error answer's line ends with the start of its body."""
    env = sandbox_env(sb, tmp_path, XRAY_VERBOSE="1", XRAY_PROJECT_KEY="NOPE")
    proc = xray_tasks("import-results", "--report", str(report), env=env)
    assert proc.returncode == 16
    line = next(line for line in proc.stderr.splitlines() if "/import/execution/junit" in line)
    assert "projectKey=NOPE → 400 in" in line and "No project could be found" in line.split(": ", 2)[2]


def test_a_token_in_an_error_body_is_redacted(tmp_path: Path) -> None:
    """A server echoing the credentials in an error body: the trace line shows <redacted> instead."""
    from xray_tasks.answers import Answer
    from xray_tasks.plan import Request
    from xray_tasks.redaction import redact, register_secret
    from xray_tasks.transport import trace_line

    register_secret("tok-1234567890-abcdef")
    answer = Answer(status=401, headers={}, body=b'{"error": "token tok-1234567890-abcdef expired"}')
    line = redact(trace_line(Request("GET", "https://x.example/api"), None, [], answer, None, 0.5))
    assert "tok-1234567890-abcdef" not in line and "<redacted>" in line and "401 in 0.50s" in line


# -- upload progress ------------------------------------------------------------------------------------


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


MIB = 2**20


def display(tty: bool) -> tuple[UploadProgress, io.StringIO, Clock]:
    """A progress display on a string, with a clock the test moves and no ticker thread."""
    out, clock = io.StringIO(), Clock()
    return UploadProgress(stream=out, tty=tty, clock=clock, ticker=False), out, clock


def test_a_quick_request_on_a_pipe_prints_nothing() -> None:
    """An upload sent and answered within PIPE_QUIET seconds leaves no line on a pipe."""
    progress, out, clock = display(tty=False)
    meter = progress.meter("junit.xml", 81 * MIB)
    for _ in range(81):
        clock.now += (PIPE_QUIET - 1) / 81
        meter.sent(MIB)
    progress.tick()
    meter.closed()
    assert out.getvalue() == ""


def test_a_long_upload_on_a_pipe_prints_whole_lines_at_quarters_or_every_ten_seconds() -> None:
    """A slow upload on a pipe: whole lines naming the file, bytes, share and rate, one per quarter or per
    PIPE_EVERY seconds, one when the report is sent, then one every PIPE_EVERY seconds of waiting."""
    progress, out, clock = display(tty=False)
    meter = progress.meter("junit.xml", 80 * MIB)
    for _ in range(80):  # 80 MiB at 1 MiB/s
        clock.now += 1
        meter.sent(MIB)
    for _ in range(25):  # Xray takes 25 s to answer
        clock.now += 1
        progress.tick()
    meter.closed()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0] == "uploading junit.xml: 10.0 MiB of 80.0 MiB (12%), 1.0 MiB/s"  # PIPE_EVERY after the start
    shares = [int(m.group(1)) for line in lines if (m := re.search(r"\((\d+)%\)", line))]
    assert shares == [12, 25, 37, 50, 62, 75, 87]
    assert lines[7:] == ["junit.xml: 80.0 MiB sent in 80.0s (1.0 MiB/s); waiting for Xray's answer",
                         "still waiting for Xray's answer to junit.xml (10s)",
                         "still waiting for Xray's answer to junit.xml (20s)"]
    assert (PIPE_QUIET, PIPE_EVERY) == (5, 10)


def test_a_quick_upload_with_a_slow_answer_on_a_pipe_says_it_waits() -> None:
    """An 81 MB report sent in a second and answered after 55 s: not silent for 55 s — a line once the wait
    passes PIPE_QUIET seconds, then one every PIPE_EVERY."""
    progress, out, clock = display(tty=False)
    meter = progress.meter("big.xml", 81 * MIB)
    meter.sent(81 * MIB)
    for _ in range(110):
        clock.now += 0.5
        progress.tick()
    meter.closed()
    assert out.getvalue().splitlines() == [
        "big.xml: 81.0 MiB sent; waiting for Xray's answer (5s)",
        *[f"still waiting for Xray's answer to big.xml ({n}s)" for n in (15, 25, 35, 45, 55)]]


def test_a_terminal_gets_one_live_line_redrawn_in_place_then_wiped() -> None:
    """On a terminal the progress is one line redrawn with a carriage return, at most every 0.2 s, then the
    wait counted up, and the line wiped when the answer came."""
    progress, out, clock = display(tty=True)
    meter = progress.meter("big.xml", 100 * MIB)
    for _ in range(100):
        clock.now += 0.1
        meter.sent(MIB)
    for _ in range(6):
        clock.now += 0.5
        progress.tick()
    meter.closed()
    text = out.getvalue()
    draws = text.count("\r\x1b[Kuploading big.xml: ")
    assert 30 <= draws <= 50, text  # 10 s of upload, a draw per 0.2 s or so once 0.5 s have passed
    assert "\n" not in text  # a live line never scrolls
    assert "\r\x1b[Kbig.xml: 100.0 MiB sent in 10.0s (10.0 MiB/s); waiting for Xray's answer…\r" in text
    assert "\r\x1b[Kwaiting for Xray's answer to big.xml… 3s\r" in text
    assert text.endswith("\r\x1b[K")


def test_a_log_line_during_a_live_line_wipes_it_first() -> None:
    """A line written through console.err while a live line is up starts by wiping it."""
    progress, out, clock = display(tty=True)
    meter = progress.meter("big.xml", 10 * MIB)
    clock.now += 1
    meter.sent(MIB)
    err("retrying in 1.0s", out)
    live, line = out.getvalue().rsplit("\r", 1)
    assert live.startswith("\r\x1b[Kuploading big.xml: 1.0 MiB of 10.0 MiB (10%)")
    assert line == "\x1b[Kretrying in 1.0s\n"


def test_quiet_and_json_on_a_terminal_show_no_progress() -> None:
    """--quiet shows no progress anywhere; --json none on a terminal (its stdout shares the screen), but on a
    pipe it does (stderr is free)."""
    for console, shown in ((Console(stream=io.StringIO(), tty=False, quiet=True, ticker=False), False),
                           (Console(stream=io.StringIO(), tty=True, as_json=True, ticker=False), False),
                           (Console(stream=io.StringIO(), tty=False, as_json=True, ticker=False), True)):
        clock = Clock()
        console.progress.clock = clock
        meter = console.upload("a.xml", 10)
        clock.now += PIPE_QUIET + PIPE_EVERY
        meter.sent(5)
        assert console.stream is not None and bool(console.stream.getvalue()) is shown


def test_parallel_uploads_write_whole_lines() -> None:
    """Meters advanced from many threads at once: every line written is whole and names its own file."""
    progress, out, clock = display(tty=False)
    meters = [progress.meter(f"r{n}.xml", 400) for n in range(8)]
    clock.now += PIPE_EVERY + PIPE_QUIET  # from now on every read prints a line

    def upload(n: int) -> None:
        for _ in range(400):
            meters[n].sent(1)

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = out.getvalue().splitlines()
    pattern = re.compile(r"(uploading r(\d)\.xml: \d+ B of 400 B \(\d+%\), [\d.]+ [KM]?i?B/s"
                         r"|r(\d)\.xml: 400 B sent in [\d.]+s \([\d.]+ [KM]?i?B/s\); waiting for Xray's answer)")
    assert len(lines) == 8 * 5 and all(pattern.fullmatch(line) for line in lines), lines  # 4 quarters + sent
    assert sorted(line.split(":")[0] for line in lines if "waiting" in line) == [f"r{n}.xml" for n in range(8)]


def test_the_import_reports_every_byte_and_the_end_of_the_request(sb: Sandbox, tmp_path: Path) -> None:
    """Through the import step and a real upload to the sandbox, the console's meter sees every byte of the
    report and then the end of the request (so the display follows the upload, not an estimate)."""
    from xray_tasks.importer import ImportOptions
    from xray_tasks.settings import resolve_settings
    from xray_tasks.workflow import OutputOptions, perform_import

    big = tmp_path / "big.xml"
    case = '<testcase classname="a.B" name="t{}"/>'
    big.write_text('<testsuite name="s" tests="30000">' + "".join(case.format(i) for i in range(30000))
                   + "</testsuite>", encoding="utf-8")
    out, clock = io.StringIO(), Clock()
    console = Console(stream=out, tty=False, clock=clock, ticker=False)
    events: list[object] = []
    make = console.upload

    class Spy:
        def __init__(self, name: str, size: int) -> None:
            self.inner = make(name, size)

        def sent(self, n: int) -> None:
            clock.now += PIPE_EVERY  # each chunk seems to take ten seconds
            events.append(n)
            self.inner.sent(n)

        def closed(self) -> None:
            events.append("closed")
            self.inner.closed()

    console.upload = Spy  # type: ignore[assignment]
    s = resolve_settings(environ=sandbox_env(sb, tmp_path, XRAY_REPORT=str(big)))
    sb.faults.update({"accept_without_parsing": True})  # what is watched is the upload, not the import
    try:
        outcome = perform_import(s, ImportOptions(), OutputOptions(), None, console)
    finally:
        sb.faults.clear()
    assert outcome is not None and outcome.keys
    assert events[-1] == "closed" and events.count("closed") == 1
    assert sum(n for n in events if isinstance(n, int)) == big.stat().st_size and len(events) >= 3
    lines = out.getvalue().splitlines()
    sent = lines.index(next(line for line in lines if line.startswith("big.xml: ")))
    assert lines[sent].startswith(f"big.xml: {big.stat().st_size / MIB:.1f} MiB sent in 20.0s")
    assert lines[sent].endswith("; waiting for Xray's answer")
    assert lines[sent - 1].startswith("uploading big.xml: 1.0 MiB of ")
    assert lines[sent + 1].startswith("POST /api/v2/import/execution/junit (big.xml): 200")


# -- ci checks before the tests -------------------------------------------------------------------------


def marker_command(tmp_path: Path) -> tuple[str, Path]:
    """A test command that leaves a marker file (and a report) when it runs."""
    marker = tmp_path / "marker"
    script = tmp_path / "suite.py"
    script.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
                      f"pathlib.Path({str(tmp_path / 'junit.xml')!r}).write_text({JUNIT!r})\n", encoding="utf-8")
    return f"{sys.executable} {script}", marker


REPORT = ["--report", "junit.xml"]


@pytest.mark.parametrize(("extra", "args", "code", "expected"), [
    ({"XRAY_CLIENT_SECRET": None}, REPORT, 11, "XRAY_CLIENT_SECRET not set"),
    ({"XRAY_CLIENT_SECRET": "wrong-secret"}, REPORT, 15, "Xray refused the client id/secret"),
    ({}, [*REPORT, "--var", "summary=x", "--info-template", "bad.json.j2"], 14, "bad.json.j2 line 1"),
    ({"XRAY_PROJECT_KEY": None}, [*REPORT, "--multipart"], 11, "no project key for the new Test Execution"),
    ({}, [], 11, "ci: no report to import after the tests"),
    ({"XRAY_DEPLOYMENT": "server", "XRAY_SERVER_USER": "nobody"}, REPORT, 11, "no Server/DC credentials"),
], ids=["missing-secret", "wrong-secret", "broken-template", "multipart-without-project", "no-report",
        "server-without-password"])
def test_ci_fails_before_running_the_tests(extra: dict[str, str | None], args: list[str], code: int,
                                           expected: str, sb: Sandbox, tmp_path: Path) -> None:
    """What the import would refuse after the suite is refused before it: the test command never runs
    (its marker file does not exist), no run is recorded, and ci exits with the error's code."""
    command, marker = marker_command(tmp_path)
    (tmp_path / "bad.json.j2").write_text('{"fields": {"summary": {{ vars.nothing | json }} }}\n', encoding="utf-8")
    env = sandbox_env(sb, tmp_path, **{k: v for k, v in extra.items() if v is not None})
    env = {k: v for k, v in env.items() if extra.get(k, "") is not None}
    proc = xray_tasks("ci", "--command", command, *args, env=env, cwd=tmp_path)
    assert proc.returncode == code, proc.stderr
    assert expected in assert_one_clean_line(proc, "wrong-secret")
    assert not marker.exists()
    assert not (tmp_path / ".xray-run.json").exists()


def test_ci_authenticates_once_before_the_tests_and_imports_with_that_token(sb: Sandbox, tmp_path: Path) -> None:
    """ci with no cached token: one authentication, before the tests; the import after them reuses it."""
    command, marker = marker_command(tmp_path)
    before = sb.store.requests()
    proc = xray_tasks("ci", "--command", command, "--report", str(tmp_path / "junit.xml"),
                      env=sandbox_env(sb, tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    sent = [r["path"] for r in sb.store.requests()[len(before):]]
    # one authentication before the tests; the import, then ci's read-back (GraphQL) reuse its token
    assert sent == ["/api/v2/authenticate", "/api/v2/import/execution/junit", "/api/v2/graphql"], sent
    assert marker.exists()


def test_ci_runs_the_tests_when_xray_is_unreachable_before_them(tmp_path: Path) -> None:
    """Xray unreachable at the start is only a warning: the tests run (the import after them decides)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command, marker = marker_command(tmp_path)
    env = bare_env(tmp_path) | {"XRAY_BASE_URL": f"http://127.0.0.1:{port}", "XRAY_CLIENT_ID": "id",
                                "XRAY_CLIENT_SECRET": "secret-value", "XRAY_PROJECT_KEY": "DEMO",
                                "XRAY_MAX_RETRIES": "0"}
    proc = xray_tasks("ci", "--command", command, "--report", str(tmp_path / "junit.xml"), env=env, cwd=tmp_path)
    assert marker.exists()
    assert "warning: checked before the tests" in proc.stderr and "the tests run anyway" in proc.stderr
    assert proc.returncode == 17, proc.stderr
