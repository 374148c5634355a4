"""The report formats Xray imports: recognise them from their content, stream their results, count them.

One module for the client (format detection, the ``report`` template variable, validation before a
request) and for the local Xray stand-in (which turns an imported report into Tests and Test Runs).

* :func:`sniff_format` looks at the first bytes of a file's *content* (never its name);
  :func:`detect_format` does the same for a file on disk and explains what is wrong when it cannot.
* :func:`iter_results` yields one :class:`TestResult` per test the way Xray maps reports to Tests
  (docs: "How results are mapped to Test entities"): JUnit ``classname.name``, TestNG ``class.method``,
  Robot ``Suite.Sub.Test``, NUnit ``fullname``, xUnit.net ``name``, Cucumber/Behave
  ``feature: scenario``, Xray JSON ``testKey`` / ``testInfo``.
* :func:`summarize` counts them by status.

XML is streamed through expat in fixed-size chunks and only the few values we need are kept, so memory
stays flat on a report of hundreds of megabytes. The expat parser refuses DTD entity declarations and
external entities (billion laughs, XXE), the way defusedxml does; nothing is ever fetched from the
network. JSON is read whole, up to :data:`JSON_LIMIT` bytes.

Every problem is a :class:`~xray_tasks.errors.ReportError` whose message is one line naming the file,
with a hint saying how to fix it.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import stat
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, ClassVar
from xml.parsers import expat

from xray_tasks.errors import ReportError

__all__ = [
    "FORMATS",
    "FORMAT_LABELS",
    "HEAD_BYTES",
    "JSON_FORMATS",
    "JSON_LIMIT",
    "XML_FORMATS",
    "ReportSummary",
    "TestResult",
    "check_readable",
    "detect_format",
    "has_tests",
    "iter_results",
    "sniff_format",
    "summarize",
]

FORMATS: tuple[str, ...] = ("xray", "cucumber", "behave", "junit", "testng", "nunit", "xunit", "robot")
JSON_FORMATS: frozenset[str] = frozenset({"xray", "cucumber", "behave"})
XML_FORMATS: frozenset[str] = frozenset({"junit", "testng", "nunit", "xunit", "robot"})
FORMAT_LABELS: dict[str, str] = {
    "xray": "Xray JSON",
    "cucumber": "Cucumber JSON",
    "behave": "Behave JSON",
    "junit": "JUnit XML",
    "testng": "TestNG XML",
    "nunit": "NUnit XML",
    "xunit": "xUnit.net XML",
    "robot": "Robot Framework XML",
}
#: how much of a file :func:`detect_format` reads first
HEAD_BYTES = 64 * 1024
#: how far :func:`detect_format` may read when the head leaves a JSON report ambiguous
DETECT_LIMIT = 8 * 1024 * 1024
#: JSON reports are parsed whole; bigger ones are refused
JSON_LIMIT = 512 * 1024 * 1024
#: bytes fed to the XML parser at a time
CHUNK_BYTES = 64 * 1024
#: most characters kept of one captured XML text (a key, a tag), so a huge text never fills memory
_TEXT_LIMIT = 4096

#: XML root element (local name) -> format
_XML_ROOTS: dict[str, str] = {
    "testsuites": "junit",  # pytest, Surefire, Jest, Robot's --xunit, ...
    "testsuite": "junit",
    "testng-results": "testng",
    "test-run": "nunit",  # NUnit 3
    "test-results": "nunit",  # NUnit 2.x
    "assemblies": "xunit",  # xUnit.net v2
    "assembly": "xunit",  # xUnit.net v1 / a single v2 assembly
    "robot": "robot",
}
_ROOTS_OF: dict[str, str] = {
    "junit": "<testsuites> or <testsuite>",
    "testng": "<testng-results>",
    "nunit": "<test-run> (NUnit 3) or <test-results> (NUnit 2)",
    "xunit": "<assemblies> or <assembly>",
    "robot": "<robot>",
}
#: XML files people point at by mistake -> (what it is, hint)
_OTHER_XML: dict[str, tuple[str, str]] = {
    "html": ("an HTML page", "point --report at the XML or JSON report, not the HTML one"),
    "suite": ("a TestNG suite definition (testng.xml), not TestNG results",
              "point --report at test-output/testng-results.xml"),
    "coverage": ("a coverage report", "point --report at the test results, not the coverage report"),
    "report": ("a coverage report", "point --report at the test results, not the coverage report"),
    "project": ("a Maven POM", "point --report at target/surefire-reports/*.xml"),
    "checkstyle": ("a Checkstyle report", "point --report at the test results"),
}
#: a Jira issue key as Robot tags and Xray properties carry it
_KEY_RE = re.compile(r"[A-Z][A-Z0-9_]+-\d+")
#: a Gherkin tag naming a Test: @TEST_CALC-47 or @CALC-47 (without the @)
_GHERKIN_KEY_RE = re.compile(r"(?:TEST_)?([A-Z][A-Z0-9_]+-\d+)")
_XML_NAME_RE = re.compile(r"[^\s/>!?<\"'=]+")
_JSON_TOKEN_RE = re.compile(r'\s*(?:("[^"\\]*(?:\\.[^"\\]*)*")|([{}\[\],:])|([^\s{}\[\],:"]+))', re.S)
_XML_ENCODING_RE = re.compile(rb"""\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]*)["']""")

_TRUNCATED_HINT = ("the file ends too early: did the test run finish writing it "
                   "(killed, timed out, disk full)? run the tests again")


@dataclass(frozen=True, slots=True)
class TestResult:
    """One test of a report, identified the way Xray identifies it."""

    __test__: ClassVar[bool] = False  # not a pytest test class, despite its name

    name: str
    definition: str
    status: str
    key: str | None = None
    duration: float | None = None


@dataclass(frozen=True, slots=True)
class ReportSummary:
    """How many tests a report holds, by normalised status."""

    format: str
    tests: int
    totals: dict[str, int]


# ---------------------------------------------------------------------------------------------------
# files


def check_readable(path: str | os.PathLike[str]) -> int:
    """The size of the report at ``path`` in bytes; ReportError if it is missing, a folder, unreadable or
    empty."""
    name = os.fspath(path)
    try:
        st = os.stat(name)
    except (FileNotFoundError, NotADirectoryError):
        raise ReportError(f"report {name} does not exist",
                          "is the test run writing its report to this path? "
                          "check --report and the runner's output option") from None
    except PermissionError:
        raise ReportError(f"report {name} cannot be read: permission denied",
                          "check the permissions of the file and its folders") from None
    except OSError as exc:
        raise ReportError(f"report {name} cannot be read: {exc.strerror or exc}",
                          "check that the path is right and the disk is reachable") from None
    if stat.S_ISDIR(st.st_mode):
        inside = sorted(p.name for p in Path(name).glob("*") if p.suffix.lower() in (".xml", ".json"))[:3]
        example = f" (it holds {', '.join(inside)})" if inside else ""
        raise ReportError(f"report {name} is a directory, not a file{example}",
                          "point --report at the report file inside it, or use a glob like dir/*.xml")
    if not stat.S_ISREG(st.st_mode):
        raise ReportError(f"report {name} is not a regular file",
                          "write the report to a file first and pass that file")
    try:
        with open(name, "rb") as fh:
            fh.read(1)
    except PermissionError:
        raise ReportError(f"report {name} cannot be read: permission denied",
                          "check the permissions of the file (e.g. chmod a+r)") from None
    except OSError as exc:
        raise ReportError(f"report {name} cannot be read: {exc.strerror or exc}",
                          "check that the file is complete and the disk is reachable") from None
    if st.st_size == 0:
        raise ReportError(f"report {name} is empty (0 bytes)",
                          "the test run may have crashed before writing results; run the tests again")
    return st.st_size


def _label(source: str | os.PathLike[str] | BinaryIO) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) and name else "<report stream>"


@contextmanager
def _opened(source: str | os.PathLike[str] | BinaryIO) -> Iterator[tuple[BinaryIO, int | None]]:
    """(binary stream, size when known) for a path or an open binary file."""
    if isinstance(source, (str, os.PathLike)):
        size = check_readable(source)
        name = os.fspath(source)
        try:
            fh = open(name, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise ReportError(f"report {name} cannot be read: {exc.strerror or exc}",
                              "check the permissions of the file") from None
        with fh:
            yield fh, size
        return
    known: int | None = None
    try:  # io.UnsupportedOperation (no file descriptor) is both an OSError and a ValueError
        st = os.fstat(source.fileno())
        if stat.S_ISREG(st.st_mode):
            known = st.st_size - source.tell()
    except (AttributeError, OSError, ValueError):
        known = None
    yield source, known


# ---------------------------------------------------------------------------------------------------
# detection


def _decode_head(head: bytes) -> str | None:
    """The head as text (BOM removed), or None if it is binary."""
    if head.startswith(codecs.BOM_UTF8):
        encoding, head = "utf-8", head[3:]
    elif head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        encoding = "utf-32"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif head[:2] == b"<\x00":
        encoding = "utf-16-le"
    elif head[:2] == b"\x00<":
        encoding = "utf-16-be"
    else:
        encoding = "utf-8"
        declared = _XML_ENCODING_RE.match(head)  # e.g. an ISO-8859-1 report with accented names
        if declared:
            with suppress(LookupError):
                named = codecs.lookup(declared.group(1).decode("ascii")).name
                # a UTF-16/32 declaration without a BOM or "<\0" is wrong: the bytes are 8-bit here
                encoding = encoding if named.startswith(("utf-16", "utf-32")) else named
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=False)
    text = text.lstrip("\ufeff")
    if "\x00" in text:
        return None
    sample = text[:4096]
    bad = sum(1 for ch in sample if ch == "\ufffd" or (ch < " " and ch not in "\t\n\r\f"))
    if sample and bad > max(4, len(sample) // 50):
        return None
    return text


def _xml_prolog(text: str) -> tuple[str | None, bool]:
    """(root element name as written, whether the prolog declares entities) of XML text; the name is
    None when the head ends before the root element or the text is not XML."""
    pos, n, entities = 0, len(text), False
    while True:
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
        if text.startswith("<?", pos):
            end = text.find("?>", pos + 2)
            if end < 0:
                return None, entities
            pos = end + 2
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos + 4)
            if end < 0:
                return None, entities
            pos = end + 3
        elif text.startswith("<!DOCTYPE", pos):
            i, quote, subset = pos + 9, "", False
            while i < n:
                ch = text[i]
                if quote:
                    if ch == quote:
                        quote = ""
                elif ch in "\"'":
                    quote = ch
                elif ch == "[":
                    subset = True
                elif ch == "]":
                    subset = False
                elif ch == ">" and not subset:
                    break
                i += 1
            else:
                return None, "<!ENTITY" in text[pos:]
            entities = entities or "<!ENTITY" in text[pos:i]
            pos = i + 1
        elif text.startswith("<", pos):
            m = _XML_NAME_RE.match(text, pos + 1)
            return (m.group(0) if m else None), entities
        else:
            return None, entities


def _local(name: str) -> str:
    return name.rpartition(":")[2]


class _Shape:
    """Which keys occur where in a JSON document: enough to tell Xray, Cucumber and Behave JSON apart.

    A path is the chain of object keys from the root, ignoring array positions: the features of a
    Cucumber report are objects at ``()``, its scenarios at ``("elements",)``, their steps at
    ``("elements", "steps")``.
    """

    def __init__(self) -> None:
        self.root: str | None = None  # "object", "array" or "scalar"
        self.keys: set[tuple[tuple[str, ...], str]] = set()
        self.items: dict[tuple[str, ...], set[str]] = {}  # array path -> kinds of its items

    def at(self, *path: str) -> set[str]:
        return {k for p, k in self.keys if p == path}

    @classmethod
    def of_text(cls, text: str) -> _Shape:
        """The shape of (possibly truncated) JSON text, scanned without parsing it whole."""
        shape = cls()
        stack: list[tuple[str, tuple[str, ...]]] = []  # (kind "o"/"a", path)
        want_key, last_key, pos, n = False, "", 0, len(text)
        while pos < n:
            m = _JSON_TOKEN_RE.match(text, pos)
            if m is None:
                break
            pos = m.end()
            string, punct, scalar = m.groups()
            if string is not None:
                if stack and stack[-1][0] == "o" and want_key:
                    try:
                        last_key = json.loads(string)
                    except ValueError:
                        last_key = string[1:-1]
                    shape.keys.add((stack[-1][1], last_key))
                    want_key = False
                else:
                    shape._item(stack, "str")
            elif punct in ("{", "["):
                shape._item(stack, "obj" if punct == "{" else "arr")
                if not stack:
                    path: tuple[str, ...] = ()
                    shape.root = "object" if punct == "{" else "array"
                elif stack[-1][0] == "o":
                    path = (*stack[-1][1], last_key)
                else:
                    path = stack[-1][1]
                stack.append(("o" if punct == "{" else "a", path))
                want_key = punct == "{"
            elif punct in ("}", "]"):
                if stack:
                    stack.pop()
                want_key = False
            elif punct == ",":
                want_key = bool(stack) and stack[-1][0] == "o"
            elif punct == ":":
                want_key = False
            elif scalar is not None:
                if not stack and shape.root is None:
                    shape.root = "scalar"
                shape._item(stack, "scalar")
        return shape

    def _item(self, stack: list[tuple[str, tuple[str, ...]]], kind: str) -> None:
        if stack and stack[-1][0] == "a":
            self.items.setdefault(stack[-1][1], set()).add(kind)

    @classmethod
    def of_data(cls, data: Any, budget: int = 2000) -> _Shape:
        """The shape of parsed JSON, looking at no more than ``budget`` values."""
        shape = cls()
        shape.root = "object" if isinstance(data, dict) else "array" if isinstance(data, list) else "scalar"
        todo: deque[tuple[Any, tuple[str, ...]]] = deque([(data, ())])
        while todo and budget > 0:
            value, path = todo.popleft()
            budget -= 1
            if isinstance(value, dict):
                for key, child in value.items():
                    shape.keys.add((path, key))
                    if isinstance(child, (dict, list)):
                        todo.append((child, (*path, key)))
            elif isinstance(value, list):
                kinds = shape.items.setdefault(path, set())
                for child in value[:20]:
                    kinds.add("obj" if isinstance(child, dict) else "arr" if isinstance(child, list)
                              else "str" if isinstance(child, str) else "scalar")
                    if isinstance(child, (dict, list)):
                        todo.append((child, path))
        return shape

    def classify(self) -> str | None:
        """The format this shape shows: a format name, "features" (Cucumber or Behave, can't tell which)
        or None."""
        if self.root == "object":
            return "xray" if self.at() & {"tests", "info", "testExecutionKey"} else None
        if self.root != "array" or self.items.get(()) != {"obj"}:
            return None
        feature, element, step = self.at(), self.at("elements"), self.at("elements", "steps")
        if not feature & {"elements", "keyword"}:
            return None
        # Behave (behave -f json): features and scenarios carry "location" ("x.feature:3") and "status",
        # steps carry "step_type", tags are plain strings. Cucumber (cucumber-js, -jvm, Ruby): features
        # carry "uri" and "id", scenarios "id" and "line", steps "line", tags are {"name", "line"} objects.
        behave = bool(feature & {"location", "status"} or element & {"location", "status"}
                      or "step_type" in step or "str" in self.items.get(("tags",), set())
                      or "str" in self.items.get(("elements", "tags"), set()))
        cucumber = bool(feature & {"uri", "id"} or element & {"id", "line"} or "line" in step
                        or "obj" in self.items.get(("tags",), set())
                        or "obj" in self.items.get(("elements", "tags"), set()))
        if behave != cucumber:
            return "behave" if behave else "cucumber"
        return "features"


def sniff_format(head: bytes) -> str | None:
    """The report format the first bytes of a file's content show, or None if they show none."""
    text = _decode_head(head)
    if text is None:
        return None
    text = text.lstrip()
    if text.startswith("<"):
        root, _ = _xml_prolog(text)
        return _XML_ROOTS.get(_local(root)) if root else None
    if text.startswith(("{", "[")):
        kind = _Shape.of_text(text).classify()
        return kind if kind in FORMATS else None
    return None


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format of the report at ``path``, from its content; ReportError when it is none Xray imports."""
    name = os.fspath(path)
    size = check_readable(name)
    try:
        with open(name, "rb") as fh:
            head = fh.read(HEAD_BYTES)
            fmt = sniff_format(head)
            text = _decode_head(head)
            if fmt is None and text is not None and text.lstrip()[:1] in ("{", "[") and size > len(head):
                head += fh.read(DETECT_LIMIT - len(head))  # a JSON head that leaves the format open
                fmt = sniff_format(head)
                text = _decode_head(head)
    except OSError as exc:
        raise ReportError(f"report {name} cannot be read: {exc.strerror or exc}",
                          "check the permissions of the file") from None
    whole = len(head) >= size
    if text is not None and text.lstrip().startswith("<"):
        root, entities = _xml_prolog(text.lstrip())
        if entities:
            raise _entity_error(name)
        if fmt is None:
            raise _unknown_xml(name, root)
        return fmt
    if fmt is not None:
        if whole and fmt in JSON_FORMATS:
            _parse_json(head, name)  # small enough to check now that it is complete, valid JSON
        return fmt
    raise _unknown_content(name, head, text, whole)


def _unknown_xml(name: str, root: str | None) -> ReportError:
    if root is None:
        return ReportError(f"{name} starts like XML but no root element was found in its first "
                           f"{HEAD_BYTES // 1024} KiB",
                           "check that the file is a test report; pass --format if it is one")
    what = _OTHER_XML.get(_local(root).lower())
    if what:
        return ReportError(f"{name} is {what[0]} (root <{root}>), not a test report Xray imports", what[1])
    return ReportError(f"{name} is XML with root <{root}>, which is no report format Xray imports",
                       "Xray imports JUnit (<testsuites>/<testsuite>), TestNG (<testng-results>), NUnit "
                       "(<test-run>/<test-results>), xUnit.net (<assemblies>) and Robot (<robot>) XML; "
                       "point --report at such a file")


def _unknown_content(name: str, head: bytes, text: str | None, whole: bool) -> ReportError:
    if text is None:
        return ReportError(f"{name} is binary data, not a test report",
                           "point --report at the XML or JSON report the test run writes "
                           "(is it compressed or a screenshot?)")
    stripped = text.strip()
    if not stripped:
        return ReportError(f"{name} holds only whitespace, no report",
                           "the test run may have crashed before writing results; run the tests again")
    if stripped[0] in "{[":
        if whole:
            data = _parse_json(head, name)
            return _not_a_report(name, data, None)
        return ReportError(f"{name} is JSON but not a report format Xray imports (no Xray JSON object, no "
                           f"Cucumber or Behave features in its first {DETECT_LIMIT // (1024 * 1024)} MiB)",
                           "pass --format xray, cucumber or behave if it is one of them")
    return ReportError(f"{name} is neither XML nor JSON (it starts with {stripped[:20]!r})",
                       "point --report at the XML or JSON report the test run writes, "
                       "e.g. pytest --junitxml=report.xml")


def _not_a_report(name: str, data: Any, fmt: str | None) -> ReportError:
    """The error for parsed JSON that is not the report ``fmt`` (or any report, when None)."""
    wanted = FORMAT_LABELS[fmt] if fmt else "a test report"
    kind = _Shape.of_data(data).classify()
    if fmt and kind in FORMATS and kind != fmt:
        return ReportError(f"{name} looks like {FORMAT_LABELS[kind]}, not {wanted}",
                           f"pass --format {kind} (or auto), or point --report at the {fmt} report")
    if isinstance(data, dict):
        what = "a JSON object without tests, info or testExecutionKey"
    elif isinstance(data, list) and not data:
        what = "an empty JSON list (no features)"
    elif isinstance(data, list):
        what = "a JSON list that holds no Cucumber or Behave features (objects with elements)"
    else:
        what = f"a single JSON {type(data).__name__}"
    return ReportError(f"{name} is {what}, not {wanted}",
                       "Xray JSON is an object with tests (and info or testExecutionKey); Cucumber and "
                       "Behave JSON are lists of features; point --report at such a report")


def _entity_error(name: str, line: int | None = None) -> ReportError:
    where = f" (line {line})" if line else ""
    return ReportError(f"{name} declares XML entities in a DOCTYPE{where}; refused, as entity expansion "
                       "can exhaust memory (billion laughs) or read other files (XXE)",
                       "test runners never write entity declarations: regenerate the report with the "
                       "test runner, or remove the DOCTYPE")


# ---------------------------------------------------------------------------------------------------
# status helpers


def _status(raw: str | None, mapping: dict[str, str], default: str = "todo") -> str:
    if raw is None or not raw.strip():
        return default
    value = raw.strip()
    return mapping.get(value.upper(), value.lower())


_XRAY_STATUS = {"PASSED": "passed", "PASS": "passed", "FAILED": "failed", "FAIL": "failed",
                "TODO": "todo", "SKIPPED": "skipped", "SKIP": "skipped"}
_TESTNG_STATUS = {"PASS": "passed", "FAIL": "failed", "SKIP": "skipped"}
_ROBOT_STATUS = {"PASS": "passed", "FAIL": "failed", "SKIP": "skipped"}
_NUNIT3_STATUS = {"PASSED": "passed", "FAILED": "failed", "SKIPPED": "skipped"}
_NUNIT2_STATUS = {"SUCCESS": "passed", "FAILURE": "failed", "ERROR": "failed", "IGNORED": "skipped",
                  "SKIPPED": "skipped"}
_XUNIT_STATUS = {"PASS": "passed", "FAIL": "failed", "SKIP": "skipped"}


def _seconds(value: str | None, scale: float = 1.0) -> float | None:
    if value is None:
        return None
    text = value.strip()
    text = text.replace(",", ".") if "," in text and "." not in text else text.replace(",", "")
    try:
        seconds = float(text) * scale
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _between(start: str | None, end: str | None, fmt: str | None = None) -> float | None:
    if not start or not end:
        return None
    try:
        if fmt:
            a, b = datetime.strptime(start, fmt), datetime.strptime(end, fmt)
        else:
            a, b = datetime.fromisoformat(start), datetime.fromisoformat(end)
        seconds = (b - a).total_seconds()
    except (ValueError, TypeError):
        return None
    return seconds if seconds >= 0 else None


# ---------------------------------------------------------------------------------------------------
# XML


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
                                       status=_status(method["status"], _TESTNG_STATUS),
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
                                       status=_status(test["status"], _ROBOT_STATUS), key=key,
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
            status = _status(attrs.get("result"), _NUNIT3_STATUS)
            duration = _seconds(attrs.get("duration"))
        else:
            full = attrs.get("name", "")
            head, paren, args = full.partition("(")
            name = head.rsplit(".", 1)[-1] + paren + args
            executed = attrs.get("executed", "True").lower() == "true"
            status = _status(attrs.get("result"), _NUNIT2_STATUS, "passed" if executed else "skipped")
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
                                   status=_status(attrs.get("result"), _XUNIT_STATUS),
                                   duration=_seconds(attrs.get("time"))))

    def end(self, tag: str) -> None:
        pass


_READERS: dict[str, Callable[[str, Any], _XmlReader]] = {
    "junit": _JUnit, "testng": _TestNG, "robot": _Robot, "nunit": _NUnit, "xunit": _XUnit,
}


def _iter_xml(stream: BinaryIO, label: str, fmt: str, *, first_only: bool = False) -> Iterator[TestResult]:
    """Results of an XML report, chunk by chunk.

    With ``first_only``, the first chunk's results are yielded and the Python callbacks are then
    dropped: the rest of the document is still checked by expat (well-formed, no entities) at C speed.
    """
    parser = expat.ParserCreate()
    parser.buffer_text = True
    reader = _READERS[fmt](label, parser)

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


# ---------------------------------------------------------------------------------------------------
# JSON


def _parse_json(raw: bytes, label: str) -> Any:
    try:
        text = raw.decode(json.detect_encoding(raw))
    except UnicodeDecodeError as exc:
        raise ReportError(f"{label} is not valid UTF-8/UTF-16 text (bad byte at offset {exc.start})",
                          "write the report as UTF-8; is the file binary or truncated?") from None
    text = text.lstrip("\ufeff")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(text.rstrip())
        raise ReportError(f"{label} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                          _TRUNCATED_HINT if truncated else
                          "the file is damaged or was not written by a test runner; regenerate it") from None
    except RecursionError:
        raise ReportError(f"{label} is not usable JSON: it is nested too deeply",
                          "regenerate the report with the test runner") from None


def _load_json(stream: BinaryIO, size: int | None, label: str, fmt: str) -> Any:
    limit = f"{JSON_LIMIT // (1024 * 1024)} MiB"
    hint = "split the test run into several reports, or use an XML format, which is streamed"
    if size is not None and size > JSON_LIMIT:
        raise ReportError(f"{label} is too large for a JSON report ({size / (1 << 20):.0f} MiB, the limit is "
                          f"{limit})", hint)
    try:
        raw = stream.read(JSON_LIMIT + 1)
    except OSError as exc:
        raise ReportError(f"report {label} cannot be read: {exc.strerror or exc}",
                          "check that the file is complete and the disk is reachable") from None
    if len(raw) > JSON_LIMIT:
        raise ReportError(f"{label} is too large for a JSON report (over {limit})", hint)
    if not raw:
        raise ReportError(f"report {label} is empty (0 bytes)",
                          "the test run may have crashed before writing results; run the tests again")
    text = _decode_head(raw[:HEAD_BYTES])
    if text is None:
        raise ReportError(f"{label} is binary data, not {FORMAT_LABELS[fmt]}",
                          "point --report at the JSON report the test run writes")
    stripped = text.lstrip()
    if stripped.startswith("<"):
        seen = sniff_format(raw[:HEAD_BYTES])
        if seen:
            raise ReportError(f"{label} looks like {FORMAT_LABELS[seen]}, not {FORMAT_LABELS[fmt]}",
                              f"pass --format {seen} (or auto), or point --report at the {fmt} report")
        raise ReportError(f"{label} is XML, not {FORMAT_LABELS[fmt]}",
                          f"point --report at the {FORMAT_LABELS[fmt]} report")
    return _parse_json(raw, label)


def _iter_xray(data: Any, label: str) -> Iterator[TestResult]:
    if not isinstance(data, dict) or _Shape.of_data(data).classify() != "xray":
        raise _not_a_report(label, data, "xray")
    tests = data.get("tests", [])
    if not isinstance(tests, list):
        raise ReportError(f"{label}: \"tests\" is a {type(tests).__name__}, not a list",
                          "Xray JSON holds its results in a list: \"tests\": [{...}, ...]")
    for i, test in enumerate(tests):
        if not isinstance(test, dict):
            raise ReportError(f"{label}: tests[{i}] is a {type(test).__name__}, not an object",
                              "each entry of \"tests\" is an object with at least a status")
        status = test.get("status")
        if not isinstance(status, str) or not status.strip():
            raise ReportError(f"{label}: tests[{i}] has no status",
                              "Xray requires a status on every test (PASSED, FAILED, TODO, EXECUTING, ...)")
        key, info = test.get("testKey"), test.get("testInfo")
        key = key if isinstance(key, str) else None
        info = info if isinstance(info, dict) else {}
        summary, definition = info.get("summary"), info.get("definition")
        summary = summary if isinstance(summary, str) else None
        definition = definition if isinstance(definition, str) else None
        name = key or summary or definition or f"tests[{i}]"
        yield TestResult(name=name, definition=definition or key or summary or name,
                         status=_status(status, _XRAY_STATUS), key=key or None,
                         duration=_between(test.get("start"), test.get("finish")))


#: step (and hook) statuses that fail a scenario; behave writes "error" for exceptions other than
#: assertion failures, "hook_error" for failing hooks, cucumber "ambiguous" for two matching steps
_FAILING = {"failed", "error", "hook_error", "ambiguous"}


def _tag_names(tags: Any) -> list[str]:
    names: list[str] = []
    for tag in tags if isinstance(tags, list) else ():
        name = tag.get("name") if isinstance(tag, dict) else tag
        if isinstance(name, str):
            names.append(name.strip().lstrip("@"))
    return names


def _scenario_status(element: dict[str, Any]) -> str:
    """The status of a scenario from its steps and hooks.

    Chosen rule (Cucumber's own, "the worst step wins"): failed if any step or hook failed (or errored /
    was ambiguous); passed if every step passed (a scenario without steps passes); otherwise skipped:
    steps that are undefined, pending, skipped, or have no result (behave writes none for untested
    steps) leave the scenario unfinished, which we count as skipped. A Behave "hook_error" status on the
    scenario itself fails it too.
    """
    statuses: list[str] = []
    for part in ("before", "steps", "after"):
        items = element.get(part)
        for item in items if isinstance(items, list) else ():
            result = item.get("result") if isinstance(item, dict) else None
            status = result.get("status") if isinstance(result, dict) else None
            if part == "steps" or status is not None:
                statuses.append(status.lower() if isinstance(status, str) else "untested")
    own = element.get("status")
    own = own.lower() if isinstance(own, str) else None
    if any(s in _FAILING for s in statuses) or own == "hook_error":
        return "failed"
    if not statuses:  # no steps, no hooks: trust the scenario's own status when there is one
        return "passed" if own in (None, "passed") else "failed" if own in _FAILING else "skipped"
    return "passed" if all(s == "passed" for s in statuses) else "skipped"


def _iter_gherkin(data: Any, label: str, fmt: str) -> Iterator[TestResult]:
    if data == []:  # a run that found no features writes an empty list: a report without tests
        return
    kind = _Shape.of_data(data).classify()
    if kind not in (fmt, "features"):
        raise _not_a_report(label, data, fmt)
    ns_per_unit = 1e-9 if fmt == "cucumber" else 1.0  # cucumber: nanoseconds; behave: seconds
    for f, feature in enumerate(data):
        if not isinstance(feature, dict):
            raise ReportError(f"{label}: feature #{f + 1} is a {type(feature).__name__}, not an object",
                              f"{FORMAT_LABELS[fmt]} is a list of feature objects; regenerate the report")
        feature_name = str(feature.get("name") or "").strip()
        feature_tags = set(_tag_names(feature.get("tags")))
        elements = feature.get("elements") or []
        if not isinstance(elements, list):
            raise ReportError(f"{label}: the \"elements\" of feature #{f + 1} is not a list",
                              f"regenerate the report; {FORMAT_LABELS[fmt]} lists scenarios under elements")
        for element in elements:
            if not isinstance(element, dict):
                raise ReportError(f"{label}: feature #{f + 1} has an element that is not an object",
                                  "regenerate the report with the test runner")
            if str(element.get("type", "")).lower() == "background":
                continue
            name = str(element.get("name") or "").strip()
            # cucumber repeats the feature's tags on every scenario: those name requirements, not Tests
            tags = [t for t in _tag_names(element.get("tags")) if t not in feature_tags]
            key = next((m.group(1) for t in tags if (m := _GHERKIN_KEY_RE.fullmatch(t))), None)
            durations = [item["result"].get("duration") for item in element.get("steps") or ()
                         if isinstance(item, dict) and isinstance(item.get("result"), dict)]
            numbers = [d for d in durations if isinstance(d, (int, float)) and not isinstance(d, bool)]
            yield TestResult(name=name, definition=f"{feature_name}: {name}",
                             status=_scenario_status(element), key=key,
                             duration=sum(numbers) * ns_per_unit if numbers else None)


# ---------------------------------------------------------------------------------------------------
# public API


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
    if isinstance(source, (str, os.PathLike)):
        check_readable(source)
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
    """How many tests the report holds, by status (``passed``, ``failed`` and ``skipped`` always)."""
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    tests = 0
    for result in iter_results(source, fmt):
        tests += 1
        totals[result.status] = totals.get(result.status, 0) + 1
    return ReportSummary(format=fmt, tests=tests, totals=totals)
