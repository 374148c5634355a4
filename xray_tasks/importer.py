"""One import run, planned once and then sent: the first request, then the followers into its key.

:func:`plan_run` checks every report, groups them into request bodies (:mod:`xray_tasks.reports`),
renders the templates when the first request is multipart, and builds every request's
:class:`~xray_tasks.plan.ImportPlan` — before anything is sent. :func:`send_run` sends the first request
(which creates the Test Execution unless one is given), binds the followers to the key it answered with,
and sends them ``parallel`` at a time. What landed is kept: a failing request raises
:class:`~xray_tasks.errors.ImportFailed` carrying the :class:`ImportOutcome` so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from xray_tasks.deadline import leave_signals_to_the_main_thread
from xray_tasks.errors import ImportFailed, Interrupted, Terminated, XrayTasksError
from xray_tasks.formats import read_xray_document
from xray_tasks.merge import ScratchFolder
from xray_tasks.plan import ImportPlan, build_plan, decide, implied_templates
from xray_tasks.reports import Batch, ReportInfo, check_reports, make_batches
from xray_tasks.rerunprobe import needs_rewrite
from xray_tasks.runrecord import RunRecord
from xray_tasks.scenariotags import check_scenario_tags
from xray_tasks.settings import Settings
from xray_tasks.templating import build_context, find_template, render_template

if TYPE_CHECKING:
    from xray_tasks.client import ImportResult, XrayClient
    from xray_tasks.rewrite import Enrichment

__all__ = ["Events", "ImportOptions", "ImportOutcome", "RunPlan", "plan_run", "send_run"]


@dataclass(frozen=True)
class ImportOptions:
    """What the user asked ``import-results`` for, beyond the settings."""

    fmt: str = "auto"
    multipart: bool = False
    info_template: str | None = None
    test_info_template: str | None = None
    cli_vars: bool = False
    allow_stale: bool = False
    #: refuse Cucumber/Behave reports with scenarios that carry no Test key tag (else: a note)
    strict_tags: bool = False


@dataclass(frozen=True)
class RunPlan:
    """Every request of one import run, in the order they are sent."""

    first: ImportPlan
    followers: tuple[ImportPlan, ...]
    report: ReportInfo
    separate: bool = False  # each request creates its own Test Execution
    #: what rewriting the reports did (map, evidence, reruns); None when nothing was asked for
    enrichment: Enrichment | None = None

    @property
    def plans(self) -> list[ImportPlan]:
        return [self.first, *self.followers]


def plan_run(s: Settings, paths: Sequence[Path], options: ImportOptions, record: RunRecord | None,
             scratch: ScratchFolder, *, separate: bool = False) -> RunPlan:
    """Check, batch and plan every report; nothing is sent. Merged or split bodies go to ``scratch``; the
    first plan notes the reports that were skipped."""
    checked = check_reports(paths, options.fmt, record, allow_stale=options.allow_stale)
    tag_notes = check_scenario_tags(s, checked.reports, strict=options.strict_tags)
    rewrites = None
    if needs_rewrite(s, [(p, fmt) for p, fmt, _ in checked.reports]):
        from xray_tasks.rewrite import prepare  # SQLite and YAML: only for the imports that need them

        rewrites = prepare(s, checked.reports, separate=separate)
    try:
        batches = make_batches(checked.reports, s, scratch, separate=separate, rewrites=rewrites)
    finally:
        if rewrites is not None:
            rewrites.close()
    enrichment = rewrites.summary if rewrites is not None else None
    report = ReportInfo([(p, fmt) for p, fmt, _ in checked.reports])
    context = _contexts(s, record)
    first = _plan(s, batches[0], options, context, report)
    first = replace(first, notes=(*checked.notes, *tag_notes, *(enrichment.notes if enrichment else ()),
                                  *first.notes))
    if s.test_exec_key and s.test_environments:
        first = _with_note(first, f"Xray replaces the Test Environments of {s.test_exec_key} with the ones sent "
                                  f"({';'.join(s.test_environments)}); it does not add to them")
    if separate:
        followers = [_plan(s, b, options, context, ReportInfo([(p, b.fmt) for p in b.sources or (b.body,)]))
                     for b in batches[1:]]
    else:
        follow = not s.test_exec_key  # into the key the first request creates, else into the given one
        followers = [_plan(s, b, ImportOptions(fmt=options.fmt), context, report, follower=follow)
                     for b in batches[1:]]
    return RunPlan(first, tuple(followers), report, separate, enrichment)


def _contexts(s: Settings, record: RunRecord | None) -> Callable[[ReportInfo], dict[str, Any]]:
    """The template context of each request: all but ``report`` is the same for the whole run, so it (and
    its ``git`` calls) is built once, on the first multipart request."""
    shared: list[dict[str, Any]] = []

    def context(report: ReportInfo) -> dict[str, Any]:
        if not shared:
            shared.append(build_context(s, report=None, run=record.template_vars() if record else None))
        return {**shared[0], "report": report}

    return context


def _plan(s: Settings, batch: Batch, options: ImportOptions, context: Callable[[ReportInfo], dict[str, Any]],
          report: ReportInfo, *, follower: bool = False) -> ImportPlan:
    """The plan for one request, with the templates rendered when it is multipart."""
    decision = decide(s, batch.fmt, multipart=options.multipart,
                      templates=bool(options.info_template or options.test_info_template),
                      variables=options.cli_vars,
                      implied=None if options.cli_vars or follower else implied_templates(s), follower=follower)
    info = test_info = xray_report = None
    if decision.multipart:
        variables = context(report)
        info = render_template(find_template(s, "info", options.info_template), "info", variables,
                               s.deployment).data
        test_info = render_template(find_template(s, "testInfo", options.test_info_template), "testInfo",
                                    variables, s.deployment).data
    elif batch.fmt == "xray":
        xray_report = read_xray_document(batch.body)
    plan = build_plan(s, batch.body, batch.fmt, decision, detected=batch.detected, info=info, test_info=test_info,
                      xray_report=xray_report, sources=batch.sources, follower=follower)
    plan = replace(plan, rewritten=batch.rewritten) if batch.rewritten else plan
    return _with_note(plan, f"sending {batch.note}") if batch.note else plan


def _signum(stop: KeyboardInterrupt) -> int:
    return stop.signum if isinstance(stop, Terminated) else 2


def _with_note(plan: ImportPlan, note: str) -> ImportPlan:
    return replace(plan, notes=(*plan.notes, note))


@dataclass
class ImportOutcome:
    """What an import run did: every request's plan and result, in the order they landed."""

    results: list[tuple[ImportPlan, ImportResult]] = field(default_factory=list)
    duration: float = 0.0
    #: what rewriting the reports did (None: nothing was asked for, e.g. ``--reruns all``)
    enrichment: Enrichment | None = None

    @property
    def flaky(self) -> int | None:
        """Flaky tests the rewrite marked; None when reruns were not looked at."""
        return self.enrichment.flaky if self.enrichment is not None else None

    @property
    def keys(self) -> list[str]:
        return list(dict.fromkeys(r.key for _, r in self.results))


class Events(Protocol):
    """What :func:`send_run` tells as it goes (the console prints it)."""

    def started(self, total: int) -> None: ...

    def sending(self, plan: ImportPlan) -> None: ...

    def landed(self, plan: ImportPlan, result: ImportResult) -> None: ...


def send_run(client: XrayClient, run: RunPlan, events: Events, *, parallel: int = 2) -> ImportOutcome:
    """Send the first request, then the followers (bound to its key) ``parallel`` at a time.

    Every request is tried; a failure raises :class:`ImportFailed` with what landed. An interrupt while
    followers are under way cancels those not started yet and re-raises."""
    started = time.monotonic()
    outcome = ImportOutcome(enrichment=run.enrichment)
    events.started(len(run.plans))

    def send(plan: ImportPlan) -> tuple[ImportPlan, ImportResult]:
        events.sending(plan)
        result = client.send(plan)
        events.landed(plan, result)
        return plan, result

    try:
        outcome.results.append(send(run.first))
    except XrayTasksError as exc:
        outcome.duration = time.monotonic() - started
        raise ImportFailed(exc, outcome) from None
    except KeyboardInterrupt as stop:
        outcome.duration = time.monotonic() - started
        creates = "the Test Execution may have been created" if run.first.creates_execution else \
            f"the results may or may not be in {run.first.test_exec_key}"
        raise Interrupted(f"interrupted while sending the first request; {creates}",
                          "look in the project before running again", signum=_signum(stop),
                          outcome=outcome) from None
    key = outcome.results[0][1].key
    plans = [p.bind(key) if p.follower else p for p in run.followers]
    failed: list[XrayTasksError] = []
    pool = ThreadPoolExecutor(max_workers=max(1, parallel), initializer=leave_signals_to_the_main_thread)
    try:
        futures: list[Future[tuple[ImportPlan, ImportResult]]] = [pool.submit(send, p) for p in plans]
        for future in futures:  # in order; every request is tried, what landed is kept
            try:
                outcome.results.append(future.result())
            except XrayTasksError as exc:
                failed.append(exc)
    except KeyboardInterrupt as stop:
        client.abort()  # requests under way end now; those not started never start
        pool.shutdown(wait=True, cancel_futures=True)
        outcome.duration = time.monotonic() - started
        rest = len(run.plans) - len(outcome.results)
        raise Interrupted(f"interrupted: {len(outcome.results)} of {len(run.plans)} requests were imported into "
                          f"{', '.join(outcome.keys)}; {rest} may be missing or partly imported",
                          f"import the remaining reports with --test-exec {key}" if not run.separate else
                          "check the Test Executions before running again", signum=_signum(stop),
                          outcome=outcome) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        outcome.duration = time.monotonic() - started
    if failed:
        raise ImportFailed(failed[0], outcome, failed=len(failed))
    return outcome
