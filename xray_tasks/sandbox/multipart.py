"""A streaming ``multipart/form-data`` reader: each part goes to its own spooled temporary file.

The body is scanned for ``CRLF--boundary`` a block at a time, so neither the whole body nor a whole part
is ever in memory; part headers are parsed with :mod:`email`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value
from typing import IO

from xray_tasks.sandbox.bodies import spooled

__all__ = ["MultipartError", "Part", "boundary_of", "parse_multipart"]

_BLOCK = 256 * 1024
_MAX_HEADERS = 16 * 1024
MAX_PARTS = 32


class MultipartError(Exception):
    """The body is not well-formed multipart/form-data."""


@dataclass
class Part:
    """One form field: its name, optional filename and content type, and its bytes in ``file``."""

    name: str
    filename: str | None
    content_type: str | None
    file: tempfile.SpooledTemporaryFile[bytes]
    size: int

    @property
    def label(self) -> str:
        """How messages name this part: its filename, else ``part 'NAME'``."""
        return self.filename or f"part '{self.name}'"

    def read(self) -> bytes:
        self.file.seek(0)
        return self.file.read()

    def close(self) -> None:
        self.file.close()


def _header(value: str) -> Message:
    msg = Message()
    msg["content-type"] = value
    return msg


def boundary_of(content_type: str) -> str | None:
    """The boundary parameter of a multipart Content-Type, or None."""
    boundary = _header(content_type).get_param("boundary")
    if isinstance(boundary, tuple):
        boundary = collapse_rfc2231_value(boundary)
    return boundary or None


def parse_multipart(stream: IO[bytes], boundary: str) -> list[Part]:
    """Every part of the body on ``stream``; raises MultipartError when it is malformed."""
    reader = _Reader(stream, boundary)
    parts: list[Part] = []
    try:
        reader.skip_preamble()
        while reader.next_part():
            if len(parts) >= MAX_PARTS:
                raise MultipartError(f"more than {MAX_PARTS} parts")
            parts.append(reader.read_part())
    except BaseException:
        for part in parts:
            part.close()
        raise
    if not parts:
        raise MultipartError("it has no parts")
    return parts


class _Reader:
    def __init__(self, stream: IO[bytes], boundary: str) -> None:
        self.stream = stream
        self.sep = b"\r\n--" + boundary.encode("latin-1")
        self.buf = bytearray(b"\r\n")  # so a delimiter at the very start is found like any other
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        data = self.stream.read(_BLOCK)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def skip_preamble(self) -> None:
        while True:
            at = self.buf.find(self.sep)
            if at >= 0:
                del self.buf[: at + len(self.sep)]
                return
            del self.buf[: max(0, len(self.buf) - len(self.sep))]
            if not self._fill():
                raise MultipartError("the boundary from the Content-Type never appears in the body")

    def next_part(self) -> bool:
        """After a delimiter: True when a part follows, False at the closing delimiter."""
        while len(self.buf) < 2 and self._fill():
            pass
        if self.buf.startswith(b"--"):
            return False
        while True:
            stripped = self.buf.lstrip(b" \t")
            if len(stripped) >= 2 or not self._fill():
                break
        if not stripped.startswith(b"\r\n"):
            raise MultipartError("a delimiter is not followed by CRLF (or the closing delimiter is missing)")
        del self.buf[: len(self.buf) - len(stripped) + 2]
        return True

    def read_part(self) -> Part:
        headers = self._headers()
        disposition = headers.get("content-disposition")
        if not disposition or not disposition.lower().startswith("form-data"):
            raise MultipartError("a part has no 'Content-Disposition: form-data' header")
        name = headers.get_param("name", header="content-disposition")
        if isinstance(name, tuple):
            name = collapse_rfc2231_value(name)
        if not name:
            raise MultipartError("a part has no name in its Content-Disposition")
        out = spooled()
        size = 0
        try:
            while True:
                at = self.buf.find(self.sep)
                if at >= 0:
                    out.write(self.buf[:at])
                    size += at
                    del self.buf[: at + len(self.sep)]
                    break
                keep = len(self.sep) - 1
                if len(self.buf) > keep:
                    flush = len(self.buf) - keep
                    out.write(self.buf[:flush])
                    size += flush
                    del self.buf[:flush]
                if not self._fill():
                    raise MultipartError(f"part '{name}' is not closed by a boundary")
        except BaseException:
            out.close()
            raise
        out.seek(0)
        return Part(name=str(name), filename=headers.get_filename(), content_type=headers.get("content-type"),
                    file=out, size=size)

    def _headers(self) -> Message:
        while len(self.buf) < 2 and self._fill():
            pass
        if self.buf.startswith(b"\r\n"):
            del self.buf[:2]
            return Message()
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                block = bytes(self.buf[: end + 4])
                del self.buf[: end + 4]
                return BytesParser().parsebytes(block, headersonly=True)
            if len(self.buf) > _MAX_HEADERS:
                raise MultipartError("part headers are too long")
            if not self._fill():
                raise MultipartError("part headers are not closed by an empty line")
