"""What a person sees: progress and notes on stderr, results on stdout, secrets redacted everywhere.

:class:`Console` receives an import run's events (:class:`xray_tasks.importer.Events`) and prints them as
whole lines — requests running in parallel never mix their lines — with a live "n/m requests done" line
on a terminal. ``--quiet`` keeps only results and warnings; ``--json`` keeps stdout for one JSON object.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from xray_tasks.formats import FORMAT_LABELS
from xray_tasks.redaction import redact, redact_data

if TYPE_CHECKING:
    from xray_tasks.client import ImportResult
    from xray_tasks.importer import ImportOutcome, RunPlan
    from xray_tasks.plan import ImportPlan

__all__ = ["Console", "err", "some"]

_LOCK = threading.Lock()


def err(message: str, stream: TextIO | None = None) -> None:
    """One line on stderr, secrets redacted; whole lines even when parallel requests report at once."""
    out = stream or sys.stderr
    with _LOCK:
        out.write(redact(message) + "\n")
        out.flush()


def some(paths: Sequence[Path | str], shown: int = 3) -> str:
    """``a.xml, b.xml, c.xml and 47 more``: a progress line stays one readable line."""
    names = ", ".join(str(p) for p in paths[:shown])
    return f"{names} and {len(paths) - shown} more" if len(paths) > shown else names


class Console:
    """Prints an import run for people (or keeps quiet for machines)."""

    def __init__(self, *, as_json: bool = False, quiet: bool = False) -> None:
        self.as_json = as_json
        self.quiet = quiet
        self.live = sys.stderr.isatty() and not (quiet or as_json)
        self._done = 0
        self._total = 0

    # -- lines ----------------------------------------------------------------------------------------

    def say(self, message: str) -> None:
        """A progress line (not with --quiet or --json)."""
        if not (self.quiet or self.as_json):
            err(("\x1b[K" if self.live else "") + message)

    def warn(self, message: str) -> None:
        """A warning: always shown."""
        err(f"xray-tasks: warning: {message}")

    def result(self, text: str) -> None:
        """A result line on stdout (not with --json)."""
        if not self.as_json:
            print(redact(text), flush=True)

    def data(self, value: Any) -> None:
        """The one JSON object of ``--json``, on stdout, secrets redacted before it is serialised."""
        print(json.dumps(redact_data(value), ensure_ascii=False), flush=True)

    # -- an import run's events -----------------------------------------------------------------------

    def started(self, total: int) -> None:
        self._total = total
        if self.live and total > 1:
            print(f"importing {total} requests…", end="\r", file=sys.stderr, flush=True)

    def sending(self, plan: ImportPlan) -> None:
        if plan.detected:
            self.say(f"detected {FORMAT_LABELS[plan.format]} in {some(plan.files)}")
        for note in plan.notes:
            self.say(f"note: {note}")

    def landed(self, plan: ImportPlan, result: ImportResult) -> None:
        with _LOCK:
            self._done += 1
            done = self._done
        files = plan.files[0].name if len(plan.files) == 1 else f"{len(plan.files)} files"
        count = f"[{done}/{self._total}] " if self._total > 1 else ""
        self.say(f"{count}POST {plan.endpoint} ({files}): {result.status} in {result.duration:.2f}s → {result.key}")
        if self.live and done < self._total:  # a live line under the log, overwritten next time
            print(f"  {done}/{self._total} requests done…", end="\r", file=sys.stderr, flush=True)

    # -- summaries ------------------------------------------------------------------------------------

    def dry_run(self, run: RunPlan, base_url: str, auth_scheme: str) -> None:
        """Every request as it would be sent, credential redacted; or the JSON form with ``--json``."""
        if self.as_json:
            data: dict[str, Any] = {"dry_run": True, "requests": [p.to_dict(base_url) for p in run.plans]}
            if run.enrichment is not None:
                data["rewrites"] = run.enrichment.to_dict()
            self.data(data)
            return
        plans = run.plans
        for i, plan in enumerate(plans, 1):
            if plan.detected:
                self.say(f"detected {FORMAT_LABELS[plan.format]} in {some(plan.files)}")
            self.result(f"request {i} of {len(plans)}:" if len(plans) > 1 else "request:")
            self.result(plan.describe(base_url, auth_scheme))
        if run.enrichment is not None and run.enrichment.listing:
            self.result("changes written into the reports:")
            for line in run.enrichment.listing:
                self.result(f"  {line}")
        self.result("dry run: nothing was sent")

    def imported(self, outcome: ImportOutcome) -> None:
        """The result line: the Test Execution key and link (one line per execution with --separate)."""
        plan, result = outcome.results[0]
        where = f": {result.url}" if result.url else " (set XRAY_JIRA_URL for a browse link)"
        files = sorted({str(p) for plan_, _ in outcome.results for p in plan_.files})
        what = plan.files[0].name if len(files) == 1 else f"{len(files)} reports"
        label = " + ".join(dict.fromkeys(FORMAT_LABELS[p.format] for p, _ in outcome.results))
        if outcome.flaky:
            self.say(f"{outcome.flaky} flaky test(s): passed on a rerun, marked in their Test Runs' comments")
        if len(outcome.keys) == 1:
            self.result(f"Imported {what} ({label}) into {result.key}{where}")
            return
        self.result(f"Imported {what} ({label}) into {len(outcome.keys)} Test Executions:")
        for p, r in outcome.results:
            self.result(f"  {r.key} {r.url or ''}  ← {', '.join(f.name for f in p.files)}")
