"""What Xray reads from a report beyond a test's identity and status: keys, requirements, labels, comments,
evidence, defects, custom fields, iterations (the contract's §6, §7 and §17).

:func:`iter_enriched` yields the same results as :func:`xray_tasks.formats.iter_results`, in the same
order, each as a :class:`DetailedResult` whose ``details`` (:class:`TestDetails`) holds what the report
says about the Test and its run:

* JUnit (Xray's JUnit extension, as ``XmlReportWriter`` writes it): testcase ``<properties>`` named
  ``test_key``, ``test_id``, ``requirements`` (comma-separated), ``tags`` (comma-separated → labels),
  ``test_summary``, ``test_description`` and ``testrun_comment`` (value or text/CDATA),
  ``testrun_evidence`` (``<item name="file.png">BASE64</item>``) and ``testrun_customfields``
  (``<item name="Field">value</item>``, several values joined by ``;`` with ``\\`` and ``;`` escaped
  by a backslash); the legacy ``requirement`` attribute; ``started-at`` / ``finished-at``; the
  ``message`` of ``<failure>`` / ``<error>`` (their text when there is none) as the run's failure.
* TestNG: ``<attribute>`` ``test``, ``requirement`` (comma-separated), ``labels`` (space-separated),
  ``summary``, ``description``; ``started-at`` / ``finished-at``.
* NUnit (2 and 3): test-case ``<property>`` ``Test`` / ``Requirement`` (the form public Xray samples
  use) and the JUnit property names above; ``start-time`` / ``end-time``.
* Robot Framework: every tag (``tags``); which of them name the Test and which a requirement is for
  the importer to decide, since only it knows the issues.
* Xray JSON: ``comment``, ``defects``, ``evidence`` or legacy ``evidences`` (``data``, ``filename``,
  ``contentType``), ``iterations``, ``examples``, ``customFields``, ``start`` / ``finish``,
  ``executedBy``, ``assignee`` and ``testInfo`` ``requirementKeys`` / ``labels``.
* xUnit.net, Cucumber and Behave: no details (empty :class:`TestDetails`).

Evidence is base64 decoded strictly (whitespace between characters is allowed, anything else outside
the alphabet, bad padding or a length that is not a multiple of four is a :class:`ReportError`).
Decoding streams: only the first ``evidence_bytes`` of each file are kept, and at most
``evidence_budget`` bytes over the whole report, while ``Evidence.size`` is always the full size.
"""

from __future__ import annotations

import binascii
import mimetypes
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from xray_tasks.errors import ReportError
from xray_tasks.formats.base import (
    _KEY_RE,
    JSON_FORMATS,
    XML_FORMATS,
    TestResult,
    _label,
    _opened,
    _seconds,
    check_readable,
)
from xray_tasks.formats.json_reports import _iter_gherkin, _iter_xray, _load_json
from xray_tasks.formats.xml_reports import _READERS, _iter_xml, _JUnit, _NUnit, _Robot, _TestNG, _XmlReader

__all__ = [
    "EVIDENCE_BUDGET",
    "EVIDENCE_BYTES",
    "DetailedResult",
    "Evidence",
    "EvidenceBudget",
    "TestDetails",
    "iter_enriched",
    "robot_keys",
    "split_custom_field",
    "xray_details",
]

#: bytes kept of one evidence file (the size is still counted in full)
EVIDENCE_BYTES = 1 << 20
#: bytes kept of all evidence files of one report together
EVIDENCE_BUDGET = 64 << 20
#: characters kept of one comment or description
TEXT_LIMIT = 64 * 1024

_WHITESPACE = re.compile(r"[ \t\r\n]+")
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/=]*")


@dataclass(frozen=True)
class Evidence:
    """One evidence file of a test run: its name, type, full size and the first bytes kept of it."""

    filename: str
    content_type: str
    size: int
    data: bytes


@dataclass
class TestDetails:
    """Everything a report says about one Test and its run besides name, definition, status and key."""

    __test__ = False  # not a pytest test class, despite its name

    test_id: str | None = None
    summary: str | None = None
    description: str | None = None
    labels: list[str] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)
    #: Robot Framework tags, as written
    tags: list[str] = field(default_factory=list)
    comment: str | None = None
    evidence: list[Evidence] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    #: custom field name -> values
    custom_fields: dict[str, list[str]] = field(default_factory=dict)
    #: ISO 8601 with an offset, when the report says
    started: str | None = None
    finished: str | None = None
    executed_by: str | None = None
    assignee: str | None = None
    #: Xray JSON ``iterations`` and ``examples`` as sent (statuses are checked by the importer)
    iterations: list[dict[str, Any]] = field(default_factory=list)
    examples: list[Any] = field(default_factory=list)
    #: why the test failed, as the report says it (JUnit ``<failure message>``), at most TEXT_LIMIT characters
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class DetailedResult(TestResult):
    """A :class:`TestResult` with its :class:`TestDetails`."""

    details: TestDetails = field(default_factory=TestDetails)


class EvidenceBudget:
    """How many evidence bytes may be kept of one file (``per_file``) and are left for the whole report."""

    def __init__(self, per_file: int, total: int) -> None:
        self.per_file = per_file
        self.left = total


class _Base64:
    """A strict, streaming base64 decoder that keeps the first bytes it may and counts all of them."""

    def __init__(self, what: str, budget: EvidenceBudget) -> None:
        self.what = what
        self.budget = budget
        self.kept = bytearray()
        self.size = 0
        self._rest = ""
        self._padded = False

    def _bad(self, reason: str) -> ReportError:
        return ReportError(f"{self.what} is not valid base64: {reason}",
                           "write the file's bytes base64-encoded (RFC 4648, with '=' padding)")

    def feed(self, text: str) -> None:
        text = _WHITESPACE.sub("", text)
        if not text:
            return
        if self._padded:
            raise self._bad("characters after the '=' padding")
        if not _BASE64_TEXT.fullmatch(text):
            bad = next(c for c in text if not (c.isascii() and (c.isalnum() or c in "+/=")))
            raise self._bad(f"character {bad!r} is not in the base64 alphabet")
        text = self._rest + text
        whole = len(text) // 4 * 4
        quanta, self._rest = text[:whole], text[whole:]
        if not quanta:
            return
        if "=" in quanta[-4:] and self._rest:
            raise self._bad("characters after the '=' padding")
        try:
            data = binascii.a2b_base64(quanta, strict_mode=True)
        except binascii.Error as exc:
            raise self._bad(str(exc)) from None
        self._padded = "=" in quanta[-4:]
        self.size += len(data)
        room = min(self.budget.per_file - len(self.kept), self.budget.left)
        if room > 0:
            piece = data[:room]
            self.kept += piece
            self.budget.left -= len(piece)

    def close(self) -> None:
        if self._rest:
            raise self._bad(f"its length is not a multiple of 4 ({len(self._rest)} character(s) left over)")


def _content_type(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def split_custom_field(value: str) -> list[str]:
    """The values of a ``testrun_customfields`` item: split on ``;`` unless escaped as ``\\;``."""
    values, current, escaped = [], [], False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ";":
            values.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    values.append("".join(current))
    return values


def _keys(text: str, sep: str = ",") -> list[str]:
    return [part.strip() for part in text.split(sep) if part.strip()]


def _iso(text: str | None) -> str | None:
    """An ISO 8601 time with an offset (UTC when the report gives none), or None when it is not one."""
    if not text or not text.strip():
        return None
    value = text.strip()
    if value.endswith(" UTC"):  # TestNG writes "2026-11-27T10:00:00 UTC" in some versions
        value = value[:-4] + "Z"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            moment = datetime.strptime(value, "%Y%m%d %H:%M:%S.%f")  # Robot Framework before 7
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="milliseconds")


def _plus(start: str | None, seconds: float | None) -> str | None:
    if start is None or seconds is None:
        return None
    return (datetime.fromisoformat(start) + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


class _Text:
    """Collects text up to :data:`TEXT_LIMIT` characters."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0

    def __call__(self, data: str) -> None:
        if self.length < TEXT_LIMIT:
            self.parts.append(data)
            self.length += len(data)

    @property
    def text(self) -> str:
        return "".join(self.parts)[:TEXT_LIMIT].strip()


def _property_rule(name: str, value: str, details: TestDetails) -> None:
    """Apply one Xray JUnit-style property (by name) to ``details``."""
    if name == "test_id":
        details.test_id = value.strip() or None
    elif name == "requirements":
        details.requirements.extend(_keys(value))
    elif name == "tags":
        details.labels.extend(_keys(value))
    elif name == "test_summary":
        details.summary = value.strip() or None
    elif name == "test_description":
        details.description = value.strip() or None
    elif name == "testrun_comment":
        details.comment = value.strip() or None


_TEXT_PROPERTIES = frozenset({"test_id", "requirements", "tags", "test_summary", "test_description",
                              "testrun_comment"})


class _JUnitDetails(_JUnit):
    """Xray's JUnit extension: testcase properties, the legacy ``requirement`` attribute, start and end."""

    def __init__(self, label: str, parser: Any, budget: EvidenceBudget) -> None:
        super().__init__(label, parser)
        self.budget = budget
        self.details = TestDetails()
        self._property: str | None = None
        self._text_sink = _Text()
        self._item: tuple[str, _Base64 | _Text] | None = None
        self._failure: _Text | None = None

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        opening = self.case is None and tag == "testcase"
        super().start(tag, attrs)
        if opening:
            self.details = TestDetails(started=_iso(attrs.get("started-at")),
                                       finished=_iso(attrs.get("finished-at")),
                                       requirements=_keys(attrs.get("requirement", "")))
            return
        if self.case is None:
            return
        depth = len(self.stack) - self.depth
        if depth == 1 and tag in ("failure", "error") and self.details.failure is None:
            message = (attrs.get("message") or "").strip()
            if message:
                self.details.failure = message[:TEXT_LIMIT]
            else:  # no message attribute: the element's text says why
                self._failure = _Text()
                _listen(self.parser, self._failure)
        elif depth == 2 and tag == "property" and self.parent() == "properties":
            name = attrs.get("name", "")
            value = attrs.get("value")
            if name in _TEXT_PROPERTIES:
                if value is not None:
                    _property_rule(name, value, self.details)
                else:
                    self._property, self._text_sink = name, _Text()
                    _listen(self.parser, self._text_sink)
            elif name in ("testrun_evidence", "testrun_customfields"):
                self._property = name
        elif depth == 3 and tag == "item" and self._property in ("testrun_evidence", "testrun_customfields"):
            name = attrs.get("name", "").strip()
            if self._property == "testrun_evidence":
                if not name:
                    raise ReportError(f"{self.label}: a testrun_evidence <item> of test "
                                      f"{self.case['name']!r} has no name attribute",
                                      'name every evidence file: <item name="screenshot.png">BASE64</item>')
                sink: _Base64 | _Text = _Base64(f"{self.label}: evidence {name!r} of test {self.case['name']!r}",
                                                self.budget)
            else:
                sink = _Text()
            self._item = (name, sink)
            _listen(self.parser, sink.feed if isinstance(sink, _Base64) else sink)

    def end(self, tag: str) -> None:
        if self._failure is not None and tag in ("failure", "error"):
            _listen(self.parser, None)
            self.details.failure = self._failure.text or None
            self._failure = None
        if self.case is not None and self._item is not None and tag == "item":
            name, sink = self._item
            self._item = None
            _listen(self.parser, None)
            if isinstance(sink, _Base64):
                sink.close()
                self.details.evidence.append(Evidence(name, _content_type(name), sink.size, bytes(sink.kept)))
            elif name:
                self.details.custom_fields[name] = split_custom_field(sink.text)
        elif self.case is not None and self._property is not None and tag == "property" \
                and len(self.stack) - self.depth == 2:
            if self._property in _TEXT_PROPERTIES:
                _listen(self.parser, None)
                _property_rule(self._property, self._text_sink.text, self.details)
            self._property = None
        closing = self.case is not None and tag == "testcase" and len(self.stack) == self.depth
        super().end(tag)
        if closing:
            _attach(self.out, self.details)


class _TestNGDetails(_TestNG):
    """TestNG result attributes (``requirement``, ``labels``, ``summary``, ``description``) and times."""

    _NAMES = frozenset({"requirement", "labels", "summary", "description"})

    def __init__(self, label: str, parser: Any, budget: EvidenceBudget) -> None:
        super().__init__(label, parser)
        self.budget = budget
        self.details = TestDetails()
        self._attribute: tuple[str, _Text] | None = None

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        opening = self.method is None and tag == "test-method"
        super().start(tag, attrs)
        if opening:
            self.details = TestDetails(started=_iso(attrs.get("started-at")),
                                       finished=_iso(attrs.get("finished-at")))
        elif self.method is not None and tag == "attribute" and self.parent() == "attributes" \
                and len(self.stack) == self.depth + 2 and attrs.get("name") in self._NAMES:
            self._attribute = (attrs["name"], _Text())
            _listen(self.parser, self._attribute[1])

    def end(self, tag: str) -> None:
        if self._attribute is not None and tag == "attribute":
            name, text = self._attribute
            self._attribute = None
            _listen(self.parser, None)
            value = text.text
            if name == "requirement":
                self.details.requirements.extend(_keys(value))
            elif name == "labels":
                self.details.labels.extend(value.split())
            elif name == "summary":
                self.details.summary = value or None
            else:
                self.details.description = value or None
        closing = self.method is not None and tag == "test-method" and len(self.stack) == self.depth
        before = len(self.out)
        super().end(tag)
        if closing and len(self.out) > before:  # configuration methods add no result
            _attach(self.out, self.details)


class _RobotDetails(_Robot):
    """Robot Framework tags and start/end times."""

    def __init__(self, label: str, parser: Any, budget: EvidenceBudget) -> None:
        super().__init__(label, parser)
        self.budget = budget
        self.times: tuple[str | None, str | None] = (None, None)

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        super().start(tag, attrs)
        if self.test is not None and tag == "status" and len(self.stack) - self.depth == 1:
            if "start" in attrs:  # Robot 7: start + elapsed seconds
                started = _iso(attrs["start"])
                self.times = (started, _plus(started, _seconds(attrs.get("elapsed"))))
            else:
                self.times = (_iso(attrs.get("starttime")), _iso(attrs.get("endtime")))

    def end(self, tag: str) -> None:
        closing = self.test is not None and tag == "test" and len(self.stack) == self.depth
        tags = list(self.test["tags"]) if closing and self.test is not None else []
        super().end(tag)
        if closing:
            _attach(self.out, TestDetails(tags=tags, started=self.times[0], finished=self.times[1]))
            self.times = (None, None)


class _NUnitDetails(_NUnit):
    """NUnit test-case properties (``Test``, ``Requirement`` and the Xray JUnit names) and times."""

    def __init__(self, label: str, parser: Any, budget: EvidenceBudget) -> None:
        super().__init__(label, parser)
        self.budget = budget
        self.pending: TestResult | None = None
        self.details = TestDetails()
        self.case_depth = 0

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        before = len(self.out)
        super().start(tag, attrs)
        if tag == "test-case" and len(self.out) > before:
            self.pending = self.out.pop()  # held back until its properties have been read
            self.case_depth = len(self.stack)
            self.details = TestDetails(started=_iso(attrs.get("start-time")), finished=_iso(attrs.get("end-time")))
        elif self.pending is not None and tag == "property" and self.parent() == "properties" \
                and len(self.stack) == self.case_depth + 2:
            name, value = attrs.get("name", ""), attrs.get("value", "")
            lowered = name.lower()
            if lowered in ("test", "test_key", "testkey"):
                if value.strip():
                    self.pending = DetailedResult(self.pending.name, self.pending.definition, self.pending.status,
                                                  value.strip(), self.pending.duration)
            elif lowered in ("requirement", "requirements"):
                self.details.requirements.extend(_keys(value))
            elif lowered in _TEXT_PROPERTIES:
                _property_rule(lowered, value, self.details)

    def end(self, tag: str) -> None:
        if tag == "test-case" and self.pending is not None and len(self.stack) == self.case_depth:
            self.out.append(self.pending)
            self.pending = None
            _attach(self.out, self.details)


def _listen(parser: Any, sink: Callable[[str], None] | None) -> None:
    """Send the parser's text to ``sink`` (None: nowhere)."""
    parser.CharacterDataHandler = sink


def _attach(out: list[TestResult], details: TestDetails) -> None:
    """Replace the last result with the same result carrying ``details``."""
    r = out[-1]
    out[-1] = DetailedResult(r.name, r.definition, r.status, r.key, r.duration, r.tags, details)


def _as_detailed(result: TestResult) -> DetailedResult:
    if isinstance(result, DetailedResult):
        return result
    return DetailedResult(result.name, result.definition, result.status, result.key, result.duration, result.tags)


def _text_field(test: dict[str, Any], name: str, where: str) -> str | None:
    value = test.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ReportError(f"{where}: \"{name}\" is a {type(value).__name__}, not a string",
                          f"write \"{name}\" as a JSON string")
    return value


def _string_list(value: Any, name: str, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ReportError(f"{where}: \"{name}\" must be a list of strings",
                          f"write \"{name}\" as a JSON array of strings, e.g. [\"CALC-1\"]")
    return list(value)


def xray_details(test: dict[str, Any], where: str, *, evidence_bytes: int = EVIDENCE_BYTES,
                 budget: EvidenceBudget | None = None) -> TestDetails:
    """The details of one entry of an Xray JSON ``tests`` array (``where`` names it in errors)."""
    budget = budget or EvidenceBudget(evidence_bytes, EVIDENCE_BUDGET)
    raw_info = test.get("testInfo")
    info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
    details = TestDetails(comment=_text_field(test, "comment", where),
                          started=_iso(_text_field(test, "start", where)),
                          finished=_iso(_text_field(test, "finish", where)),
                          executed_by=_text_field(test, "executedBy", where),
                          assignee=_text_field(test, "assignee", where),
                          defects=_string_list(test.get("defects"), "defects", where),
                          requirements=_string_list(info.get("requirementKeys"), "testInfo.requirementKeys", where),
                          labels=_string_list(info.get("labels"), "testInfo.labels", where))
    for name in ("evidence", "evidences"):
        items = test.get(name)
        if items is None:
            continue
        if not isinstance(items, list):
            raise ReportError(f"{where}: \"{name}\" must be a list",
                              "write evidence as [{\"data\": BASE64, \"filename\": \"a.png\"}]")
        for n, item in enumerate(items):
            spot = f"{where}: {name}[{n}]"
            if not isinstance(item, dict) or not isinstance(item.get("data"), str) \
                    or not isinstance(item.get("filename"), str) or not item["filename"].strip():
                raise ReportError(f"{spot} needs a string \"data\" (base64) and a \"filename\"",
                                  "write evidence as [{\"data\": BASE64, \"filename\": \"a.png\", "
                                  "\"contentType\": \"image/png\"}]")
            decoder = _Base64(f"{spot} ({item['filename']})", budget)
            decoder.feed(item["data"])
            decoder.close()
            kind = item.get("contentType")
            details.evidence.append(Evidence(item["filename"], kind if isinstance(kind, str) and kind
                                             else _content_type(item["filename"]), decoder.size,
                                             bytes(decoder.kept)))
    for listed in ("iterations", "examples"):
        if test.get(listed) is not None and not isinstance(test[listed], list):
            raise ReportError(f"{where}: \"{listed}\" must be a list", f"write \"{listed}\" as a JSON array")
    details.iterations = [i for i in test.get("iterations") or [] if isinstance(i, dict)]
    details.examples = list(test.get("examples") or [])
    fields_ = test.get("customFields")
    for item in fields_ if isinstance(fields_, list) else []:
        if isinstance(item, dict):
            ref = item.get("name") or item.get("id")
            value = item.get("value")
            if isinstance(ref, str | int) and not isinstance(ref, bool):
                values = value if isinstance(value, list) else [value]
                details.custom_fields[str(ref)] = [str(v) for v in values if v is not None]
    return details


def iter_enriched(source: str | os.PathLike[str] | BinaryIO, fmt: str, *, evidence_bytes: int = EVIDENCE_BYTES,
                  evidence_budget: int = EVIDENCE_BUDGET) -> Iterator[DetailedResult]:
    """Every test of the report, as :func:`~xray_tasks.formats.iter_results` finds them, with its details."""
    from xray_tasks.formats import _check_format

    label = _label(source)
    _check_format(fmt, label)
    if isinstance(source, (str, os.PathLike)):
        check_readable(source)
    budget = EvidenceBudget(evidence_bytes, evidence_budget)
    return _enriched(source, fmt, label, budget)


_DETAIL_READERS: dict[str, Callable[[str, Any, EvidenceBudget], _XmlReader]] = {
    "junit": _JUnitDetails, "testng": _TestNGDetails, "robot": _RobotDetails, "nunit": _NUnitDetails,
}


def _enriched(source: str | os.PathLike[str] | BinaryIO, fmt: str, label: str,
              budget: EvidenceBudget) -> Iterator[DetailedResult]:
    with _opened(source) as (stream, size):
        if fmt in XML_FORMATS:
            readers = {**_READERS}
            if fmt in _DETAIL_READERS:
                make = _DETAIL_READERS[fmt]
                readers[fmt] = lambda lbl, parser: make(lbl, parser, budget)
            for result in _iter_xml(stream, label, fmt, readers=readers):
                yield _as_detailed(result)
            return
        data = _load_json(stream, size, label, fmt)
    assert fmt in JSON_FORMATS
    if fmt != "xray":
        for result in _iter_gherkin(data, label, fmt):
            yield _as_detailed(result)
        return
    tests = data.get("tests", []) if isinstance(data, dict) else []
    for i, result in enumerate(_iter_xray(data, label)):
        details = xray_details(tests[i], f"{label}: tests[{i}]", budget=budget)
        yield DetailedResult(result.name, result.definition, result.status, result.key, result.duration, result.tags,
                             details)


def robot_keys(tags: list[str]) -> list[str]:
    """The tags that are issue keys, in order."""
    return [t for t in tags if _KEY_RE.fullmatch(t)]
