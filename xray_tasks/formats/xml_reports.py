"""Streaming the XML formats (JUnit, TestNG, Robot, NUnit, xUnit.net) through expat in fixed-size
chunks, keeping only what a :class:`TestResult` needs; DTD entities and external entities are refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO, ClassVar
from xml.parsers import expat

from xray_tasks.errors import ReportError
from xray_tasks.formats.base import (
    _KEY_RE,
    _OTHER_XML,
    _ROOTS_OF,
    _TEXT_LIMIT,
    _TRUNCATED_HINT,
    _XML_ROOTS,
    CHUNK_BYTES,
    FORMAT_LABELS,
    TestResult,
    _between,
    _seconds,
)
from xray_tasks.formats.detect import _decode_head, _entity_error, _local, sniff_format
from xray_tasks.formats.statuses import nunit2_status, nunit3_status, runner_status


class _XmlReader:
    """Turns expat events of one format into results; subclasses implement ``start`` and ``end``.

    In both, ``self.stack[-1]`` is the current element's local name and ``self.stack[-2]`` its parent's.
    """

    fmt: ClassVar[str]

    def __init__(self, label: str, parser: Any) -> None:
        self.label = label
        self.parser = parser
        self.stack: list[str] = []
        self.out: list[TestResult] = []
        self._text: list[str] | None = None
        self._text_len = 0

    # expat callbacks
    def on_start(self, name: str, attrs: dict[str, str]) -> None:
        tag = _local(name)
        if not self.stack:
            self.root(tag, name)
        self.stack.append(tag)
        self.start(tag, attrs)

    def on_end(self, name: str) -> None:
        self.end(self.stack[-1])
        self.stack.pop()

    def on_text(self, data: str) -> None:
        if self._text is not None and self._text_len < _TEXT_LIMIT:
            self._text.append(data)
            self._text_len += len(data)

    # helpers for subclasses
    def parent(self, level: int = 1) -> str:
        return self.stack[-1 - level] if len(self.stack) > level else ""

    def capture(self) -> None:
        self._text, self._text_len = [], 0
        self.parser.CharacterDataHandler = self.on_text

    def captured(self) -> str:
        text = "".join(self._text or ())[:_TEXT_LIMIT]
        self._text = None
        self.parser.CharacterDataHandler = None
        return text.strip()

    def root(self, tag: str, name: str) -> None:
        seen = _XML_ROOTS.get(tag)
        if seen == self.fmt:
            return
        line = self.parser.CurrentLineNumber
        if seen is not None:
            raise ReportError(f"{self.label} looks like {FORMAT_LABELS[seen]} (root <{name}>), "
                              f"not {FORMAT_LABELS[self.fmt]}",
                              f"pass --format {seen} (or auto), or point --report at the {self.fmt} report")
        other = _OTHER_XML.get(tag.lower())
        if other:
            raise ReportError(f"{self.label} is {other[0]} (root <{name}>), not {FORMAT_LABELS[self.fmt]}",
                              other[1])
        raise ReportError(f"{self.label} has root <{name}> at line {line}, not "
                          f"{_ROOTS_OF[self.fmt]}: it is not {FORMAT_LABELS[self.fmt]}",
                          f"point --report at the {FORMAT_LABELS[self.fmt]} report, or pass --format auto")

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        raise NotImplementedError

    def end(self, tag: str) -> None:
        raise NotImplementedError


class _JUnit(_XmlReader):
    """``<testcase classname name time>`` with ``<failure>``/``<error>``/``<skipped>`` children and an
    optional ``<properties><property name="test_key" value="CALC-2"/>`` (Xray's JUnit extension)."""

    fmt = "junit"

    def __init__(self, label: str, parser: Any) -> None:
        super().__init__(label, parser)
        self.suites: list[str] = []
        self.case: dict[str, Any] | None = None
        self.depth = 0
        self.key_property = False

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if self.case is None:
            if tag == "testsuite":
                self.suites.append(attrs.get("name", ""))
            elif tag == "testcase":
                self.case = {"name": attrs.get("name", ""), "classname": attrs.get("classname", ""),
                             "time": attrs.get("time"), "status": "passed", "key": None}
                self.depth = len(self.stack)
            return
        depth = len(self.stack) - self.depth
        if depth == 1 and tag in ("failure", "error"):
            self.case["status"] = "failed"
        elif depth == 1 and tag == "skipped" and self.case["status"] != "failed":
            self.case["status"] = "skipped"
        elif depth == 2 and tag == "property" and self.parent() == "properties" \
                and attrs.get("name") == "test_key" and self.case["key"] is None:
            value = attrs.get("value")
            if value is not None:
                self.case["key"] = value.strip() or None
            else:  # <property name="test_key">CALC-2</property>
                self.key_property = True
                self.capture()

    def end(self, tag: str) -> None:
        if self.case is None:
            if tag == "testsuite" and self.suites:
                self.suites.pop()
            return
        if self.key_property and tag == "property":
            self.case["key"] = self.captured() or None
            self.key_property = False
        elif tag == "testcase" and len(self.stack) == self.depth:
            case, self.case = self.case, None
            name, classname = case["name"], case["classname"]
            owner = classname or next((s for s in reversed(self.suites) if s), "")
            self.out.append(TestResult(name=name, definition=f"{owner}.{name}" if owner else name,
                                       status=case["status"], key=case["key"],
                                       duration=_seconds(case["time"])))


class _TestNG(_XmlReader):
    """``<class name><test-method status name duration-ms is-config>`` with an optional
    ``<attributes><attribute name="test">CALC-2</attribute>`` (TestNG's generateTestResultAttributes)."""

    fmt = "testng"

    def __init__(self, label: str, parser: Any) -> None:
        super().__init__(label, parser)
        self.cls = ""
        self.method: dict[str, Any] | None = None
        self.depth = 0
        self.key_attribute = False

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if self.method is None:
            if tag == "class":
                self.cls = attrs.get("name", "")
            elif tag == "test-method":
                self.method = {"name": attrs.get("name", ""), "status": attrs.get("status"),
                               "config": attrs.get("is-config", "").lower() == "true",
                               "ms": attrs.get("duration-ms"), "key": None}
                self.depth = len(self.stack)
            return
        if tag == "attribute" and self.parent() == "attributes" and len(self.stack) == self.depth + 2 \
                and attrs.get("name") == "test" and self.method["key"] is None:
            self.key_attribute = True
            self.capture()

    def end(self, tag: str) -> None:
        if self.method is None:
            return
        if self.key_attribute and tag == "attribute":
            self.method["key"] = self.captured() or None
            self.key_attribute = False
        elif tag == "test-method" and len(self.stack) == self.depth:
            method, self.method = self.method, None
            if method["config"]:  # @BeforeMethod and friends are not tests
                return
            name = method["name"]
            self.out.append(TestResult(name=name, definition=f"{self.cls}.{name}" if self.cls else name,
                                       status=runner_status(method["status"]),
                                       key=method["key"], duration=_seconds(method["ms"], 0.001)))


class _Robot(_XmlReader):
    """``<suite name>`` nesting, ``<test name>`` with its own ``<tag>`` and ``<status status>`` children
    (Robot 4-7; Robot 3's ``<tags><tag>`` works too)."""

    fmt = "robot"

    def __init__(self, label: str, parser: Any) -> None:
        super().__init__(label, parser)
        self.suites: list[str] = []
        self.test: dict[str, Any] | None = None
        self.depth = 0
        self.in_tag = False

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if self.test is None:
            if tag == "suite" and self.parent() in ("robot", "suite"):
                self.suites.append(attrs.get("name", ""))
            elif tag == "test" and self.parent() == "suite":
                self.test = {"name": attrs.get("name", ""), "tags": [], "status": None, "duration": None}
                self.depth = len(self.stack)
            return
        depth = len(self.stack) - self.depth
        if tag == "status" and depth == 1:
            self.test["status"] = attrs.get("status")
            elapsed = attrs.get("elapsed")  # Robot 7
            self.test["duration"] = (_seconds(elapsed) if elapsed is not None else
                                     _between(attrs.get("starttime"), attrs.get("endtime"),
                                              "%Y%m%d %H:%M:%S.%f"))
        elif tag == "tag" and (depth == 1 or (depth == 2 and self.parent() == "tags")):
            self.in_tag = True
            self.capture()

    def end(self, tag: str) -> None:
        if self.test is None:
            if tag == "suite" and self.parent() in ("robot", "suite") and self.suites:
                self.suites.pop()
            return
        if self.in_tag and tag == "tag":
            self.test["tags"].append(self.captured())
            self.in_tag = False
        elif tag == "test" and len(self.stack) == self.depth:
            test, self.test = self.test, None
            key = next((t for t in test["tags"] if _KEY_RE.fullmatch(t)), None)
            self.out.append(TestResult(name=test["name"], definition=".".join([*self.suites, test["name"]]),
                                       status=runner_status(test["status"]), key=key,
                                       duration=test["duration"]))


class _NUnit(_XmlReader):
    """NUnit 3 ``<test-case name fullname result duration>`` under ``<test-run>``, or NUnit 2.x
    ``<test-case name="Full.Name" executed result time>`` under ``<test-results>``."""

    fmt = "nunit"

    def __init__(self, label: str, parser: Any) -> None:
        super().__init__(label, parser)
        self.version = 3

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if len(self.stack) == 1:
            self.version = 2 if tag == "test-results" else 3
        if tag != "test-case":
            return
        if self.version == 3:
            name = attrs.get("name", "")
            classname = attrs.get("classname", "")
            full = attrs.get("fullname") or (f"{classname}.{name}" if classname else name)
            status = nunit3_status(attrs.get("result"), attrs.get("label"))
            duration = _seconds(attrs.get("duration"))
        else:
            full = attrs.get("name", "")
            head, paren, args = full.partition("(")
            name = head.rsplit(".", 1)[-1] + paren + args
            executed = attrs.get("executed", "True").lower() == "true"
            status = nunit2_status(attrs.get("result"), executed)
            duration = _seconds(attrs.get("time"))
        self.out.append(TestResult(name=name, definition=full, status=status, duration=duration))

    def end(self, tag: str) -> None:
        pass


class _XUnit(_XmlReader):
    """xUnit.net ``<test name type method result time>`` (v2 under ``<collection>``, v1 under
    ``<class>``)."""

    fmt = "xunit"

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if tag != "test" or self.parent() not in ("collection", "class"):
            return
        full = attrs.get("name", "")
        owner = attrs.get("type", "")
        name = full[len(owner) + 1:] if owner and full.startswith(owner + ".") else full
        self.out.append(TestResult(name=name or attrs.get("method", ""), definition=full,
                                   status=runner_status(attrs.get("result")),
                                   duration=_seconds(attrs.get("time"))))

    def end(self, tag: str) -> None:
        pass


_READERS: dict[str, Callable[[str, Any], _XmlReader]] = {
    "junit": _JUnit, "testng": _TestNG, "robot": _Robot, "nunit": _NUnit, "xunit": _XUnit,
}


def _iter_xml(stream: BinaryIO, label: str, fmt: str, *, first_only: bool = False,
              readers: Mapping[str, Callable[[str, Any], _XmlReader]] = _READERS) -> Iterator[TestResult]:
    """Results of an XML report, chunk by chunk.

    With ``first_only``, the first chunk's results are yielded and the Python callbacks are then
    dropped: the rest of the document is still checked by expat (well-formed, no entities) at C speed.
    ``readers`` lets :mod:`xray_tasks.formats.enriched` read more of each test with its own readers.
    """
    parser = expat.ParserCreate()
    parser.buffer_text = True
    reader = readers[fmt](label, parser)

    def refuse_entities(*_args: object) -> None:
        raise _entity_error(label, parser.CurrentLineNumber)

    def refuse_external(*_args: object) -> int:
        raise _entity_error(label, parser.CurrentLineNumber)

    parser.EntityDeclHandler = refuse_entities
    parser.UnparsedEntityDeclHandler = refuse_entities
    parser.ExternalEntityRefHandler = refuse_external
    parser.StartElementHandler = reader.on_start
    parser.EndElementHandler = reader.on_end

    first = True
    try:
        while True:
            chunk = stream.read(CHUNK_BYTES)
            if first:
                _check_xml_head(chunk, label, fmt)
                first = False
            if not chunk:
                break
            parser.Parse(chunk, False)
            if reader.out:
                done, reader.out = reader.out, []
                yield from done
                if first_only:
                    parser.StartElementHandler = parser.EndElementHandler = None
                    parser.CharacterDataHandler = None
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        message = expat.errors.messages.get(exc.code, str(exc))
        truncated = exc.code in _TRUNCATION_CODES
        raise ReportError(f"{label} is not well-formed XML: {message} at line {exc.lineno}, "
                          f"column {exc.offset + 1}",
                          _TRUNCATED_HINT if truncated else
                          "the file is damaged or was not written by a test runner; regenerate it, "
                          "or check it with an XML validator") from None
    except OSError as exc:
        raise ReportError(f"report {label} cannot be read: {exc.strerror or exc}",
                          "check that the file is complete and the disk is reachable") from None
    yield from reader.out


_TRUNCATION_CODES = {expat.errors.codes[m] for m in (expat.errors.XML_ERROR_NO_ELEMENTS,
                                                      expat.errors.XML_ERROR_UNCLOSED_TOKEN,
                                                      expat.errors.XML_ERROR_UNCLOSED_CDATA_SECTION,
                                                      expat.errors.XML_ERROR_PARTIAL_CHAR)}


def _check_xml_head(chunk: bytes, label: str, fmt: str) -> None:
    """Clear errors for content that is not XML at all, before expat says "syntax error"."""
    if not chunk:
        raise ReportError(f"report {label} is empty (0 bytes)",
                          "the test run may have crashed before writing results; run the tests again")
    text = _decode_head(chunk)
    if text is None:
        raise ReportError(f"{label} is binary data, not {FORMAT_LABELS[fmt]}",
                          "point --report at the XML report the test run writes")
    stripped = text.lstrip()
    if not stripped:
        raise ReportError(f"{label} holds only whitespace, not {FORMAT_LABELS[fmt]}",
                          "the test run may have crashed before writing results; run the tests again")
    if not stripped.startswith("<"):
        seen = sniff_format(chunk)
        if seen:
            raise ReportError(f"{label} looks like {FORMAT_LABELS[seen]}, not {FORMAT_LABELS[fmt]}",
                              f"pass --format {seen} (or auto), or point --report at the {fmt} report")
        raise ReportError(f"{label} is not XML (it starts with {stripped[:20]!r}), "
                          f"so not {FORMAT_LABELS[fmt]}",
                          f"point --report at the {FORMAT_LABELS[fmt]} report")
