"""From the user's flags to import plans, and from plans to imported Test Executions.

``find_reports`` expands paths, directories and globs; ``prepare_plan`` detects the format, renders
the templates when multipart is used and builds the :class:`~xray_tasks.plan.ImportPlan` (no network);
``import_reports`` sends them, the first report creating the Test Execution and the others importing
into it where the API allows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xray_tasks.errors import ReportError, XrayTasksError
from xray_tasks.merge import ScratchFolder
from xray_tasks.plan import ImportPlan, build_plan, decide, implied_templates
from xray_tasks.reports import Batch, ReportInfo, check_reports, make_batches
from xray_tasks.runrecord import RunRecord
from xray_tasks.settings import Settings
from xray_tasks.templating import build_context, find_template, render_template

if TYPE_CHECKING:
    from xray_tasks.client import ImportResult, XrayClient

__all__ = ["ImportOptions", "import_reports", "plan_imports", "prepare_plan"]



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
                 scratch: ScratchFolder, *, separate: bool = False
                 ) -> tuple[ImportPlan, list[tuple[Batch, ImportPlan]]]:
    """Every report checked and batched (merged or split bodies go to ``scratch``); the first request's plan,
    noting the reports skipped, and the followers' (for a dry run, the followers target ``PLACEHOLDER_KEY``)."""
    checked = check_reports(paths, options.fmt, record, allow_stale=options.allow_stale)
    batches = make_batches(checked.reports, s, scratch, separate=separate)
    report = ReportInfo([(p, fmt) for p, fmt, _ in checked.reports])
    first = prepare_plan(s, batches[0], options, record, report)
    first = replace(first, notes=(*checked.notes, *first.notes))
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
    with ScratchFolder() as scratch:  # made only if a report is merged or split
        first, followers = plan_imports(s, paths, options, record, scratch, separate=separate)
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
