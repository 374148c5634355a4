"""The map file: which Xray Test key, requirement keys, labels and evidence files each test of a report gets.

A small file people review beside their tests, YAML or CSV, so reports can be linked to Xray without
annotations in the test code::

    tests:
      - match: "tests.test_cart.test_adds_item"   # classname.name; * and ? allowed
        key: CALC-12
        requirements: [CALC-3]
        labels: [cart]
        evidence: [screenshots/cart-*.png]         # optional: files for this test's run

    # or CSV with the header  match,key,requirements,labels,evidence
    # (several keys, labels or files in one cell are separated by ';')

A test's identity is what Xray identifies it by: ``classname.name`` for JUnit (the suite's name when there
is no classname), ``class.method`` for TestNG, ``Suite.Sub.Test`` for Robot Framework, NUnit's
``fullname``, xUnit.net's ``name``; for Xray JSON the test's ``testInfo.definition`` or ``summary``.
``match`` is a shell-style pattern (:mod:`fnmatch`, case-sensitive). Every entry that matches a test adds
its requirements, labels and evidence; the key comes from the first matching entry that has one.

Keys and requirement keys must have Jira's shape (:data:`xray_tasks.settings.ISSUE_KEY`) and labels no
whitespace (Jira labels cannot hold it); anything else is a :class:`SettingsError` naming the file and
entry, before anything is sent.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xray_tasks.errors import SettingsError
from xray_tasks.settings import ISSUE_KEY, Settings

__all__ = ["MapEntry", "MapHit", "TestMap", "load_map", "starting_map", "write_starting_map"]

#: largest map file read (a map is written by people; a bigger file is a mistake)
MAP_LIMIT = 16 * 1024 * 1024
CSV_COLUMNS = ("match", "key", "requirements", "labels", "evidence")
_GLOB = re.compile(r"[*?\[]")
_SPLIT = re.compile(r"[;,\s]+")


@dataclass(frozen=True)
class MapEntry:
    """One entry of the map file; ``where`` names it in messages (``map.yaml entry 3``)."""

    match: str
    where: str
    key: str | None = None
    requirements: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class MapHit:
    """What the map gives one test: the entries that matched it and what they add."""

    entries: tuple[int, ...]
    key: str | None
    requirements: tuple[str, ...]
    labels: tuple[str, ...]
    evidence: tuple[str, ...]
    #: another key a later matching entry gives (the first one wins; the importer notes it)
    other_keys: tuple[str, ...] = ()


@dataclass
class TestMap:
    """The entries of a map file, and which of them have matched a test so far."""

    __test__ = False  # not a pytest test class, despite its name

    path: Path
    entries: list[MapEntry]
    used: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._exact: dict[str, list[int]] = {}
        globs: list[tuple[int, re.Pattern[str]]] = []
        for i, entry in enumerate(self.entries):
            if _GLOB.search(entry.match):
                globs.append((i, re.compile(fnmatch.translate(entry.match))))
            else:
                self._exact.setdefault(entry.match, []).append(i)
        self._globs = globs
        # one alternation first: most tests match no pattern, and this tells so at C speed
        self._any = re.compile("|".join(f"(?:{p.pattern})" for _, p in globs)) if globs else None

    def lookup(self, identities: Iterable[str]) -> MapHit | None:
        """What the map gives a test known by ``identities`` (usually one), or None; marks the entries used."""
        found: set[int] = set()
        for identity in identities:
            found.update(self._exact.get(identity, ()))
            if self._any is not None and self._any.match(identity):
                found.update(i for i, pattern in self._globs if pattern.match(identity))
        if not found:
            return None
        order = sorted(found)
        self.used.update(order)
        chosen = [self.entries[i] for i in order]
        keys = list(dict.fromkeys(e.key for e in chosen if e.key))
        return MapHit(entries=tuple(order), key=keys[0] if keys else None,
                      requirements=_union(e.requirements for e in chosen),
                      labels=_union(e.labels for e in chosen), evidence=_union(e.evidence for e in chosen),
                      other_keys=tuple(keys[1:]))

    def unused(self) -> list[MapEntry]:
        """The entries that matched no test."""
        return [e for i, e in enumerate(self.entries) if i not in self.used]


def _union(groups: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for group in groups for item in group))


# -- reading ----------------------------------------------------------------------------------------------


def load_map(path: str | Path) -> TestMap:
    """Read and check a YAML (``.yaml``/``.yml``, or anything not ``.csv``) or CSV map file."""
    where = Path(path)
    try:
        raw = where.read_bytes()[:MAP_LIMIT + 1]
    except FileNotFoundError:
        raise SettingsError(f"map file {where} does not exist",
                            "pass --map FILE (or XRAY_MAP) naming an existing file; "
                            "xray-tasks map-init --report … writes a first one") from None
    except OSError as exc:
        raise SettingsError(f"map file {where} cannot be read: {exc.strerror or exc}",
                            "check the path and its permissions") from None
    if len(raw) > MAP_LIMIT:
        raise SettingsError(f"map file {where} is over {MAP_LIMIT >> 20} MiB",
                            "a map names tests with patterns; use * and ? instead of listing every test")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SettingsError(f"map file {where} is not UTF-8 text (bad byte at offset {exc.start})",
                            "save it as UTF-8") from None
    rows = _csv_rows(text, where) if where.suffix.lower() == ".csv" else _yaml_rows(text, where)
    return TestMap(where, [_entry(row, f"{where.name} entry {n}") for n, row in enumerate(rows, 1)])


def _yaml_rows(text: str, path: Path) -> list[dict[str, Any]]:
    from invoke.vendor import yaml

    try:
        data: Any = yaml.safe_load(text)  # type: ignore[no-untyped-call]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SettingsError(f"map file {path} is not valid YAML: {problem}{at}",
                            "fix the file (a CSV map needs the .csv suffix)") from None
    if data is None:
        data = {"tests": []}
    tests = data.get("tests") if isinstance(data, dict) else None
    if not isinstance(tests, list):
        raise SettingsError(f"map file {path} has no 'tests:' list",
                            'write it as  tests:  followed by entries like  - match: "pkg.Class.test"')
    for n, row in enumerate(tests, 1):
        if not isinstance(row, dict):
            raise SettingsError(f"map file {path} entry {n} is not a mapping of match, key, requirements, labels",
                                'write each entry as  - match: "pkg.Class.test"  with its fields indented below')
    unknown = sorted({str(k) for row in tests for k in row} - set(CSV_COLUMNS))
    if unknown:
        raise SettingsError(f"map file {path} has unknown field(s) {', '.join(unknown)}",
                            f"an entry takes {', '.join(CSV_COLUMNS)}")
    return [{str(k): v for k, v in row.items()} for row in tests]


def _csv_rows(text: str, path: Path) -> list[dict[str, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        lines = [row for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise SettingsError(f"map file {path} is not valid CSV: {exc} (line {reader.line_num})",
                            "quote cells that hold commas or quotes") from None
    if not lines:
        return []
    header = [cell.strip().lower() for cell in lines[0]]
    if "match" not in header or set(header) - set(CSV_COLUMNS):
        raise SettingsError(f"map file {path} has the header {','.join(lines[0])!r}",
                            f"the first line names the columns: {','.join(CSV_COLUMNS)} (match is required)")
    rows = []
    for n, line in enumerate(lines[1:], 2):
        if len(line) > len(header):
            raise SettingsError(f"map file {path} line {n} has {len(line)} cells for {len(header)} columns",
                                "quote cells that hold commas")
        rows.append({name: value for name, value in zip(header, line, strict=False)})
    return rows


def _entry(row: dict[str, Any], where: str) -> MapEntry:
    match = row.get("match")
    if not isinstance(match, str) or not match.strip():
        raise SettingsError(f"{where} has no match", 'give every entry a  match: "pkg.Class.test"  pattern')
    key = row.get("key")
    if key is not None and not isinstance(key, str):
        raise SettingsError(f"{where} ({match}): key {key!r} is not text", "write the key as CALC-12")
    key = (key or "").strip() or None
    if key is not None:
        _check_key(key, where, match, "key")
    requirements = _items(row.get("requirements"), where, "requirements")
    for req in requirements:
        _check_key(req, where, match, "requirement")
    labels = _items(row.get("labels"), where, "labels")
    evidence = _items(row.get("evidence"), where, "evidence", separators=";")
    return MapEntry(match=match.strip(), where=where, key=key, requirements=requirements, labels=labels,
                    evidence=evidence)


def _check_key(key: str, where: str, match: str, what: str) -> None:
    if not ISSUE_KEY.fullmatch(key):
        fix = f" (Jira keys are upper case: {key.upper()})" if ISSUE_KEY.fullmatch(key.upper()) else ""
        raise SettingsError(f"{where} ({match}): {what} {key[:40]!r} is not a Jira issue key{fix}",
                            "write keys as PROJECT-NUMBER, e.g. CALC-12")


def _items(value: Any, where: str, name: str, *, separators: str = ";, \t") -> tuple[str, ...]:
    """A list field: a YAML list or one text, split on ``separators`` (labels and keys hold no spaces)."""
    if value is None:
        return ()
    if isinstance(value, str):
        pattern = _SPLIT if separators != ";" else re.compile(";")
        parts = [p.strip() for p in pattern.split(value)]
    elif isinstance(value, list) and all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        parts = [str(v).strip() for v in value]
    else:
        raise SettingsError(f"{where}: {name} must be a list of texts", f"write e.g. {name}: [a, b]")
    items = tuple(dict.fromkeys(p for p in parts if p))
    if name == "labels":
        for label in items:
            if any(c.isspace() for c in label):
                raise SettingsError(f"{where}: label {label!r} holds whitespace",
                                    "Jira labels are single words: write cart-checkout, not 'cart checkout'")
    return items


# -- a first map from a report ------------------------------------------------------------------------------


def starting_map(identities: Iterable[tuple[str, str]], sources: Sequence[str]) -> Iterator[str]:
    """The lines of a YAML map listing every test once, each with an empty key to fill in.

    ``identities`` are (format label, identity) pairs in report order; quotes keep identities with ``:`` or
    ``#`` valid YAML, and glob characters in a name are escaped so the entry matches that test alone.
    """
    import json

    yield "# Map of tests to Xray: fill in each key (e.g. CALC-12); requirements and labels are optional."
    yield f"# Written by xray-tasks map-init from {', '.join(sources)}."
    yield "# match is classname.name (a pattern: * and ? match anything); the first entry with a key wins."
    yield "tests:"
    seen: set[str] = set()
    for _, identity in identities:
        if identity in seen:
            continue
        seen.add(identity)
        escaped = re.sub(r"([*?\[])", r"[\1]", identity)
        yield f"  - match: {json.dumps(escaped, ensure_ascii=False)}"
        yield '    key: ""'


def write_starting_map(s: Settings, out: str | None) -> None:
    """``map-init``: the starting map of the reports ``s.report`` names, to ``out`` (never overwritten) or
    stdout. Cucumber and Behave reports are skipped with a note: their scenarios' tags name their Tests."""
    import sys

    from xray_tasks.console import err
    from xray_tasks.formats import FORMAT_LABELS, iter_results
    from xray_tasks.reports import check_reports, find_reports

    checked = check_reports(find_reports(s.report), s.report_format, None)
    for note in checked.notes:
        err(f"note: {note}")
    usable = [(p, fmt) for p, fmt, _ in checked.reports if fmt not in ("cucumber", "behave")]
    for p, fmt, _ in checked.reports:
        if fmt in ("cucumber", "behave"):
            err(f"note: {p} is {FORMAT_LABELS[fmt]}: not listed (Xray finds those Tests by the scenarios' tags)")
    identities = ((fmt, r.definition) for p, fmt in usable for r in iter_results(p, fmt))
    lines = starting_map(identities, [str(p) for p, _ in usable])
    if out is None:
        for line in lines:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        return
    target = Path(out)
    try:
        with target.open("x", encoding="utf-8") as fh:
            try:
                count = sum(fh.write(line + "\n") > 0 and line.startswith("  - match:") for line in lines)
            except BaseException:  # a report that breaks half-way leaves no half-written map behind
                fh.close()
                target.unlink(missing_ok=True)
                raise
    except FileExistsError:
        raise SettingsError(f"map-init: {target} exists; it is not overwritten",
                            "pass another --out, or delete the file first") from None
    except OSError as exc:
        raise SettingsError(f"map-init: cannot write {target}: {exc.strerror or exc}",
                            "check the folder exists and you can write to it") from None
    err(f"wrote {target} listing {count} test(s); fill in their keys and pass it as --map {target}")
