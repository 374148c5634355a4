"""The record ``run-tests`` leaves for later steps, possibly in other processes.

A small JSON file in the working directory (``XRAY_STATE_FILE``, default ``.xray-run.json``) holding
the command, start and end times, exit code and the report paths of the last test run. ``import-results``
reads it for template variables (``run.*``) and to refuse reports older than the run.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["RunRecord", "load_record", "save_record"]


@dataclass(frozen=True)
class RunRecord:
    command: str
    started: float  # epoch seconds
    finished: float
    exit_code: int
    reports: tuple[str, ...] = ()
    cwd: str = field(default_factory=os.getcwd)
    #: the xray-tasks process that ran the tests: a later step of the same ``invoke`` call ends with their code
    recorded_by: int = field(default_factory=os.getpid)

    @property
    def this_process(self) -> bool:
        return self.recorded_by == os.getpid()

    @property
    def duration(self) -> float:
        return self.finished - self.started

    def template_vars(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "exit_code": self.exit_code,
            "passed": self.exit_code == 0,
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "duration": round(self.duration, 3),
            "reports": list(self.reports),
        }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def save_record(path: Path, record: RunRecord) -> None:
    path = path.resolve()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".xray-run-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(asdict(record), fh, indent=2)
    os.replace(tmp, path)


def load_record(path: Path) -> RunRecord | None:
    """The recorded run, or None when there is none (or it is unreadable: it is only a hint)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RunRecord(command=str(data["command"]), started=float(data["started"]),
                         finished=float(data["finished"]), exit_code=int(data["exit_code"]),
                         reports=tuple(data.get("reports") or ()), cwd=str(data.get("cwd", "")),
                         recorded_by=int(data.get("recorded_by", 0)))
    except (OSError, ValueError, KeyError, TypeError):
        return None
