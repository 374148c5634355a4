"""Where each test sits in a report, byte for byte: the first pass of a rewrite.

:func:`scan_report` streams a report and yields one :class:`Found` per test — the same tests, names,
definitions, statuses and keys as :func:`xray_tasks.formats.iter_results` (the scanners are the format
readers of :mod:`xray_tasks.formats.xml_reports` with bookkeeping on top) — with the byte offsets a
rewrite needs: where the test's element starts and where its end tag is, where its ``<properties>`` /
``<attributes>`` end, an existing ``testrun_comment`` and ``testrun_evidence``, which fields the report
already gives, the failure message, and the attempts a runner recorded inside it (Surefire's
``flakyFailure``/``rerunFailure``). Offsets are expat's ``CurrentByteIndex``: exact in any encoding.

Xray JSON is read whole (as everywhere in xray-tasks); a test's "offset" is its index in ``tests``.
Cucumber and Behave are not scanned: nothing of what a rewrite adds applies to them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from xray_tasks.formats.base import TestResult, _opened, check_readable
from xray_tasks.formats.json_reports import _iter_xray, _load_json
from xray_tasks.formats.xml_reports import _iter_xml, _JUnit, _NUnit, _Robot, _TestNG, _XmlReader, _XUnit

__all__ = ["SCANNED", "Found", "scan_report"]

SCANNED = frozenset({"junit", "testng", "nunit", "robot", "xunit", "xray"})
#: characters kept of a failure message or an existing comment
TEXT_KEPT = 64 * 1024
MESSAGE_KEPT = 2000


@dataclass(frozen=True, slots=True)
class Found(TestResult):
    """A test of a report and where its parts are (byte offsets; Xray JSON: its index in ``tests``)."""

    #: where a rerun of this test is looked for in the same report: its enclosing suite(s)
    group: str = ""
    start: int = 0
    #: where expat ended it: its end tag ``</testcase>``, or just after ``/>`` for an empty element (the
    #: rewrite tells them apart by the bytes there); the same holds for the offsets below
    close: int = 0
    #: the end of its ``<properties>`` (JUnit, NUnit) or ``<attributes>`` (TestNG), or -1
    inside: int = -1
    #: what the report already sets for it: "requirements", "labels", "comment", "evidence" (and "info":
    #: an Xray JSON test has a testInfo)
    given: frozenset[str] = frozenset()
    #: an existing ``testrun_comment`` property: (start, end, its text) — JUnit only
    comment: tuple[int, int, str] | None = None
    #: the end of an existing ``testrun_evidence`` property, or -1
    evidence_at: int = -1
    message: str | None = None
    #: attempts the runner recorded inside it, in order: ("failed", message)
    earlier: tuple[tuple[str, str | None], ...] = ()


class _Scan(_XmlReader):
    """Bookkeeping over a format reader: offsets and the parts of each test a rewrite touches."""

    test_tag: ClassVar[str]
    test_parents: ClassVar[tuple[str, ...]] = ()
    #: child tag at depth 1 -> what it is: "failure", "attempt", "inside"
    children: ClassVar[dict[str, str]] = {}
    #: property/attribute names (lower case) -> the field of ``given`` they set
    named: ClassVar[dict[str, str]] = {}
    #: tag at depth 2 whose text is the failure message, with its parent
    message_at: ClassVar[tuple[str, str] | None] = None

    def __init__(self, label: str, parser: Any) -> None:
        super().__init__(label, parser)
        self._open: dict[str, Any] | None = None
        self.groups: list[str] = []
        self.held: TestResult | None = None
        self._sink: list[str] | None = None
        self._sink_len = 0

    # text capture of our own (the readers capture other elements' text with theirs)
    def _listen(self) -> None:
        self._sink, self._sink_len = [], 0
        self.parser.CharacterDataHandler = self._hear

    def _hear(self, data: str) -> None:
        if self._sink is not None and self._sink_len < TEXT_KEPT:
            self._sink.append(data)
            self._sink_len += len(data)

    def _heard(self) -> str:
        text = "".join(self._sink or ())
        self._sink = None
        self.parser.CharacterDataHandler = None
        return text.strip()

    def group_start(self, tag: str, attrs: dict[str, str]) -> None:
        """Note the suites around the tests (the group attempts are looked for in)."""

    def group_end(self, tag: str) -> None:
        pass

    def on_start(self, name: str, attrs: dict[str, str]) -> None:
        tag = name.rpartition(":")[2]
        at = self.parser.CurrentByteIndex
        opening = self._open is None and tag == self.test_tag and (
            not self.test_parents or (self.stack[-1] if self.stack else "") in self.test_parents)
        if self._open is None and not opening:
            self.group_start(tag, attrs)
        before = len(self.out)
        super().on_start(name, attrs)
        if opening:
            self._open = {"start": at, "depth": len(self.stack), "inside": -1, "given": set(),
                         "comment": None, "evidence_at": -1, "open": None, "message": None, "earlier": [],
                         "listening": None, "group": "/".join(self.groups)}
            if len(self.out) > before:  # NUnit and xUnit.net readers add the result at the start
                self.held = self.out.pop()
            return
        if self._open is None:
            return
        depth = len(self.stack) - self._open["depth"]
        kind = self.children.get(tag) if depth == 1 else None
        if kind == "failure":
            message = attrs.get("message")
            if message:
                self._open["message"] = message[:MESSAGE_KEPT]
            elif self._open["message"] is None:
                self._open["listening"] = ("failure", depth)
                self._listen()
        elif kind == "attempt":
            self._open["earlier"].append(("failed", (attrs.get("message") or "")[:MESSAGE_KEPT] or None))
        elif depth == 2 and tag in ("property", "attribute") and self.stack[-2] in ("properties", "attributes"):
            field = self.named.get(attrs.get("name", "").lower())
            if field is not None:
                self._open["given"].add(field)
            if field in ("comment", "evidence") and self.fmt == "junit":
                self._open["open"] = (field, at)
                if field == "comment":
                    self._open["comment_text"] = attrs.get("value")
                    if attrs.get("value") is None:
                        self._open["listening"] = ("comment", depth)
                        self._listen()
        elif self.message_at is not None and depth == 2 and (tag, self.stack[-2]) == self.message_at \
                and self._open["message"] is None:
            self._open["listening"] = ("failure", depth)
            self._listen()

    def on_end(self, name: str) -> None:
        test = self._open
        if test is None:
            self.group_end(self.stack[-1])
            super().on_end(name)
            return
        at = self.parser.CurrentByteIndex
        tag = self.stack[-1]
        depth = len(self.stack) - test["depth"]
        listening = test["listening"]
        if listening is not None and listening[1] == depth:
            text = self._heard()
            test["listening"] = None
            if listening[0] == "failure":
                test["message"] = text[:MESSAGE_KEPT] or None
            else:
                test["comment_text"] = text
        if depth == 1 and self.children.get(tag) == "inside":
            test["inside"] = at
        elif depth == 2 and tag == "property" and test["open"] is not None:
            field, opened = test["open"]
            test["open"] = None
            if field == "comment" and test["comment"] is None:
                test["comment"] = (opened, at, test["comment_text"] or "")
            elif field == "evidence" and test["evidence_at"] < 0:
                test["evidence_at"] = at
        if depth != 0:
            super().on_end(name)
            return
        before = len(self.out)
        super().on_end(name)
        self._open = None
        result = self.out.pop() if len(self.out) > before else self.held
        self.held = None
        if result is None:  # a TestNG configuration method: not a test
            return
        self.out.append(Found(result.name, result.definition, result.status, result.key, result.duration,
                              group=test["group"], start=test["start"], close=at, inside=test["inside"],
                              given=frozenset(test["given"]), comment=test["comment"], evidence_at=test["evidence_at"],
                              message=test["message"], earlier=tuple(test["earlier"])))


class _JUnitScan(_Scan, _JUnit):
    test_tag = "testcase"
    children: ClassVar[dict[str, str]] = {
        "failure": "failure", "error": "failure", "flakyFailure": "attempt", "flakyError": "attempt",
        "rerunFailure": "attempt", "rerunError": "attempt", "properties": "inside"}
    named: ClassVar[dict[str, str]] = {"requirements": "requirements", "tags": "labels",
                                       "testrun_comment": "comment", "testrun_evidence": "evidence"}

    def group_start(self, tag: str, attrs: dict[str, str]) -> None:
        if tag == "testsuite":
            self.groups.append(f"{attrs.get('name', '')}@{attrs.get('hostname', '')}")

    def group_end(self, tag: str) -> None:
        if tag == "testsuite" and self.groups:
            self.groups.pop()


class _TestNGScan(_Scan, _TestNG):
    test_tag = "test-method"
    children: ClassVar[dict[str, str]] = {"attributes": "inside"}
    named: ClassVar[dict[str, str]] = {"requirement": "requirements", "labels": "labels"}
    message_at = ("message", "exception")

    def group_start(self, tag: str, attrs: dict[str, str]) -> None:
        if tag == "test":
            self.groups.append(attrs.get("name", ""))

    def group_end(self, tag: str) -> None:
        if tag == "test" and self.groups:
            self.groups.pop()


class _RobotScan(_Scan, _Robot):
    test_tag = "test"
    test_parents = ("suite",)

    def on_start(self, name: str, attrs: dict[str, str]) -> None:
        super().on_start(name, attrs)
        # Robot's failure message is the text of the test's own <status>
        test = self._open
        if test is not None and self.stack[-1] == "status" and len(self.stack) - test["depth"] == 1 \
                and attrs.get("status", "").upper() == "FAIL":
            test["listening"] = ("failure", 1)
            self._listen()


class _NUnitScan(_Scan, _NUnit):
    test_tag = "test-case"
    children: ClassVar[dict[str, str]] = {"properties": "inside"}
    named: ClassVar[dict[str, str]] = {"requirement": "requirements", "requirements": "requirements",
                                       "tags": "labels", "testrun_comment": "comment"}
    message_at = ("message", "failure")


class _XUnitScan(_Scan, _XUnit):
    test_tag = "test"
    test_parents = ("collection", "class")
    message_at = ("message", "failure")


_SCANNERS: dict[str, Any] = {"junit": _JUnitScan, "testng": _TestNGScan, "robot": _RobotScan, "nunit": _NUnitScan,
                             "xunit": _XUnitScan}


def scan_report(path: str | os.PathLike[str], fmt: str) -> Iterator[Found]:
    """Every test of the report with where it is (see :class:`Found`); parse errors as ReportError."""
    label = os.fspath(path)
    check_readable(path)
    if fmt == "xray":
        return _scan_xray(path, label)
    if fmt not in _SCANNERS:
        raise ValueError(f"{fmt} reports are not scanned")
    return _scan_xml(path, label, fmt)


def _scan_xml(path: str | os.PathLike[str], label: str, fmt: str) -> Iterator[Found]:
    with open(path, "rb") as stream:
        for result in _iter_xml(stream, label, fmt, readers={fmt: _SCANNERS[fmt]}):
            assert isinstance(result, Found)
            yield result


def _scan_xray(path: str | os.PathLike[str], label: str) -> Iterator[Found]:
    with _opened(path) as (stream, size):
        data = _load_json(stream, size, label, "xray")
    tests = data.get("tests", []) if isinstance(data, dict) else []
    for i, result in enumerate(_iter_xray(data, label)):
        test = tests[i]
        info = test.get("testInfo") if isinstance(test.get("testInfo"), dict) else {}
        given = {name for name, present in (("requirements", info.get("requirementKeys")),
                                            ("labels", info.get("labels")), ("comment", test.get("comment")),
                                            ("evidence", test.get("evidence") or test.get("evidences")),
                                            ("info", info))
                 if present}
        comment = test.get("comment")
        message = comment[:MESSAGE_KEPT] if isinstance(comment, str) and result.status == "failed" else None
        yield Found(result.name, result.definition, result.status, result.key, result.duration, start=i, close=i,
                    given=frozenset(given), message=message)
