"""Reports rewritten on their way into Xray: keys and links from the map file, evidence files, reruns
collapsed — streaming, in flat memory.

Two passes over the reports of one import:

1. :func:`prepare` scans every report (:mod:`xray_tasks.testscan`), one test at a time, into a small
   SQLite table (a private temporary database: in memory while small, spilled to TMPDIR beyond a few
   MiB), so a report of a million tests costs a few MiB. It then decides, per test, what changes: the
   map's key, requirements and labels (:mod:`xray_tasks.testmap`), evidence files (:mod:`xray_tasks.
   evidence`), which appearances of a re-run test are left out and the flaky comment of the one kept
   (:mod:`xray_tasks.reruns`).
2. :class:`Rewrites` writes a report with those changes while copying it: untouched byte ranges are copied
   in 1 MiB chunks, elements are injected at the offsets the scan found, evidence is base64-encoded in
   chunks straight into the body. :mod:`xray_tasks.reports` asks it for each request body — one report,
   or several merged in the same single pass (:func:`xray_tasks.merge.merge_to_file`).

What each format gets (the contract's §6, §7, §17):

=============  =========================================  ==========================  ======================
format         key, requirements, labels                  flaky comment               evidence
=============  =========================================  ==========================  ======================
JUnit          properties test_key, requirements, tags    property testrun_comment    testrun_evidence items
TestNG         attributes test, requirement, labels       (note: Xray reads none)     (note: XRAY-4557)
NUnit          properties Test, Requirement, tags         property testrun_comment    (note)
Robot          tags (key, requirement keys, labels)       (note)                      (note)
xUnit.net      (note)                                     (note)                      (note)
Xray JSON      testKey, testInfo.requirementKeys/labels   comment                     evidence
Cucumber,      (note: Gherkin tags name their Tests)      (note)                      (note)
Behave
=============  =========================================  ==========================  ======================

A value the report already has wins over the map's (a differing key gets a note). Only UTF-8 (or ASCII)
XML is rewritten byte for byte; another encoding is sent as it is, with a note.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from xray_tasks import reruns
from xray_tasks.errors import ReportError
from xray_tasks.evidence import EvidenceFile, EvidenceIndex, base64_size, find_evidence, write_base64
from xray_tasks.formats import FORMAT_LABELS, STATUSES, read_xray_document
from xray_tasks.merge import foreign_encoding
from xray_tasks.settings import Settings
from xray_tasks.testmap import MapHit, TestMap, load_map
from xray_tasks.testscan import SCANNED, Found, scan_report

__all__ = ["EnrichOptions", "Enrichment", "Rewrites", "options_from", "prepare"]

CHUNK = 1024 * 1024
#: lines a dry run lists of each kind before "… and N more"
LISTED = 100
#: bytes an evidence item's wrapping may add at most (the item tags, its name, a new property)
ITEM_OVERHEAD = 512

_WORD = "[A-Za-z_][\\w.-]*:"


def escape(text: str, entities: dict[str, str] | None = None) -> str:
    """``text`` as XML character data, with ``entities`` replaced too (``xml.sax.saxutils.escape`` does the
    same, but importing it loads urllib and http.client: tens of ms of start-up)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for raw, entity in (entities or {}).items():
        text = text.replace(raw, entity)
    return text


@dataclass(frozen=True)
class EnrichOptions:
    """What to add to the reports and how to collapse reruns (the settings of the same names)."""

    map_file: str | None = None
    evidence: tuple[str, ...] = ()
    evidence_for: str = "failed"
    evidence_max_mb: float = 10.0
    reruns: str = "last"

    @property
    def active(self) -> bool:
        return bool(self.map_file or self.evidence or self.reruns != "all")


def options_from(s: Settings) -> EnrichOptions:
    """The enrichment the settings ask for."""
    return EnrichOptions(map_file=s.map, evidence=s.evidence, evidence_for=s.evidence_for,
                         evidence_max_mb=s.evidence_max_mb, reruns=s.reruns)


@dataclass
class Enrichment:
    """What the rewrite did, for people (notes, a dry run's listing) and machines (counts)."""

    notes: list[str] = field(default_factory=list)
    #: dry run: which test got which key, evidence and rerun verdict
    listing: list[str] = field(default_factory=list)
    mapped: int = 0
    flaky: int = 0
    left_out: int = 0
    evidence: int = 0
    #: report path -> its tests by status, as they are sent (earlier attempts left out)
    totals: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"mapped": self.mapped, "flaky": self.flaky, "left_out_attempts": self.left_out,
                "evidence": self.evidence, "notes": list(self.notes), "listing": list(self.listing)}


class _Sink(Protocol):
    def write(self, data: bytes) -> object: ...


@dataclass(frozen=True)
class _Edit:
    """Replace ``[start, end)`` of the report with ``pieces`` (bytes, or an evidence file to encode)."""

    start: int
    end: int
    pieces: tuple[bytes | EvidenceFile, ...]


# -- pass 1: scan and decide ---------------------------------------------------------------------------------


_SCHEMA = """
CREATE TABLE t(id INTEGER PRIMARY KEY, file INTEGER, akey TEXT, name TEXT, definition TEXT,
               status TEXT, key TEXT, start INTEGER, close INTEGER, inside INTEGER, given TEXT, c_start INTEGER,
               c_close INTEGER, c_text TEXT, ev_at INTEGER, message TEXT, earlier TEXT, hit TEXT,
               touched INTEGER DEFAULT 0, dropped INTEGER DEFAULT 0, comment TEXT, fail_with TEXT);
CREATE TABLE verdict(id INTEGER PRIMARY KEY, dropped INTEGER, comment TEXT, fail_with TEXT);
CREATE TABLE candidate(evidence INTEGER, id INTEGER, words INTEGER);
"""


def prepare(s: Settings, reports: Sequence[tuple[Path, str, bool]], *, separate: bool = False,
            options: EnrichOptions | None = None) -> Rewrites | None:
    """Scan the reports and decide every change; None when nothing is asked for (``--reruns all`` and no
    map or evidence). A bad map or an unreadable evidence file raises before anything is sent."""
    options = options or options_from(s)
    if not options.active:
        return None
    test_map = load_map(options.map_file) if options.map_file else None
    named = [p for e in (test_map.entries if test_map else ()) for p in e.evidence]
    files, notes = find_evidence(options.evidence, named)
    rewrites = Rewrites(s, options, reports, test_map, files, separate=separate)
    rewrites.summary.notes += notes
    rewrites.scan()
    return rewrites


class Rewrites:
    """The changes decided for the reports of one import, and the writer that applies them."""

    def __init__(self, s: Settings, options: EnrichOptions, reports: Sequence[tuple[Path, str, bool]],
                 test_map: TestMap | None, files: Sequence[EvidenceFile], *, separate: bool) -> None:
        self.s = s
        self.options = options
        self.map = test_map
        self.files = list(files)
        self.index = EvidenceIndex(files)
        self.separate = separate
        self.summary = Enrichment()
        # attempts run in the order the reports were written: modification time, then path
        ordered = sorted(reports, key=lambda r: (_mtime(r[0]), str(r[0])))
        self.reports = [(p, fmt) for p, fmt, _ in ordered]
        self.file_no = {p: n for n, (p, _) in enumerate(self.reports)}
        self.rewritable: set[int] = set()
        self.kept: dict[int, int] = {}
        self.evidence_of: dict[int, list[EvidenceFile]] = {}
        self.sizes: dict[int, int] = {}
        self._named_files: set[int] = set()
        self._orphans = 0
        self.db = sqlite3.connect("", check_same_thread=False)
        self.db.execute("PRAGMA cache_size=-2048")  # KiB: beyond it the table lives in a temporary file
        self.db.execute("PRAGMA temp_store=FILE")  # sorting (GROUP BY, indexes) spills to disk too
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- scanning

    def scan(self) -> None:
        by_format: dict[str, int] = {}
        candidates: list[tuple[int, int, int]] = []  # (evidence file, row, words), flushed into the table
        for n, (path, fmt) in enumerate(self.reports):
            by_format[fmt] = by_format.get(fmt, 0) + 1
            if fmt not in SCANNED:
                continue
            if fmt != "xray" and not _utf8(path):
                self.summary.notes.append(f"{path} is not UTF-8: sent as it is (no map, evidence or rerun "
                                          "changes); write the report as UTF-8 to have them")
                continue
            self.rewritable.add(n)
            with self.db:
                self.db.executemany(
                    "INSERT INTO t(file, id, akey, name, definition, status, key, start, close, inside, given, "
                    "c_start, c_close, c_text, ev_at, message, earlier, hit, touched) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    self._rows(n, path, fmt, candidates))
            self._flush(candidates)
        self.db.execute("CREATE INDEX t_file ON t(file, touched, start)")
        self.db.execute("CREATE INDEX candidate_file ON candidate(evidence, words)")
        self._not_applicable(by_format)
        self._collapse()
        self._attach()
        self._finish()

    def _flush(self, candidates: list[tuple[int, int, int]]) -> None:
        with self.db:
            self.db.executemany("INSERT INTO candidate VALUES (?,?,?)", candidates)
        candidates.clear()

    def _rows(self, n: int, path: Path, fmt: str, candidates: list[tuple[int, int, int]]
              ) -> Iterator[tuple[Any, ...]]:
        row = self._next_id()
        for found in scan_report(path, fmt):
            row += 1
            hit = self.map.lookup(self._identities(found, fmt)) if self.map else None
            if self.index:
                candidates += ((i, row, words) for i, words in self.index.match(found.name, found.definition))
                if len(candidates) > 50_000:
                    self._flush(candidates)
            scope = f"{n}\x00" if self.separate else ""
            group = f"{found.group}\x00" if fmt == "junit" else ""
            akey = f"{scope}{fmt}\x00{group}{found.key or found.definition}"
            touched = int(hit is not None or bool(found.earlier))
            yield (n, row, akey, found.name, found.definition, found.status, found.key, found.start, found.close,
                   found.inside, ",".join(sorted(found.given)), *(found.comment or (None, None, None)),
                   found.evidence_at, found.message, json.dumps(found.earlier) if found.earlier else None,
                   _hit_json(hit) if hit else None, touched)

    def _next_id(self) -> int:
        value = self.db.execute("SELECT max(id) FROM t").fetchone()[0]
        return int(value or 0)

    @staticmethod
    def _identities(found: Found, fmt: str) -> list[str]:
        if fmt == "xray":
            return list(dict.fromkeys(x for x in (found.definition, found.name) if x))
        return [found.definition]

    def _not_applicable(self, by_format: dict[str, int]) -> None:
        for fmt in ("cucumber", "behave"):
            if by_format.get(fmt) and (self.map or self.files):
                self.summary.notes.append(
                    f"{FORMAT_LABELS[fmt]}: the map and evidence do not apply (Xray finds its Tests by the "
                    "scenarios' tags, and reads no evidence from it); its reports are sent as they are")
        if self.map and by_format.get("xunit"):
            self.summary.notes.append("xUnit.net XML: Xray reads no keys, requirements or labels from it; the "
                                      "map does not apply to it")

    # -- reruns

    def _collapse(self) -> None:
        if self.options.reruns == "all":
            return
        db = self.db
        # a test that appears more than once, or one whose report carries its earlier attempts (akey is never NULL)
        cursor = db.execute("SELECT id, file, akey, status, message, earlier, definition FROM t WHERE akey IN "
                            "(SELECT akey FROM t GROUP BY akey HAVING count(*) > 1) OR earlier IS NOT NULL "
                            "ORDER BY akey, id")
        with db:
            db.executemany("INSERT INTO verdict VALUES (?,?,?,?)",
                           (d for akey, rows in groupby(cursor, key=lambda r: r[2]) for d in self._verdict(list(rows))))
            db.execute("UPDATE t SET touched=1, dropped=v.dropped, comment=v.comment, fail_with=v.fail_with "
                       "FROM verdict AS v WHERE v.id = t.id")

    def _verdict(self, rows: list[tuple[Any, ...]]) -> list[tuple[int, int, str | None, str | None]]:
        """(id, left out, comment, failure to report) for each appearance of one test."""
        appearances = []
        for n, (ident, file, _, status, message, earlier, _) in enumerate(rows):
            hidden = n + 1 < len(rows) and rows[n + 1][1] == file  # re-run in the same suite of one report
            appearances.append(reruns.Attempt(ident, status, message,
                                              tuple(tuple(x) for x in json.loads(earlier)) if earlier else (),
                                              hidden=hidden))
        verdict = reruns.decide(appearances, self.options.reruns)
        self.summary.left_out += len(verdict.drop)
        self.summary.flaky += verdict.flaky
        if verdict.attempts > 1:
            what = "flaky, " if verdict.flaky else ""
            self._list(f"rerun: {rows[0][6]}: {verdict.attempts} attempts, {what}kept the "
                       f"{'last' if self.options.reruns == 'last' else 'worst'}")
        return [*((ident, 1, None, None) for ident in verdict.drop),
                (verdict.keep, 0, verdict.comment, verdict.fail_with)]

    # -- evidence

    def _attach(self) -> None:
        if self.map:
            self._attach_named()
        cap = int(self.options.evidence_max_mb * 1024 * 1024)
        unmatched: list[str] = []
        wanted = "" if self.options.evidence_for == "all" else "AND (t.status = 'failed' OR t.comment IS NOT NULL)"
        for i, f in enumerate(self.files):
            # the tests matching the most words of the file's path, among those whose evidence is wanted
            rows = self.db.execute(
                "SELECT c.id, t.definition FROM candidate c JOIN t ON t.id = c.id WHERE c.evidence = ? AND "
                f"t.dropped = 0 {wanted} AND c.words = (SELECT max(c2.words) FROM candidate c2 JOIN t t2 ON "
                f"t2.id = c2.id WHERE c2.evidence = ? AND t2.dropped = 0 {wanted.replace('t.', 't2.')}) "
                "ORDER BY c.id DESC LIMIT 1000", (i, i)).fetchall()
            if not rows:
                if i not in self._named_files:
                    unmatched.append(f.shown)
                continue
            chosen = {definition: row for row, definition in reversed(rows)}
            if len(chosen) > 1:
                self.summary.notes.append(f"evidence {f.shown} matches {len(chosen)} tests equally "
                                          f"({', '.join(sorted(chosen)[:3])}): not attached; name the file "
                                          "after one test, or list it under that test's evidence: in the map")
                continue
            (definition, row), = chosen.items()
            self._give(row, f, cap, definition)
        if unmatched:
            shown = ", ".join(unmatched[:5]) + (f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else "")
            whose = "a failing test's" if self.options.evidence_for == "failed" else "a test's"
            self.summary.notes.append(f"{len(unmatched)} evidence file(s) match no test and are not attached: "
                                      f"{shown} (a file is attached when its path holds {whose} name; "
                                      "--evidence-for all takes passing tests too)")

    def _attach_named(self) -> None:
        """Files the map's ``evidence:`` lists name for its entries' tests."""
        by_path = {f.path.resolve(): i for i, f in enumerate(self.files)}
        cap = int(self.options.evidence_max_mb * 1024 * 1024)
        found: dict[tuple[str, ...], list[EvidenceFile]] = {}
        rows = self.db.execute("SELECT id, definition, hit FROM t WHERE hit IS NOT NULL AND dropped=0 AND "
                               "json_array_length(hit, '$.evidence') > 0").fetchall()  # only entries naming files
        for row, definition, hit in rows:
            patterns = tuple(json.loads(hit)["evidence"])
            if not self._wants_evidence(row):
                continue
            if patterns not in found:
                found[patterns] = find_evidence([], patterns)[0]
            for f in found[patterns]:
                i = by_path.get(f.path.resolve())
                if i is not None:
                    self._named_files.add(i)
                    self._give(row, self.files[i], cap, definition)

    def _wants_evidence(self, row: int) -> bool:
        status, dropped, comment = self.db.execute("SELECT status, dropped, comment FROM t WHERE id=?",
                                                   (row,)).fetchone()
        if dropped:
            return False
        return self.options.evidence_for == "all" or status == "failed" or bool(comment)

    def _give(self, row: int, f: EvidenceFile, cap: int, definition: str) -> None:
        if f.size > cap:
            self.summary.notes.append(f"evidence {f.shown} is {f.size / 2**20:.1f} MiB, over the "
                                      f"{self.options.evidence_max_mb:g} MiB per file (XRAY_EVIDENCE_MAX_MB): "
                                      "not attached")
            return
        fmt = self.reports[self._file_of(row)][1]
        if fmt not in ("junit", "xray"):
            self._orphans += 1
            return
        have = self.evidence_of.setdefault(row, [])
        if any(g.path == f.path for g in have):
            return
        have.append(f)
        self.db.execute("UPDATE t SET touched=1 WHERE id=?", (row,))
        self._list(f"evidence: {f.shown} → {definition}")

    # -- sizes and what is left

    def _finish(self) -> None:
        limit = int(self.s.max_request_mb * 1024 * 1024)
        for n in sorted(self.rewritable):
            kept = self.db.execute("SELECT count(*) FROM t WHERE file=? AND dropped=0", (n,)).fetchone()[0]
            self.kept[n] = int(kept)
            self._budget(n, limit)
            self.sizes[n] = self._measure(n)
        counted = ("SELECT file, CASE WHEN fail_with IS NOT NULL THEN 'failed' ELSE status END, count(*) FROM t "
                   "WHERE dropped=0 GROUP BY 1, 2")
        for n in self.rewritable:
            self.summary.totals[str(self.reports[n][0])] = dict.fromkeys(STATUSES, 0)
        for n, status, count in self.db.execute(counted):
            self.summary.totals[str(self.reports[n][0])][status] = int(count)
        said: dict[str, list[str]] = {"key": [], "keys": [], "info": []}
        for row in self.db.execute("SELECT definition, key, hit, file, given FROM t WHERE hit IS NOT NULL AND "
                                   "dropped=0"):
            self._mapped(row, said)
        for kind in ("key", "keys"):
            more = len(said[kind]) - 5
            self.summary.notes += said[kind][:5] + ([f"… and {more} more like these"] if more > 0 else [])
        if said["info"]:
            self.summary.notes.append(
                f"{len(said['info'])} Xray JSON test(s) have no testInfo ({', '.join(said['info'][:3])}): the map's "
                "requirements and labels are not added to them (Xray reads those from testInfo, which also needs "
                "a summary, project and type); only their key is set")
        if self.map:
            for entry in self.map.unused():
                self.summary.notes.append(f"{entry.where} (match {entry.match!r}) matched no test")
        self.summary.evidence = sum(len(v) for v in self.evidence_of.values())
        self._format_notes()

    def _budget(self, n: int, limit: int) -> None:
        """Keep evidence, smallest first, while the file's body fits in a request; note the rest."""
        path = self.reports[n][0]
        mine = [(row, f) for row, fs in self.evidence_of.items() if self._file_of(row) == n for f in fs]
        if not mine:
            return
        without = _size(path) + self._measure(n, evidence=False)
        room = limit - without
        for row, f in sorted(mine, key=lambda rf: rf[1].size):
            cost = base64_size(f.size) + ITEM_OVERHEAD
            if cost <= room:
                room -= cost
                continue
            self.evidence_of[row].remove(f)
            self.summary.notes.append(f"evidence {f.shown} ({f.size / 2**20:.1f} MiB) left out: with it the request "
                                      f"for {path.name} would exceed XRAY_MAX_REQUEST_MB={self.s.max_request_mb:g}")

    def _file_of(self, row: int) -> int:
        return int(self.db.execute("SELECT file FROM t WHERE id=?", (row,)).fetchone()[0])

    def _mapped(self, row: tuple[Any, ...], said: dict[str, list[str]]) -> None:
        definition, key, hit_text, file, given = row
        hit = json.loads(hit_text)
        self.summary.mapped += 1
        if key and hit["key"] and key != hit["key"]:
            said["key"].append(f"{definition}: the report's key {key} wins over the map's {hit['key']}")
        for other in hit["other_keys"]:
            said["keys"].append(f"{definition}: the map gives it {hit['key']} and {other}; {hit['key']} "
                                "(the first entry's) is used")
        if self.reports[file][1] == "xray" and "info" not in (given or "") and (hit["requirements"] or hit["labels"]):
            said["info"].append(definition)
        parts = [f"→ {key or hit['key']}" if key or hit["key"] else "→ (no key)"]
        if hit["requirements"]:
            parts.append(f"requirements {', '.join(hit['requirements'])}")
        if hit["labels"]:
            parts.append(f"labels {', '.join(hit['labels'])}")
        self._list(f"map: {definition} {'; '.join(parts)}")

    def _format_notes(self) -> None:
        formats = {fmt for n, (_, fmt) in enumerate(self.reports) if n in self.rewritable}
        flaky_where = formats & {"testng", "robot", "xunit"}
        if self.summary.flaky and flaky_where:
            labels = ", ".join(FORMAT_LABELS[f] for f in sorted(flaky_where))
            self.summary.notes.append(f"{labels}: Xray reads no run comment from it, so a flaky test there is "
                                      "counted but not marked in Xray")
        if self._orphans:
            self.summary.notes.append(f"{self._orphans} evidence file(s) matched tests of TestNG, NUnit, Robot or "
                                      "xUnit.net reports, from which Xray reads no evidence: not attached")
        parts = []
        if self.summary.mapped:
            parts.append(f"{self.summary.mapped} test(s) mapped")
        if self.summary.evidence:
            parts.append(f"{self.summary.evidence} evidence file(s) attached")
        if self.summary.left_out:
            parts.append(f"{self.summary.left_out} earlier attempt(s) left out (--reruns {self.options.reruns})")
        if self.summary.flaky:
            parts.append(f"{self.summary.flaky} flaky test(s) marked")
        if parts:
            self.summary.notes.insert(0, "rewrote the reports: " + ", ".join(parts))

    def _list(self, line: str) -> None:
        if len(self.summary.listing) < LISTED:
            self.summary.listing.append(line)
        elif len(self.summary.listing) == LISTED:
            self.summary.listing.append("… (more not listed)")

    # -- what reports.py asks

    def changes(self, path: Path) -> bool:
        n = self.file_no.get(path)
        return n is not None and n in self.rewritable and self._touched(n)

    def _touched(self, n: int) -> bool:
        return self.db.execute("SELECT 1 FROM t WHERE file=? AND touched=1 LIMIT 1", (n,)).fetchone() is not None

    def empty(self, path: Path) -> bool:
        """Whether every test of the report is an earlier attempt of a test in a later one."""
        n = self.file_no.get(path)
        return n is not None and n in self.kept and self.kept[n] == 0

    def size(self, path: Path) -> int:
        """The size of the body this report becomes."""
        n = self.file_no.get(path)
        if n is None or not self.changes(path):
            return _size(path)
        return _size(path) + self.sizes[n]

    def body(self, path: Path, scratch: Any) -> Path:
        """The report itself when nothing changes, else the rewritten copy in ``scratch``."""
        if not self.changes(path):
            return path
        n = self.file_no[path]
        fmt = self.reports[n][1]
        with scratch.new_file(f"rewritten {path.name}", "rewritten-", path.suffix or ".xml") as (out, sink):
            if fmt == "xray":
                self._write_xray(sink, path)
            else:
                self.copy(sink, path, 0, _size(path))
        return Path(out)

    def copy(self, out: _Sink, path: Path, start: int, end: int) -> None:
        """Copy ``[start, end)`` of the report into ``out`` with its changes."""
        n = self.file_no.get(path)
        if n is None or n not in self.rewritable:
            _copy_range(out, path, start, end)
            return
        with path.open("rb") as fh:
            pos = start
            for edit in self._edits(n, fh):
                if edit.start < start or edit.end > end:
                    continue
                _copy_fh(out, fh, pos, edit.start)
                for piece in edit.pieces:
                    if isinstance(piece, EvidenceFile):
                        _write_file(out, piece)
                    else:
                        out.write(piece)
                pos = edit.end
            _copy_fh(out, fh, pos, end)

    def _measure(self, n: int, *, evidence: bool = True) -> int:
        """How many bytes the changes add to report ``n`` (negative when they leave out more)."""
        path, fmt = self.reports[n]
        if fmt == "xray":
            counter = _Counter()
            self._write_xray(counter, path, evidence=evidence)
            return counter.count - _size(path)
        delta = 0
        with path.open("rb") as fh:
            for edit in self._edits(n, fh, evidence=evidence):
                delta -= edit.end - edit.start
                delta += sum(base64_size(p.size) if isinstance(p, EvidenceFile) else len(p) for p in edit.pieces)
        return delta

    # -- the changes of one XML report, in offset order

    def _edits(self, n: int, fh: BinaryIO, *, evidence: bool = True) -> Iterator[_Edit]:
        fmt = self.reports[n][1]
        rows = self.db.execute(
            "SELECT id, start, close, inside, given, c_start, c_close, c_text, ev_at, key, hit, dropped, comment, "
            "fail_with, message FROM t WHERE file=? AND touched=1 ORDER BY start", (n,))
        for row in rows:
            edits = self._row_edits(fmt, fh, row, evidence)
            yield from sorted(edits, key=lambda e: (e.start, e.end))

    def _row_edits(self, fmt: str, fh: BinaryIO, row: tuple[Any, ...], evidence: bool) -> list[_Edit]:
        (ident, start, close, inside, given_, c_start, c_close, c_text, ev_at, key, hit_text, dropped, comment,
         fail_with, _) = row
        tag = _TEST_TAGS[fmt]
        if dropped:
            return [_Edit(start, _element_end(fh, close, tag), ())]
        given = set(filter(None, (given_ or "").split(",")))
        hit = json.loads(hit_text) if hit_text else None
        files = self.evidence_of.get(ident, []) if evidence and fmt == "junit" else []
        edits: list[_Edit] = []
        fields: list[bytes | EvidenceFile] = []  # into the test's properties / attributes / tags
        inner: list[bytes | EvidenceFile] = []  # goes into the test element itself
        if hit is not None:
            fields += _map_fields(fmt, hit, given, has_key=bool(key))
        if comment and fmt in ("junit", "nunit"):
            if fmt == "junit" and c_start is not None:
                if _closes(fh, c_close, "property"):  # the report's own comment follows the flaky note
                    text = f"{comment}\n\n{c_text}" if c_text else comment
                    edits.append(_Edit(c_start, _element_end(fh, c_close, "property"),
                                       (_property_text("testrun_comment", text),)))
            else:
                fields.append(_property_text("testrun_comment", comment) if fmt == "junit"
                              else _property("testrun_comment", comment))
        if files:
            items: list[bytes | EvidenceFile] = []
            names: set[str] = set()
            for f in files:
                name = f.name if f.name not in names else f.shown.replace(os.sep, "_")
                names.add(name)
                items += [f'<item name="{_attr(name)}">'.encode(), f, b"</item>"]
            if ev_at >= 0 and _closes(fh, ev_at, "property"):
                edits.append(_Edit(ev_at, ev_at, tuple(items)))
            else:
                fields += [b'<property name="testrun_evidence">', *items, b"</property>"]
        if fail_with and fmt == "junit":
            inner.append(f'<failure message="{_attr(fail_with)}" type="rerun">{escape(fail_with)}</failure>'
                         .encode())
        if fields or inner:
            edits += self._into(fmt, fh, start, close, inside, tag, fields, inner)
        return edits

    def _into(self, fmt: str, fh: BinaryIO, start: int, close: int, inside: int, tag: str,
              fields: list[bytes | EvidenceFile], inner: list[bytes | EvidenceFile]) -> list[_Edit]:
        """Edits putting ``fields`` into the test's properties/attributes (made when it has none) and
        ``inner`` into the test element."""
        wrapper = _WRAPPERS[fmt]
        edits: list[_Edit] = []
        if fields and wrapper and inside >= 0 and _closes(fh, inside, wrapper):
            edits.append(_Edit(inside, inside, tuple(fields)))
        elif fields:
            opening, closing = (f"<{wrapper}>".encode(), f"</{wrapper}>".encode()) if wrapper else (b"", b"")
            inner = [opening, *fields, closing, *inner]
        if inner:
            if _closes(fh, close, tag):
                edits.append(_Edit(close, close, tuple(inner)))
            else:  # <testcase .../>: open it up
                edits.append(_Edit(close - 2, close, (b">", *inner, f"</{_qualified(fh, start)}>".encode())))
        return edits

    # -- Xray JSON

    def _write_xray(self, out: _Sink, path: Path, *, evidence: bool = True) -> None:
        n = self.file_no[path]
        data = read_xray_document(path)
        tests = data.get("tests") or []
        out.write(b"{")
        for name, value in data.items():
            if name != "tests":
                out.write(json.dumps(name).encode() + b": " + json.dumps(value, ensure_ascii=False).encode() + b", ")
        out.write(b'"tests": [')
        self.write_xray_tests(out, path, tests, first=True, evidence=evidence, file_no=n)
        out.write(b"\n]}\n")

    def write_xray_tests(self, out: _Sink, path: Path, tests: list[Any], *, first: bool, evidence: bool = True,
                         file_no: int | None = None) -> int:
        """Write the tests of one Xray JSON report with their changes; how many were written."""
        n = self.file_no.get(path) if file_no is None else file_no
        changes: dict[int, tuple[Any, ...]] = {}
        if n is not None and n in self.rewritable:
            for row in self.db.execute("SELECT id, start, key, hit, dropped, comment FROM t WHERE file=? AND "
                                       "touched=1", (n,)):
                changes[row[1]] = row
        written = 0
        for i, test in enumerate(tests):
            change = changes.get(i)
            files: list[EvidenceFile] = []
            if change is not None:
                ident, _, key, hit_text, dropped, comment = change
                if dropped:
                    continue
                test = _xray_changed(dict(test), json.loads(hit_text) if hit_text else None, comment, bool(key))
                files = self.evidence_of.get(ident, []) if evidence else []
            out.write(b"\n" if first and not written else b",\n")
            _write_xray_test(out, test, files)
            written += 1
        return written


# -- XML pieces ----------------------------------------------------------------------------------------------

_TEST_TAGS = {"junit": "testcase", "testng": "test-method", "nunit": "test-case", "robot": "test", "xunit": "test"}
_WRAPPERS = {"junit": "properties", "testng": "attributes", "nunit": "properties", "robot": "", "xunit": ""}


def _attr(value: str) -> str:
    return escape(value, {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _property(name: str, value: str) -> bytes:
    return f'<property name="{name}" value="{_attr(value)}"/>'.encode()


def _property_text(name: str, text: str) -> bytes:
    return f'<property name="{name}">{_cdata(text)}</property>'.encode()


def _map_fields(fmt: str, hit: dict[str, Any], given: set[str], *, has_key: bool) -> list[bytes]:
    """What the map adds to one test, in the format's words; fields the report gives are left alone."""
    key = hit["key"] if not has_key else None
    reqs = hit["requirements"] if "requirements" not in given else []
    labels = hit["labels"] if "labels" not in given else []
    out: list[bytes] = []
    if fmt == "junit":
        out += [_property("test_key", key)] if key else []
        out += [_property("requirements", ",".join(reqs))] if reqs else []
        out += [_property("tags", ",".join(labels))] if labels else []
    elif fmt == "nunit":
        out += [_property("Test", key)] if key else []
        out += [_property("Requirement", ",".join(reqs))] if reqs else []
        out += [_property("tags", ",".join(labels))] if labels else []
    elif fmt == "testng":
        for name, value in (("test", key), ("requirement", ",".join(reqs)), ("labels", " ".join(labels))):
            if value:
                out.append(f'<attribute name="{name}">{_cdata(value)}</attribute>'.encode())
    elif fmt == "robot":
        out += [f"<tag>{escape(t)}</tag>".encode() for t in ([key] if key else []) + list(reqs) + list(labels)]
    return out


def _closes(fh: BinaryIO, offset: int, tag: str) -> bool:
    """Whether the end tag ``</tag>`` (any prefix) is at ``offset`` — else expat's offset is the end of an
    empty element ``<tag .../>``."""
    if offset is None or offset < 0:
        return False
    fh.seek(offset)
    head = fh.read(len(tag) + 80)
    return re.match(rf"</(?:{_WORD})?{re.escape(tag)}[\s>]".encode(), head) is not None


def _element_end(fh: BinaryIO, close: int, tag: str) -> int:
    """The offset just after an element expat ended at ``close``."""
    if not _closes(fh, close, tag):
        return close  # an empty element: expat's offset is already past its "/>"
    fh.seek(close)
    head = fh.read(len(tag) + 400)
    return close + head.index(b">") + 1


def _qualified(fh: BinaryIO, start: int) -> str:
    fh.seek(start)
    head = fh.read(256)
    match = re.match(rb"<([^\s/>]+)", head)
    return match.group(1).decode() if match else "testcase"


def _utf8(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(256)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    return foreign_encoding(head) is None


# -- Xray JSON pieces -----------------------------------------------------------------------------------------


def _xray_changed(test: dict[str, Any], hit: dict[str, Any] | None, comment: str | None, has_key: bool
                  ) -> dict[str, Any]:
    if hit is not None:
        if hit["key"] and not has_key:
            test["testKey"] = hit["key"]
        info = test.get("testInfo")
        if isinstance(info, dict) and (hit["requirements"] or hit["labels"]):
            info = dict(info)
            for name, values in (("requirementKeys", hit["requirements"]), ("labels", hit["labels"])):
                if values and not info.get(name):
                    info[name] = list(values)
            test["testInfo"] = info
    if comment:
        old = test.get("comment")
        test["comment"] = f"{comment}\n\n{old}" if isinstance(old, str) and old else comment
    return test


def _write_xray_test(out: _Sink, test: dict[str, Any], files: Sequence[EvidenceFile]) -> None:
    if not files:
        out.write(json.dumps(test, ensure_ascii=False).encode())
        return
    name = "evidences" if "evidences" in test and "evidence" not in test else "evidence"
    existing = test.pop(name, None)
    head = json.dumps(test, ensure_ascii=False).encode()
    out.write(head[:-1] + (b", " if len(head) > 2 else b"") + json.dumps(name).encode() + b": [")
    items = [json.dumps(item, ensure_ascii=False).encode() for item in existing or [] if isinstance(item, dict)]
    for n, item in enumerate(items):
        out.write((b", " if n else b"") + item)
    for n, f in enumerate(files):
        out.write((b", " if items or n else b"") + b'{"filename": ' + json.dumps(f.name).encode()
                  + b', "contentType": ' + json.dumps(f.content_type).encode() + b', "data": "')
        _write_file(out, f)
        out.write(b'"}')
    out.write(b"]}")


# -- plumbing -------------------------------------------------------------------------------------------------


class _Counter:
    """A sink that counts bytes; evidence counts as its base64 size without being read."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, data: bytes) -> None:
        self.count += len(data)


def _hit_json(hit: MapHit) -> str:
    return json.dumps({"key": hit.key, "requirements": hit.requirements, "labels": hit.labels,
                       "evidence": hit.evidence, "other_keys": hit.other_keys})


def _size(path: Path) -> int:
    return path.stat().st_size


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _copy_range(out: _Sink, path: Path, start: int, end: int) -> None:
    with path.open("rb") as fh:
        _copy_fh(out, fh, start, end)


def _write_file(out: _Sink, f: EvidenceFile) -> None:
    """An evidence file's base64 into ``out``; a :class:`_Counter` counts it without reading the file."""
    if isinstance(out, _Counter):
        out.count += base64_size(f.size)
        return
    write_base64(out, f)


def _copy_fh(out: _Sink, fh: BinaryIO, start: int, end: int) -> None:
    if isinstance(out, _Counter):
        out.count += max(0, end - start)
        return
    fh.seek(start)
    left = end - start
    while left > 0:
        chunk = fh.read(min(CHUNK, left))
        if not chunk:
            raise ReportError(f"{getattr(fh, 'name', 'a report')} changed while it was being rewritten",
                              "import the reports after the test run has finished writing them")
        out.write(chunk)
        left -= len(chunk)

