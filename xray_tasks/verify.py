"""Did the import land? What was sent, compared Test by Test with what Xray recorded.

**What was sent** (:class:`Expectation`): every reported test, grouped by the Test Xray files it under —
its key when the report names one (JUnit ``test_key``, a Robot tag, a Cucumber ``@TEST_`` tag, Xray JSON
``testKey``), else its definition (JUnit ``classname.name`` and the like). Within one import a Test that
appears several times gets one run holding the worst result (FAIL > ABORTED > TODO > PASS, contract
§17.2); across imports the later one replaces it, and which one was later is not always known (requests
sent in parallel, shards), so a Test may have several acceptable results.

**Statuses** are compared in the normalised buckets of ``docs/statuses.md``: what Xray records is read
back with :func:`~xray_tasks.formats.statuses.xray_json_status` (``PASSED``/``PASS`` → passed,
``EXECUTING`` → todo, a custom status → todo, ``SKIPPED`` → skipped); what was sent is expected as Xray
records it — a skipped test of an XML, Cucumber or Behave report is recorded as TODO, while Xray JSON
keeps its status as sent.

**Matching** a sent Test to a recorded run (:data:`MATCHERS`) goes by key, then by definition (Cloud shows
a Generic Test's), then by name against the Test's summary; Tests that share a name (JUnit ``adds`` in two
classes) and runs the server names by key only are told apart by status — a guess that
:attr:`Verification.guessed` owns up to. What is left on the sent side is *missing*; on the recorded side
*extra* (other runs of an execution imported into, which fail the check only where the execution should
hold nothing else).

:func:`settle` reads the execution back until it matches or ``XRAY_VERIFY_WAIT`` seconds have passed:
Xray indexes some things asynchronously, and a difference counts only when it stays.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from xray_tasks import formats, readback
from xray_tasks.errors import VerificationError
from xray_tasks.formats.statuses import STATUSES, xray_json_status
from xray_tasks.readback import ExecutionRef, Recorded, RecordedRun

if TYPE_CHECKING:
    from xray_tasks.client import XrayClient
    from xray_tasks.importer import ImportOutcome

__all__ = ["Expectation", "Expected", "SentTest", "Verification", "check", "compare", "expected_bucket", "expected_of",
           "failure", "recorded_bucket", "settle"]

#: Xray's worst-wins order (FAIL > ABORTED > EXECUTING > TODO > PASS) in the normalised buckets
RANK = {"failed": 5, "aborted": 4, "todo": 2, "skipped": 2, "passed": 1}
#: names shown in a text table's problem lines before "and N more"
SHOWN = 20


def expected_bucket(status: str, fmt: str) -> str:
    """The bucket Xray records a sent result in: a skip is TODO except in Xray JSON, which keeps its status."""
    return "todo" if status == "skipped" and fmt != "xray" else status


def recorded_bucket(name: str) -> str:
    """The bucket of a status name Xray recorded, either dialect's spelling; an unknown (custom) one is todo."""
    return xray_json_status(name)


def _worst(a: str, b: str) -> str:
    return a if RANK.get(a, 2) >= RANK.get(b, 2) else b


@dataclass(frozen=True)
class SentTest:
    """One Test as the reports give it, with the buckets Xray may record for it (the last is the likeliest:
    the result of the whole import, or of the latest one)."""

    key: str | None
    definition: str
    name: str
    expected: tuple[str, ...]

    @property
    def identity(self) -> str:
        return f"key:{self.key}" if self.key else f"definition:{self.definition}"

    @property
    def label(self) -> str:
        return f"{self.key} ({self.name})" if self.key else self.definition

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "definition": self.definition, "expected": list(self.expected)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SentTest:
        """The inverse of :meth:`as_dict`; ValueError when ``data`` does not have its shape."""
        key, name, definition, expected = (data.get(k) for k in ("key", "name", "definition", "expected"))
        if not (key is None or isinstance(key, str)) or not isinstance(name, str) or not isinstance(definition, str) \
                or not isinstance(expected, list) or not expected or not all(e in RANK for e in expected):
            raise ValueError("a test needs a name, a definition and its expected statuses")
        return cls(key or None, definition, name, tuple(expected))


@dataclass
class _Entry:
    key: str | None
    definition: str
    name: str
    expected: list[str] = field(default_factory=list)


class Expectation:
    """What the reports of one Test Execution say Xray should record, built import by import."""

    def __init__(self) -> None:
        self._tests: dict[str, _Entry] = {}
        self.reports = dict.fromkeys(STATUSES, 0)  # every reported result, as the report's totals count it
        self._counted: set[str] = set()

    def add_import(self, items: Iterable[tuple[os.PathLike[str] | str, str]]) -> None:
        """The reports (path, format) that went into one import: worst result per Test among them."""
        self._add_worst(_fold(self._read(path, fmt) for path, fmt in items))

    def add_unknown(self, items: Sequence[tuple[os.PathLike[str] | str, str]]) -> None:
        """Reports imported in a way not known here (``verify --report``): one merged import, or one import
        each in any order — any result either way leaves is accepted, the merged one likeliest. Each report
        is read once."""
        each = [self._read(path, fmt) for path, fmt in items]
        if len(each) > 1:
            for one in each:
                self._add_worst(one)
        self._add_worst(_fold(each))

    def _read(self, path: os.PathLike[str] | str, fmt: str) -> dict[str, tuple[_Entry, str]]:
        """The worst result per Test in one report; its results count in :attr:`reports` the first time."""
        count = str(path) not in self._counted
        self._counted.add(str(path))
        worst: dict[str, tuple[_Entry, str]] = {}
        for result in formats.iter_results(path, fmt):
            if count:
                self.reports[result.status] += 1
            entry = _Entry(result.key, result.definition, result.name)
            _keep_worst(worst, SentTest(entry.key, entry.definition, entry.name, ()).identity, entry,
                        expected_bucket(result.status, fmt))
        return worst

    def _add_worst(self, worst: Mapping[str, tuple[_Entry, str]]) -> None:
        for ident, (entry, bucket) in worst.items():
            self._add(ident, entry, [bucket])

    def add_tests(self, tests: Iterable[SentTest]) -> None:
        """Tests already grouped (a shard record's)."""
        for test in tests:
            self._add(test.identity, _Entry(test.key, test.definition, test.name), list(test.expected))

    def add_totals(self, totals: Mapping[str, int]) -> None:
        for status in STATUSES:
            self.reports[status] += int(totals.get(status, 0))

    def _add(self, ident: str, entry: _Entry, buckets: list[str]) -> None:
        known = self._tests.setdefault(ident, entry)
        for bucket in buckets:
            if bucket in known.expected:
                known.expected.remove(bucket)
            known.expected.append(bucket)  # the latest added is the likeliest

    @property
    def tests(self) -> list[SentTest]:
        return [SentTest(e.key, e.definition, e.name, tuple(e.expected)) for e in self._tests.values()]


def _keep_worst(worst: dict[str, tuple[_Entry, str]], ident: str, entry: _Entry, bucket: str) -> None:
    """Record ``bucket`` for ``ident``: the first entry stays, with the worse of the two buckets."""
    if ident in worst:
        entry, before = worst[ident]
        bucket = _worst(before, bucket)
    worst[ident] = (entry, bucket)


def _fold(parts: Iterable[Mapping[str, tuple[_Entry, str]]]) -> dict[str, tuple[_Entry, str]]:
    """Several reports' worst results as one import's (first entry, worst bucket, in the order first seen)."""
    worst: dict[str, tuple[_Entry, str]] = {}
    for part in parts:
        for ident, (entry, bucket) in part.items():
            _keep_worst(worst, ident, entry, bucket)
    return worst


#: what each Test Execution of an import run should hold, by key
Expected = dict[str, tuple[ExecutionRef, Expectation]]


def expected_of(outcome: ImportOutcome) -> Expected:
    """What each Test Execution of an import run should hold: its requests, each one import of the body it
    sent — the report as it went out (reruns collapsed, merged, or a part of a split one), so it must be
    called while those bodies exist."""
    out: dict[str, tuple[ExecutionRef, Expectation]] = {}
    for plan, result in outcome.results:
        ref, expectation = out.setdefault(result.key, (ExecutionRef(result.key, result.id), Expectation()))
        if ref.issue_id is None and result.id:
            out[result.key] = (ExecutionRef(result.key, result.id), expectation)
        expectation.add_import([(plan.report, plan.format)])
    return out


@dataclass
class Verification:
    """The comparison of one Test Execution with what was sent to it."""

    key: str
    sent: list[SentTest]
    runs: list[RecordedRun]
    reports: dict[str, int]
    missing: list[SentTest] = field(default_factory=list)
    differ: list[tuple[SentTest, RecordedRun]] = field(default_factory=list)
    extra: list[RecordedRun] = field(default_factory=list)
    #: some Tests without keys were matched to runs by their status alone (no name to go by)
    guessed: bool = False
    #: runs of Tests that were not sent fail the check (an execution that should hold nothing else)
    extras_fail: bool = True
    reads: int = 0
    requests: int = 0
    waited: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.missing and not self.differ and not (self.extra and self.extras_fail)

    def counts(self) -> dict[str, dict[str, int]]:
        expected = dict.fromkeys(STATUSES, 0)
        for test in self.sent:
            expected[test.expected[-1]] += 1
        recorded = dict.fromkeys(STATUSES, 0)
        for run in self.runs:
            recorded[recorded_bucket(run.status)] += 1
        return {"reports": dict(self.reports), "expected": expected, "recorded": recorded}

    def summary_line(self) -> str:
        """One line: verified, or what is wrong."""
        if self.ok:
            others = f", besides {len(self.extra)} other run(s)" if self.extra else ""
            return f"Verified {self.key}: {len(self.runs) - len(self.extra)} runs recorded for the {len(self.sent)} " \
                   f"Tests sent{others}"
        parts = [f"{n} {what}" for n, what in ((len(self.missing), "run(s) missing"), (len(self.differ), "with "
                 "another status"), (len(self.extra) if self.extras_fail else 0, "run(s) of Tests not sent")) if n]
        return f"{self.key} does not hold what was sent: {', '.join(parts)} ({len(self.sent)} Tests sent, " \
               f"{len(self.runs)} runs recorded)"

    def problem_lines(self) -> list[str]:
        """The Tests behind the differences, by name, at most :data:`SHOWN` of each kind."""
        lines: list[str] = []
        rows: list[tuple[str, list[str]]] = [
            ("missing", [f"{t.label} (sent {_either(t.expected)})" for t in self.missing]),
            ("other status", [f"{t.label}: sent {_either(t.expected)}, recorded {r.status}" for t, r in self.differ]),
            ("not sent" if self.extras_fail else "other runs", [f"{r.label}: {r.status}" for r in self.extra]),
        ]
        for what, names in rows:
            for name in names[:SHOWN]:
                lines.append(f"  {what}: {name}")
            if len(names) > SHOWN:
                lines.append(f"  {what}: … and {len(names) - SHOWN} more")
        if self.guessed and self.missing:
            lines.append("  (Tests without keys were told apart by status only: the missing names are candidates)")
        return lines

    def table(self) -> list[str]:
        """The counts per status: in the reports, expected as Xray records them, and recorded."""
        counts = self.counts()
        lines = [f"  {'status':<8} {'reports':>8} {'expected':>9} {'recorded':>9}"]
        for status in STATUSES:
            lines.append(f"  {status:<8} {counts['reports'][status]:>8} {counts['expected'][status]:>9} "
                         f"{counts['recorded'][status]:>9}")
        lines.append(f"  {'total':<8} {sum(counts['reports'].values()):>8} {len(self.sent):>9} {len(self.runs):>9}")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "ok": self.ok, "tests": len(self.sent), "runs": len(self.runs), **self.counts(),
            "missing": [t.as_dict() for t in self.missing],
            "differ": [{**t.as_dict(), "test_key": r.test_key, "recorded": r.status} for t, r in self.differ],
            "extra": [{"key": r.test_key, "summary": r.summary, "status": r.status} for r in self.extra],
            "extras_fail": self.extras_fail, "guessed": self.guessed, "reads": self.reads,
            "requests": self.requests, "waited": round(self.waited, 3),
        }


def _either(buckets: Sequence[str]) -> str:
    return " or ".join(reversed(buckets))


#: how sent Tests and recorded runs are matched, in order: (value of a Test, value of a run, whether Tests
#: sharing a value are told apart by status)
MATCHERS: tuple[tuple[Callable[[SentTest], str | None], Callable[[RecordedRun], str | None], bool], ...] = (
    (lambda t: t.key, lambda r: r.test_key, False),
    (lambda t: None if t.key else t.definition, lambda r: r.definition, False),
    (lambda t: None if t.key else t.name, lambda r: r.summary, True),  # JUnit names repeat across classes
    (lambda t: None if t.key else "", lambda r: None if r.named else "", True),  # a run known by its key only
)


def compare(key: str, sent: Sequence[SentTest], runs: Sequence[RecordedRun], reports: Mapping[str, int], *,
            extras_fail: bool) -> Verification:
    """Match every sent Test to a recorded run (:data:`MATCHERS`) and say what is missing, extra or recorded
    with another status."""
    left = list(runs)
    unmatched = list(sent)
    pairs: list[tuple[SentTest, RecordedRun]] = []
    guessed = False
    for of_test, of_run, by_status in MATCHERS:
        found, guess = _pair(unmatched, left, of_test, of_run, by_status=by_status)
        used_tests, used_runs = {id(t) for t, _ in found}, {id(r) for _, r in found}
        unmatched = [t for t in unmatched if id(t) not in used_tests]
        left = [r for r in left if id(r) not in used_runs]
        pairs += found
        guessed = guessed or guess
    differ = [(t, r) for t, r in pairs if recorded_bucket(r.status) not in t.expected]
    return Verification(key, list(sent), list(runs), dict(reports), missing=unmatched, differ=differ, extra=left,
                        guessed=guessed, extras_fail=extras_fail)


def _pair(tests: list[SentTest], runs: list[RecordedRun], of_test: Callable[[SentTest], str | None],
          of_run: Callable[[RecordedRun], str | None], *,
          by_status: bool) -> tuple[list[tuple[SentTest, RecordedRun]], bool]:
    """Tests and runs with equal values paired, and whether any pair was a guess. ``by_status``: where one
    value names several Tests or runs, a run goes to a Test that may have its status (a guess: the only way
    left to tell them apart); otherwise such Tests are not paired here."""
    by_value: dict[str, list[RecordedRun]] = {}
    for run in runs:
        value = of_run(run)
        if value is not None:
            by_value.setdefault(value, []).append(run)
    groups: dict[str, list[SentTest]] = {}
    for test in tests:
        value = of_test(test)
        if value is not None:
            groups.setdefault(value, []).append(test)
    out: list[tuple[SentTest, RecordedRun]] = []
    guessed = False
    for value, group in groups.items():
        candidates = by_value.get(value, [])
        if not by_status or (len(group) == 1 and len(candidates) == 1):
            out += list(zip(group, candidates, strict=False))
            continue
        for test in group:
            chosen = next((r for r in candidates if recorded_bucket(r.status) in test.expected), None)
            if chosen is not None:
                candidates.remove(chosen)
                out.append((test, chosen))
                guessed = True
    return out, guessed


def failure(verifications: Sequence[Verification], *, again: str,
            origin: Callable[[SentTest], str] | None = None) -> VerificationError | None:
    """The error that ends a step whose executions do not all hold what was sent (naming a few of the Tests
    concerned, with ``origin``'s words on where each came from); None when they do. ``again`` is the command
    that checks once more (KEY stands for the execution's key)."""
    bad = [v for v in verifications if not v.ok]
    if not bad:
        return None
    first = bad[0]
    where = origin or (lambda _t: "")
    names = [t.label + where(t) for t in first.missing[:3]] or [t.label + where(t) for t, _ in first.differ[:3]] \
        or [r.label for r in first.extra[:3]]
    return VerificationError(
        "; ".join(v.summary_line() for v in bad) + f": {', '.join(names)}",
        f"Xray may still be indexing: run {again.replace('KEY', first.key)} again in a minute (or raise "
        f"XRAY_VERIFY_WAIT); if runs stay missing, import those reports again with --test-exec {first.key} — it "
        "replaces their runs, nothing is duplicated")


def settle(read: Callable[[], Recorded], judge: Callable[[Recorded], Verification], *, wait: float,
           sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> Verification:
    """Read back and judge until the result is good or ``wait`` seconds have passed (waiting 0.5 s, then
    twice as long each time, never past the end); the last judgement, with how many reads it took."""
    started = clock()
    pause = 0.5
    reads = requests = 0
    while True:
        recorded = read()
        reads += 1
        requests += recorded.requests
        verdict = judge(recorded)
        left = wait - (clock() - started)
        if verdict.ok or left <= 0:
            verdict.reads, verdict.requests, verdict.waited = reads, requests, clock() - started
            return verdict
        sleep(min(pause, left))
        pause *= 2


def check(client: XrayClient, ref: ExecutionRef, expectation: Expectation, *, extras_fail: bool, wait: float,
          sleep: Callable[[float], None] = time.sleep) -> Verification:
    """Read the Test Execution ``ref`` back and compare it with ``expectation`` (see :func:`settle`). Runs the
    server names by key only get their Tests' summaries read when a difference needs names, once per Test."""
    sent = expectation.tests
    names: dict[str, str | None] = {}
    extra_requests = 0

    def named(recorded: Recorded) -> Recorded:
        nonlocal extra_requests
        if any(r.test_key not in names for r in recorded.runs if not r.named):
            more = readback.with_summaries(client, recorded)
            extra_requests += more.requests - recorded.requests
            names.update((r.test_key, r.summary) for r in more.runs)
        return replace(recorded, runs=tuple(r if r.named else replace(r, summary=names.get(r.test_key))
                                            for r in recorded.runs))

    def judge(recorded: Recorded) -> Verification:
        verdict = compare(ref.key, sent, recorded.runs, expectation.reports, extras_fail=extras_fail)
        if (verdict.guessed or verdict.missing) and any(not r.named for r in recorded.runs):
            verdict = compare(ref.key, sent, named(recorded).runs, expectation.reports, extras_fail=extras_fail)
        return verdict

    verdict = settle(lambda: readback.read_runs(client, ref), judge, wait=wait, sleep=sleep)
    verdict.requests += extra_requests
    return verdict
