"""The record ``run-tests`` leaves for later steps, possibly in other processes.

A small JSON file in the working directory (``XRAY_STATE_FILE``, default ``.xray-run.json``) holding
the command, start and end times, exit code and the report paths of the last test run. ``import-results``
reads it for template variables (``run.*``), to refuse reports older than the run, and for
``--exit-with-tests``.

The record is written twice: when the tests start (``state: running``, with the process id; ``finished``
and ``exit_code`` are null) and when they end (``state: finished``, or ``interrupted`` with the
``signal`` that stopped them). A run that was killed, or stopped by Ctrl-C, therefore never leaves the
previous run's exit code behind to be trusted: only a finished record has a usable exit code
(:attr:`RunRecord.tests_exit`). Records written before ``state`` existed are finished ones, and the
fields are only ever added to, so older readers still read a finished record.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from xray_tasks.atomic import replace_json
from xray_tasks.errors import SettingsError

__all__ = ["RunRecord", "RunState", "load_record", "recorded_exit_code", "save_record"]

RunState = Literal["running", "finished", "interrupted"]
STATES: tuple[RunState, ...] = ("running", "finished", "interrupted")
TEMP_PREFIX = ".xray-run-"
#: marks the file as xray-tasks' own, so it is never taken for a report
RUN_KIND = "xray-tasks/run"


@dataclass(frozen=True)
class RunRecord:
    command: str
    started: float  # epoch seconds
    finished: float | None  # None while running
    exit_code: int | None  # the command's own code; None while running
    reports: tuple[str, ...] = ()
    cwd: str = field(default_factory=os.getcwd)
    state: RunState = "finished"
    pid: int | None = None  # the test command's process
    signal: str | None = None  # "SIGINT" / "SIGTERM" when interrupted
    #: the xray-tasks process that ran the tests: a later step of the same ``invoke`` call ends with their code
    recorded_by: int = field(default_factory=os.getpid)

    @property
    def this_process(self) -> bool:
        return self.recorded_by == os.getpid()

    @property
    def tests_exit(self) -> int | None:
        """The tests' exit code when the run finished; None when it is still running, was killed before it
        could say, or was interrupted — an exit code that must not be trusted."""
        return self.exit_code if self.state == "finished" else None

    @property
    def stop_code(self) -> int | None:
        """The code a chain stopped by this run's interrupt ends with (130 for SIGINT, 143 for SIGTERM)."""
        if self.state != "interrupted" or self.signal is None:
            return None
        return 128 + int(getattr(signal.Signals, self.signal, signal.SIGINT))

    @property
    def report_patterns(self) -> tuple[str, ...]:
        """The recorded report paths/globs, relative ones taken from the folder the tests ran in."""
        return tuple(p if os.path.isabs(p) else os.path.join(self.cwd or ".", p) for p in self.reports)

    @property
    def duration(self) -> float | None:
        return self.finished - self.started if self.finished is not None else None

    def template_vars(self) -> dict[str, Any]:
        duration = self.duration
        return {
            "command": self.command,
            "exit_code": self.exit_code,
            "passed": self.tests_exit == 0,
            "state": self.state,
            "started": _iso(self.started),
            "finished": _iso(self.finished) if self.finished is not None else None,
            "duration": round(duration, 3) if duration is not None else None,
            "reports": list(self.reports),
        }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def save_record(path: Path, record: RunRecord) -> None:
    """Replace the record at ``path`` atomically (a reader sees the old or the new one, never half).

    Raises OSError when it cannot be written; no temporary file is left behind, even when interrupted."""
    replace_json(path.resolve(), {"kind": RUN_KIND, **asdict(record)}, prefix=TEMP_PREFIX, indent=2)


def load_record(path: Path) -> RunRecord | None:
    """The recorded run, or None when there is none (or it is unreadable: it is only a hint)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        state = data.get("state", "finished")
        if state not in STATES:
            return None
        finished, exit_code = data.get("finished"), data.get("exit_code")
        if state != "running" and (finished is None or exit_code is None):
            return None
        pid, sig = data.get("pid"), data.get("signal")
        return RunRecord(command=str(data["command"]), started=float(data["started"]),
                         finished=None if finished is None else float(finished),
                         exit_code=None if exit_code is None else int(exit_code),
                         reports=tuple(data.get("reports") or ()), cwd=str(data.get("cwd", "")), state=state,
                         pid=None if pid is None else int(pid), signal=None if sig is None else str(sig),
                         recorded_by=int(data.get("recorded_by", 0)))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def recorded_exit_code(record: RunRecord | None, path: Path) -> int:
    """The exit code of the finished test run ``record`` read from ``path`` (``import-results
    --exit-with-tests``).

    Raises SettingsError when no run is recorded, or the recorded run did not finish."""
    if record is None:
        raise SettingsError(f"--exit-with-tests: no test run recorded in {path}",
                            "run the tests with run-tests first (in this directory)")
    if record.tests_exit is None:
        how = f"was interrupted by {record.signal}" if record.state == "interrupted" else \
            "was still running when its record was last written (killed, or still going)"
        raise SettingsError(f"--exit-with-tests: the test run recorded in {path} did not finish: it {how}, "
                            "so it has no exit code to end with",
                            "run the tests to the end with run-tests, then import")
    return record.tests_exit
