"""The reports of one import: found on disk, checked, and grouped into requests — no network.

``find_reports`` expands paths, directories and globs; ``check_reports`` detects (or checks) each
report's format and refuses stale or empty ones; ``make_batches`` groups them by format into as few
request bodies as the API and the size limit allow; ``ReportInfo`` is the ``report`` template variable.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from xray_tasks import formats, merge
from xray_tasks.errors import ReportError, SettingsError, StaleReportError
from xray_tasks.runrecord import RunRecord
from xray_tasks.settings import Settings

__all__ = ["Batch", "ReportInfo", "check_fresh", "check_reports", "detect", "find_reports", "make_batches"]

VALIDATE_LIMIT = 16 * 1024 * 1024  # parse reports up to this size fully before sending
STALE_TOLERANCE = 2.0  # seconds of clock/mtime granularity allowed


class ReportInfo:
    """The ``report`` template variable; totals are parsed only when a template uses them."""

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
    """Expand paths, directories (every file below) and globs (``**`` recursive); de-duplicated, sorted."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        pattern = os.path.expanduser(pattern)
        if glob.has_magic(pattern):
            matches = [Path(m) for m in sorted(glob.glob(pattern, recursive=True)) if Path(m).is_file()]
            if not matches:
                raise ReportError(f"no report matches {pattern!r}",
                                  "check the pattern and that the test run wrote its reports there")
        elif Path(pattern).is_dir():
            matches = sorted(p for p in Path(pattern).rglob("*")
                             if p.is_file() and p.suffix.lower() in (".xml", ".json"))
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
    formats.check_readable(path)
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


def check_reports(paths: Sequence[Path], fmt: str, record: RunRecord | None, *, allow_stale: bool = False
                  ) -> list[tuple[Path, str, bool]]:
    """Detect (or check) every report's format, refuse stale and empty ones — before anything is sent."""
    checked = []
    for path in paths:
        check_fresh(path, record, allow_stale)
        found, detected = detect(path, fmt)
        if path.stat().st_size <= VALIDATE_LIMIT and not formats.has_tests(path, found):
            raise ReportError(f"{path} holds no test results ({formats.FORMAT_LABELS[found]} with 0 tests)",
                              "check that the tests ran; Xray rejects an empty report")
        checked.append((path, found, detected))
    return checked


def make_batches(checked: Sequence[tuple[Path, str, bool]], s: Settings, folder: Path, *,
                 separate: bool = False) -> list[Batch]:
    """Group reports by format into as few requests as the API and the size limit allow.

    Cucumber/Behave come first: their endpoints cannot import into an existing Test Execution, so
    only the request that creates it may carry them.
    """
    if separate:
        return [Batch(fmt, det, (p,), p) for p, fmt, det in checked]
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
        too_big = [p for p in paths if p.stat().st_size > limit]
        if too_big and fmt in merge.SPLITTABLE:
            for p in too_big:
                parts = merge.split_junit(p, limit, folder)
                batches += [Batch(fmt, detected, (p,), part, f"part {n} of {len(parts)} of {p} "
                                  f"({p.stat().st_size / 2**20:.0f} MiB, over the {s.max_request_mb:g} MiB limit)")
                            for n, part in enumerate(parts, 1)]
            paths = [p for p in paths if p not in too_big]
        for p in paths:
            if p.stat().st_size > limit:
                raise ReportError(
                    f"{p} is {p.stat().st_size / 2**20:.0f} MiB, over the {s.max_request_mb:g} MiB request limit",
                    "split the report into several files (they are imported into one Test Execution), "
                    "or raise XRAY_MAX_REQUEST_MB if your Xray accepts larger requests")
        if not paths:
            continue
        if fmt not in merge.MERGEABLE or len(paths) == 1:
            batches += [Batch(fmt, detected, (p,), p) for p in paths]
            continue
        for group in merge.group_by_size(paths, limit):
            body = group[0] if len(group) == 1 else merge.merge_to_file(group, fmt, folder)
            batches.append(Batch(fmt, detected, tuple(group) if len(group) > 1 else (), body))
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
