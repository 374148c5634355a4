"""From the user's flags to import plans, and from plans to imported Test Executions.

``find_reports`` expands paths, directories and globs; ``prepare_plan`` detects the format, renders
the templates when multipart is used and builds the :class:`~xray_tasks.plan.ImportPlan` (no network);
``import_reports`` sends them, the first report creating the Test Execution and the others importing
into it where the API allows.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xray_tasks import formats, merge
from xray_tasks.errors import ReportError, SettingsError, StaleReportError, XrayTasksError
from xray_tasks.plan import ImportPlan, build_plan, decide, implied_templates
from xray_tasks.runrecord import RunRecord
from xray_tasks.settings import Settings
from xray_tasks.templating import build_context, find_template, render_template

if TYPE_CHECKING:
    from xray_tasks.client import ImportResult, XrayClient

__all__ = ["ImportOptions", "ReportInfo", "find_reports", "import_reports", "prepare_plan"]

VALIDATE_LIMIT = 16 * 1024 * 1024  # parse reports up to this size fully before sending
STALE_TOLERANCE = 2.0  # seconds of clock/mtime granularity allowed


@dataclass(frozen=True)
class ImportOptions:
    """What the user asked ``import-results`` for, beyond the settings."""

    fmt: str = "auto"
    multipart: bool = False
    info_template: str | None = None
    test_info_template: str | None = None
    cli_vars: bool = False
    allow_stale: bool = False
    #: XRAY_VAR_*/XRAY_TEMPLATE_DIR choose multipart (false for requests into the execution just created)
    settings_templates: bool = True


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


def check_reports(paths: Sequence[Path], options: ImportOptions, record: RunRecord | None
                  ) -> list[tuple[Path, str, bool]]:
    """Detect (or check) every report's format, refuse stale and empty ones — before anything is sent."""
    checked = []
    for path in paths:
        check_fresh(path, record, options.allow_stale)
        fmt, detected = detect(path, options.fmt)
        if path.stat().st_size <= VALIDATE_LIMIT and not formats.has_tests(path, fmt):
            raise ReportError(f"{path} holds no test results ({formats.FORMAT_LABELS[fmt]} with 0 tests)",
                              "check that the tests ran; Xray rejects an empty report")
        checked.append((path, fmt, detected))
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


def prepare_plan(s: Settings, batch: Batch, options: ImportOptions, record: RunRecord | None = None,
                 report: ReportInfo | None = None) -> ImportPlan:
    """Build the plan for one request, rendering the templates when it is multipart."""
    decision = decide(s, batch.fmt, multipart=options.multipart,
                      templates=bool(options.info_template or options.test_info_template),
                      variables=options.cli_vars,
                      implied=implied_templates(s) if options.settings_templates and not options.cli_vars else None)
    info = test_info = xray_report = None
    if decision.multipart:
        report = report or ReportInfo([(p, batch.fmt) for p in batch.sources or (batch.body,)])
        context = build_context(s, report=report, run=record.template_vars() if record else None)
        info = render_template(find_template(s, "info", options.info_template), "info", context,
                               s.deployment).data
        test_info = render_template(find_template(s, "testInfo", options.test_info_template), "testInfo",
                                    context, s.deployment).data
    elif batch.fmt == "xray":
        xray_report = _load_json(batch.body)
    plan = build_plan(s, batch.body, batch.fmt, decision, detected=batch.detected, info=info, test_info=test_info,
                      xray_report=xray_report)
    return replace(plan, sources=batch.sources,
                   notes=plan.notes + ((f"sending {batch.note}",) if batch.note else ()))


def _load_json(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: cannot read the Xray JSON: {exc}", "fix the report") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path} is not an Xray JSON object", "pass --format to say what it is")
    return data


@dataclass
class ImportOutcome:
    """Result of ``import_reports``: every request's plan and result, in order."""

    results: list[tuple[ImportPlan, ImportResult]] = field(default_factory=list)
    duration: float = 0.0

    @property
    def keys(self) -> list[str]:
        return list(dict.fromkeys(r.key for _, r in self.results))


PLACEHOLDER_KEY = "<key created by request 1>"


def plan_imports(s: Settings, paths: Sequence[Path], options: ImportOptions, record: RunRecord | None,
                 folder: Path, *, separate: bool = False) -> tuple[ImportPlan, list[tuple[Batch, ImportPlan]]]:
    """Every report checked and batched; the first request's plan and the followers' (for a dry run, the
    followers target ``PLACEHOLDER_KEY``)."""
    checked = check_reports(paths, options, record)
    batches = make_batches(checked, s, folder, separate=separate)
    report = ReportInfo([(p, fmt) for p, fmt, _ in checked])
    first = prepare_plan(s, batches[0], options, record, report)
    if s.test_exec_key and s.test_environments:
        note = (f"Xray replaces the Test Environments of {s.test_exec_key} with the ones sent "
                f"({';'.join(s.test_environments)}); it does not add to them")
        first = replace(first, notes=(*first.notes, note))
    follow_s = s if separate or s.test_exec_key else s.with_(test_exec_key=PLACEHOLDER_KEY)
    follow_opts = options if separate else ImportOptions(fmt=options.fmt, allow_stale=True, settings_templates=False)
    followers = [(b, prepare_plan(follow_s, b, follow_opts, record, report)) for b in batches[1:]]
    return first, followers


def import_reports(s: Settings, paths: Sequence[Path], options: ImportOptions, client: XrayClient,
                   record: RunRecord | None = None, *, separate: bool = False, parallel: int = 2,
                   on_plan: Callable[[ImportPlan], None] | None = None,
                   on_result: Callable[[ImportPlan, ImportResult], None] | None = None,
                   on_start: Callable[[int], None] | None = None) -> ImportOutcome:
    """Import every report into one Test Execution (or one each with ``separate``).

    The first request creates the Test Execution (unless one is given); the others import into its key
    through the standard endpoints, ``parallel`` at a time. Everything is checked before anything is sent.
    """
    started = time.monotonic()
    outcome = ImportOutcome()
    with tempfile.TemporaryDirectory(prefix="xray-tasks-") as tmp:
        first, followers = plan_imports(s, paths, options, record, Path(tmp), separate=separate)
        if on_start:
            on_start(1 + len(followers))

        def send(plan: ImportPlan) -> tuple[ImportPlan, ImportResult]:
            if on_plan:
                on_plan(plan)
            result = client.send(plan)
            if on_result:
                on_result(plan, result)
            return plan, result

        outcome.results.append(send(first))
        key = outcome.results[0][1].key
        if followers and not separate and not s.test_exec_key:
            follow_s = s.with_(test_exec_key=key)
            follow_opts = ImportOptions(fmt=options.fmt, allow_stale=True, settings_templates=False)
            plans = [prepare_plan(follow_s, b, follow_opts, record) for b, _ in followers]
        else:
            plans = [plan for _, plan in followers]
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            futures = [pool.submit(send, plan) for plan in plans]
        failed: list[XrayTasksError] = []
        for future in futures:  # every request is tried; what landed is kept and reported
            try:
                outcome.results.append(future.result())
            except XrayTasksError as exc:
                failed.append(exc)
    outcome.duration = time.monotonic() - started
    if failed:
        error = failed[0]
        more = f"; {len(failed) - 1} other request(s) failed too" if len(failed) > 1 else ""
        error.message += (f" ({len(outcome.results)} of {len(outcome.results) + len(failed)} requests were "
                          f"imported, into {', '.join(outcome.keys)}{more})")
        error.outcome = outcome  # type: ignore[attr-defined]
        raise error
    return outcome
