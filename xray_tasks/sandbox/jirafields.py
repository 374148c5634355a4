"""Jira fields of a sandbox issue, the way Jira's REST API shows them: what GraphQL's
``jira(fields: [...])`` and Server's ``includeTestFields`` answer.

Known fields: ``key``, ``id``, ``summary``, ``description``, ``labels``, ``project``, ``issuetype``,
``status``, ``created``, ``updated``, ``fixVersions``, ``components``, ``assignee``, ``reporter`` and,
for a Test Execution, the configured Test Plan and Test Environments custom fields. As in Jira, a field
that is not known is left out of the answer rather than refused.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from xray_tasks.sandbox.config import Runtime
from xray_tasks.sandbox.store import ISSUE_TYPES

__all__ = ["jira_fields"]


def _named(values: list[str]) -> list[dict[str, str]]:
    return [{"name": v} for v in values]


def jira_fields(rt: Runtime, issue: sqlite3.Row, names: Iterable[str]) -> dict[str, Any]:
    """The requested fields of ``issue`` that exist, by name."""
    store = rt.store
    wanted = list(dict.fromkeys(names))
    row: sqlite3.Row | None = None
    if issue["type"] == "Test Execution":
        row = store.execution_row(issue["id"])
    elif issue["type"] == "Test":
        row = store.test_row(issue["id"])
    own = dict(row) if row is not None else {}
    project = store.project(issue["project"])

    def column(name: str, empty: Any = None) -> Any:
        if own.get(name) is None:
            return empty
        value = own[name]
        return json.loads(value) if name in ("labels", "fix_versions", "components", "environments") else value

    available: dict[str, Any] = {
        "key": issue["key"],
        "id": str(issue["id"]),
        "summary": issue["summary"],
        "description": column("description"),
        "labels": column("labels", []),
        "project": None if project is None else {"id": str(project["id"]), "key": project["key"],
                                                 "name": project["name"],
                                                 "self": f"{rt.base_url}/rest/api/2/project/{project['id']}"},
        "issuetype": {"id": ISSUE_TYPES.get(issue["type"], "10000"), "name": issue["type"], "subtask": False},
        "status": {"name": "To Do", "statusCategory": {"key": "new", "name": "To Do"}},
        "created": issue["created"],
        "updated": column("updated", issue["created"]),
        "fixVersions": _named(column("fix_versions", [])),
        "components": _named(column("components", [])),
        "assignee": None,
        "reporter": {"name": rt.config.server_user, "displayName": f"{rt.config.server_user} (Xray sandbox)"},
    }
    if issue["type"] == "Test Execution":
        plan = column("test_plan")
        available[rt.config.test_plan_field] = [plan] if plan else []
        available[rt.config.environments_field] = column("environments", [])
    return {name: available[name] for name in wanted if name in available}
