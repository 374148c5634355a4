"""The Store's read-back half: what a Test Run holds besides its status, and the links Xray keeps.

:class:`RunRecords` is mixed into :class:`~xray_tasks.sandbox.store.Store`; its tables live in the same
SQLite database and are emptied by ``Store.reset``:

* ``run_details`` — per run: comment, failure message, defects, start/finish, executed by, assignee,
  iterations, examples, custom fields (replaced whenever the run is);
* ``evidence`` — per run: file name, content type, full size and the first bytes kept (ids never reused,
  so an old download link never shows another file);
* ``requirement_links`` — per Test: the requirement keys it covers;
* ``environments`` — the Test Environment names that exist (created by imports and by GraphQL
  ``createTestExecution``);
* ``plan_executions`` — Test Executions linked to a Test Plan besides the one in the execution's own
  Test Plan field.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xray_tasks.formats.enriched import TestDetails

__all__ = ["RECORDS_SCHEMA", "RECORDS_TABLES", "RunRecords", "json_value", "upgrade_records"]

RECORDS_SCHEMA = """
CREATE TABLE IF NOT EXISTS run_details (
    run_id INTEGER PRIMARY KEY, comment TEXT, defects TEXT NOT NULL, started TEXT, finished TEXT,
    executed_by TEXT, assignee TEXT, iterations TEXT NOT NULL, examples TEXT NOT NULL,
    custom_fields TEXT NOT NULL, failure TEXT);
CREATE TABLE IF NOT EXISTS evidence (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, filename TEXT NOT NULL,
    content_type TEXT NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL, created TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS evidence_of_run ON evidence (run_id);
CREATE TABLE IF NOT EXISTS requirement_links (
    test_id INTEGER NOT NULL, requirement TEXT NOT NULL, PRIMARY KEY (test_id, requirement));
CREATE TABLE IF NOT EXISTS environments (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS plan_executions (
    plan_id INTEGER NOT NULL, execution_id INTEGER NOT NULL, PRIMARY KEY (plan_id, execution_id));
"""
RECORDS_TABLES = ("run_details", "evidence", "requirement_links", "environments", "plan_executions")
#: columns added to a table after it first shipped: (table, column, SQL type), added to an older database
RECORDS_ADDED_COLUMNS = (("run_details", "failure", "TEXT"),)


def upgrade_records(conn: sqlite3.Connection) -> None:
    """Add the columns a database made by an earlier version lacks (a ``--db`` file kept across versions)."""
    for table, column, kind in RECORDS_ADDED_COLUMNS:
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

_RUN_COLUMNS = ("r.id, r.execution_id, r.test_id, r.name, r.definition, r.status, r.duration, r.created, "
                "r.updated, t.key AS test_key, e.key AS execution_key")


def json_value(text: str | None, empty: Any) -> Any:
    """A JSON column's value, or ``empty`` when it is NULL."""
    return empty if text is None else json.loads(text)


class RunRecords:
    """Store methods for run details, evidence, requirement links, environments and plan links."""

    if TYPE_CHECKING:
        def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...
        def _q(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]: ...
        def _one(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None: ...

    # -- runs ---------------------------------------------------------------------------------------

    def run_id(self, execution_id: int, test_id: int) -> int | None:
        """The id of the run of a Test in a Test Execution, if there is one."""
        row = self._one("SELECT id FROM runs WHERE execution_id = ? AND test_id = ?", (execution_id, test_id))
        return None if row is None else int(row["id"])

    def save_run_details(self, run_id: int, details: TestDetails, *, now: str) -> None:
        """Replace what the run holds besides its status (evidence included) with ``details``."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM evidence WHERE run_id = ?", (run_id,))
            conn.execute(
                "INSERT OR REPLACE INTO run_details (run_id, comment, defects, started, finished, executed_by, "
                "assignee, iterations, examples, custom_fields, failure) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, details.comment, json.dumps(details.defects), details.started, details.finished,
                 details.executed_by, details.assignee, json.dumps(details.iterations),
                 json.dumps(details.examples), json.dumps(details.custom_fields), details.failure))
            conn.executemany(
                "INSERT INTO evidence (run_id, filename, content_type, size, data, created) VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, e.filename, e.content_type, e.size, e.data, now) for e in details.evidence])

    def delete_run(self, execution_id: int, test_id: int) -> bool:
        """Remove a Test's run (and all it holds) from a Test Execution; False when there was none."""
        with self.transaction() as conn:
            run_id = self.run_id(execution_id, test_id)
            if run_id is None:
                return False
            for table, column in (("evidence", "run_id"), ("run_details", "run_id"), ("runs", "id")):
                conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (run_id,))
            return True

    def run_record(self, run_id: int) -> dict[str, Any]:
        """The run's comment, failure, defects, evidence (without bytes), times, iterations, examples, custom
        fields."""
        row = self._one("SELECT * FROM run_details WHERE run_id = ?", (run_id,))
        evidence = [dict(e) | {"id": str(e["id"]), "truncated": e["kept"] < e["size"]} for e in self._q(
            "SELECT id, filename, content_type, size, length(data) AS kept, created FROM evidence "
            "WHERE run_id = ? ORDER BY id", (run_id,))]
        if row is None:
            return {"comment": None, "failure": None, "defects": [], "evidence": evidence, "started": None,
                    "finished": None, "executed_by": None, "assignee": None, "iterations": [], "examples": [],
                    "custom_fields": {}}
        return {"comment": row["comment"], "failure": row["failure"], "defects": json_value(row["defects"], []),
                "evidence": evidence,
                "started": row["started"], "finished": row["finished"], "executed_by": row["executed_by"],
                "assignee": row["assignee"], "iterations": json_value(row["iterations"], []),
                "examples": json_value(row["examples"], []), "custom_fields": json_value(row["custom_fields"], {})}

    def evidence_file(self, evidence_id: int) -> dict[str, Any] | None:
        """One evidence file with the bytes kept of it (``data``), or None."""
        row = self._one("SELECT * FROM evidence WHERE id = ?", (evidence_id,))
        return None if row is None else dict(row)

    def runs_page(self, *, execution_ids: Sequence[int] | None = None, test_ids: Sequence[int] | None = None,
                  run_ids: Sequence[int] | None = None, start: int = 0,
                  limit: int | None = None) -> tuple[int, list[dict[str, Any]]]:
        """(how many runs match, the runs from ``start``, at most ``limit``), oldest first, with their records.

        Each filter given (even empty) must match; with none, every run matches.
        """
        where: list[str] = []
        args: list[Any] = []
        for column, ids in (("r.execution_id", execution_ids), ("r.test_id", test_ids), ("r.id", run_ids)):
            if ids is not None:
                where.append(f"{column} IN ({', '.join('?' * len(ids))})" if ids else "0")
                args.extend(ids)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        joins = "FROM runs r JOIN issues t ON t.id = r.test_id JOIN issues e ON e.id = r.execution_id"
        with self.transaction():  # count and page from one snapshot
            count = self._one(f"SELECT COUNT(*) AS n {joins} {clause}", args)
            total = int(count["n"]) if count is not None else 0
            rows = self._q(f"SELECT {_RUN_COLUMNS} {joins} {clause} ORDER BY r.id LIMIT ? OFFSET ?",
                           [*args, -1 if limit is None else limit, start])
            return total, [dict(row) | self.run_record(row["id"]) for row in rows]

    # -- Tests --------------------------------------------------------------------------------------

    def add_test_labels(self, test_id: int, labels: Iterable[str]) -> None:
        """Add labels to a Test (the ones it has stay, none is repeated)."""
        with self.transaction() as conn:
            row = conn.execute("SELECT labels FROM tests WHERE issue_id = ?", (test_id,)).fetchone()
            if row is None:
                return
            have = list(json.loads(row["labels"]))
            merged = have + [label for label in dict.fromkeys(labels) if label not in have]
            if merged != have:
                conn.execute("UPDATE tests SET labels = ? WHERE issue_id = ?", (json.dumps(merged), test_id))

    def add_requirements(self, test_id: int, keys: Iterable[str]) -> None:
        """Link a Test to requirement keys ("tests" links); links it has stay."""
        with self.transaction() as conn:
            conn.executemany("INSERT OR IGNORE INTO requirement_links (test_id, requirement) VALUES (?, ?)",
                             [(test_id, key) for key in keys])

    def requirements(self, test_id: int) -> list[str]:
        """The requirement keys a Test is linked to, in the order they were linked."""
        return [r["requirement"] for r in self._q(
            "SELECT requirement FROM requirement_links WHERE test_id = ? ORDER BY rowid", (test_id,))]

    def tests_covering(self, requirement: str) -> list[sqlite3.Row]:
        """The Tests linked to the requirement ``requirement`` (a key), oldest link first."""
        return self._q("SELECT i.* FROM requirement_links l JOIN issues i ON i.id = l.test_id "
                       "WHERE l.requirement = ? ORDER BY l.rowid", (requirement,))

    # -- Test Environments --------------------------------------------------------------------------

    def environment_names(self) -> set[str]:
        """Every Test Environment that exists."""
        return {r["name"] for r in self._q("SELECT name FROM environments")}

    def add_environments(self, names: Iterable[str]) -> list[str]:
        """Create the environments that do not exist yet; the ones created, in order."""
        created = []
        with self.transaction() as conn:
            for name in dict.fromkeys(names):
                if conn.execute("INSERT OR IGNORE INTO environments (name) VALUES (?)", (name,)).rowcount:
                    created.append(name)
        return created

    # -- Test Plans ---------------------------------------------------------------------------------

    def link_plan_execution(self, plan_id: int, execution_id: int) -> bool:
        """Link a Test Execution to a Test Plan; False when it already was."""
        with self.transaction() as conn:
            if execution_id in self.plan_execution_ids(plan_id):
                return False
            conn.execute("INSERT INTO plan_executions (plan_id, execution_id) VALUES (?, ?)", (plan_id, execution_id))
            return True

    def plan_execution_ids(self, plan_id: int) -> list[int]:
        """The Test Executions of a Test Plan: by their Test Plan field or by a link, oldest first."""
        return [r["id"] for r in self._q(
            "SELECT x.issue_id AS id FROM executions x JOIN issues p ON p.key = x.test_plan WHERE p.id = ? "
            "UNION SELECT execution_id FROM plan_executions WHERE plan_id = ? ORDER BY id", (plan_id, plan_id))]

    def execution_plan_ids(self, execution_id: int) -> list[int]:
        """The Test Plans a Test Execution belongs to, oldest first."""
        return [r["id"] for r in self._q(
            "SELECT p.id FROM executions x JOIN issues p ON p.key = x.test_plan WHERE x.issue_id = ? "
            "UNION SELECT plan_id FROM plan_executions WHERE execution_id = ? ORDER BY id",
            (execution_id, execution_id))]

    def plan_test_ids(self, plan_id: int) -> list[int]:
        """The Tests of a Test Plan, in the order they were added."""
        return [r["test_id"] for r in self._q("SELECT test_id FROM plan_tests WHERE plan_id = ? ORDER BY rowid",
                                              (plan_id,))]

    def unlink_plan_execution(self, plan_id: int, execution_id: int) -> bool:
        """Unlink a Test Execution from a Test Plan (link and Test Plan field); False when it was not linked."""
        with self.transaction() as conn:
            linked = execution_id in self.plan_execution_ids(plan_id)
            conn.execute("DELETE FROM plan_executions WHERE plan_id = ? AND execution_id = ?", (plan_id, execution_id))
            conn.execute("UPDATE executions SET test_plan = NULL WHERE issue_id = ? AND test_plan = "
                         "(SELECT key FROM issues WHERE id = ?)", (execution_id, plan_id))
            return linked

    def execution_row(self, issue_id: int) -> sqlite3.Row | None:
        """The Test Execution's own columns (labels, fix versions, environments… as stored)."""
        return self._one("SELECT * FROM executions WHERE issue_id = ?", (issue_id,))

    def test_row(self, issue_id: int) -> sqlite3.Row | None:
        """The Test's own columns (definition, type, labels, description)."""
        return self._one("SELECT * FROM tests WHERE issue_id = ?", (issue_id,))

    # -- searching ----------------------------------------------------------------------------------

    def find_issues(self, types: Sequence[str], *, keys: Sequence[str] | None = None,
                    ids: Sequence[int] | None = None, projects: Sequence[str] | None = None) -> list[sqlite3.Row]:
        """Issues of the given types matching every filter given, oldest first."""
        where = [f"type IN ({', '.join('?' * len(types))})"]
        args: list[Any] = list(types)
        for column, values in (("key", keys), ("id", ids), ("project", projects)):
            if values is not None:
                where.append(f"{column} IN ({', '.join('?' * len(values))})" if values else "0")
                args.extend(values)
        return self._q(f"SELECT * FROM issues WHERE {' AND '.join(where)} ORDER BY id", args)
