"""What a person sees: progress and notes on stderr, results on stdout, secrets redacted everywhere.

:class:`Console` receives an import run's events (:class:`xray_tasks.importer.Events`) and prints them as
whole lines — requests running in parallel never mix their lines — with a live "n/m requests done" line
on a terminal. ``--quiet`` keeps only results and warnings; ``--json`` keeps stdout for one JSON object.

A report upload shows its progress (:meth:`Console.upload`, the meter the transport tells each chunk
read): on a terminal one live line — file, bytes sent, share, rate — redrawn a few times a second once the
upload has taken half a second; on a pipe (a CI log) whole lines only, none for an upload shorter than
:data:`PIPE_QUIET` seconds, then one at each quarter or every :data:`PIPE_EVERY` seconds, whichever
comes first, and one when the report is sent and Xray's answer is awaited. Progress goes to stderr, so
it is shown with ``--json`` too; ``--quiet`` turns it off.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from xray_tasks.formats import FORMAT_LABELS
from xray_tasks.redaction import redact, redact_data

if TYPE_CHECKING:
    from xray_tasks.client import ImportResult
    from xray_tasks.importer import ImportOutcome, RunPlan
    from xray_tasks.plan import ImportPlan

__all__ = ["LIVE_AFTER", "PIPE_EVERY", "PIPE_QUIET", "Console", "clear_status", "err", "some"]

_LOCK = threading.RLock()
#: seconds an upload runs before a terminal shows its live line, and between redraws
LIVE_AFTER, LIVE_EVERY = 0.5, 0.2
#: seconds an upload runs before a pipe gets a progress line, and most seconds between its lines
PIPE_QUIET, PIPE_EVERY = 5.0, 10.0


_status_shown = False  # a live progress line is on the terminal: the next line clears it first


def err(message: str, stream: TextIO | None = None) -> None:
    """One line on stderr, secrets redacted; whole lines even when parallel requests report at once."""
    global _status_shown
    out = stream or sys.stderr
    with _LOCK:
        out.write(("\x1b[K" if _status_shown else "") + redact(message) + "\n")
        _status_shown = False
        out.flush()


def clear_status(stream: TextIO | None = None) -> None:
    """Wipe a live progress line still on the terminal (before an error line that is not printed by err)."""
    global _status_shown
    with _LOCK:
        if _status_shown:
            out = stream or sys.stderr
            out.write("\r\x1b[K")
            out.flush()
            _status_shown = False


def some(paths: Sequence[Path | str], shown: int = 3) -> str:
    """``a.xml, b.xml, c.xml and 47 more``: a progress line stays one readable line."""
    names = ", ".join(str(p) for p in paths[:shown])
    return f"{names} and {len(paths) - shown} more" if len(paths) > shown else names


def _size(n: float) -> str:
    from xray_tasks.transport import size_text

    return size_text(n)


@dataclass
class _Upload:
    """One report upload under way, as the progress display knows it."""

    name: str
    size: int
    started: float
    sent: int = 0
    told: float = 0.0  # when its last pipe line was written
    quarter: int = 0  # quarters already told on a pipe
    shown: bool = False  # a line about it was written (live or whole)

    def rate(self, now: float) -> float:
        return self.sent / max(now - self.started, 1e-6)


class Console:
    """Prints an import run for people (or keeps quiet for machines).

    ``stream``, ``tty`` and ``clock`` default to stderr, whether it is a terminal, and ``time.monotonic``;
    tests give their own."""

    def __init__(self, *, as_json: bool = False, quiet: bool = False, stream: TextIO | None = None,
                 tty: bool | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.as_json = as_json
        self.quiet = quiet
        self.stream = stream
        self.tty = (stream or sys.stderr).isatty() if tty is None else tty
        self.live = self.tty and not (quiet or as_json)
        self.clock = clock
        self._done = 0
        self._total = 0
        self._uploads: list[_Upload] = []
        self._drawn = -math.inf  # when the live progress line was last drawn

    @property
    def _out(self) -> TextIO:
        return self.stream or sys.stderr

    # -- lines ----------------------------------------------------------------------------------------

    def say(self, message: str) -> None:
        """A progress line (not with --quiet or --json)."""
        if not (self.quiet or self.as_json):
            err(("\x1b[K" if self.live else "") + message, self.stream)

    def warn(self, message: str) -> None:
        """A warning: always shown."""
        err(f"xray-tasks: warning: {message}", self.stream)

    # -- upload progress ------------------------------------------------------------------------------

    def upload(self, name: str, size: int) -> Callable[[int], None]:
        """The meter of one upload: call it with the bytes of each chunk read (from any thread)."""
        if self.quiet or (self.tty and not self.live):  # --json on a terminal: stdout shares the screen
            return lambda _n: None
        now = self.clock()
        upload = _Upload(name, size, now, told=now)
        with _LOCK:
            self._uploads.append(upload)

        def advance(n: int) -> None:
            with _LOCK:
                upload.sent += n
                now = self.clock()
                finished = upload.sent >= upload.size
                if finished and upload in self._uploads:
                    self._uploads.remove(upload)
                if self.tty:
                    self._draw(upload, now, finished)
                else:
                    self._tell(upload, now, finished)

        return advance

    def _tell(self, u: _Upload, now: float, finished: bool) -> None:
        """A whole line on a pipe: at each quarter or every PIPE_EVERY seconds, after PIPE_QUIET."""
        elapsed = now - u.started
        if finished:
            if u.shown:
                self._write(f"{u.name}: {_size(u.size)} sent in {elapsed:.1f}s ({_size(u.rate(now))}/s); "
                            "waiting for Xray's answer\n")
            return
        quarter = 4 * u.sent // max(u.size, 1)
        if elapsed < PIPE_QUIET or (quarter <= u.quarter and now - u.told < PIPE_EVERY):
            return
        u.quarter, u.told, u.shown = quarter, now, True
        self._write(f"uploading {u.name}: {_size(u.sent)} of {_size(u.size)} ({100 * u.sent // max(u.size, 1)}%), "
                    f"{_size(u.rate(now))}/s\n")

    def _draw(self, u: _Upload, now: float, finished: bool) -> None:
        """The live line on a terminal, for every upload under way; a whole line when one that was shown ends."""
        if finished:
            if u.shown:
                self._write(f"\r\x1b[K{u.name}: {_size(u.size)} sent in {now - u.started:.1f}s; "
                            "waiting for Xray's answer\n")
            return
        if now - u.started < LIVE_AFTER or now - self._drawn < LIVE_EVERY:
            return
        u.shown = True
        self._drawn = now
        active = self._uploads
        sent, size = sum(a.sent for a in active), sum(a.size for a in active)
        rate = sum(a.rate(now) for a in active)
        what = active[0].name if len(active) == 1 else f"{len(active)} reports"
        self._status(f"uploading {what}: {_size(sent)} of {_size(size)} ({100 * sent // max(size, 1)}%), "
                     f"{_size(rate)}/s")

    def _status(self, text: str) -> None:
        global _status_shown
        width = shutil.get_terminal_size((80, 24)).columns - 1
        self._write(f"\r\x1b[K{redact(text)[:width]}\r")
        _status_shown = True

    def _write(self, text: str) -> None:
        global _status_shown
        out = self._out
        out.write(redact(text))
        out.flush()
        _status_shown = False

    def result(self, text: str) -> None:
        """A result line on stdout (not with --json)."""
        if not self.as_json:
            print(redact(text), flush=True)

    def data(self, value: Any) -> None:
        """The one JSON object of ``--json``, on stdout, secrets redacted before it is serialised."""
        print(json.dumps(redact_data(value), ensure_ascii=False), flush=True)

    # -- an import run's events -----------------------------------------------------------------------

    def started(self, total: int) -> None:
        self._total = total
        if self.live and total > 1:
            print(f"importing {total} requests…", end="\r", file=sys.stderr, flush=True)

    def sending(self, plan: ImportPlan) -> None:
        if plan.detected:
            self.say(f"detected {FORMAT_LABELS[plan.format]} in {some(plan.files)}")
        for note in plan.notes:
            self.say(f"note: {note}")

    def landed(self, plan: ImportPlan, result: ImportResult) -> None:
        with _LOCK:
            self._done += 1
            done = self._done
        files = plan.files[0].name if len(plan.files) == 1 else f"{len(plan.files)} files"
        count = f"[{done}/{self._total}] " if self._total > 1 else ""
        self.say(f"{count}POST {plan.endpoint} ({files}): {result.status} in {result.duration:.2f}s → {result.key}")
        if self.live and done < self._total:  # a live line under the log, overwritten next time
            print(f"  {done}/{self._total} requests done…", end="\r", file=sys.stderr, flush=True)

    # -- summaries ------------------------------------------------------------------------------------

    def dry_run(self, run: RunPlan, base_url: str, auth_scheme: str) -> None:
        """Every request as it would be sent, credential redacted; or the JSON form with ``--json``."""
        if self.as_json:
            self.data({"dry_run": True, "requests": [p.to_dict(base_url) for p in run.plans]})
            return
        plans = run.plans
        for i, plan in enumerate(plans, 1):
            if plan.detected:
                self.say(f"detected {FORMAT_LABELS[plan.format]} in {some(plan.files)}")
            self.result(f"request {i} of {len(plans)}:" if len(plans) > 1 else "request:")
            self.result(plan.describe(base_url, auth_scheme))
        self.result("dry run: nothing was sent")

    def imported(self, outcome: ImportOutcome) -> None:
        """The result line: the Test Execution key and link (one line per execution with --separate)."""
        plan, result = outcome.results[0]
        where = f": {result.url}" if result.url else " (set XRAY_JIRA_URL for a browse link)"
        files = sorted({str(p) for plan_, _ in outcome.results for p in plan_.files})
        what = plan.files[0].name if len(files) == 1 else f"{len(files)} reports"
        label = " + ".join(dict.fromkeys(FORMAT_LABELS[p.format] for p, _ in outcome.results))
        if len(outcome.keys) == 1:
            self.result(f"Imported {what} ({label}) into {result.key}{where}")
            return
        self.result(f"Imported {what} ({label}) into {len(outcome.keys)} Test Executions:")
        for p, r in outcome.results:
            self.result(f"  {r.key} {r.url or ''}  ← {', '.join(f.name for f in p.files)}")
