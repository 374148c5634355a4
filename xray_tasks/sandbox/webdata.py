"""What the sandbox's web pages show, read from the Store in a fixed number of queries per page.

Each function answers one page with plain dictionaries and lists (the templates only lay them out).
The number of SQL statements a page costs does not grow with its executions, runs or Tests: runs,
counts, details and evidence are read in one query each and grouped here, so a page over a thousand
runs stays as fast as one over ten.

Statuses are shown in Xray Cloud's names (``PASS`` from a Server import counts as ``PASSED``), in the
order :data:`STATUS_ORDER`, then any other name alphabetically.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from xray_tasks.sandbox.records import json_value
from xray_tasks.sandbox.statuses import in_dialect
from xray_tasks.sandbox.store import Store

__all__ = ["STATUS_ORDER", "StatusCount", "execution_page", "executions_page", "requests_page", "status_class",
           "tests_page"]

#: the order statuses are listed in, the bar drawn and the columns counted
STATUS_ORDER = ("PASSED", "FAILED", "ABORTED", "EXECUTING", "TODO")
#: most requests the request log page lists (newest first); the page says how many there are in all
REQUESTS_SHOWN = 500


@dataclass(frozen=True)
class StatusCount:
    """One segment of a status bar: the status, how many runs have it, and where the segment starts and
    ends in percent of the bar."""

    status: str
    count: int
    start: float
    width: float

    @property
    def css(self) -> str:
        return status_class(self.status)


def status_class(status: str) -> str:
    """The CSS class of a status (``s-passed``…; ``s-other`` for a custom status)."""
    name = in_dialect(status, "cloud")
    return f"s-{name.lower()}" if name in STATUS_ORDER else "s-other"


def _bar(counts: dict[str, int]) -> list[StatusCount]:
    """Counts by status name (either dialect) → bar segments in :data:`STATUS_ORDER`, empty ones left out."""
    merged: dict[str, int] = defaultdict(int)
    for status, n in counts.items():
        merged[in_dialect(status, "cloud")] += n
    known = [s for s in STATUS_ORDER if merged.get(s)]
    names = known + sorted(s for s in merged if s not in STATUS_ORDER and merged[s])
    total = sum(merged.values())
    out, start = [], 0.0
    for name in names:
        width = 100.0 * merged[name] / total
        out.append(StatusCount(name, merged[name], round(start, 3), round(width, 3)))
        start += width
    return out


def _plans_by_execution(store: Store) -> dict[int, list[str]]:
    """Test Execution id → the Test Plans it belongs to (its Test Plan field and linked plans), one query."""
    plans: dict[int, list[str]] = defaultdict(list)
    for row in store._q("SELECT x.issue_id AS execution_id, x.test_plan AS plan FROM executions x "
                        "WHERE x.test_plan IS NOT NULL UNION SELECT l.execution_id, p.key FROM plan_executions l "
                        "JOIN issues p ON p.id = l.plan_id ORDER BY 1, 2"):
        plans[row["execution_id"]].append(row["plan"])
    return plans


def executions_page(store: Store) -> list[dict[str, Any]]:
    """Every Test Execution, newest first: key, summary, created, bar, total, Test Plans, environments."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for row in store._q("SELECT execution_id, status, COUNT(*) AS n FROM runs GROUP BY execution_id, status"):
        counts[row["execution_id"]][row["status"]] = row["n"]
    plans = _plans_by_execution(store)
    rows = store._q("SELECT i.id, i.key, i.summary, i.created, x.environments, x.format, x.multipart, x.dialect, "
                    "x.imports FROM executions x JOIN issues i ON i.id = x.issue_id ORDER BY i.id DESC")
    return [{"key": r["key"], "summary": r["summary"], "created": r["created"], "format": r["format"],
             "multipart": bool(r["multipart"]), "dialect": r["dialect"], "imports": r["imports"],
             "environments": json_value(r["environments"], []), "test_plans": plans.get(r["id"], []),
             "bar": _bar(counts.get(r["id"], {})), "total": sum(counts.get(r["id"], {}).values())}
            for r in rows]


def execution_page(store: Store, key: str) -> dict[str, Any] | None:
    """One Test Execution with its runs (Test, status, duration, failure, comment, defects, evidence) and
    the requests that imported into it (the first created it); None when there is no such execution."""
    row = next(iter(store._q("SELECT i.*, x.* FROM executions x JOIN issues i ON i.id = x.issue_id "
                             "WHERE i.key = ?", (key,))), None)
    if row is None:
        return None
    evidence: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in store._q("SELECT e.id, e.run_id, e.filename, e.content_type, e.size, length(e.data) AS kept "
                      "FROM evidence e JOIN runs r ON r.id = e.run_id WHERE r.execution_id = ? ORDER BY e.id",
                      (row["id"],)):
        evidence[e["run_id"]].append({"id": e["id"], "filename": e["filename"], "content_type": e["content_type"],
                                      "size": e["size"], "truncated": e["kept"] < e["size"],
                                      "image": e["content_type"].lower().startswith("image/")})
    runs = [{"test_key": r["test_key"], "test_summary": r["test_summary"], "name": r["name"],
             "status": in_dialect(r["status"], "cloud"), "css": status_class(r["status"]),
             "duration": r["duration"], "failure": r["failure"], "comment": r["comment"],
             "defects": json_value(r["defects"], []), "started": r["started"], "finished": r["finished"],
             "evidence": evidence.get(r["id"], [])}
            for r in store._q("SELECT r.id, r.name, r.status, r.duration, t.key AS test_key, "
                              "t.summary AS test_summary, d.comment, d.failure, d.defects, d.started, d.finished "
                              "FROM runs r "
                              "JOIN issues t ON t.id = r.test_id LEFT JOIN run_details d ON d.run_id = r.id "
                              "WHERE r.execution_id = ? ORDER BY r.id", (row["id"],))]
    counts: dict[str, int] = defaultdict(int)
    for run in runs:
        counts[run["status"]] += 1
    requests = [_request(r) for r in store._q("SELECT * FROM requests WHERE execution = ? ORDER BY id", (key,))]
    return {"key": row["key"], "summary": row["summary"], "project": row["project"], "created": row["created"],
            "updated": row["updated"], "description": row["description"], "format": row["format"],
            "endpoint": row["endpoint"], "dialect": row["dialect"], "multipart": bool(row["multipart"]),
            "imports": row["imports"], "revision": row["revision"], "labels": json_value(row["labels"], []),
            "fix_versions": json_value(row["fix_versions"], []), "environments": json_value(row["environments"], []),
            "test_plans": _plans_of(store, row["id"]), "info": json_value(row["info"], None),
            "test_info": json_value(row["test_info"], None), "runs": runs, "bar": _bar(dict(counts)),
            "total": len(runs), "requests": requests}


def _plans_of(store: Store, execution_id: int) -> list[str]:
    """The Test Plans of one Test Execution (its Test Plan field and linked plans)."""
    return [r["plan"] for r in store._q(
        "SELECT test_plan AS plan FROM executions WHERE issue_id = ? AND test_plan IS NOT NULL UNION "
        "SELECT p.key FROM plan_executions l JOIN issues p ON p.id = l.plan_id WHERE l.execution_id = ? ORDER BY 1",
        (execution_id, execution_id))]


def tests_page(store: Store) -> list[dict[str, Any]]:
    """Every Test, newest first, with its runs across Test Executions (newest execution first)."""
    runs: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in store._q("SELECT r.test_id, r.status, r.duration, e.key AS execution_key FROM runs r "
                      "JOIN issues e ON e.id = r.execution_id ORDER BY r.execution_id DESC, r.id"):
        runs[r["test_id"]].append({"execution_key": r["execution_key"], "status": in_dialect(r["status"], "cloud"),
                                   "css": status_class(r["status"]), "duration": r["duration"]})
    rows = store._q("SELECT i.id, i.key, i.summary, i.created, t.test_type, t.definition, t.labels FROM tests t "
                    "JOIN issues i ON i.id = t.issue_id ORDER BY i.id DESC")
    return [{"key": r["key"], "summary": r["summary"], "created": r["created"], "type": r["test_type"],
             "definition": r["definition"], "labels": json_value(r["labels"], []), "runs": runs.get(r["id"], [])}
            for r in rows]


def _request(row: Any) -> dict[str, Any]:
    item = dict(row)
    item["query"] = json_value(item["query"], {})
    item["parts"] = json_value(item["parts"], [])
    item["ok"] = item["status"] is not None and 200 <= item["status"] < 300
    return item


def requests_page(store: Store) -> tuple[int, list[dict[str, Any]]]:
    """(how many requests were logged, the newest :data:`REQUESTS_SHOWN` of them, newest first)."""
    total = store._q("SELECT COUNT(*) AS n FROM requests")[0]["n"]
    rows = store._q("SELECT * FROM requests ORDER BY id DESC LIMIT ?", (REQUESTS_SHOWN,))
    return int(total), [_request(r) for r in rows]
