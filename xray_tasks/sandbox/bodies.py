"""Request bodies: ``Content-Length`` or ``Transfer-Encoding: chunked``, read once, never held whole.

:meth:`Body.spool` copies the body into a :class:`tempfile.SpooledTemporaryFile` that stays in memory up
to ``SPOOL_MAX_MEMORY`` and moves to disk beyond; :meth:`Body.discard` reads it to the end without keeping
anything (1 MiB at a time).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from email.message import Message
from typing import Protocol

__all__ = ["CHUNK", "SPOOL_MAX_MEMORY", "Body", "BodyError", "spooled"]

CHUNK = 1 << 20
SPOOL_MAX_MEMORY = 8 << 20
_MAX_LINE = 4096


class Readable(Protocol):
    """What a body is read from: the connection's buffered reader."""

    def read(self, size: int = -1, /) -> bytes: ...

    def readline(self, size: int = -1, /) -> bytes: ...


class BodyError(Exception):
    """The body is malformed or ended early; the connection cannot be reused."""


def spooled() -> tempfile.SpooledTemporaryFile[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_MEMORY, mode="w+b")


class Body:
    """The body of one request on ``rfile``; ``size`` counts the bytes read so far."""

    def __init__(self, rfile: Readable, headers: Message) -> None:
        self._rfile = rfile
        self.chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        self.length = 0
        if not self.chunked and headers.get("Content-Length") is not None:
            try:
                self.length = int(str(headers.get("Content-Length")).strip())
            except ValueError:
                raise BodyError(f"invalid Content-Length {headers.get('Content-Length')!r}") from None
            if self.length < 0:
                raise BodyError("negative Content-Length")
        self.size = 0
        self.finished = not self.chunked and self.length == 0

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """The body's bytes, at most ``size`` at a time; raises BodyError when it is cut short."""
        if self.finished:
            return
        if self.chunked:
            yield from self._chunked(size)
        else:
            left = self.length - self.size
            while left > 0:
                data = self._rfile.read(min(size, left))
                if not data:
                    raise BodyError(f"the body ended after {self.size} of {self.length} bytes")
                self.size += len(data)
                left -= len(data)
                yield data
        self.finished = True

    def _chunked(self, size: int) -> Iterator[bytes]:
        while True:
            line = self._rfile.readline(_MAX_LINE)
            if not line.endswith(b"\n"):
                raise BodyError("a chunk-size line is missing or too long")
            try:
                left = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BodyError(f"invalid chunk size {line[:40]!r}") from None
            if left < 0:
                raise BodyError("negative chunk size")
            if left == 0:
                while True:  # trailer fields up to the blank line
                    trailer = self._rfile.readline(_MAX_LINE)
                    if not trailer:
                        raise BodyError("the chunked body ended without its last CRLF")
                    if trailer in (b"\r\n", b"\n"):
                        return
            while left > 0:
                data = self._rfile.read(min(size, left))
                if not data:
                    raise BodyError(f"a chunk ended early after {self.size} bytes of body")
                self.size += len(data)
                left -= len(data)
                yield data
            if self._rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n"):
                raise BodyError("a chunk is not followed by CRLF")

    def spool(self) -> tempfile.SpooledTemporaryFile[bytes]:
        """The whole body in a spooled temporary file, positioned at its start."""
        out = spooled()
        try:
            for data in self.chunks():
                out.write(data)
        except BaseException:
            out.close()
            raise
        out.seek(0)
        return out

    def discard(self) -> int:
        """Read the body to its end, keeping nothing; returns its size."""
        for _ in self.chunks():
            pass
        return self.size
