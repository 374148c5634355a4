"""Telling a report's format from its first bytes (never its name), and the errors that explain why a
file is not a report."""

from __future__ import annotations

import codecs
import json
import os
from collections import deque
from contextlib import suppress
from typing import Any

from xray_tasks.errors import ReportError
from xray_tasks.formats.base import (
    _JSON_TOKEN_RE,
    _OTHER_XML,
    _XML_ENCODING_RE,
    _XML_NAME_RE,
    _XML_ROOTS,
    DETECT_LIMIT,
    FORMAT_LABELS,
    FORMATS,
    HEAD_BYTES,
    JSON_FORMATS,
    _parse_json,
    check_readable,
)


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
