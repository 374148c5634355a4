"""What a person sees: progress and notes on stderr, results on stdout, secrets redacted everywhere.

:class:`Console` receives an import run's events (:class:`xray_tasks.importer.Events`) and prints them as
whole lines — requests running in parallel never mix their lines — with a live "n/m requests done" line
on a terminal. ``--quiet`` keeps only results and warnings; ``--json`` keeps stdout for one JSON object.

A report upload shows its progress, and then the wait for Xray's answer (:mod:`xray_tasks.progress`):
``Console.upload`` is the meter factory the client hands to the transport. It is shown with ``--json`` on
a pipe (stderr is free), never with ``--quiet``, nor with ``--json`` on a terminal (stdout shares the
screen).

In GitHub Actions (``GITHUB_ACTIONS=true``) warnings and the final error line are written as workflow
commands (``::warning::…``, ``::error::…``), and a Test Execution that received failed tests gets an
``::error file=<report>::`` line, so they show as annotations on the run and on the report file. They go
to stderr like every other line (the runner reads workflow commands from both streams).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from xray_tasks.errors import some
from xray_tasks.formats import FORMAT_LABELS
from xray_tasks.progress import LOCK, UploadProgress, clear_line, line_prefix
from xray_tasks.redaction import redact, redact_data

if TYPE_CHECKING:
    from xray_tasks.client import ImportResult
    from xray_tasks.importer import ImportOutcome, RunPlan
    from xray_tasks.plan import ImportPlan

__all__ = ["Console", "clear_status", "err", "error_line", "in_github_actions", "workflow_command"]


def err(message: str, stream: TextIO | None = None) -> None:
    """One line on stderr, secrets redacted; whole lines even when parallel requests report at once, and
    never run into a live progress line."""
    out = stream or sys.stderr
    with LOCK:
        out.write(line_prefix() + redact(message) + "\n")
        out.flush()


def in_github_actions(environ: Mapping[str, str] | None = None) -> bool:
    """Whether we run as a GitHub Actions step (the runner sets ``GITHUB_ACTIONS=true``)."""
    return (os.environ if environ is None else environ).get("GITHUB_ACTIONS") == "true"


def _escape(text: str, *, prop: bool = False) -> str:
    """GitHub's escaping for a workflow command's message (and, with ``prop``, a property value)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def workflow_command(level: str, message: str, *, file: str | None = None, title: str | None = None) -> str:
    """``::error file=…,title=…::message`` (``level`` is error, warning or notice); the file is made relative
    to ``GITHUB_WORKSPACE`` when it lies inside it, as GitHub wants it."""
    props = []
    if file:
        workspace = os.environ.get("GITHUB_WORKSPACE")
        if workspace and os.path.isabs(file) and Path(file).is_relative_to(workspace):
            file = os.path.relpath(file, workspace)
        props.append(f"file={_escape(file, prop=True)}")
    if title:
        props.append(f"title={_escape(title, prop=True)}")
    return f"::{level}{' ' + ','.join(props) if props else ''}::{_escape(redact(message))}"


def error_line(exc: BaseException) -> str:
    """The last line of a failed task: ``xray-tasks: error: …``, secrets redacted; an ``::error::``
    annotation in GitHub Actions."""
    line = redact(f"xray-tasks: error: {exc}")
    return workflow_command("error", line, title="xray-tasks") if in_github_actions() else line


def clear_status(stream: TextIO | None = None) -> None:
    """Wipe a live progress line still on the terminal (before an error line that is not printed by err)."""
    clear_line(stream)


class Console:
    """Prints an import run for people (or keeps quiet for machines).

    ``stream``, ``tty`` and ``clock`` default to stderr, whether it is a terminal, and ``time.monotonic``;
    tests give their own."""

    def __init__(self, *, as_json: bool = False, quiet: bool = False, stream: TextIO | None = None,
                 tty: bool | None = None, clock: Callable[[], float] = time.monotonic, ticker: bool = True) -> None:
        self.as_json = as_json
        self.quiet = quiet
        self.stream = stream
        self.tty = (stream or sys.stderr).isatty() if tty is None else tty
        self.live = self.tty and not (quiet or as_json)
        self.progress = UploadProgress(stream=stream, tty=self.tty, clock=clock, ticker=ticker,
                                       enabled=not quiet and (self.live or not self.tty))
        self.upload = self.progress.meter
        self._done = 0
        self._total = 0

    # -- lines ----------------------------------------------------------------------------------------

    def say(self, message: str) -> None:
        """A progress line (not with --quiet or --json)."""
        if not (self.quiet or self.as_json):
            err(("\x1b[K" if self.live else "") + message, self.stream)

    def warn(self, message: str) -> None:
        """A warning: always shown (a ``::warning::`` annotation in GitHub Actions)."""
        line = f"xray-tasks: warning: {message}"
        err(workflow_command("warning", line, title="xray-tasks") if in_github_actions() else line, self.stream)

    def annotate_results(self, data: Mapping[str, Any]) -> None:
        """In GitHub Actions, an ``::error file=<report>::`` annotation per Test Execution that received failed
        tests (from the summary object's ``executions``), so the run shows where the failures are."""
        if not in_github_actions():
            return
        for row in data.get("executions") or []:
            totals = row.get("totals") or {}
            failed = totals.get("failed", 0) + totals.get("aborted", 0)
            if not failed:
                continue
            files = row.get("files") or []
            where = some(files) if files else "the reports"
            total = sum(v for v in totals.values() if isinstance(v, int))
            link = f" {row['url']}" if row.get("url") else ""
            err(workflow_command("error", f"{failed} of {total} tests failed in {where}; imported into "
                                          f"{row['key']}{link}", file=files[0] if files else None,
                                 title=f"{failed} failed tests ({row['key']})"), self.stream)

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
        with LOCK:
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
