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
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xray_tasks import formats
from xray_tasks.errors import ReportError, SettingsError, StaleReportError
from xray_tasks.plan import ImportPlan, build_plan, decide
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


class ReportInfo:
    """The ``report`` template variable; totals are parsed only when a template uses them."""

    def __init__(self, paths: Sequence[Path], fmt: str) -> None:
        self.paths = list(paths)
        self.format = fmt
        self.format_label = formats.FORMAT_LABELS[fmt]
        self.file = str(self.paths[0])
        self.name = self.paths[0].name
        self.files = [str(p) for p in self.paths]

    @cached_property
    def _summaries(self) -> list[formats.ReportSummary]:
        return [formats.summarize(p, self.format) for p in self.paths]

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
        return f"ReportInfo({self.files!r}, {self.format!r})"


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
        raise ReportError("no report given", "pass --report PATH or set XRAY_REPORT")
    return list(found)


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
            f"{path} is older than the test run recorded in the state file ({age:.0f}s before it started): "
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


def prepare_plan(s: Settings, paths: Sequence[Path], options: ImportOptions,
                 record: RunRecord | None = None, *, fmt: str | None = None) -> ImportPlan:
    """Build the plan for one request carrying ``paths`` (one file for now), rendering templates."""
    path = paths[0]
    check_fresh(path, record, options.allow_stale)
    detected = False
    if fmt is None:
        fmt, detected = detect(path, options.fmt)
    size = path.stat().st_size
    info_for_templates = ReportInfo(paths, fmt)
    if size <= VALIDATE_LIMIT and info_for_templates.tests == 0:
        raise ReportError(f"{path} holds no test results ({formats.FORMAT_LABELS[fmt]} with 0 tests)",
                              "check that the tests ran; Xray rejects an empty report")
    decision = decide(s, fmt, multipart=options.multipart,
                      templates=bool(options.info_template or options.test_info_template),
                      variables=options.cli_vars)
    info = test_info = xray_report = None
    if decision.multipart:
        context = build_context(s, report=info_for_templates, run=record.template_vars() if record else None)
        info = render_template(find_template(s, "info", options.info_template), "info", context,
                               s.deployment).data
        test_info = render_template(find_template(s, "testInfo", options.test_info_template), "testInfo",
                                    context, s.deployment).data
    elif fmt == "xray":
        xray_report = _load_json(path)
    return build_plan(s, path, fmt, decision, detected=detected, info=info, test_info=test_info,
                      xray_report=xray_report)


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
    """Result of ``import_reports``: one entry per request."""

    results: list[tuple[ImportPlan, ImportResult]] = field(default_factory=list)
    duration: float = 0.0

    @property
    def keys(self) -> list[str]:
        return list(dict.fromkeys(r.key for _, r in self.results))


def import_reports(s: Settings, paths: Sequence[Path], options: ImportOptions, client: XrayClient,
                   record: RunRecord | None = None,
                   on_plan: Callable[[ImportPlan], None] | None = None,
                   on_result: Callable[[ImportPlan, ImportResult], None] | None = None) -> ImportOutcome:
    """Import every report; the first creates the Test Execution (unless one is given), the rest go
    into it. Every plan is prepared — and every report checked — before anything is sent."""
    started = time.monotonic()
    first = prepare_plan(s, paths[:1], options, record)
    rest = [(p, *detect(p, options.fmt)) for p in paths[1:]]
    for path, fmt, _ in rest:
        check_fresh(path, record, options.allow_stale)
        if fmt in ("cucumber", "behave"):
            raise SettingsError(
                f"{path} is {formats.FORMAT_LABELS[fmt]}, which Xray cannot import into an existing Test "
                "Execution, so it cannot join the others in one",
                "import it on its own run, or pass only reports of other formats")
    outcome = ImportOutcome()
    if on_plan:
        on_plan(first)
    result = client.send(first)
    outcome.results.append((first, result))
    if on_result:
        on_result(first, result)
    follow = s.with_(test_exec_key=result.key)
    for path, fmt, detected in rest:
        plan = prepare_plan(follow, [path], ImportOptions(fmt=fmt, allow_stale=True), record, fmt=fmt)
        plan = _with_detected(plan, detected)
        if on_plan:
            on_plan(plan)
        res = client.send(plan)
        outcome.results.append((plan, res))
        if on_result:
            on_result(plan, res)
    outcome.duration = time.monotonic() - started
    return outcome


def _with_detected(plan: ImportPlan, detected: bool) -> ImportPlan:
    from dataclasses import replace

    return replace(plan, detected=detected)
