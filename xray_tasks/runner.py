"""Run the test command so its output reaches the terminal untouched, and pass Ctrl-C and SIGTERM on to it.

The command runs through the shell, as Invoke ran it (``bash`` found on ``PATH``, else ``/bin/sh``), in
its own process group and session. Its output is never held or scanned by us:

- when the destination (our stdout, or our stderr with ``stdout_to_stderr``) is not a terminal, the
  command inherits the file descriptors and writes straight to them: no copy, flat memory, whatever the
  size of the output;
- when it is a terminal, the command writes to a pseudo-terminal, so test runners still see a tty and keep
  their colours, and we copy the pseudo-terminal to the destination in large chunks (linear time). The
  pseudo-terminal does no output processing (no ``\\n`` → ``\\r\\n``): the bytes arrive unchanged.

The command's stderr goes to our stderr (through the same pseudo-terminal when that is a terminal too, so
both streams keep their order). Its stdin is our stdin, inherited as is: a test run that reads input (a
debugger breakpoint) still can.

Signals: the command does not share our terminal's process group, so Ctrl-C reaches only us. While it
runs, SIGINT and SIGTERM are passed on to its whole process group and we wait for it to end; if it is still
running ``KILL_AFTER`` seconds after the first signal, the group gets SIGKILL. The signal we received is
returned in :class:`CommandRun` so the caller can stop (exit 128 + signal). Handlers are only installed
when called from the main thread (Python delivers signals there only); from another thread the command
runs without forwarding, and signals keep whatever handlers the process had. Previous handlers are put
back when the command ends (``SIG_DFL`` for a handler that was not set from Python).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import shutil
import signal
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType

__all__ = ["KILL_AFTER", "CommandRun", "run_command", "shell"]

#: seconds between the first SIGINT/SIGTERM passed on and the SIGKILL for a command that ignores it
KILL_AFTER = 10.0
FORWARDED = (signal.SIGINT, signal.SIGTERM)
CHUNK = 1 << 16
#: after the command has exited, a background process may still hold the pseudo-terminal open: we stop
#: copying once it has been quiet this long
QUIET_AFTER_EXIT = 0.5


@dataclass(frozen=True)
class CommandRun:
    """How the command ended: its exit code (128 + N when signal N killed it), the signal that interrupted
    us while it ran (None if none), when it started and finished (epoch seconds), and its process id (also
    its process group's)."""

    exit_code: int
    signal: int | None
    started: float
    finished: float
    pid: int

    @property
    def duration(self) -> float:
        return self.finished - self.started

    @property
    def interrupted(self) -> bool:
        return self.signal is not None

    @property
    def signal_name(self) -> str | None:
        return signal.Signals(self.signal).name if self.signal is not None else None

    @property
    def stop_code(self) -> int | None:
        """The code a chain interrupted by this run ends with (130 for SIGINT, 143 for SIGTERM); None when
        it was not interrupted."""
        return 128 + self.signal if self.signal is not None else None


def shell() -> str:
    """The shell that runs the command: bash found on PATH, like Invoke, else the POSIX /bin/sh."""
    return shutil.which("bash") or "/bin/sh"


def run_command(command: str, *, stdout_to_stderr: bool = False,
                on_start: Callable[[int], None] | None = None) -> CommandRun:
    """Run ``command`` through the shell with its output going straight to ours; wait for it.

    ``stdout_to_stderr`` sends the command's stdout to our stderr (keeping our stdout for a JSON result).
    ``on_start`` is called with the command's process id once it runs (to record the run)."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # our own lines come before the command's
    target_fd = 2 if stdout_to_stderr else 1
    use_pty = os.isatty(target_fd)
    relay = _Relay()
    started = time.time()
    with relay.installed():
        if use_pty:
            pid, code = _run_on_pty(command, target_fd, relay, on_start)
        else:
            proc = subprocess.Popen([shell(), "-c", command], stdout=target_fd, start_new_session=True)
            pid, code = proc.pid, _wait(proc, relay, on_start)
    return CommandRun(exit_code=code, signal=relay.received, started=started, finished=time.time(), pid=pid)


def _wait(proc: subprocess.Popen[bytes], relay: _Relay, on_start: Callable[[int], None] | None) -> int:
    """Wait for the command (passing signals on meanwhile); its exit code, 128 + N when killed by signal N."""
    try:
        relay.attach(proc.pid)
        if on_start is not None:
            on_start(proc.pid)
    except BaseException:
        relay.kill()
        proc.wait()
        raise
    code = proc.wait()
    relay.detach()
    return 128 - code if code < 0 else code


def _run_on_pty(command: str, target_fd: int, relay: _Relay, on_start: Callable[[int], None] | None
                ) -> tuple[int, int]:
    """Run the command with its stdout (and stderr when ours is a terminal too) on a fresh pseudo-terminal
    copied to ``target_fd``; its process id and exit code."""
    master, slave = os.openpty()
    wake_r, wake_w = os.pipe()
    try:
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.OPOST  # oflag: pass the bytes as written
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        with contextlib.suppress(OSError):  # the width test runners format for
            fcntl.ioctl(slave, termios.TIOCSWINSZ, fcntl.ioctl(target_fd, termios.TIOCGWINSZ, b"\0" * 8))
        both = os.isatty(2)
        proc = subprocess.Popen([shell(), "-c", command], stdout=slave, stderr=slave if both else None,
                                start_new_session=True)
        os.close(slave)
        slave = -1
        pump = threading.Thread(target=_pump, args=(master, target_fd, wake_r), name="xray-tasks-pty", daemon=True)
        pump.start()
        try:
            return proc.pid, _wait(proc, relay, on_start)
        finally:
            os.write(wake_w, b"x")
            pump.join()
    finally:
        for fd in (master, slave, wake_r, wake_w):
            if fd >= 0:
                os.close(fd)


def _pump(master: int, target_fd: int, wake: int) -> None:
    """Copy the pseudo-terminal to ``target_fd`` until every writer has closed it, or until the command has
    exited (``wake`` is readable) and the pseudo-terminal stays quiet for ``QUIET_AFTER_EXIT``."""
    exited = False
    writable = True
    while True:
        watched = [master] if exited else [master, wake]
        ready, _, _ = select.select(watched, [], [], QUIET_AFTER_EXIT if exited else None)
        if not ready:
            return
        if wake in ready:
            exited = True
            if master not in ready:
                continue
        try:
            chunk = os.read(master, CHUNK)
        except OSError as exc:
            if exc.errno == errno.EIO:  # Linux: the last writer closed the pseudo-terminal
                return
            raise
        if not chunk:
            return
        if writable:
            try:
                _write_all(target_fd, chunk)
            except OSError:  # our terminal is gone: keep draining so the command never blocks on a full pty
                writable = False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class _Relay:
    """Passes SIGINT/SIGTERM on to the command's process group while it runs; remembers the first one."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._group: int | None = None
        self._lock = threading.RLock()  # re-entered by the handler when a signal lands inside a block
        self._killer: threading.Timer | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self._on_signal) for sig in FORWARDED}
        try:
            yield
        finally:
            self.detach()
            for sig, handler in previous.items():
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    def attach(self, group: int) -> None:
        """The command runs as process group ``group``: a signal received before now is passed on now."""
        with self._lock:
            self._group = group
        if self.received is not None:
            self._forward(self.received)

    def detach(self) -> None:
        """The command has ended: nothing is passed on any more, and no SIGKILL follows."""
        with self._lock:
            self._group = None
            if self._killer is not None:
                self._killer.cancel()

    def kill(self) -> None:
        self._send(signal.SIGKILL)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
        self._forward(signum)

    def _forward(self, signum: int) -> None:
        self._send(signum)
        with self._lock:
            if self._group is not None and self._killer is None:
                self._killer = threading.Timer(KILL_AFTER, self.kill)
                self._killer.daemon = True
                self._killer.start()

    def _send(self, signum: int) -> None:
        with self._lock:
            if self._group is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._group, signum)
