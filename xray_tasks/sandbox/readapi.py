"""The sandbox's own API under ``/sandbox`` (JSON, no auth, not in the request log).

=======================================  ===================================================================
``GET /sandbox/health``                  ``{"status": "ok", "url", "projects", "executions", "tests",
                                         "requests", "faults"}``
``GET /sandbox/executions[?project=K]``  every Test Execution (fields + ``counts`` + ``total``, no runs)
``GET /sandbox/executions/<KEY>``        one Test Execution with its ``runs`` (404 when unknown); each run
                                         has its ``id``, ``comment``, ``evidence`` (id, filename,
                                         content_type, size, truncated, created), ``defects``,
                                         ``started``/``finished``, ``iterations``, ``examples``,
                                         ``custom_fields``; the execution its ``test_plans``
``GET /sandbox/runs[?execution=K&test=K``  runs oldest first, ``{"total", "start", "limit", "runs"}``
``&start=N&limit=N]``                    (each with ``test_key`` and ``execution_key``)
``GET /sandbox/runs/<id>``               one run (404 when unknown)
``GET /sandbox/evidence/<id>``           an evidence file's kept bytes, with its Content-Type (for a page)
``GET /sandbox/environments``            the Test Environments that exist
``GET /sandbox/tests[?project=K]``       every Test (key, summary, definition, type, labels, test_plans,
                                         requirements…)
``POST /sandbox/tests``                  create a Test: ``{"project", "summary", "definition"?}`` → 201
``GET /sandbox/requests``                the request log: method, path, query, status, content_type,
                                         body_size, duration_ms, parts, dialect, auth, expect_continue,
                                         chunked, execution, error, note
``POST /sandbox/reset``                  forget all issues and requests, re-seed the projects, clear faults
``GET / POST / DELETE /sandbox/faults``  show / change (JSON object) / clear the fault switches
=======================================  ===================================================================
"""

from __future__ import annotations

from typing import Any

from xray_tasks.sandbox.config import Runtime
from xray_tasks.sandbox.errors import ApiError
from xray_tasks.sandbox.exchange import Request, Response

__all__ = ["create_test", "environments", "evidence", "execution", "executions", "faults", "health", "requests",
           "reset", "run", "runs", "tests"]


def health(rt: Runtime, req: Request) -> Response:
    store = rt.store
    return Response(200, {"status": "ok", "url": rt.base_url, "projects": store.project_keys(),
                          "executions": len(store.executions()), "tests": len(store.tests()),
                          "requests": len(store.requests()), "faults": rt.faults.as_dict()})


def executions(rt: Runtime, req: Request) -> Response:
    return Response(200, rt.store.executions(req.param("project")))


def execution(rt: Runtime, req: Request, key: str) -> Response:
    found = rt.store.execution(key)
    if found is None:
        raise ApiError(404, f"No Test Execution with key {key}")
    return Response(200, found)


def _number(req: Request, name: str, default: int | None) -> int | None:
    text = req.param(name)
    if text is None:
        return default
    if not text.isdigit():
        raise ApiError(400, f"{name} must be a whole number >= 0, not {text!r}")
    return int(text)


def _issue_id(rt: Runtime, key: str | None, issue_type: str) -> list[int] | None:
    if key is None:
        return None
    row = rt.store.issue(key)
    if row is None or row["type"] != issue_type:
        raise ApiError(404, f"No {issue_type} with key {key}")
    return [int(row["id"])]


def runs(rt: Runtime, req: Request) -> Response:
    start = _number(req, "start", 0) or 0
    limit = _number(req, "limit", None)
    total, found = rt.store.runs_page(execution_ids=_issue_id(rt, req.param("execution"), "Test Execution"),
                                      test_ids=_issue_id(rt, req.param("test"), "Test"), start=start, limit=limit)
    return Response(200, {"total": total, "start": start, "limit": limit, "runs": found})


def run(rt: Runtime, req: Request, run_id: str) -> Response:
    _, found = rt.store.runs_page(run_ids=[int(run_id)] if run_id.isdigit() else [])
    if not found:
        raise ApiError(404, f"No Test Run with id {run_id}")
    return Response(200, found[0])


def evidence(rt: Runtime, req: Request, evidence_id: str) -> Response:
    from xray_tasks.sandbox.readback import evidence_response

    return evidence_response(rt, evidence_id)


def environments(rt: Runtime, req: Request) -> Response:
    return Response(200, sorted({*(rt.config.environments or ()), *rt.store.environment_names()}))


def tests(rt: Runtime, req: Request) -> Response:
    return Response(200, rt.store.tests(req.param("project")))


def create_test(rt: Runtime, req: Request) -> Response:
    body = req.json_body()
    if not isinstance(body, dict) or not isinstance(body.get("project"), str) \
            or not isinstance(body.get("summary"), str) or not body["summary"].strip():
        raise ApiError(400, 'send {"project": "KEY", "summary": "...", "definition": "..." (optional)}')
    project = rt.store.project(body["project"])
    if project is None:
        raise ApiError(400, f"No project with key {body['project']}")
    definition = body.get("definition") if isinstance(body.get("definition"), str) else None
    with rt.store.transaction():
        existing = rt.store.find_test(project["key"], definition or body["summary"])
        issue = existing or rt.store.create_test(project["key"], body["summary"], definition, origin="sandbox-api")
    found = next(t for t in rt.store.tests(project["key"]) if t["key"] == issue["key"])
    return Response(200 if existing else 201, found)


def requests(rt: Runtime, req: Request) -> Response:
    return Response(200, rt.store.requests())


def reset(rt: Runtime, req: Request) -> Response:
    rt.store.reset()
    rt.faults.clear()
    return Response(200, {"reset": True, "projects": rt.store.project_keys()})


def faults(rt: Runtime, req: Request) -> Response:
    if req.method == "POST":
        changes: Any = req.json_body()
        if not isinstance(changes, dict):
            raise ApiError(400, "send a JSON object of fault switches, e.g. {\"status_429\": 2}")
        try:
            rt.faults.update(changes)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
    elif req.method == "DELETE":
        rt.faults.clear()
    return Response(200, rt.faults.as_dict())
