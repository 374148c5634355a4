"""The first link of the chain: how ``run-tests`` / ``ci`` run the test command (output, exit codes,
Ctrl-C and SIGTERM), the run record it leaves, and ``--clean``."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pty
import select
import shlex
import signal
import stat
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import assert_one_clean_line, pytest_suite, sandbox_env, seeded_sandbox, xray_tasks
from xray_tasks import runner
from xray_tasks.runner import run_command
from xray_tasks.runrecord import RunRecord, load_record, save_record
from xray_tasks.sandbox import Sandbox

#: runs run_command(argv[1]) with stdout, or stderr when argv[2] == "stderr"; writes the result to argv[3]
HARNESS = """
import json, sys
from xray_tasks.runner import run_command
run = run_command(sys.argv[1], stdout_to_stderr=sys.argv[2] == "stderr")
with open(sys.argv[3], "w") as fh:
    json.dump({"exit_code": run.exit_code, "signal": run.signal}, fh)
"""
#: a test command that copies a report (argv[1] → argv[2], "-" for none), says it runs (marker argv[3]),
#: then waits for a signal and dies of it; argv[4] == "graceful": it answers SIGINT by writing argv[3] + ".done"
#: and exiting 5; "stubborn": it ignores SIGTERM
WAITER = """
import pathlib, shutil, signal, sys
if sys.argv[1] != "-":
    shutil.copy(sys.argv[1], sys.argv[2])
marker = pathlib.Path(sys.argv[3])
if sys.argv[4] == "graceful":
    def done(signum, frame):
        pathlib.Path(str(marker) + ".done").write_text("cleaned up")
        sys.exit(5)
    signal.signal(signal.SIGINT, done)
elif sys.argv[4] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # die of it, as a test runner killed by Ctrl-C does
marker.write_text("running")
while True:
    signal.pause()
"""


def waiter(tmp: Path, marker: Path, *, report: Path | None = None, dest: Path | None = None,
           mode: str = "plain") -> str:
    """The command line of WAITER (see there)."""
    script = tmp / "waiter.py"
    script.write_text(WAITER, encoding="utf-8")
    args = [sys.executable, str(script), str(report or "-"), str(dest or "-"), str(marker), mode]
    return shlex.join(args)


def wait_for(path: Path, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
    """Block until the test command has written ``path``; it does so only once it runs under our handlers."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc is None or proc.poll() is None, "the command ended before it said it runs"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def no_temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".xray-run-")]


def harness(tmp: Path, command: str, *, to_stderr: bool = False, **popen: object
            ) -> tuple[subprocess.Popen[bytes], Path]:
    result = tmp / "result.json"
    proc = subprocess.Popen([sys.executable, "-c", HARNESS, command, "stderr" if to_stderr else "stdout",
                             str(result)], **popen)  # type: ignore[call-overload]
    return proc, result


@contextlib.contextmanager
def raw_tty() -> Iterator[tuple[int, int]]:
    """A pseudo-terminal (master, slave) that passes output bytes unchanged (no \\n → \\r\\n)."""
    master, slave = pty.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    try:
        yield master, slave
    finally:
        for fd in (master, slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def read_until_closed(master: int, sink: list[bytes]) -> None:
    """Read the terminal until every writer has closed it (EIO on Linux)."""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        assert ready, "the terminal stayed open and silent for a minute"
        try:
            data = os.read(master, 1 << 16)
        except OSError as exc:
            if exc.errno == errno.EIO:
                return
            raise
        if not data:
            return
        sink.append(data)


# -- the runner -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "code"), [
    ("true", 0), ("exit 1", 1), ("./not-executable", 126), ("no-such-test-runner-here", 127),
    ("kill -KILL $$", 128 + signal.SIGKILL), ("kill -TERM $$", 128 + signal.SIGTERM),
])
def test_exit_codes_are_the_shells(command: str, code: int, workdir: Path) -> None:
    """The exit code is the command's; 126/127 when the shell cannot run it, 128 + N when signal N killed it."""
    (workdir / "not-executable").write_text("#!/bin/sh\nexit 0\n")
    run = run_command(command)
    assert run.exit_code == code
    assert run.signal is None and not run.interrupted and run.stop_code is None
    assert run.started <= run.finished and run.duration >= 0


def test_output_passes_through_unchanged(tmp_path: Path) -> None:
    """Several MB of every byte value, without a trailing newline, reach our stdout exactly as written."""
    expected = bytes(range(256)) * 16384 + b"last line, no newline"
    command = f"{shlex.quote(sys.executable)} -c " + shlex.quote(
        "import sys; sys.stdout.buffer.write(bytes(range(256)) * 16384 + b'last line, no newline')")
    proc, result = harness(tmp_path, command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out == expected
    assert json.loads(result.read_text()) == {"exit_code": 0, "signal": None}


def test_stdout_to_stderr_keeps_stdout_free(tmp_path: Path) -> None:
    """In stdout_to_stderr mode the command's stdout and stderr both land on our stderr; our stdout stays empty."""
    proc, _ = harness(tmp_path, "printf 'to stdout\\n'; printf 'to stderr\\n' >&2; exit 4", to_stderr=True,
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=60)
    assert out == b""
    assert err == b"to stdout\nto stderr\n"


def test_on_a_terminal_the_command_gets_a_terminal_and_its_bytes_arrive_unchanged(tmp_path: Path) -> None:
    """When our stdout is a tty the command's stdout is one too (colours stay on), and 1 MB of output is
    copied to ours byte for byte (no \\r added), even without a trailing newline."""
    payload = "import sys; sys.stdout.buffer.write(b'a\\nb\\r\\n\\x1b[31mred\\x1b[0m' * 40000 + b'end')"
    command = f"test -t 1 && printf 'tty\\n' || printf 'no tty\\n'; {shlex.quote(sys.executable)} -c " \
              f"{shlex.quote(payload)}"
    chunks: list[bytes] = []
    with raw_tty() as (master, slave), (tmp_path / "stderr").open("wb") as err:
        proc, result = harness(tmp_path, command, stdout=slave, stderr=err)
        os.close(slave)
        read_until_closed(master, chunks)
        assert proc.wait(timeout=60) == 0, (tmp_path / "stderr").read_text()
    assert b"".join(chunks) == b"tty\n" + b"a\nb\r\n\x1b[31mred\x1b[0m" * 40000 + b"end"
    assert json.loads(result.read_text()) == {"exit_code": 0, "signal": None}


def test_a_signal_is_passed_on_and_the_command_may_finish_its_work(tmp_path: Path) -> None:
    """SIGINT to us reaches the command, which cleans up and exits as it likes; we wait for it and report
    the signal; our SIGINT handler is ours again afterwards."""
    marker = tmp_path / "marker"
    previous = signal.getsignal(signal.SIGINT)
    sender = threading.Thread(target=lambda: (wait_for(marker), signal.pthread_kill(
        threading.main_thread().ident or 0, signal.SIGINT)))
    sender.start()
    run = run_command(waiter(tmp_path, marker, mode="graceful"))
    sender.join()
    assert (run.exit_code, run.signal, run.stop_code) == (5, signal.SIGINT, 130)
    assert run.signal_name == "SIGINT"
    assert (tmp_path / "marker.done").read_text() == "cleaned up"
    assert signal.getsignal(signal.SIGINT) is previous


def test_a_command_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A command that ignores the SIGTERM we pass on gets SIGKILL once KILL_AFTER has passed (exit 137)."""
    monkeypatch.setattr(runner, "KILL_AFTER", 0.2)
    marker = tmp_path / "marker"
    sender = threading.Thread(target=lambda: (wait_for(marker), signal.pthread_kill(
        threading.main_thread().ident or 0, signal.SIGTERM)))
    sender.start()
    started = time.monotonic()
    run = run_command(waiter(tmp_path, marker, mode="stubborn"))
    sender.join()
    assert (run.exit_code, run.signal, run.stop_code) == (128 + signal.SIGKILL, signal.SIGTERM, 143)
    assert time.monotonic() - started >= 0.2


def test_from_another_thread_the_command_runs_without_signal_handlers() -> None:
    """Called from a thread other than the main one (where Python cannot install handlers) it still runs."""
    runs = []
    thread = threading.Thread(target=lambda: runs.append(run_command("exit 3")))
    thread.start()
    thread.join()
    assert [(r.exit_code, r.signal) for r in runs] == [(3, None)]


# -- the chain: ci and run-tests --------------------------------------------------------------------------


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    """A fresh sandbox per test, so "nothing was imported" means its store has no Test Execution."""
    with seeded_sandbox(3) as sandbox:
        yield sandbox


@pytest.mark.parametrize(("sig", "chain"), [
    (signal.SIGINT, ["ci"]), (signal.SIGTERM, ["ci"]),
    (signal.SIGINT, ["run-tests", "authenticate", "import-results"]),
], ids=["ci-SIGINT", "ci-SIGTERM", "run-tests-import-results-SIGINT"])
def test_an_interrupted_test_run_stops_the_chain(sig: signal.Signals, chain: list[str], sb: Sandbox,
                                                 pytest_junit_report: Path, tmp_path: Path) -> None:
    """Ctrl-C or SIGTERM while the tests run reaches them, ends the call with 130/143, imports nothing (not
    even the fresh report they wrote), records the run as interrupted and leaves no temporary file."""
    marker, report = tmp_path / "marker", tmp_path / "junit.xml"
    command = waiter(tmp_path, marker, report=pytest_junit_report, dest=report)
    env = sandbox_env(sb, tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "xray_tasks", chain[0], "--command", command, "--report",
                             str(report), *chain[1:]], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    wait_for(marker, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert f"tests interrupted by {sig.name}" in err.decode() and "Traceback" not in err.decode()
    assert report.is_file()  # the tests wrote a report before they were stopped ...
    assert sb.store.executions() == []  # ... and it was not imported
    record = json.loads((tmp_path / ".xray-run.json").read_text())
    assert (record["state"], record["signal"]) == ("interrupted", sig.name)
    assert record["exit_code"] == 128 + sig  # the test command died of the signal we passed on
    with pytest.raises(ProcessLookupError):
        os.kill(record["pid"], 0)
    assert no_temp_files(tmp_path) == []
    proc2 = xray_tasks("import-results", "--exit-with-tests", env=env, cwd=tmp_path)
    assert proc2.returncode == 11
    assert f"did not finish: it was interrupted by {sig.name}" in assert_one_clean_line(proc2)
    assert sb.store.executions() == []


def test_ctrl_c_on_a_terminal_stops_run_tests_with_130(tmp_path: Path) -> None:
    """With our stdout on a terminal (which the command writes to directly), Ctrl-C still reaches the tests and ends
    run-tests with 130, the record saying interrupted."""
    marker = tmp_path / "marker"
    env = {k: v for k, v in os.environ.items() if not k.startswith("XRAY_")} | {
        "XRAY_STATE_FILE": str(tmp_path / "run.json"), "XRAY_ENV_FILE": os.devnull}
    chunks: list[bytes] = []
    with raw_tty() as (master, slave):
        proc = subprocess.Popen([sys.executable, "-m", "xray_tasks", "run-tests", "--command",
                                 f"printf 'on the terminal\\n'; {waiter(tmp_path, marker)}"],
                                env=env, cwd=tmp_path, stdout=slave, stderr=subprocess.PIPE)
        os.close(slave)
        reader = threading.Thread(target=read_until_closed, args=(master, chunks))
        reader.start()
        wait_for(marker, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        reader.join()
    assert proc.returncode == 130, err
    assert b"".join(chunks) == b"on the terminal\n"
    record = load_record(tmp_path / "run.json")
    assert record is not None and (record.state, record.signal, record.tests_exit) == ("interrupted", "SIGINT", None)


def test_a_killed_run_leaves_a_running_record_that_is_not_trusted(sb: Sandbox, pytest_junit_report: Path,
                                                                 tmp_path: Path) -> None:
    """When run-tests itself is killed (SIGKILL) the record says running: --exit-with-tests refuses it with
    one line, and the stale-report guard measures against the killed run, not the previous one."""
    state = tmp_path / ".xray-run.json"
    save_record(state, RunRecord(command="an earlier run", started=1_000_000_000, finished=1_000_000_001,
                                 exit_code=0))
    marker = tmp_path / "marker"
    env = sandbox_env(sb, tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "xray_tasks", "run-tests", "--command", waiter(tmp_path, marker)],
                            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(marker, proc)
    proc.kill()
    proc.wait(timeout=60)
    record = json.loads(state.read_text())
    try:
        assert (record["state"], record["finished"], record["exit_code"]) == ("running", None, None)
    finally:
        os.killpg(record["pid"], signal.SIGKILL)  # the tests outlive a killed run-tests: their own group
    proc2 = xray_tasks("import-results", "--exit-with-tests", "--report", str(pytest_junit_report), env=env,
                       cwd=tmp_path)
    assert proc2.returncode == 11
    assert "did not finish: it was still running" in assert_one_clean_line(proc2)
    report = tmp_path / "between.xml"  # written after the earlier run started, before the killed one
    report.write_bytes(pytest_junit_report.read_bytes())
    os.utime(report, (1_000_000_100, 1_000_000_100))
    proc3 = xray_tasks("import-results", "--report", str(report), env=env, cwd=tmp_path)
    assert proc3.returncode == 13, proc3.stderr  # older than the killed run
    assert sb.store.executions() == []


@pytest.mark.parametrize("case", ["directory", "missing-folder", "read-only-folder"])
def test_an_unwritable_record_is_a_warning_and_ci_still_imports(case: str, sb: Sandbox, tmp_path: Path) -> None:
    """A run record that cannot be written is one warning naming the file; the tests run, ci imports their
    results and exits with their code, and no temporary file is left."""
    folder = tmp_path
    if case == "directory":
        state = tmp_path / "state-is-a-folder"
        state.mkdir()
    elif case == "missing-folder":
        state = tmp_path / "missing" / "run.json"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders; the other two cases cover this without permissions")
        folder = tmp_path / "read-only"
        folder.mkdir()
        state = folder / "run.json"
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    junit = tmp_path / "junit.xml"
    command = pytest_suite(tmp_path, "def test_ok():\n    pass\n\ndef test_bad():\n    assert False\n", junit)
    try:
        proc = xray_tasks("ci", "--command", command, "--report", str(junit),
                          env=sandbox_env(sb, tmp_path, XRAY_STATE_FILE=str(state)), cwd=tmp_path)
    finally:
        folder.chmod(stat.S_IRWXU)
    assert proc.returncode == 1, proc.stderr  # the tests' code
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("xray-tasks: warning:")]
    assert len(warnings) == 1 and f"cannot record the test run in {state}" in warnings[0], proc.stderr
    assert "tests failed (exit 1)" in proc.stderr and "not recorded" in proc.stderr
    assert [e["total"] for e in sb.store.executions()] == [2]
    assert no_temp_files(folder) == []
    assert not (tmp_path / "missing").exists()


# -- --clean -------------------------------------------------------------------------------------------------


def test_clean_empties_a_report_folder_of_its_reports_only(sb: Sandbox, pytest_junit_report: Path,
                                                         tmp_path: Path) -> None:
    """ci --clean --report FOLDER deletes the .xml/.json reports below it before the tests run, so only the
    new run's report is imported; the folder and its other files stay."""
    reports = tmp_path / "reports"
    (reports / "nested").mkdir(parents=True)
    (reports / "old.xml").write_bytes(pytest_junit_report.read_bytes())
    (reports / "nested" / "old.JSON").write_text("{}")
    (reports / "notes.txt").write_text("keep me")
    command = pytest_suite(tmp_path, "def test_ok():\n    pass\n", reports / "new.xml")
    proc = xray_tasks("ci", "--clean", "--command", command, "--report", "reports", env=sandbox_env(sb, tmp_path),
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"removed old report {Path('reports') / 'old.xml'}" in proc.stderr
    assert sorted(str(p.relative_to(reports)) for p in reports.rglob("*")) == ["nested", "new.xml", "notes.txt"]
    assert [e["total"] for e in sb.store.executions()] == [1]


def test_clean_still_takes_files_and_globs(tmp_path: Path) -> None:
    """--clean with a file and a glob deletes exactly the files they name."""
    for name in ("a.xml", "b.xml", "c.json", "keep.xml"):
        (tmp_path / name).write_text("<x/>")
    env = {k: v for k, v in os.environ.items() if not k.startswith("XRAY_")} | {
        "XRAY_STATE_FILE": str(tmp_path / "run.json"), "XRAY_ENV_FILE": os.devnull}
    proc = xray_tasks("run-tests", "--clean", "--command", "true", "--report", "c.json", "--report", "[ab].xml",
                      env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.xml", "run.json"]


@pytest.mark.parametrize("target", [".", "..", "home"])
def test_clean_refuses_the_working_directory_its_parents_and_home(target: str, tmp_path: Path) -> None:
    """--clean --report on the working directory, a parent of it or the home folder is one clear error:
    nothing is deleted and the tests do not run."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    for folder in (work, home):
        (folder / "precious.xml").write_text("<project/>")
    env = {k: v for k, v in os.environ.items() if not k.startswith("XRAY_")} | {
        "HOME": str(home), "XRAY_STATE_FILE": str(tmp_path / "run.json"),
        "XRAY_ENV_FILE": os.devnull}
    proc = xray_tasks("run-tests", "--clean", "--report", "~" if target == "home" else target,
                      "--command", f"touch {shlex.quote(str(tmp_path / 'ran'))}", env=env, cwd=work)
    assert proc.returncode == 11
    assert "--clean: refusing to delete the reports in" in assert_one_clean_line(proc)
    assert (work / "precious.xml").exists() and (home / "precious.xml").exists()
    assert not (tmp_path / "ran").exists()


# -- the record's format ---------------------------------------------------------------------------------


def test_a_record_without_a_state_is_a_finished_run(tmp_path: Path) -> None:
    """A record written before the state existed loads as finished, with its exit code usable."""
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"command": "pytest", "started": 10.0, "finished": 12.5, "exit_code": 1,
                                "reports": ["junit.xml"], "cwd": "/src"}))
    record = load_record(path)
    assert record is not None
    assert (record.state, record.tests_exit, record.duration, record.reports) == ("finished", 1, 2.5,
                                                                                  ("junit.xml",))


def test_the_new_fields_are_added_to_the_old_ones(tmp_path: Path) -> None:
    """A finished record keeps the old fields with their old types (older readers still read it) and adds
    state, pid and signal; a running one has no exit code to trust."""
    path = tmp_path / "run.json"
    save_record(path, RunRecord(command="pytest", started=1.0, finished=2.0, exit_code=0, reports=("a.xml",),
                                cwd="/src", pid=42, recorded_by=7))
    data = json.loads(path.read_text())
    assert data == {"kind": "xray-tasks/run", "command": "pytest", "started": 1.0, "finished": 2.0, "exit_code": 0,
                    "reports": ["a.xml"],
                    "cwd": "/src", "state": "finished", "pid": 42, "signal": None, "recorded_by": 7}
    save_record(path, RunRecord(command="pytest", started=1.0, finished=None, exit_code=None, state="running"))
    running = load_record(path)
    assert running is not None and running.state == "running" and running.tests_exit is None
    assert running.template_vars()["passed"] is False
    path.write_text(json.dumps(data | {"state": "exploded"}))
    assert load_record(path) is None
