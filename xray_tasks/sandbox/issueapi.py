"""The sandbox's own API for what the feature import and export refer to (JSON, no auth, not logged).

=========================================  ==============================================================
``POST /sandbox/issues``                   create a requirement or a Test Plan: ``{"project", "type",
                                           "summary"}``, type one of Story, Epic, Requirement, Task, Bug,
                                           Test Plan → 201 ``{"id", "key", "project", "type", "summary"}``
``GET /sandbox/filters``                   the saved filters
``POST /sandbox/filters``                  save a filter: ``{"keys": ["CALC-1", ...], "name"?}`` (every key
                                           must exist) → 201 ``{"id", "name", "keys"}``; export with
                                           ``?filter=<id>``
``GET /sandbox/gherkin/<KEY>``             a Cucumber Test's or Precondition's Gherkin: ``{"key", "type",
                                           "summary", "scenario_type", "steps", "language", "source",
                                           "path", "id_tag", "folder", "labels", "requirements",
                                           "preconditions"}`` (404 when it has none)
=========================================  ==============================================================

Real Jira filters are JQL; a sandbox filter is the list of keys such a JQL would find.
"""

from __future__ import annotations

import json
from typing import Any

from xray_tasks.sandbox.config import Runtime
from xray_tasks.sandbox.errors import ApiError
from xray_tasks.sandbox.exchange import Request, Response
from xray_tasks.sandbox.store import REQUIREMENT_TYPES

__all__ = ["create_issue", "filters", "gherkin"]

_CREATABLE = (*REQUIREMENT_TYPES, "Test Plan")


def create_issue(rt: Runtime, req: Request) -> Response:
    body = req.json_body()
    usage = ('send {"project": "KEY", "type": "' + '|'.join(_CREATABLE) + '", "summary": "..."}')
    if not isinstance(body, dict) or not all(isinstance(body.get(k), str) and body[k].strip()
                                             for k in ("project", "type", "summary")):
        raise ApiError(400, usage)
    if body["type"] not in _CREATABLE:
        raise ApiError(400, f"the sandbox creates only {', '.join(_CREATABLE)} issues here; {usage}")
    project = rt.store.project(body["project"])
    if project is None:
        raise ApiError(400, f"No project with key {body['project']}")
    issue = rt.store.create_issue(project["key"], body["type"], body["summary"].strip())
    return Response(201, {"id": str(issue["id"]), "key": issue["key"], "project": issue["project"],
                          "type": issue["type"], "summary": issue["summary"]})


def filters(rt: Runtime, req: Request) -> Response:
    if req.method == "GET":
        return Response(200, rt.store.saved_filters())
    body = req.json_body()
    keys = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k.strip() for k in keys):
        raise ApiError(400, 'send {"keys": ["CALC-1", "CALC-7"], "name": "optional name"}')
    name = body.get("name") if isinstance(body.get("name"), str) else None
    missing = [k for k in keys if rt.store.issue(k.strip()) is None]
    if missing:
        raise ApiError(400, f"No issue with key {', '.join(missing)}")
    saved = rt.store.create_filter(name or "Filter of " + ", ".join(keys), [k.strip() for k in keys])
    return Response(201, saved)


def gherkin(rt: Runtime, req: Request, key: str) -> Response:
    store = rt.store
    issue = store.issue(key)
    steps = None if issue is None else store.gherkin(issue["id"])
    if issue is None or steps is None:
        raise ApiError(404, f"No Cucumber Test or Precondition with key {key}")
    own = store.test_row(issue["id"]) if issue["type"] == "Test" else store.precondition_row(issue["id"])
    out: dict[str, Any] = {"key": issue["key"], "type": issue["type"], "summary": issue["summary"],
                           **{k: steps[k] for k in ("scenario_type", "steps", "language", "source", "path", "id_tag",
                                                    "folder")},
                           "labels": json.loads(own["labels"]) if own is not None else [],
                           "requirements": store.requirements(issue["id"]),
                           "preconditions": [p["key"] for p in store.linked(issue["id"], "precondition")]}
    return Response(200, out)
