"""The sandbox's data: Jira-like issues, Tests, Test Executions with their runs, and a request log, in SQLite.

Cucumber data sits beside them: the Gherkin of Cucumber Tests and Preconditions (``gherkin``),
Preconditions' own fields, issue links (a Test "has precondition" a Precondition; the requirements a Test
covers are kept by key in ``requirement_links``, see :mod:`.records`)
and saved filters (a list of issue keys) for the feature export.

One connection guarded by a re-entrant lock serves every thread (``:memory:`` or a file). Writes that
belong together run inside :meth:`Store.transaction`, so an import that fails half-way leaves nothing
behind. Issue ids are global and start at 10000; keys count per project (``DEMO-1`` is the seeded Test
Plan, then every Test, Test Execution or Test Plan takes the next number).
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from xray_tasks.sandbox.records import RECORDS_SCHEMA, RECORDS_TABLES, RunRecords, upgrade_records

__all__ = ["FIRST_ISSUE_ID", "ISSUE_TYPES", "REQUIREMENT_TYPES", "Store", "now_iso"]

FIRST_ISSUE_ID = 10000
#: Jira issue type name -> id, as the sandbox's Jira would list them
ISSUE_TYPES = {"Test": "10100", "Test Execution": "10101", "Test Plan": "10102", "Precondition": "10103",
               "Epic": "10000", "Story": "10001", "Task": "10002", "Bug": "10004", "Requirement": "10005"}
#: issue types Tests can cover ("tests" links, ``@REQ_`` tags)
REQUIREMENT_TYPES = ("Story", "Epic", "Requirement", "Task", "Bug")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (
    id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, name TEXT NOT NULL, last_number INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS issues (
    id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, project TEXT NOT NULL, type TEXT NOT NULL,
    summary TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tests (
    issue_id INTEGER PRIMARY KEY REFERENCES issues(id), project TEXT NOT NULL, definition TEXT NOT NULL,
    test_type TEXT NOT NULL, labels TEXT NOT NULL, description TEXT, test_info TEXT, origin TEXT NOT NULL,
    UNIQUE (project, definition));
CREATE TABLE IF NOT EXISTS executions (
    issue_id INTEGER PRIMARY KEY REFERENCES issues(id), description TEXT, labels TEXT NOT NULL,
    components TEXT NOT NULL, fix_versions TEXT NOT NULL, test_plan TEXT, environments TEXT NOT NULL,
    revision TEXT, format TEXT NOT NULL, endpoint TEXT NOT NULL, dialect TEXT NOT NULL, multipart INTEGER NOT NULL,
    info TEXT, test_info TEXT, start_date TEXT, finish_date TEXT, created TEXT NOT NULL, updated TEXT NOT NULL,
    imports INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, execution_id INTEGER NOT NULL REFERENCES issues(id),
    test_id INTEGER NOT NULL REFERENCES issues(id), name TEXT NOT NULL, definition TEXT NOT NULL,
    status TEXT NOT NULL, duration REAL, created TEXT NOT NULL, updated TEXT NOT NULL,
    UNIQUE (execution_id, test_id));
CREATE TABLE IF NOT EXISTS plan_tests (
    plan_id INTEGER NOT NULL, test_id INTEGER NOT NULL, PRIMARY KEY (plan_id, test_id));
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, query TEXT NOT NULL,
    status INTEGER, content_type TEXT, body_size INTEGER NOT NULL, duration_ms REAL NOT NULL,
    parts TEXT NOT NULL, dialect TEXT, auth TEXT, expect_continue INTEGER NOT NULL, chunked INTEGER NOT NULL,
    execution TEXT, error TEXT, note TEXT);
CREATE TABLE IF NOT EXISTS gherkin (
    issue_id INTEGER PRIMARY KEY REFERENCES issues(id), scenario_type TEXT NOT NULL, steps TEXT NOT NULL,
    language TEXT NOT NULL, source TEXT, path TEXT, id_tag TEXT, folder TEXT);
CREATE TABLE IF NOT EXISTS preconditions (
    issue_id INTEGER PRIMARY KEY REFERENCES issues(id), project TEXT NOT NULL, labels TEXT NOT NULL,
    description TEXT);
CREATE TABLE IF NOT EXISTS links (
    from_id INTEGER NOT NULL, to_id INTEGER NOT NULL, kind TEXT NOT NULL, PRIMARY KEY (from_id, kind, to_id));
CREATE TABLE IF NOT EXISTS filters (id INTEGER PRIMARY KEY, name TEXT NOT NULL, keys TEXT NOT NULL);
"""
_TABLES = ("projects", "issues", "tests", "executions", "runs", "plan_tests", "requests", "gherkin",
           "preconditions", "links", "filters", *RECORDS_TABLES)
#: the first saved filter's id, as Jira numbers them
FIRST_FILTER_ID = 10000


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class Store(RunRecords):
    """SQLite-backed state; every public method is thread-safe (run details and links: see RunRecords)."""

    def __init__(self, db: str | os.PathLike[str], projects: Sequence[str]) -> None:
        self.path = os.fspath(db)
        self.projects = tuple(projects)
        self.lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        with self.lock:
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(_SCHEMA)
            self._conn.executescript(RECORDS_SCHEMA)
            upgrade_records(self._conn)
            with self.transaction():
                self._seed()

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and run the block in one transaction (nested calls join the outer one)."""
        with self.lock:
            if self._conn.in_transaction:
                yield self._conn
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _q(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self._conn.execute(sql, args).fetchall()

    def _one(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = self._q(sql, args)
        return rows[0] if rows else None

    # -- set-up -----------------------------------------------------------------------------------

    def _seed(self) -> None:
        for key in self.projects:
            if self._one("SELECT 1 FROM projects WHERE key = ?", (key,)) is None:
                pid = 10000 + self._conn.execute("SELECT COUNT(*) FROM projects").fetchone()[0]
                self._conn.execute("INSERT INTO projects (id, key, name, last_number) VALUES (?, ?, ?, 0)",
                                   (pid, key, f"{key} project"))
                self.create_issue(key, "Test Plan", "Test Plan")

    def meta(self, name: str, make: str) -> str:
        """The stored value ``name``, storing ``make`` first when there is none."""
        with self.transaction() as conn:
            row = conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
            if row is not None:
                return str(row["value"])
            conn.execute("INSERT INTO meta (name, value) VALUES (?, ?)", (name, make))
            return make

    def signing_material(self) -> tuple[bytes, str]:
        """(token signing secret, tenant id), created once per database."""
        return (bytes.fromhex(self.meta("jwt_secret", secrets.token_hex(32))),
                self.meta("tenant", str(uuid.uuid4())))

    def reset(self) -> None:
        """Forget every issue, execution and logged request; seed the projects again."""
        with self.transaction() as conn:
            for table in _TABLES:
                conn.execute(f"DELETE FROM {table}")
            self._seed()

    # -- issues -----------------------------------------------------------------------------------

    def project(self, ref: str) -> sqlite3.Row | None:
        """A project by key or by numeric id."""
        if ref.isdigit():
            return self._one("SELECT * FROM projects WHERE id = ?", (int(ref),))
        return self._one("SELECT * FROM projects WHERE key = ?", (ref,))

    def issue(self, ref: str) -> sqlite3.Row | None:
        """An issue by key or by numeric id."""
        if ref.isdigit():
            return self._one("SELECT * FROM issues WHERE id = ?", (int(ref),))
        return self._one("SELECT * FROM issues WHERE key = ?", (ref,))

    def create_issue(self, project: str, issue_type: str, summary: str) -> sqlite3.Row:
        with self.transaction() as conn:
            number = conn.execute("UPDATE projects SET last_number = last_number + 1 WHERE key = ? "
                                  "RETURNING last_number", (project,)).fetchone()["last_number"]
            top = conn.execute("SELECT MAX(id) AS m FROM issues").fetchone()["m"]
            issue_id = max(FIRST_ISSUE_ID - 1, top or 0) + 1
            conn.execute("INSERT INTO issues (id, key, project, type, summary, created) VALUES (?, ?, ?, ?, ?, ?)",
                         (issue_id, f"{project}-{number}", project, issue_type, summary, now_iso()))
            row: sqlite3.Row = conn.execute("SELECT * FROM issues WHERE id = ?", (issue_id,)).fetchone()
            return row

    # -- tests ------------------------------------------------------------------------------------

    def find_test(self, project: str, definition: str) -> sqlite3.Row | None:
        return self._one("SELECT i.* FROM tests t JOIN issues i ON i.id = t.issue_id "
                         "WHERE t.project = ? AND t.definition = ?", (project, definition))

    def create_test(self, project: str, summary: str, definition: str | None = None, *, test_type: str = "Generic",
                    labels: Sequence[str] = (), description: str | None = None,
                    test_info: Any = None, origin: str = "api") -> sqlite3.Row:
        """A new Test issue (the definition defaults to the summary)."""
        with self.transaction() as conn:
            issue = self.create_issue(project, "Test", summary)
            conn.execute("INSERT INTO tests (issue_id, project, definition, test_type, labels, description, "
                         "test_info, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (issue["id"], project, definition or summary, test_type, json.dumps(list(labels)),
                          description, None if test_info is None else json.dumps(test_info), origin))
            return issue

    def add_to_plan(self, plan_id: int, test_id: int) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO plan_tests (plan_id, test_id) VALUES (?, ?)", (plan_id, test_id))

    # -- executions -------------------------------------------------------------------------------

    def create_execution(self, project: str, summary: str, **columns: Any) -> sqlite3.Row:
        """A new Test Execution issue; ``columns`` are the ``executions`` table's (JSON ones as Python)."""
        with self.transaction() as conn:
            issue = self.create_issue(project, "Test Execution", summary)
            now = now_iso()
            row = {"issue_id": issue["id"], "created": now, "updated": now, "imports": 1,
                   **{k: _dump(k, v) for k, v in columns.items()}}
            names = ", ".join(row)
            conn.execute(f"INSERT INTO executions ({names}) VALUES ({', '.join('?' * len(row))})",
                         tuple(row.values()))
            return issue

    def update_execution(self, issue_id: int, **columns: Any) -> None:
        """Set the given columns (None values are skipped) and count one more import."""
        changes = {k: _dump(k, v) for k, v in columns.items() if v is not None}
        sets = "".join(f", {k} = ?" for k in changes)
        with self.transaction() as conn:
            conn.execute(f"UPDATE executions SET imports = imports + 1, updated = ?{sets} "
                         "WHERE issue_id = ?", (now_iso(), *changes.values(), issue_id))

    def upsert_run(self, execution_id: int, test_id: int, name: str, definition: str, status: str,
                   duration: float | None) -> int:
        """Record a run; a run of the same Test in the same execution is replaced. The run's id."""
        now = now_iso()
        with self.transaction() as conn:
            row = conn.execute(
                "INSERT INTO runs (execution_id, test_id, name, definition, status, duration, created, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (execution_id, test_id) DO UPDATE SET "
                "name = excluded.name, definition = excluded.definition, status = excluded.status, "
                "duration = excluded.duration, updated = excluded.updated RETURNING id",
                (execution_id, test_id, name, definition, status, duration, now, now)).fetchone()
        return int(row["id"])

    def add_todo_run(self, execution_id: int, test: sqlite3.Row) -> bool:
        """A TODO run of the Test ``test`` (its issue row) unless the execution has a run of it; whether one
        was added."""
        with self.transaction():
            if self.run_id(execution_id, test["id"]) is not None:
                return False
            own = self.test_row(test["id"])
            self.upsert_run(execution_id, test["id"], test["summary"],
                            own["definition"] if own is not None else test["summary"], "TODO", None)
            return True

    # -- request log ------------------------------------------------------------------------------

    def log_request(self, **columns: Any) -> None:
        row = {"at": now_iso(), **{k: _dump(k, v) for k, v in columns.items()}}
        with self.transaction() as conn:
            conn.execute(f"INSERT INTO requests ({', '.join(row)}) "
                         f"VALUES ({', '.join('?' * len(row))})", tuple(row.values()))

    # -- reading ----------------------------------------------------------------------------------

    def executions(self, project: str | None = None) -> list[dict[str, Any]]:
        """Every Test Execution, oldest first, with its fields and run counts (without the runs)."""
        rows = self._q("SELECT i.*, e.* FROM executions e JOIN issues i ON i.id = e.issue_id "
                       "WHERE ? IS NULL OR i.project = ? ORDER BY i.id", (project, project))
        return [self._execution(row, with_runs=False) for row in rows]

    def execution(self, key: str) -> dict[str, Any] | None:
        """One Test Execution by key or id, with its runs and status counts; None when there is none."""
        issue = self.issue(key)
        row = None if issue is None else self._one(
            "SELECT i.*, e.* FROM executions e JOIN issues i ON i.id = e.issue_id WHERE i.id = ?", (issue["id"],))
        return None if row is None else self._execution(row, with_runs=True)

    def _execution(self, row: sqlite3.Row, *, with_runs: bool) -> dict[str, Any]:
        runs = self._q("SELECT r.*, i.key AS test_key FROM runs r JOIN issues i ON i.id = r.test_id "
                       "WHERE r.execution_id = ? ORDER BY r.id", (row["id"],))
        counts: dict[str, int] = {}
        for run in runs:
            counts[run["status"]] = counts.get(run["status"], 0) + 1
        fix_versions = _loads(row["fix_versions"])
        out: dict[str, Any] = {
            "id": str(row["id"]), "key": row["key"], "project": row["project"], "summary": row["summary"],
            "description": row["description"], "labels": _loads(row["labels"]),
            "components": _loads(row["components"]), "fix_versions": fix_versions,
            "fix_version": fix_versions[0] if fix_versions else None, "test_plan": row["test_plan"],
            "environments": _loads(row["environments"]), "revision": row["revision"], "format": row["format"],
            "endpoint": row["endpoint"], "dialect": row["dialect"], "multipart": bool(row["multipart"]),
            "created": row["created"], "updated": row["updated"], "imports": row["imports"],
            "start_date": row["start_date"], "finish_date": row["finish_date"],
            "info": _loads(row["info"]), "test_info": _loads(row["test_info"]),
            "counts": counts, "total": len(runs),
        }
        if with_runs:
            out["runs"] = [{"test_key": r["test_key"], "test_id": str(r["test_id"]), "name": r["name"],
                            "definition": r["definition"], "status": r["status"], "duration": r["duration"],
                            "created": r["created"], "updated": r["updated"], "id": str(r["id"]),
                            **self.run_record(r["id"])} for r in runs]
            out["test_plans"] = [p["key"] for p in self.find_issues(("Test Plan",),
                                                                      ids=self.execution_plan_ids(row["id"]))]
        return out

    def tests(self, project: str | None = None) -> list[dict[str, Any]]:
        """Every Test, oldest first, with the Test Plans it belongs to."""
        rows = self._q("SELECT i.*, t.* FROM tests t JOIN issues i ON i.id = t.issue_id "
                       "WHERE ? IS NULL OR i.project = ? ORDER BY i.id", (project, project))
        out = []
        for row in rows:
            plans = [p["key"] for p in self._q("SELECT i.key FROM plan_tests p JOIN issues i ON i.id = p.plan_id "
                                               "WHERE p.test_id = ? ORDER BY i.id", (row["id"],))]
            out.append({"id": str(row["id"]), "key": row["key"], "project": row["project"],
                        "summary": row["summary"], "definition": row["definition"], "type": row["test_type"],
                        "labels": _loads(row["labels"]), "description": row["description"],
                        "test_info": _loads(row["test_info"]), "origin": row["origin"], "created": row["created"],
                        "test_plans": plans, "requirements": self.requirements(row["id"])})
        return out

    def requests(self) -> list[dict[str, Any]]:
        """Every logged request, oldest first."""
        out = []
        for row in self._q("SELECT * FROM requests ORDER BY id"):
            item = dict(row)
            item["query"] = _loads(item["query"])
            item["parts"] = _loads(item["parts"])
            item["expect_continue"] = bool(item["expect_continue"])
            item["chunked"] = bool(item["chunked"])
            out.append(item)
        return out

    def project_keys(self) -> list[str]:
        return [r["key"] for r in self._q("SELECT key FROM projects ORDER BY id")]

    def issues(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._q("SELECT * FROM issues ORDER BY id")]


    # -- Cucumber: Gherkin, Preconditions, links, saved filters ----------------------------------

    def set_gherkin(self, issue_id: int, scenario_type: str, steps: str, language: str, *, source: str | None,
                    path: str | None, id_tag: str | None, folder: str | None) -> None:
        """Store (or replace) the Gherkin of a Cucumber Test ("Scenario", "Scenario Outline") or a
        Precondition ("Background"), and where it was imported from."""
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO gherkin (issue_id, scenario_type, steps, language, source, path, "
                         "id_tag, folder) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (issue_id, scenario_type, steps, language, source, path, id_tag, folder))

    def gherkin(self, issue_id: int) -> sqlite3.Row | None:
        """The Gherkin row of a Cucumber Test or Precondition."""
        return self._one("SELECT * FROM gherkin WHERE issue_id = ?", (issue_id,))

    def find_gherkin(self, project: str, issue_type: str, *, summary: str | None = None, source: str | None = None,
                     path: str | None = None, id_tag: str | None = None, label: str | None = None,
                     by_place: bool = False) -> sqlite3.Row | None:
        """The oldest Cucumber Test (or Precondition) of ``project`` with this summary / id tag, and, with
        ``by_place``, imported from ``source`` + ``path`` (or carrying ``label``, Server's path label)."""
        where = ["i.project = ?", "i.type = ?"]
        args: list[Any] = [project, issue_type]
        if issue_type == "Test":
            where.append("t.test_type = 'Cucumber'")
        if summary is not None:
            where.append("i.summary = ?")
            args.append(summary)
        if id_tag is not None:
            where.append("g.id_tag = ?")
            args.append(id_tag)
        if by_place and label is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(t.labels) WHERE value = ?)")
            args.append(label)
        elif by_place:
            where += ["g.source IS ?", "g.path = ?"]
            args += [source, path]
        return self._one("SELECT i.* FROM issues i JOIN gherkin g ON g.issue_id = i.id "
                         "LEFT JOIN tests t ON t.issue_id = i.id "
                         f"WHERE {' AND '.join(where)} ORDER BY i.id LIMIT 1", args)

    def update_test(self, issue_id: int, *, summary: str, definition: str, labels: Sequence[str],
                    test_type: str) -> None:
        """Change a Test's summary, definition, labels and type."""
        with self.transaction() as conn:
            conn.execute("UPDATE issues SET summary = ? WHERE id = ?", (summary, issue_id))
            conn.execute("UPDATE tests SET definition = ?, labels = ?, test_type = ? WHERE issue_id = ?",
                         (definition, json.dumps(list(labels)), test_type, issue_id))

    def create_precondition(self, project: str, summary: str, *, labels: Sequence[str] = (),
                            description: str | None = None) -> sqlite3.Row:
        """A new Precondition issue."""
        with self.transaction() as conn:
            issue = self.create_issue(project, "Precondition", summary)
            conn.execute("INSERT INTO preconditions (issue_id, project, labels, description) VALUES (?, ?, ?, ?)",
                         (issue["id"], project, json.dumps(list(labels)), description))
            return issue

    def update_precondition(self, issue_id: int, *, summary: str, labels: Sequence[str]) -> None:
        """Change a Precondition's summary and labels."""
        with self.transaction() as conn:
            conn.execute("UPDATE issues SET summary = ? WHERE id = ?", (summary, issue_id))
            conn.execute("UPDATE preconditions SET labels = ? WHERE issue_id = ?", (json.dumps(list(labels)), issue_id))

    def precondition_row(self, issue_id: int) -> sqlite3.Row | None:
        """A Precondition's own fields (labels as JSON text, description)."""
        return self._one("SELECT * FROM preconditions WHERE issue_id = ?", (issue_id,))

    def link(self, from_id: int, to_id: int, kind: str) -> None:
        """Link two issues: ``precondition`` (Test → Precondition). A Test's requirements are
        :meth:`add_requirements` links, by key."""
        with self.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO links (from_id, to_id, kind) VALUES (?, ?, ?)", (from_id, to_id, kind))

    def linked(self, issue_id: int, kind: str, *, reverse: bool = False) -> list[sqlite3.Row]:
        """The issues ``issue_id`` links to with ``kind`` (``reverse``: the issues linking to it), oldest
        link first."""
        near, far = ("to_id", "from_id") if reverse else ("from_id", "to_id")
        return self._q(f"SELECT i.* FROM links l JOIN issues i ON i.id = l.{far} "
                       f"WHERE l.{near} = ? AND l.kind = ? ORDER BY l.rowid", (issue_id, kind))

    def plan_tests(self, plan_id: int) -> list[sqlite3.Row]:
        """The Tests of a Test Plan, in the order they joined it."""
        return self._q("SELECT i.* FROM plan_tests p JOIN issues i ON i.id = p.test_id WHERE p.plan_id = ? "
                       "ORDER BY p.rowid", (plan_id,))

    def execution_tests(self, execution_id: int) -> list[sqlite3.Row]:
        """The Tests that have a run in a Test Execution, in run order."""
        return self._q("SELECT i.* FROM runs r JOIN issues i ON i.id = r.test_id WHERE r.execution_id = ? "
                       "ORDER BY r.id", (execution_id,))

    def create_filter(self, name: str, keys: Sequence[str]) -> dict[str, Any]:
        """A saved filter over these issue keys; its id counts from 10000, as Jira's do."""
        with self.transaction() as conn:
            top = conn.execute("SELECT MAX(id) AS m FROM filters").fetchone()["m"]
            filter_id = max(FIRST_FILTER_ID - 1, top or 0) + 1
            conn.execute("INSERT INTO filters (id, name, keys) VALUES (?, ?, ?)",
                         (filter_id, name, json.dumps(list(keys))))
        return {"id": str(filter_id), "name": name, "keys": list(keys)}

    def saved_filter(self, filter_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM filters WHERE id = ?", (int(filter_id),)) if filter_id.isdigit() else None
        return None if row is None else {"id": str(row["id"]), "name": row["name"], "keys": json.loads(row["keys"])}

    def saved_filters(self) -> list[dict[str, Any]]:
        return [{"id": str(r["id"]), "name": r["name"], "keys": json.loads(r["keys"])}
                for r in self._q("SELECT * FROM filters ORDER BY id")]


_JSON_COLUMNS = frozenset({"labels", "components", "fix_versions", "environments", "info", "test_info",
                           "query", "parts"})


def _dump(column: str, value: Any) -> Any:
    if column in _JSON_COLUMNS:
        return None if value is None and column in ("info", "test_info") else json.dumps(value)
    if isinstance(value, bool):
        return int(value)
    return value
