"""Reruns: several attempts of one test become one result for Xray, and a flaky test says so.

Xray aggregates several results of one Test in one import with a fixed "worst result wins" rule (the
contract's §17.2), so a test that failed and then passed on a rerun shows as failed. Before the upload,
the attempts of each test are collapsed into one by a policy:

* ``last`` (the default): the last attempt is the result;
* ``worst``: the worst attempt is (failed, then aborted, to do, skipped, passed), the last of equals;
* ``all``: every attempt is sent as it is (Xray's own rule decides, as before this existed).

Where attempts come from: Surefire/Gradle's ``<flakyFailure>``/``<flakyError>`` (earlier failures of a
test that then passed) and ``<rerunFailure>``/``<rerunError>`` inside one ``<testcase>``; the same test
written again in the same suite of one report (pytest-rerunfailures writes each attempt as a testcase of
its own — the earlier ones carry no failure, since pytest records the rerun, not the failure — so an
earlier appearance in the same suite counts as a failed attempt: runners re-run only what failed); and
the same test in several reports (a CI job retried into the same folder), ordered by the reports'
modification times.

A test whose kept result passed after an attempt failed is *flaky*: its run gets a comment
(``Flaky: passed on attempt 2 of 2; attempt 1 failed: <message>``) and the import's summary counts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Attempt", "Verdict", "decide", "flaky_comment"]

#: how bad a status is for ``worst`` (higher is worse)
_RANK = {"passed": 0, "skipped": 1, "todo": 2, "aborted": 3, "failed": 4}
#: characters of a failure message quoted in a comment
MESSAGE_LIMIT = 500
HIDDEN = "its failure is not in the report"


@dataclass(frozen=True)
class Attempt:
    """One appearance of a test in the reports, in the order they ran.

    ``earlier`` are attempts the runner recorded inside it (Surefire: ``("failed", message)`` per
    ``flakyFailure``/``rerunFailure``); ``hidden`` marks an appearance that was re-run in the same suite,
    so it did not pass whatever it says."""

    ref: int
    status: str
    message: str | None = None
    earlier: tuple[tuple[str, str | None], ...] = ()
    hidden: bool = False


@dataclass(frozen=True)
class Verdict:
    """What becomes of a test's appearances: which one is sent, which are left out, and what it says."""

    keep: int
    drop: tuple[int, ...]
    attempts: int
    flaky: bool
    comment: str | None = None
    #: the kept appearance must read as failed with this message (``worst`` kept a failure the report
    #: records only as a flaky or re-run attempt)
    fail_with: str | None = None


def _flat(appearances: Sequence[Attempt]) -> list[tuple[int, str, str | None]]:
    """(appearance index, status, message) of every attempt, in order."""
    out: list[tuple[int, str, str | None]] = []
    for i, a in enumerate(appearances):
        out += [(i, status, message) for status, message in a.earlier]
        out.append((i, "failed" if a.hidden else a.status, HIDDEN if a.hidden and a.status == "passed" else a.message))
    return out


def decide(appearances: Sequence[Attempt], policy: str) -> Verdict:
    """Collapse the appearances of one test (at least one, in the order they ran) by ``policy``."""
    if policy not in ("last", "worst"):
        raise ValueError(f"unknown rerun policy {policy!r}")
    attempts = _flat(appearances)
    failed = [(n, msg) for n, (_, status, msg) in enumerate(attempts, 1) if status == "failed"]
    final = attempts[-1][1]
    flaky = final == "passed" and bool(failed)
    if policy == "last":
        kept = len(appearances) - 1
        comment = flaky_comment(len(attempts), failed) if flaky else None
        fail_with = None
    else:
        worst = max(_RANK.get(status, 2) for _, status, _ in attempts)
        at = max(n for n, (_, status, _) in enumerate(attempts) if _RANK.get(status, 2) == worst)
        kept = attempts[at][0]
        shown = appearances[kept]
        fail_with = None
        if attempts[at][1] == "failed" and (shown.status != "failed" or shown.hidden):
            fail_with = attempts[at][2] or HIDDEN
        comment = None
        if flaky:
            passed_on = len(attempts)
            comment = (f"Flaky: failed on attempt {failed[-1][0]} of {len(attempts)}, passed on attempt "
                       f"{passed_on}; reported as failed (--reruns worst)")
    drop = tuple(a.ref for i, a in enumerate(appearances) if i != kept)
    return Verdict(keep=appearances[kept].ref, drop=drop, attempts=len(attempts), flaky=flaky, comment=comment,
                   fail_with=fail_with)


def flaky_comment(attempts: int, failed: Sequence[tuple[int, str | None]]) -> str:
    """``Flaky: passed on attempt 3 of 3; attempt 2 failed: <message>`` (the last failure that says why)."""
    said = [(n, msg) for n, msg in failed if msg and msg != HIDDEN]
    n, message = said[-1] if said else failed[-1]
    why = _short(message) if message and message != HIDDEN else f"({HIDDEN})"
    others = [str(k) for k, _ in failed if k != n]
    also = f" (attempt{'s' if len(others) > 1 else ''} {', '.join(others)} failed too)" if others else ""
    return f"Flaky: passed on attempt {attempts} of {attempts}; attempt {n} failed: {why}{also}"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT - 1] + "…"
