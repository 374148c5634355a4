"""The report formats Xray imports: recognise them from their content, stream their results, count them.

One package for the client (format detection, the ``report`` template variable, validation before a
request) and for the local Xray stand-in (which turns an imported report into Tests and Test Runs):
``base`` (names, limits, results, opening files), ``detect``, ``xml_reports``, ``json_reports``,
``statuses``; this module is the API the rest of xray-tasks uses.

* :func:`sniff_format` looks at the first bytes of a file's *content* (never its name);
  :func:`detect_format` does the same for a file on disk and explains what is wrong when it cannot.
* :func:`iter_results` yields one :class:`TestResult` per test the way Xray maps reports to Tests
  (docs: "How results are mapped to Test entities"): JUnit ``classname.name``, TestNG ``class.method``,
  Robot ``Suite.Sub.Test``, NUnit ``fullname``, xUnit.net ``name``, Cucumber/Behave
  ``feature: scenario`` (with the scenario's own tags in ``TestResult.tags``, for checks that read keys
  with an instance's own tag prefix), Xray JSON ``testKey`` / ``testInfo``.
* :func:`summarize` counts them by status; :func:`has_tests` checks a whole report but builds results only
  until the first test.

Statuses: every result has one of :data:`STATUSES` — ``passed``, ``failed``, ``skipped``, ``todo``,
``aborted`` — and summary totals have exactly these keys. What each runner writes maps onto them so
(``docs/statuses.md`` has the same table with what Xray records; the sandbox records that too):

==============================  ==========================================================  ==========
runner                          value it writes                                             normalised
==============================  ==========================================================  ==========
JUnit XML                       ``<testcase>`` without a failure/error/skipped child        passed
                                ``<failure>``, ``<error>`` (also next to ``<rerunFailure>``) failed
                                ``<skipped>``                                               skipped
                                only ``<flakyFailure>``/``<flakyError>`` (passed on rerun)  passed
TestNG, Robot, xUnit.net        PASS / Pass, SUCCESS_PERCENTAGE_FAILURE                     passed
                                FAIL / Fail                                                 failed
                                SKIP / Skip, NOT RUN / NotRun                               skipped
NUnit 3 ``result[:label]``      Passed, Warning                                             passed
                                Failed (Error, Invalid, no label)                           failed
                                Failed:Cancelled                                            aborted
                                Skipped (Ignored, Explicit, no label)                       skipped
                                Inconclusive                                                todo
NUnit 2 ``result``              Success                                                     passed
                                Failure, Error, NotRunnable                                 failed
                                Ignored, Skipped, NotRun; no result and executed="False"    skipped
                                Inconclusive                                                todo
                                Cancelled                                                   aborted
Cucumber / Behave scenario      every step passed (or no steps)                             passed
(from step and hook statuses)   any failed, error, hook_error, ambiguous                    failed
                                otherwise: skipped, pending, undefined, untested, no result skipped
Xray JSON ``status``            PASSED, PASS                                                passed
                                FAILED, FAIL                                                failed
                                TODO, EXECUTING                                             todo
                                ABORTED                                                     aborted
                                SKIPPED, SKIP                                               skipped
any format                      a value not listed (custom Xray status, a new runner word)  todo
==============================  ==========================================================  ==========

XML is streamed through expat in fixed-size chunks and only the few values we need are kept, so memory
stays flat on a report of hundreds of megabytes. The expat parser refuses DTD entity declarations and
external entities (billion laughs, XXE), the way defusedxml does; nothing is ever fetched from the
network. JSON is read whole, up to :data:`JSON_LIMIT` bytes.

Every problem is a :class:`~xray_tasks.errors.ReportError` whose message is one line naming the file,
with a hint saying how to fix it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import BinaryIO

from xray_tasks.errors import ReportError
from xray_tasks.formats.base import (
    CHUNK_BYTES,
    FORMAT_LABELS,
    FORMATS,
    HEAD_BYTES,
    JSON_FORMATS,
    JSON_LIMIT,
    XML_FORMATS,
    ReportSummary,
    TestResult,
    _label,
    _opened,
    check_readable,
    key_in_tag,
    scenario_key,
)
from xray_tasks.formats.detect import detect_format, sniff_format
from xray_tasks.formats.json_reports import _iter_gherkin, _iter_xray, _load_json, read_xray_document
from xray_tasks.formats.statuses import STATUSES, UNKNOWN_STATUS
from xray_tasks.formats.xml_reports import _iter_xml

__all__ = [
    "CHUNK_BYTES",
    "FORMATS",
    "FORMAT_LABELS",
    "HEAD_BYTES",
    "JSON_FORMATS",
    "JSON_LIMIT",
    "STATUSES",
    "UNKNOWN_STATUS",
    "XML_FORMATS",
    "ReportSummary",
    "TestResult",
    "check_readable",
    "detect_format",
    "has_tests",
    "iter_results",
    "key_in_tag",
    "read_xray_document",
    "scenario_key",
    "sniff_format",
    "summarize",
]


def _check_format(fmt: str, label: str) -> None:
    if fmt not in FORMATS:
        raise ReportError(f"unknown report format {fmt!r} for {label}",
                          f"use one of: {', '.join(FORMATS)} (or auto to detect it)")


def iter_results(source: str | os.PathLike[str] | BinaryIO, fmt: str) -> Iterator[TestResult]:
    """Every test in the report ``source`` (a path or an open binary file) of format ``fmt``.

    The format and the file are checked at once; parse errors surface while iterating.
    """
    label = _label(source)
    _check_format(fmt, label)
    if isinstance(source, (str, os.PathLike)):
        check_readable(source)
    return _results(source, fmt, label)


def _results(source: str | os.PathLike[str] | BinaryIO, fmt: str, label: str) -> Iterator[TestResult]:
    with _opened(source) as (stream, size):
        if fmt in XML_FORMATS:
            yield from _iter_xml(stream, label, fmt)
            return
        data = _load_json(stream, size, label, fmt)
    if fmt == "xray":
        yield from _iter_xray(data, label)
    else:
        yield from _iter_gherkin(data, label, fmt)


def has_tests(source: str | os.PathLike[str] | BinaryIO, fmt: str) -> bool:
    """Whether the report holds at least one test; the whole file is still parsed and checked.

    Much cheaper than :func:`summarize` on XML: no results are built past the first chunk that has one.
    """
    label = _label(source)
    _check_format(fmt, label)
    with _opened(source) as (stream, size):
        if fmt in XML_FORMATS:
            found = False
            for _ in _iter_xml(stream, label, fmt, first_only=True):
                found = True
            return found
        data = _load_json(stream, size, label, fmt)
    results = _iter_xray(data, label) if fmt == "xray" else _iter_gherkin(data, label, fmt)
    return sum(1 for _ in results) > 0  # every entry checked: JSON is small and already in memory


def summarize(source: str | os.PathLike[str] | BinaryIO, fmt: str) -> ReportSummary:
    """How many tests the report holds, by status: every one of :data:`STATUSES` is a key, nothing else."""
    totals = dict.fromkeys(STATUSES, 0)
    tests = 0
    for result in iter_results(source, fmt):
        tests += 1
        totals[result.status] += 1
    return ReportSummary(format=fmt, tests=tests, totals=totals)
