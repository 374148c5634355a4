"""What every report format shares: the format names and limits, :class:`TestResult` and
:class:`ReportSummary`, opening a report safely, and the duration helpers."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from xray_tasks.errors import ReportError

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


def key_in_tag(tag: str, prefix: str) -> str | None:
    """The issue key in a Gherkin ``tag`` (without ``@``) when the tag is exactly ``<prefix><KEY>``."""
    if tag.startswith(prefix) and _KEY_RE.fullmatch(tag, len(prefix)):
        return tag[len(prefix):]
    return None


def scenario_key(tags: Iterable[str], prefix: str) -> str | None:
    """A scenario's Test key: its first tag ``<prefix><KEY>``, else its first bare ``<KEY>`` tag (Xray takes
    both); None when it carries neither. ``tags`` are the scenario's own, without ``@``."""
    tags = tuple(tags)
    return (next((k for t in tags if (k := key_in_tag(t, prefix))), None)
            or next((k for t in tags if (k := key_in_tag(t, ""))), None))


@dataclass(frozen=True, slots=True)
class TestResult:
    """One test of a report, identified the way Xray identifies it."""

    __test__: ClassVar[bool] = False  # not a pytest test class, despite its name

    name: str
    definition: str
    #: one of :data:`~xray_tasks.formats.statuses.STATUSES`
    status: str
    key: str | None = None
    duration: float | None = None
    #: Cucumber/Behave: the scenario's own tags, without "@" and without those it shares with its feature
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReportSummary:
    """How many tests a report holds; ``totals`` has every one of
    :data:`~xray_tasks.formats.statuses.STATUSES` as a key, in that order."""

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
# durations


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
