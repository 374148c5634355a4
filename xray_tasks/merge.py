"""Merge many reports of one format into one request body, streaming, in flat memory.

Xray imports one report per request and Xray Cloud allows 300 requests per 5 minutes, so a pipeline
with hundreds of JUnit files must send them together. Reports are merged by copying byte ranges: the
root element of each file is unwrapped (``<testsuites>``, ``<testng-results>``, ``<test-run>``,
``<assemblies>``) or kept (``<testsuite>``), JSON arrays are spliced, and the result is written to a
temporary file in 1 MiB chunks, so memory stays flat whatever the number or size of the files. Xray
JSON is merged test by test (one file in memory at a time), and only when the reports agree on what
surrounds their tests (:class:`XrayHead`). Robot output cannot be merged.

Files are grouped so that no merged body exceeds the request-size limit. Merged and split bodies go
to a :class:`ScratchFolder`, made in TMPDIR only when the first one is written; a body that cannot be
written whole (disk full, read-only, missing folder) is removed and named in one ReportError.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from xray_tasks.errors import ReportError

__all__ = ["MERGEABLE", "SPLITTABLE", "Rewriter", "ScratchFolder", "XrayHead", "foreign_encoding", "group_by_size",
           "merge_to_file", "split_junit", "xray_head"]

CHUNK = 1024 * 1024
TAIL = 64 * 1024

#: format -> (wrapper open tag, wrapper close tag, root element names that are unwrapped)
XML_WRAPPERS: dict[str, tuple[bytes, bytes, tuple[bytes, ...]]] = {
    "junit": (b"<testsuites>", b"</testsuites>", (b"testsuites",)),
    "testng": (b"<testng-results>", b"</testng-results>", (b"testng-results",)),
    "nunit": (b"<test-run>", b"</test-run>", (b"test-run",)),
    "xunit": (b"<assemblies>", b"</assemblies>", (b"assemblies",)),
}
MERGEABLE = frozenset({*XML_WRAPPERS, "cucumber", "behave", "xray"})
SPLITTABLE = frozenset({"junit"})

_PROLOG = re.compile(rb"\A(?:\xef\xbb\xbf)?(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.S)
_DECL_ENCODING = re.compile(rb"<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)[\"']")


class _WriteFailed(Exception):
    """Writing the body failed (as opposed to reading a report): the scratch folder's problem."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _Sink:
    """A body being written; an OSError while writing becomes :class:`_WriteFailed`. It is a stream that
    cannot seek, as zipfile takes one: ``write`` returns the count and ``flush`` exists."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh

    def write(self, data: bytes) -> int:
        try:
            self._fh.write(data)
        except OSError as exc:
            raise _WriteFailed(exc) from exc
        return len(data)

    def flush(self) -> None:
        """Nothing to do: :meth:`close` flushes, and a full disk shows there."""

    def close(self) -> None:
        try:
            self._fh.close()  # flushes: a full disk may show only here
        except OSError as exc:
            raise _WriteFailed(exc) from exc


class ScratchFolder:
    """The temporary folder merged and split bodies are written to: made on first use, removed on exit.

    A single report is sent from its own file, so an import that merges and splits nothing never touches
    TMPDIR, which on a CI agent may be missing, read-only or full. ``parent`` defaults to Python's
    temporary folder (TMPDIR, else /tmp, ...).
    """

    def __init__(self, parent: Path | None = None) -> None:
        self.parent = parent
        self._path: Path | None = None

    def __enter__(self) -> ScratchFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._path is not None:
            shutil.rmtree(self._path, ignore_errors=True)
            self._path = None

    @property
    def created(self) -> bool:
        return self._path is not None

    def _folder(self, what: str) -> Path:
        if self._path is None:
            parent: Path | str = self.parent or os.environ.get("TMPDIR") or "the temporary folder"
            try:
                parent = self.parent or Path(tempfile.gettempdir())
                self._path = Path(tempfile.mkdtemp(prefix="xray-tasks-", dir=parent))
            except OSError as exc:
                raise self._error(f"cannot make a temporary folder for the {what} in {parent}", exc) from None
        return self._path

    @contextmanager
    def new_file(self, what: str, prefix: str, suffix: str) -> Iterator[tuple[Path, _Sink]]:
        """A new file for ``what`` ("merged report", ...), open for writing; removed if it is not written whole."""
        folder = self._folder(what)
        try:
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
        except OSError as exc:
            raise self._error(f"cannot write the {what} to {folder}", exc) from None
        path = Path(name)
        sink = _Sink(os.fdopen(fd, "wb"))
        try:
            try:
                yield path, sink
            finally:
                sink.close()
        except _WriteFailed as failed:
            path.unlink(missing_ok=True)
            raise self._error(f"cannot write the {what} to {folder}", failed.error) from None
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def _error(self, problem: str, exc: OSError) -> ReportError:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        return ReportError(f"{problem}{'' if self.parent else ' (TMPDIR)'}: {exc.strerror or exc}",
                           "free space there or point TMPDIR at a larger folder" if full
                           else "point TMPDIR at a folder you can write to")


@dataclass(frozen=True)
class Span:
    """The byte range of one file that goes into the merged body."""

    path: Path
    start: int
    end: int


def _read_head_tail(path: Path) -> tuple[bytes, bytes, int]:
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(TAIL)
        fh.seek(max(0, size - TAIL))
        tail = fh.read()
    return head, tail, size


def foreign_encoding(head: bytes) -> str | None:
    """The encoding the XML declaration in ``head`` names when it is not UTF-8 (or ASCII, a part of it):
    such a report cannot be copied byte for byte into a UTF-8 body. None when it is UTF-8 or says nothing."""
    enc = _DECL_ENCODING.search(head)
    if enc and enc.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8", b"us-ascii", b"ascii"):
        return enc.group(1).decode()
    return None


def xml_span(path: Path, fmt: str) -> Span:
    """Where the content to copy starts and ends: inside an unwrapped root, or the whole root element."""
    _, _, unwrap = XML_WRAPPERS[fmt]
    head, tail, size = _read_head_tail(path)
    if enc := foreign_encoding(head[:200]):
        raise ReportError(f"{path} is encoded as {enc}, which cannot be merged byte for byte",
                          "write the report as UTF-8, or import it on its own with --separate")
    prolog = _PROLOG.match(head)
    start = prolog.end() if prolog else 0
    if head[start:start + 9] == b"<!DOCTYPE":
        raise ReportError(f"{path} has a DOCTYPE, which is not merged", "import it on its own with --separate")
    root = re.match(rb"<([A-Za-z_][\w.-]*)", head[start:])
    if not root:
        raise ReportError(f"{path} does not start with an XML element", "check that it is a complete report")
    name = root.group(1)
    if name not in unwrap:
        return Span(path, start, _end_of_last_tag(path, tail, size, name))
    open_end = head.find(b">", start)
    if open_end < 0:
        raise ReportError(f"{path}: the root element's start tag is not closed", "check the report")
    if head[open_end - 1:open_end] == b"/":  # <testsuites/>: nothing inside
        return Span(path, open_end + 1, open_end + 1)
    close = tail.rfind(b"</" + name)
    if close < 0:
        raise ReportError(f"{path} ends without </{name.decode()}> (truncated?)", "re-run the tests")
    return Span(path, open_end + 1, size - len(tail) + close)


def _end_of_last_tag(path: Path, tail: bytes, size: int, name: bytes) -> int:
    close = tail.rfind(b"</" + name)
    if close < 0:
        if tail.rstrip().endswith(b"/>"):
            return size - len(tail) + len(tail.rstrip())
        raise ReportError(f"{path} ends without </{name.decode()}> (truncated?)", "re-run the tests")
    end = tail.find(b">", close)
    return size - len(tail) + end + 1


def json_array_span(path: Path) -> Span | None:
    """The inside of a top-level JSON array (None when the array is empty)."""
    head, tail, size = _read_head_tail(path)
    start = head.find(b"[")
    end = tail.rfind(b"]")
    if start < 0 or end < 0 or head[:start].strip(b"\xef\xbb\xbf \t\r\n"):
        raise ReportError(f"{path} is not a JSON array of features", "check that it is a Cucumber/Behave report")
    end_abs = size - len(tail) + end
    inner_empty = end_abs <= start + 1 or not _has_content(path, start + 1, end_abs)
    return None if inner_empty else Span(path, start + 1, end_abs)


def _has_content(path: Path, start: int, end: int) -> bool:
    with path.open("rb") as fh:
        fh.seek(start)
        return bool(fh.read(min(end - start, 4096)).strip())


def _copy(out: _Sink, span: Span) -> None:
    with span.path.open("rb") as fh:
        fh.seek(span.start)
        left = span.end - span.start
        while left > 0:
            chunk = fh.read(min(CHUNK, left))
            if not chunk:
                break
            out.write(chunk)
            left -= len(chunk)


def _xray_tests(paths: Sequence[Path]) -> Iterator[tuple[Path, dict[str, Any], list[Any]]]:
    for path in paths:
        try:
            with path.open("rb") as fh:
                data = json.load(fh)
        except (OSError, ValueError) as exc:
            raise ReportError(f"{path}: not valid Xray JSON: {exc}", "fix or regenerate the report") from None
        if not isinstance(data, dict) or not isinstance(data.get("tests", []), list):
            raise ReportError(f"{path} is not an Xray JSON report", "pass --format to say what it is")
        yield path, data, data.get("tests", [])


class Rewriter(Protocol):
    """Changes applied while copying (:class:`xray_tasks.rewrite.Rewrites`): one pass for merge and rewrite."""

    def copy(self, out: _Sink, path: Path, start: int, end: int) -> None: ...

    def write_xray_tests(self, out: _Sink, path: Path, tests: list[Any], *, first: bool) -> int: ...


def merge_to_file(paths: Sequence[Path], fmt: str, scratch: ScratchFolder, rewrites: Rewriter | None = None) -> Path:
    """Write one report of format ``fmt`` holding every test of ``paths`` into ``scratch``; return its path.
    ``rewrites`` changes the reports as they are copied (keys, evidence, reruns)."""
    if fmt not in MERGEABLE:
        raise ReportError(f"{fmt} reports cannot be merged", "they are imported one by one into one Test Execution")
    suffix = ".json" if fmt in ("cucumber", "behave", "xray") else ".xml"
    with scratch.new_file("merged report", f"merged-{fmt}-", suffix) as (merged, out):
        if fmt in XML_WRAPPERS:
            opening, closing, _ = XML_WRAPPERS[fmt]
            spans = [xml_span(p, fmt) for p in paths]
            out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n' + opening + b"\n")
            for span in spans:
                if rewrites is not None:
                    rewrites.copy(out, span.path, span.start, span.end)
                else:
                    _copy(out, span)
                out.write(b"\n")
            out.write(closing + b"\n")
        elif fmt in ("cucumber", "behave"):
            out.write(b"[")
            first = True
            for p in paths:
                inner = json_array_span(p)
                if inner is None:
                    continue
                if not first:
                    out.write(b",\n")
                _copy(out, inner)
                first = False
            out.write(b"]\n")
        else:
            _merge_xray(out, paths, rewrites)
    return merged


def _merge_xray(out: _Sink, paths: Sequence[Path], rewrites: Rewriter | None = None) -> None:
    """Xray JSON: every file's tests, then the fields around them, combined by :class:`XrayHead`."""
    head = XrayHead()
    out.write(b'{"tests": [')
    count = 0
    for path, data, tests in _xray_tests(paths):
        head.add(path, data)
        if rewrites is not None:
            count += rewrites.write_xray_tests(out, path, tests, first=count == 0)
            continue
        for test in tests:
            out.write((b",\n" if count else b"\n") + json.dumps(test, ensure_ascii=False).encode())
            count += 1
    out.write(b"\n]")
    for key, value in head.fields.items():
        out.write(b", " + json.dumps({key: value}, ensure_ascii=False).encode()[1:-1])
    out.write(b"}\n")


class XrayHead:
    """What Xray JSON reports say around their tests (``testExecutionKey``, ``info``, ...), combined.

    A field one report gives and another leaves out is taken. A field both give must be the same, except
    ``info.startDate`` / ``info.finishDate``, which become the earliest start and the latest finish (each
    shard of a pytest-jira-xray run writes its own times). Anything else that differs — two
    ``testExecutionKey``s, two summaries — is refused, naming both files: merged, one report's results would
    land in the other's Test Execution, or its info would be dropped.
    """

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self._from: dict[str, Path] = {}

    def add(self, path: Path, data: Mapping[str, Any]) -> None:
        for key, value in data.items():
            if key == "tests":
                continue
            if key == "info" and isinstance(value, dict) and isinstance(self.fields.get("info", {}), dict):
                info = self.fields.setdefault("info", {})
                self._from.setdefault("info", path)
                for name, field in value.items():
                    self._agree(info, name, field, path, f"info.{name}")
            else:
                self._agree(self.fields, key, value, path, key)

    def _agree(self, into: dict[str, Any], key: str, value: Any, path: Path, label: str) -> None:
        if key not in into:
            into[key] = value
            self._from[label] = path
            return
        if into[key] == value:
            return
        if label in ("info.startDate", "info.finishDate"):
            chosen = _pick_time(into[key], value, latest=key == "finishDate")
            if chosen is not None:
                into[key] = chosen
                return
        raise ReportError(f"cannot merge the Xray JSON reports {self._from[label]} and {path}: their {label} "
                          f"differs ({_short(into[key])} vs {_short(value)})",
                          f"give them the same {label}, or import each into its own Test Execution with "
                          "--separate")


def _pick_time(old: Any, new: Any, *, latest: bool) -> Any | None:
    """The earlier (or the later) of two ISO 8601 date-times, as written; None when either is not one or
    they cannot be compared (one with a time zone, one without)."""
    try:
        later = datetime.fromisoformat(new) > datetime.fromisoformat(old)
    except (TypeError, ValueError):
        return None
    return new if later == latest else old


def _short(value: Any, width: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[:width - 1] + "…"


def xray_head(paths: Sequence[Path]) -> XrayHead:
    """The combined head of the Xray JSON reports ``paths`` (ReportError when they disagree)."""
    head = XrayHead()
    for path, data, _ in _xray_tests(paths):
        head.add(path, data)
    return head


def group_by_size(paths: Sequence[Path], limit_bytes: int, size_of: Callable[[Path], int] | None = None
                  ) -> list[list[Path]]:
    """Consecutive groups whose total size stays under ``limit_bytes`` (a single larger file stands alone);
    ``size_of`` gives a file's size as it will be sent (rewritten), its size on disk by default."""
    groups: list[list[Path]] = []
    current: list[Path] = []
    total = 0
    for p in paths:
        size = size_of(p) if size_of is not None else p.stat().st_size
        if current and total + size > limit_bytes:
            groups.append(current)
            current, total = [], 0
        current.append(p)
        total += size
    if current:
        groups.append(current)
    return groups


_SUITE_END = b"</testsuite"


def _suite_ends(path: Path, start: int, end: int) -> Iterator[int]:
    """Offsets just after each ``</testsuite>`` between ``start`` and ``end``, read in chunks."""
    keep = len(_SUITE_END) + 64  # a closing tag split across two chunks is found in the carried tail
    yielded = start
    with path.open("rb") as fh:
        fh.seek(start)
        pos, carry = start, b""
        while pos < end:
            chunk = fh.read(min(CHUNK, end - pos))
            if not chunk:
                break
            data, base = carry + chunk, pos - len(carry)
            i = data.find(_SUITE_END)
            while i >= 0:
                close = data.find(b">", i)
                if close < 0:
                    break
                after = base + close + 1
                if after > yielded and not data[i + len(_SUITE_END):close].strip():  # not </testsuites>
                    yielded = after
                    yield after
                i = data.find(_SUITE_END, close)
            carry = data[-keep:]
            pos += len(chunk)


def split_junit(path: Path, limit_bytes: int, scratch: ScratchFolder) -> list[Path]:
    """Cut a ``<testsuites>`` JUnit report between ``<testsuite>`` elements into files under the limit."""
    span = xml_span(path, "junit")
    head, _, _ = _read_head_tail(path)
    prolog = _PROLOG.match(head)
    if prolog is None or not re.match(rb"<testsuites\b", head[prolog.end():]):
        raise ReportError(f"{path} is one <testsuite> over the request-size limit and cannot be split",
                          "write one report file per test class, or raise XRAY_MAX_REQUEST_MB")
    room = limit_bytes - 256
    pieces: list[Span] = []
    start = last = span.start
    for cut in _suite_ends(path, span.start, span.end):
        if cut - start > room and last > start:
            pieces.append(Span(path, start, last))
            start = last
        if cut - start > room:
            raise ReportError(f"{path} holds a single <testsuite> larger than the request-size limit",
                              "split that test class's results, or raise XRAY_MAX_REQUEST_MB")
        last = cut
    pieces.append(Span(path, start, span.end))
    out: list[Path] = []
    try:
        for n, piece in enumerate(pieces, 1):
            with scratch.new_file(f"parts of {path.name}", f"part{n}-", ".xml") as (part, fh):
                fh.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n')
                _copy(fh, piece)
                fh.write(b"\n</testsuites>\n")
            out.append(part)
    except BaseException:
        for part in out:
            part.unlink(missing_ok=True)
        raise
    return out
