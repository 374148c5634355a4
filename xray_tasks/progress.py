"""What a long report upload shows: its progress while it is sent, and the wait for Xray's answer after.

An 80 MB report may take a minute: seconds to send, then as long again while Xray reads it before it
answers. :class:`UploadProgress` is told by the transport (:class:`xray_tasks.transport.UploadFile`) each
chunk read and when the request is over, and shows on stderr:

* on a terminal, one live line redrawn in place — the file, bytes sent, share, rate — once the upload has
  taken :data:`LIVE_AFTER` seconds; then, while Xray has not answered, ``waiting for Xray's answer… 12s``
  counted up by a ticker thread; the line is wiped when the request ends;
* on a pipe (a CI log), whole lines only and nothing for a quick request: after :data:`PIPE_QUIET` seconds
  one line at each quarter of the upload or every :data:`PIPE_EVERY` seconds, whichever comes first, a line
  when the report is sent, then one every :data:`PIPE_EVERY` seconds while the answer is awaited.

Uploads sent in parallel share the display: every line is written whole under :data:`LOCK`, which
:func:`xray_tasks.console.err` takes too, so a live line never runs into a log line (:func:`line_prefix`).
"""

from __future__ import annotations

import math
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from xray_tasks.redaction import redact

__all__ = ["LIVE_AFTER", "LOCK", "PIPE_EVERY", "PIPE_QUIET", "TICK", "UploadProgress", "clear_line", "line_prefix"]

#: seconds an upload runs before a terminal shows its live line, and least seconds between redraws
LIVE_AFTER, LIVE_EVERY = 0.5, 0.2
#: seconds before a pipe gets a line about an upload or a wait, and most seconds between those lines
PIPE_QUIET, PIPE_EVERY = 5.0, 10.0
#: seconds between two looks of the ticker at the answers awaited
TICK = 0.5

#: held while anything is written to stderr, so lines from parallel requests stay whole
LOCK = threading.RLock()
_live_line = False  # a live line is on the terminal


def line_prefix() -> str:
    """What a whole line written under LOCK starts with: a wipe of the live line, if one is shown."""
    global _live_line
    prefix = "\x1b[K" if _live_line else ""
    _live_line = False
    return prefix


def clear_line(stream: TextIO | None = None) -> None:
    """Wipe a live line still on the terminal (before an error line not written through console.err)."""
    global _live_line
    with LOCK:
        if _live_line:
            out = stream or sys.stderr
            out.write("\r\x1b[K")
            out.flush()
            _live_line = False


def size_text(n: float) -> str:
    """``87 B``, ``1.2 KiB``, ``81.0 MiB``."""
    if n < 1024:
        return f"{int(n)} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    if n < 1024**3:
        return f"{n / 2**20:.1f} MiB"
    return f"{n / 2**30:.2f} GiB"


@dataclass(eq=False)
class _Upload:
    """One report upload, from its first read to the end of its request."""

    name: str
    size: int
    started: float
    told: float  # when a pipe line last spoke of it
    sent: int = 0
    quarter: int = 0  # quarters a pipe was told of
    shown: bool = False  # a line spoke of it
    done: float | None = None  # when the last byte was read: Xray's answer is awaited since

    def rate(self, now: float) -> float:
        return self.sent / max(now - self.started, 1e-6)


class _Meter:
    """The meter of one upload, as the transport sees it."""

    def __init__(self, progress: UploadProgress, upload: _Upload) -> None:
        self._progress = progress
        self._upload = upload

    def sent(self, n: int) -> None:
        self._progress.sent(self._upload, n)

    def closed(self) -> None:
        self._progress.closed(self._upload)


class _Quiet:
    """The meter when nothing is shown."""

    def sent(self, n: int) -> None:
        pass

    def closed(self) -> None:
        pass


class UploadProgress:
    """The progress display of the report uploads of one import run.

    ``tty`` says whether ``stream`` (default stderr) is a terminal; ``clock`` and ``ticker`` are for tests,
    which move the clock and call :meth:`tick` themselves instead of a ticker thread."""

    def __init__(self, *, stream: TextIO | None = None, tty: bool = False, enabled: bool = True,
                 clock: Callable[[], float] = time.monotonic, ticker: bool = True) -> None:
        self.stream = stream
        self.tty = tty
        self.enabled = enabled
        self.clock = clock
        self._uploads: list[_Upload] = []
        self._drawn = -math.inf
        self._live = ""  # the live line last drawn
        self._ticker = ticker
        self._thread: threading.Thread | None = None

    def meter(self, name: str, size: int) -> _Meter | _Quiet:
        """The meter for one upload of ``size`` bytes from the file called ``name``."""
        if not self.enabled:
            return _Quiet()
        now = self.clock()
        upload = _Upload(name, size, now, told=now)
        with LOCK:
            self._uploads.append(upload)
            if self._ticker and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._tick_while_busy, name="xray-tasks progress",
                                                daemon=True)
                self._thread.start()
        return _Meter(self, upload)

    # -- events (from the threads that send) ------------------------------------------------------------

    def sent(self, u: _Upload, n: int) -> None:
        with LOCK:
            u.sent += n
            now = self.clock()
            if u.sent < u.size:
                if self.tty:
                    self._draw(now)
                else:
                    self._tell(u, now)
                return
            if u.done is None:
                u.done = now
                self._sent_whole(u, now)

    def closed(self, u: _Upload) -> None:
        """The request is over (answered, or failed): it leaves the display."""
        with LOCK:
            if u in self._uploads:
                self._uploads.remove(u)
            if self.tty and not self._uploads:
                clear_line(self.stream)

    def tick(self) -> None:
        """Count up the wait for the answers (the ticker thread calls it every TICK seconds)."""
        with LOCK:
            now = self.clock()
            waiting = [u for u in self._uploads if u.done is not None]
            if not waiting:
                return
            if self.tty:
                if any(u.done is None for u in self._uploads):
                    return  # the upload line is live
                first = min(u.done for u in waiting if u.done is not None)
                if now - first >= 2 * TICK:
                    what = waiting[0].name if len(waiting) == 1 else f"{len(waiting)} reports"
                    self._status(f"waiting for Xray's answer to {what}… {now - first:.0f}s")
                return
            for u in waiting:
                waited = now - (u.done or now)
                if u.shown and now - u.told >= PIPE_EVERY:
                    u.told = now
                    self._line(f"still waiting for Xray's answer to {u.name} ({waited:.0f}s)")
                elif not u.shown and waited >= PIPE_QUIET:
                    u.told, u.shown = now, True
                    self._line(f"{u.name}: {size_text(u.size)} sent; waiting for Xray's answer ({waited:.0f}s)")

    def _tick_while_busy(self) -> None:
        while True:
            time.sleep(TICK)
            with LOCK:
                if not self._uploads:
                    self._thread = None
                    return
            self.tick()

    # -- what is written ------------------------------------------------------------------------------

    def _tell(self, u: _Upload, now: float) -> None:
        """A pipe: a whole line at each quarter or every PIPE_EVERY seconds, once PIPE_QUIET have passed."""
        quarter = 4 * u.sent // max(u.size, 1)
        if now - u.started < PIPE_QUIET or (quarter <= u.quarter and now - u.told < PIPE_EVERY):
            return
        u.quarter, u.told, u.shown = quarter, now, True
        self._line(f"uploading {u.name}: {size_text(u.sent)} of {size_text(u.size)} "
                   f"({100 * u.sent // max(u.size, 1)}%), {size_text(u.rate(now))}/s")

    def _draw(self, now: float) -> None:
        """A terminal: the live line for every upload under way, at most every LIVE_EVERY seconds."""
        active = [u for u in self._uploads if u.done is None]
        if not active or now - min(u.started for u in active) < LIVE_AFTER or now - self._drawn < LIVE_EVERY:
            return
        self._drawn = now
        for u in active:
            u.shown = True
        sent, size = sum(u.sent for u in active), sum(u.size for u in active)
        what = active[0].name if len(active) == 1 else f"{len(active)} reports"
        self._status(f"uploading {what}: {size_text(sent)} of {size_text(size)} ({100 * sent // max(size, 1)}%), "
                     f"{size_text(sum(u.rate(now) for u in active))}/s")

    def _sent_whole(self, u: _Upload, now: float) -> None:
        """The last byte was read: say so where the upload was shown; the wait is counted from here."""
        if not u.shown:
            return
        took = f"{size_text(u.size)} sent in {now - u.started:.1f}s ({size_text(u.rate(now))}/s)"
        u.told = now
        if self.tty:
            self._status(f"{u.name}: {took}; waiting for Xray's answer…")
        else:
            self._line(f"{u.name}: {took}; waiting for Xray's answer")

    def _status(self, text: str) -> None:
        """The live line, redrawn in place (cut to the terminal's width so it never wraps)."""
        global _live_line
        width = shutil.get_terminal_size((80, 24)).columns - 1
        line = f"\r\x1b[K{redact(text)[:width]}\r"
        if not (_live_line and line == self._live):  # the same text is on the screen already
            self._write(line)
        self._live = line
        _live_line = True

    def _line(self, text: str) -> None:
        self._write(line_prefix() + redact(text) + "\n")

    def _write(self, text: str) -> None:
        out = self.stream or sys.stderr
        out.write(text)
        out.flush()
