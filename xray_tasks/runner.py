"""Run the test command so its output reaches the terminal untouched, and pass Ctrl-C and SIGTERM on to it.

The command runs through the shell, as Invoke ran it (``bash`` found on ``PATH``, else ``/bin/sh``), in
its own process group and session. Its output is never held or scanned by us: the command inherits our
file descriptors (its stdout is our stdout, or our stderr with ``stdout_to_stderr``; its stderr is our
stderr) and writes straight to them — no copy, flat memory and linear time whatever the size of the
output. When they are a terminal the command sees that terminal, so test runners keep their colours and
the window's width. Its stdin is our stdin, inherited as is: a test run that reads input (a debugger
breakpoint) still can.

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
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType

__all__ = ["KILL_AFTER", "CommandRun", "run_command", "shell"]

#: seconds between the first SIGINT/SIGTERM passed on and the SIGKILL for a command that ignores it
KILL_AFTER = 10.0
FORWARDED = (signal.SIGINT, signal.SIGTERM)


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
    relay = _Relay()
    started = time.time()
    with relay.installed():
        proc = subprocess.Popen([shell(), "-c", command], stdout=2 if stdout_to_stderr else 1,
                                start_new_session=True)
        code = _wait(proc, relay, on_start)
    return CommandRun(exit_code=code, signal=relay.received, started=started, finished=time.time(), pid=proc.pid)


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
