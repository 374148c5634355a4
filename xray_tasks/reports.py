"""The reports of one import: found on disk, checked, and grouped into requests — no network.

``find_reports`` expands paths, directories and globs in one bounded walk (symlink loops end, at most
``WALK_LIMIT`` entries per pattern); ``check_reports`` detects (or checks) each report's format, refuses
stale ones, and skips, with a note, xray-tasks' own outputs (``own_output``) and — among several reports —
those without tests; ``make_batches`` groups them by format into as few request bodies as the API and the
size limit allow; ``ReportInfo`` is the ``report`` template variable.
"""

from __future__ import annotations

import fnmatch
import glob
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from xray_tasks import formats, merge
from xray_tasks.errors import ReportError, SettingsError, StaleReportError, some
from xray_tasks.runrecord import RUN_KIND, RunRecord
from xray_tasks.settings import Settings

if TYPE_CHECKING:
    from xray_tasks.rewrite import Rewrites

__all__ = [
    "OWN_KINDS",
    "Batch",
    "CheckedReports",
    "ReportInfo",
    "check_fresh",
    "check_reports",
    "detect",
    "find_reports",
    "make_batches",
    "own_output",
    "protected_folder",
    "walk_files",
]

VALIDATE_LIMIT = 16 * 1024 * 1024  # parse reports up to this size fully before sending
WALK_LIMIT = 200_000  # directory entries one --report pattern may look at
REPORT_SUFFIXES = (".xml", ".json")  # what a --report directory takes
STALE_TOLERANCE = 2.0  # seconds of clock/mtime granularity allowed

#: ``"kind"`` of the JSON files xray-tasks writes (summary file, CI shard records) -> what notes call it;
#: any ``"kind"`` starting with ``OWN_KIND_PREFIX`` is taken as ours
OWN_KIND_PREFIX = "xray-tasks/"
SUMMARY_KIND = "xray-tasks/summary"
SHARD_KIND = "xray-tasks/shard"
OWN_KINDS = {SUMMARY_KIND: "summary file", SHARD_KIND: "shard record", RUN_KIND: "run record"}
OWN_HEAD = 256 * 1024  # own outputs are recognised from at most this many bytes
_SUMMARY_KEYS = frozenset({"key", "keys", "id", "url", "format", "endpoint", "file", "files", "requests", "totals",
                           "duration", "tests_exit_code", "error", "exit_code"})
_RUN_RECORD_KEYS = frozenset({"command", "started", "finished", "exit_code", "reports", "cwd", "state", "pid",
                              "signal", "recorded_by", "kind"})


class ReportInfo:
    """The ``report`` template variable; totals are parsed only when a template uses them."""

    #: what templates may read (the sandbox denies the rest, e.g. ``items`` and its Path objects)
    template_fields: ClassVar[frozenset[str]] = frozenset(
        {"format", "formats", "format_label", "file", "name", "files", "count", "totals", "tests"})

    def __init__(self, items: Sequence[tuple[Path, str]]) -> None:
        self.items = list(items)
        self.format = self.items[0][1]
        self.formats = list(dict.fromkeys(fmt for _, fmt in self.items))
        self.format_label = " + ".join(formats.FORMAT_LABELS[f] for f in self.formats)
        self.file = str(self.items[0][0])
        self.name = self.items[0][0].name
        self.files = [str(p) for p, _ in self.items]
        self.count = len(self.items)

    @cached_property
    def _summaries(self) -> list[formats.ReportSummary]:
        return [formats.summarize(p, fmt) for p, fmt in self.items]

    @cached_property
    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {"passed": 0, "failed": 0, "skipped": 0}
        for summary in self._summaries:
            for status, count in summary.totals.items():
                out[status] = out.get(status, 0) + count
        return out

    @cached_property
    def tests(self) -> int:
        return sum(s.tests for s in self._summaries)

    def __repr__(self) -> str:
        return f"ReportInfo({self.files!r})"


def find_reports(patterns: Iterable[str]) -> list[Path]:
    """Expand paths, directories (every .xml/.json below) and globs (``**`` recursive); de-duplicated, sorted.

    Globs follow :mod:`glob`'s rules (``*`` and ``**`` skip names starting with a dot); a directory takes
    hidden files and folders too. Symlinked folders are followed, but a folder already walked is not walked
    again, so a link back up the tree ends; at most ``WALK_LIMIT`` entries are looked at per pattern.
    """
    found: dict[Path, None] = {}
    for pattern in patterns:
        pattern = os.path.expanduser(pattern)
        if glob.has_magic(pattern):
            matches = [Path(m) for m in _Walk(pattern).glob()]
            if not matches:
                raise ReportError(f"no report matches {pattern!r}",
                                  "check the pattern and that the test run wrote its reports there")
        elif Path(pattern).is_dir():
            matches = [Path(m) for m in _Walk(pattern).reports_below()]
            if not matches:
                raise ReportError(f"the directory {pattern} holds no .xml or .json report",
                                  "point --report at the report files or the folder the test run writes to")
        else:
            matches = [Path(pattern)]
        for m in matches:
            found.setdefault(m.resolve() if m.exists() else m, None)
    if not found:
        raise ReportError("no report given",
                          "pass --report PATH, set XRAY_REPORT, or run run-tests --report PATH first")
    return list(found)


def walk_files(pattern: str, suffixes: tuple[str, ...], flag: str) -> list[str]:
    """The files one ``flag`` pattern names, with the bounded walk of :func:`find_reports`: a glob's matches
    (any name), or every file ending in one of ``suffixes`` below a folder. Empty when nothing matches."""
    walk = _Walk(pattern, flag)
    return walk.glob() if glob.has_magic(pattern) else walk.reports_below(suffixes)


class _Walk:
    """The files one ``--report`` pattern names, found with each folder listed at most once.

    Folders are told apart by ``(st_dev, st_ino)``, so symlinks that loop (``ln -s . r/a``) end instead of
    growing the path until the OS gives up — with two such links, never. Every entry listed is counted and
    more than ``WALK_LIMIT`` is an error naming the pattern.
    """

    def __init__(self, pattern: str, flag: str = "--report") -> None:
        self.pattern = pattern
        self.flag = flag
        self.entries = 0
        self.listed: dict[str, list[tuple[str, bool]]] = {}
        self.walked: set[tuple[int, int, int]] = set()  # (pattern segment, st_dev, st_ino)

    def listdir(self, folder: str) -> list[tuple[str, bool]]:
        """``(name, is a folder)`` of each entry of ``folder``, sorted; empty when it cannot be listed."""
        if folder not in self.listed:
            try:
                with os.scandir(folder or os.curdir) as it:
                    entries = sorted((e.name, _is_dir(e)) for e in it)
            except OSError:
                entries = []
            self.entries += len(entries)
            if self.entries > WALK_LIMIT:
                raise ReportError(f"{self.flag} {self.pattern!r} reaches more than {WALK_LIMIT:,} files and "
                                  "folders", "narrow it to the folder that holds the files")
            self.listed[folder] = entries
        return self.listed[folder]

    def folders(self, top: str, segment: int, hidden: bool) -> Iterator[str]:
        """``top`` and every folder below it (symlinks followed), each real folder once, depth first."""
        stack = [top]
        while stack:
            folder = stack.pop()
            try:
                st = os.stat(folder or os.curdir)
            except OSError:
                continue
            if (segment, st.st_dev, st.st_ino) in self.walked:
                continue
            self.walked.add((segment, st.st_dev, st.st_ino))
            yield folder
            below = [os.path.join(folder, name) for name, is_dir in self.listdir(folder)
                     if is_dir and (hidden or not name.startswith("."))]
            stack.extend(reversed(below))

    def reports_below(self, suffixes: tuple[str, ...] = REPORT_SUFFIXES) -> list[str]:
        """Every file ending in one of ``suffixes`` (any case; .xml/.json by default) below the folder
        ``pattern``, hidden ones included."""
        return sorted(path for folder in self.folders(self.pattern, -1, hidden=True)
                      for name, is_dir in self.listdir(folder)
                      if not is_dir and name.lower().endswith(suffixes)
                      and os.path.isfile(path := os.path.join(folder, name)))

    def glob(self) -> list[str]:
        """The files ``pattern`` matches, as :func:`glob.glob` with ``recursive=True`` finds them."""
        anchor = os.sep if os.path.isabs(self.pattern) else ""
        parts = [p for p in self.pattern.split(os.sep) if p]
        return sorted({p for p in self._expand(anchor, parts, 0) if os.path.isfile(p)})

    def _expand(self, base: str, parts: list[str], i: int) -> Iterator[str]:
        if i == len(parts):
            yield base
            return
        part, last = parts[i], i == len(parts) - 1
        if part == "**":
            for folder in self.folders(base, i, hidden=False):
                if last:
                    yield from (os.path.join(folder, name) for name, is_dir in self.listdir(folder)
                                if not is_dir and not name.startswith("."))
                else:
                    yield from self._expand(folder, parts, i + 1)
        elif glob.has_magic(part):
            for name, is_dir in self.listdir(base):
                if (is_dir or last) and (part.startswith(".") or not name.startswith(".")) \
                        and fnmatch.fnmatchcase(name, part):
                    yield from self._expand(os.path.join(base, name), parts, i + 1)
        else:
            yield from self._expand(os.path.join(base, part), parts, i + 1)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _span(seconds: float) -> str:
    """A duration as people say it: 40 s, 12 min, 5 h, 3 days."""
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def check_fresh(path: Path, record: RunRecord | None, allow_stale: bool) -> None:
    """Refuse a report written before the recorded test run started (yesterday's results)."""
    if record is None or allow_stale:
        return
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return
    if mtime + STALE_TOLERANCE < record.started:
        age = record.started - mtime
        raise StaleReportError(
            f"{path} is older than the test run recorded in the state file ({_span(age)} before it started): "
            "it was not written by that run",
            "check that the tests write this report (a failed build may have left an old one), "
            "or pass --allow-stale")


def detect(path: Path, fmt: str) -> tuple[str, bool]:
    """The report's format (checked or detected from content) and whether it was detected."""
    if fmt == "auto":
        return formats.detect_format(path), True
    if fmt not in formats.FORMATS:
        raise SettingsError(f"unknown report format {fmt!r}",
                            f"use auto or one of: {', '.join(formats.FORMATS)}")
    seen = formats.detect_format(path)
    if seen != fmt:
        raise ReportError(f"{path} looks like {formats.FORMAT_LABELS[seen]}, not {formats.FORMAT_LABELS[fmt]}",
                          f"pass --format {seen} (or auto), or point --report at the {fmt} report")
    return fmt, False


@dataclass(frozen=True)
class Batch:
    """The reports that go in one request: one file, or several of one format merged into ``body``."""

    fmt: str
    detected: bool
    sources: tuple[Path, ...]
    body: Path
    note: str | None = None
    rewritten: bool = False  # the body carries changes (map, evidence, reruns) the reports do not


@dataclass(frozen=True)
class CheckedReports:
    """The reports to import, each with its format and whether it was detected, and notes on those skipped."""

    reports: list[tuple[Path, str, bool]]
    notes: tuple[str, ...] = ()


def check_reports(paths: Sequence[Path], fmt: str, record: RunRecord | None, *, allow_stale: bool = False
                  ) -> CheckedReports:
    """Detect (or check) every report's format and refuse stale ones — before anything is sent.

    xray-tasks' own outputs (run record, summary file) are skipped with a note. Among several reports, those
    holding no test (JUnit Platform's ConsoleLauncher writes a ``tests="0"`` suite beside the real results)
    are skipped with a note too; only when no report holds a test is that an error. A 0-byte file is still
    refused: it is more likely a run that crashed while writing than a run without tests.
    """
    checked: list[tuple[Path, str, bool]] = []
    own: list[tuple[Path, str]] = []
    empty: list[tuple[Path, str]] = []
    for path in paths:
        kind = own_output(path)
        if kind is not None:
            own.append((path, kind))
            continue
        check_fresh(path, record, allow_stale)
        if len(paths) > 1 and _is_empty_list(path):
            empty.append((path, "an empty JSON list"))
            continue
        found, detected = detect(path, fmt)
        if path.stat().st_size <= VALIDATE_LIMIT and not formats.has_tests(path, found):
            empty.append((path, f"{formats.FORMAT_LABELS[found]} with 0 tests"))
            continue
        checked.append((path, found, detected))
    if not checked:
        raise _nothing_to_import(own, empty)
    notes = []
    if own:
        notes.append(f"skipped {_names(own)}: xray-tasks' own {_kinds(own)}, not test results")
    if empty:
        notes.append(f"skipped {_names(empty)}: no test results ({_kinds(empty)})")
    return CheckedReports(checked, tuple(notes))


def _nothing_to_import(own: Sequence[tuple[Path, str]], empty: Sequence[tuple[Path, str]]) -> ReportError:
    def ours(items: Sequence[tuple[Path, str]]) -> str:
        return f"{_names(items)} {'is' if len(items) == 1 else 'are'} xray-tasks' own {_kinds(items)}"

    if not empty:
        return ReportError(f"{ours(own)}, not test results",
                           "point --report at the reports the test run writes, and write --summary-file "
                           "and XRAY_STATE_FILE elsewhere")
    also = f"; {ours(own)}" if own else ""
    if len(empty) == 1:
        problem = f"{empty[0][0]} holds no test results ({empty[0][1]}){also}"
    else:
        problem = f"none of the {len(empty)} reports holds a test result ({_names(empty)}: {_kinds(empty)}){also}"
    return ReportError(problem, "check that the tests ran; Xray rejects an empty report")


def _names(items: Sequence[tuple[Path, str]]) -> str:
    return some([p for p, _ in items])


def _kinds(items: Sequence[tuple[Path, str]]) -> str:
    return ", ".join(dict.fromkeys(kind for _, kind in items))


def _is_empty_list(path: Path) -> bool:
    """Whether the file is ``[]``: a Cucumber/Behave run that ran no feature."""
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
    except OSError:
        return False
    return head.lstrip(b"\xef\xbb\xbf").strip() == b"[]"


def protected_folder(folder: str | os.PathLike[str]) -> str | None:
    """What ``folder`` is when it holds more than a test run's files — the working directory, the home folder
    or a parent of either — so that nothing empties it; None for any other folder."""
    here, home, real = Path.cwd().resolve(), Path.home().resolve(), Path(folder).resolve()
    if real in (here, home) or real in here.parents or real in home.parents:
        return ("the working directory" if real == here else "the home folder" if real == home
                else "a parent of the working directory or of the home folder")
    return None


def own_output(path: Path) -> str | None:
    """What xray-tasks output ``path`` is ("summary file", "run record", ...), or None for anything else.

    Recognised from the top-level keys of a JSON object in the file's first ``OWN_HEAD`` bytes: a ``"kind"``
    starting with ``xray-tasks/``; the summary shape of earlier versions (``keys``, ``requests``,
    ``tests_exit_code`` and nothing a report has); the run record's (``command``, ``started``, ``finished``,
    ``exit_code``). Anything not starting with ``{`` is decided on its first bytes.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
            if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] != b"{":
                return None
            head += fh.read(OWN_HEAD - len(head))
    except OSError:
        return None
    keys, kind, whole = _top_level(head.decode("utf-8", errors="ignore").lstrip("\ufeff"))
    if kind is not None:
        return OWN_KINDS.get(kind, f"output ({kind})") if kind.startswith(OWN_KIND_PREFIX) else None
    if keys and keys <= _SUMMARY_KEYS and ({"keys", "requests", "tests_exit_code"} <= keys
                                          or (not whole and {"key", "keys", "files"} <= keys)):
        return "summary file"
    if keys <= _RUN_RECORD_KEYS and {"command", "started", "finished", "exit_code"} <= keys:
        return "run record"
    return None


def _top_level(text: str) -> tuple[set[str], str | None, bool]:
    """The keys of the JSON object ``text`` starts with, as far as ``text`` holds them (a key whose value is
    cut off counts); its ``"kind"`` when that is a string (the scan stops there); and whether the object
    ended within ``text``."""
    decoder = json.JSONDecoder()
    keys: set[str] = set()
    pos = _skip(text, 0) + 1  # past the "{" the caller saw
    while True:
        pos = _skip(text, pos)
        if text.startswith("}", pos):
            return keys, None, True
        try:
            key, pos = decoder.raw_decode(text, pos)
            pos = _skip(text, pos)
            if not isinstance(key, str) or not text.startswith(":", pos):
                return keys, None, False
            keys.add(key)
            value, pos = decoder.raw_decode(text, _skip(text, pos + 1))
        except ValueError:  # cut off by the end of the head, or not JSON
            return keys, None, False
        if key == "kind" and isinstance(value, str):
            return keys, value, False
        pos = _skip(text, pos)
        if text.startswith(",", pos):
            pos += 1
        elif not text.startswith("}", pos):
            return keys, None, False


def _skip(text: str, pos: int) -> int:
    """The position of the first non-blank character at or after ``pos``."""
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def make_batches(checked: Sequence[tuple[Path, str, bool]], s: Settings, scratch: merge.ScratchFolder, *,
                 separate: bool = False, rewrites: Rewrites | None = None) -> list[Batch]:
    """Group reports by format into as few requests as the API and the size limit allow.

    Cucumber/Behave come first: their endpoints cannot import into an existing Test Execution, so
    only the request that creates it may carry them. Merged and split bodies are written to ``scratch``;
    Xray JSON reports that disagree on their Test Execution or info are refused (:class:`merge.XrayHead`).
    ``rewrites`` (:mod:`xray_tasks.rewrite`) changes reports on the way: a changed report is written to
    ``scratch`` (or straight into the merged body), sizes are those of the changed bodies, and a report
    whose every test was re-run in a later one is left out.
    """
    if rewrites is not None:
        checked = [c for c in checked if not rewrites.empty(c[0])]

    def body(p: Path) -> Path:
        return rewrites.body(p, scratch) if rewrites is not None else p

    def size(p: Path) -> int:
        return rewrites.size(p) if rewrites is not None else p.stat().st_size

    def rewritten(p: Path) -> bool:
        return rewrites is not None and rewrites.changes(p)

    if separate:
        return [Batch(fmt, det, (p,), body(p), rewritten=rewritten(p)) for p, fmt, det in checked]
    by_format: dict[str, list[tuple[Path, bool]]] = {}
    for path, fmt, det in checked:
        by_format.setdefault(fmt, []).append((path, det))
    order = sorted(by_format, key=lambda f: f not in ("cucumber", "behave"))
    limit = int(s.max_request_mb * 1024 * 1024)
    batches: list[Batch] = []
    for fmt in order:
        items = by_format[fmt]
        detected = all(det for _, det in items)
        paths = [p for p, _ in items]
        sizes = {p: size(p) for p in paths}  # a rewritten report's size is a query: ask once
        too_big = [p for p in paths if sizes[p] > limit]
        if too_big and fmt in merge.SPLITTABLE:
            for p in too_big:
                parts = merge.split_junit(body(p), limit, scratch)
                batches += [Batch(fmt, detected, (p,), part, f"part {n} of {len(parts)} of {p} "
                                  f"({sizes[p] / 2**20:.0f} MiB, over the {s.max_request_mb:g} MiB limit)")
                            for n, part in enumerate(parts, 1)]
            paths = [p for p in paths if p not in too_big]
        for p in paths:
            if sizes[p] > limit:
                raise ReportError(
                    f"{p} is {sizes[p] / 2**20:.0f} MiB, over the {s.max_request_mb:g} MiB request limit",
                    "split the report into several files (they are imported into one Test Execution), "
                    "or raise XRAY_MAX_REQUEST_MB if your Xray accepts larger requests")
        if not paths:
            continue
        if fmt not in merge.MERGEABLE or len(paths) == 1:
            batches += [Batch(fmt, detected, (p,), body(p), rewritten=rewritten(p)) for p in paths]
            continue
        groups = merge.group_by_size(paths, limit, sizes.__getitem__)
        if fmt == "xray" and len(groups) > 1:
            merge.xray_head(paths)  # each request's merge checks its own files; this checks across them
        for group in groups:
            if len(group) == 1:
                batches.append(Batch(fmt, detected, (group[0],), body(group[0]), rewritten=rewritten(group[0])))
                continue
            merged = merge.merge_to_file(group, fmt, scratch, rewrites)
            batches.append(Batch(fmt, detected, tuple(group), merged,
                                 rewritten=any(rewritten(p) for p in group)))
    gherkin = [b for b in batches if b.fmt in ("cucumber", "behave")]
    if len(gherkin) > 1 and not s.test_exec_key:
        kinds = sorted({b.fmt for b in gherkin})
        if len(kinds) > 1:
            what, hint = ("Cucumber JSON and Behave JSON reports need a request each",
                          "import the Cucumber and the Behave reports in separate runs, or use --separate")
        else:
            what, hint = (f"the {formats.FORMAT_LABELS[kinds[0]]} reports are over XRAY_MAX_REQUEST_MB="
                          f"{s.max_request_mb:g} together and need {len(gherkin)} requests",
                          "raise XRAY_MAX_REQUEST_MB, import fewer reports per run, or use --separate")
        raise SettingsError(f"{what}, but only the first request can create the Test Execution and Xray cannot "
                            "import Cucumber/Behave into an existing one", hint)
    return batches
