"""Xray Server/DC's REST calls for creating a Test Execution up front and reading one back (contract §15.2,
§16.2), plus the evidence downloads of both dialects. Every call needs Server credentials (Basic or PAT)
unless noted; ``{v}`` is ``1.0``, ``2.0`` or ``latest``.

=================================================================  ==========================================
``POST /rest/api/2/issue``                                         Jira's create: a Test Execution (with the
                                                                   Test Plan / Test Environments custom
                                                                   fields), Test Plan, Test or Story → ``201 {id,
                                                                   key, self}``; Jira's ``400 {"errorMessages",
                                                                   "errors": {field: text}}`` otherwise
``GET /rest/raven/{v}/api/testexec/{key}/test``                    ``[{id (the run's), key (the Test's), rank,
``[?detailed=true&limit=N&page=P]``                                status}]``; ``detailed`` adds assignee,
                                                                   executedBy, startedOn, finishedOn, defects,
                                                                   evidences, comment
``POST /rest/raven/{v}/api/testexec/{key}/test``                   ``{"add": [Test keys], "remove": [...]}`` →
                                                                   ``200 []`` or ``200 ["<problem>", …]``
``GET /rest/raven/{v}/testruns``, ``…/{v}/api/testruns``           runs as Xray JSON exports them; needs
``?testExecKey=…|testKey=…|testPlanKey=…[&limit&page]``            ``testExecKey``, ``testKey`` or
                                                                   ``testPlanKey``
``GET /rest/raven/{v}/api/testrun?testExecIssueKey=E&testIssueKey=T``  one run; ``…/api/testrun/{id}`` too
``GET|POST /rest/raven/{v}/api/testplan/{key}/testexecution``      list ``[{id, key, summary, self,
                                                                   testEnvironments}]`` / ``{"add", "remove"}``
                                                                   → ``200 []`` or ``200 [messages]``
``GET /rest/raven/{v}/api/settings/teststatuses``                  ``[{id, rank, name, description, final,
                                                                   color, requirementStatusName}]``
``GET /plugins/servlet/raven/attachment/{id}/{name}``              an evidence file (Server credentials)
``GET /api/{v1,v2}/attachments/{id}``                              an evidence file (Cloud token)
=================================================================  ==========================================

Paging (``page`` from 1, ``limit``): without either every item is answered; with ``page`` alone a page
holds :data:`PAGE_CAP` items, and ``limit`` is capped there too (Xray caps it with a global setting); past
the end the page is empty. Status names are the Server ones (``PASS``, ``FAIL``…) whichever dialect wrote
the run; times are ISO 8601 with an offset.
"""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import quote

from xray_tasks.sandbox import cloud, server_dc
from xray_tasks.sandbox.config import Runtime
from xray_tasks.sandbox.errors import ApiError
from xray_tasks.sandbox.exchange import Request, Response
from xray_tasks.sandbox.jirafields import jira_fields
from xray_tasks.sandbox.statuses import SERVER_NAMES, in_dialect, status_object
from xray_tasks.sandbox.store import ISSUE_TYPES

__all__ = ["PAGE_CAP", "cloud_attachment", "create_issue", "evidence_response", "plan_executions",
           "server_attachment", "test_run", "test_statuses", "testexec_tests", "testruns"]

PAGE_CAP = 100
_RUN_FILTERS = ("testExecKey", "testKey", "testPlanKey", "savedFilterId")


def _paging(req: Request) -> tuple[int, int | None]:
    """(offset, limit) from ``page`` and ``limit``; (0, None) when neither is given."""
    values = {}
    for name in ("page", "limit"):
        text = req.param(name)
        if text is None:
            continue
        if not text.isdigit() or int(text) < 1:
            raise ApiError(400, f"The parameter '{name}' must be a whole number of at least 1 (it was '{text}').")
        values[name] = int(text)
    if not values:
        return 0, None
    limit = min(values.get("limit", PAGE_CAP), PAGE_CAP)
    return (values.get("page", 1) - 1) * limit, limit


def _issue_of(rt: Runtime, key: str, issue_type: str) -> sqlite3.Row:
    row = rt.store.issue(key)
    if row is None or row["type"] != issue_type:
        raise ApiError(404, f"{issue_type} with key {key} not found.")
    return row


def _evidences(rt: Runtime, run: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"id": int(e["id"]), "fileName": e["filename"], "fileSize": e["size"], "contentType": e["content_type"],
             "created": e["created"], "author": rt.config.server_user,
             "fileURL": f"{rt.base_url}/plugins/servlet/raven/attachment/{e['id']}/{e['filename']}"}
            for e in run["evidence"]]


def _defects(rt: Runtime, run: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key in run["defects"]:
        issue = rt.store.issue(key)
        out.append({"key": key} if issue is None else {"id": issue["id"], "key": key, "summary": issue["summary"]})
    return out


def _server_run(rt: Runtime, run: dict[str, Any]) -> dict[str, Any]:
    """A run as ``…/api/testrun`` answers it."""
    status = status_object(run["status"], "server")
    return {"id": run["id"], "status": status["name"], "color": status["color"], "testKey": run["test_key"],
            "testExecKey": run["execution_key"], "assignee": run["assignee"],
            "executedBy": run["executed_by"] or rt.config.server_user, "startedOn": run["started"],
            "finishedOn": run["finished"], "duration": None if run["duration"] is None
            else round(run["duration"] * 1000), "comment": run["comment"], "defects": _defects(rt, run),
            "evidences": _evidences(rt, run), "examples": [in_dialect(str(e.get("status") if isinstance(e, dict)
                                                                               else e), "server")
                                                           for e in run["examples"]],
            "iterations": run["iterations"], "customFields": [{"name": n, "value": v}
                                                              for n, v in run["custom_fields"].items()]}


def testexec_tests(rt: Runtime, req: Request, key: str) -> Response:
    """``GET`` lists the execution's Tests with their runs; ``POST`` adds or removes Tests."""
    server_dc.authorize(rt, req)
    execution = _issue_of(rt, key, "Test Execution")
    store = rt.store
    if req.method == "POST":
        add, remove = _add_remove(req)
        problems = []
        with store.transaction():
            for test_key in add:
                test = store.issue(test_key)
                if test is None or test["type"] != "Test":
                    problems.append(f"Issue with key {test_key} not found or is not of type Test.")
                else:
                    store.add_todo_run(execution["id"], test)
            for test_key in remove:
                test = store.issue(test_key)
                if test is None or not store.delete_run(execution["id"], test["id"]):
                    problems.append(f"Issue with key {test_key} is not a Test of {key}.")
        return Response(200, problems)
    offset, limit = _paging(req)
    _, runs = store.runs_page(execution_ids=[execution["id"]], start=offset, limit=limit)
    detailed = (req.param("detailed") or "").lower() == "true"
    out = []
    for rank, run in enumerate(runs, offset + 1):
        item: dict[str, Any] = {"id": run["id"], "status": in_dialect(run["status"], "server"), "rank": rank,
                                "key": run["test_key"]}
        if detailed:
            full = _server_run(rt, run)
            item.update({k: full[k] for k in ("assignee", "executedBy", "startedOn", "finishedOn", "defects",
                                              "evidences", "comment")})
        out.append(item)
    return Response(200, out)


def _add_remove(req: Request) -> tuple[list[str], list[str]]:
    body = req.json_body()
    lists = [body.get(name, []) if isinstance(body, dict) else None for name in ("add", "remove")]
    if not all(isinstance(v, list) and all(isinstance(k, str) for k in v) for v in lists):
        raise ApiError(400, 'Send {"add": ["KEY", ...], "remove": ["KEY", ...]} (both optional).')
    return lists[0] or [], lists[1] or []


def testruns(rt: Runtime, req: Request) -> Response:
    """Runs of an execution, a Test or a Test Plan, as Xray JSON exports them."""
    server_dc.authorize(rt, req)
    store = rt.store
    if not any(req.param(name) for name in _RUN_FILTERS):
        raise ApiError(400, "One of the parameters testExecKey, testKey, testPlanKey or savedFilterId is required.")
    if req.param("savedFilterId"):
        raise ApiError(400, f"Filter with id {req.param('savedFilterId')} not found (the sandbox has no filters).")
    executions: list[int] | None = None
    tests: list[int] | None = None
    if req.param("testExecKey"):
        executions = [_issue_of(rt, req.param("testExecKey") or "", "Test Execution")["id"]]
    if req.param("testPlanKey"):
        plan = _issue_of(rt, req.param("testPlanKey") or "", "Test Plan")
        linked = store.plan_execution_ids(plan["id"])
        executions = linked if executions is None else [e for e in executions if e in linked]
    if req.param("testKey"):
        tests = [_issue_of(rt, req.param("testKey") or "", "Test")["id"]]
    offset, limit = _paging(req)
    _, runs = store.runs_page(execution_ids=executions, test_ids=tests, start=offset, limit=limit)
    wanted = [f.strip() for f in (req.param("includeTestFields") or "").split(",") if f.strip()]
    out = []
    for run in runs:
        full = _server_run(rt, run)
        item = {"id": run["id"], "status": full["status"], "color": full["color"], "testKey": run["test_key"],
                "testExecKey": run["execution_key"], "start": run["started"], "finish": run["finished"],
                "comment": run["comment"], "executedBy": full["executedBy"], "assignee": run["assignee"],
                "defects": list(run["defects"]), "evidences": full["evidences"], "examples": full["examples"],
                "iterations": run["iterations"], "type": _test_type(rt, run["test_id"])}
        if wanted:
            test = store.issue(str(run["test_id"]))
            assert test is not None
            item["testFields"] = jira_fields(rt, test, wanted)
        out.append(item)
    return Response(200, out)


def _test_type(rt: Runtime, test_id: int) -> str:
    own = rt.store.test_row(test_id)
    return own["test_type"] if own is not None else "Generic"


def test_run(rt: Runtime, req: Request, run_id: str | None) -> Response:
    """One run, by id or by ``testExecIssueKey`` and ``testIssueKey``."""
    server_dc.authorize(rt, req)
    store = rt.store
    if run_id is None:
        exec_key, test_key = req.param("testExecIssueKey"), req.param("testIssueKey")
        if not exec_key or not test_key:
            raise ApiError(400, "The parameters testExecIssueKey and testIssueKey are required.")
        execution = _issue_of(rt, exec_key, "Test Execution")
        test = _issue_of(rt, test_key, "Test")
        _, runs = store.runs_page(execution_ids=[execution["id"]], test_ids=[test["id"]])
    else:
        _, runs = store.runs_page(run_ids=[int(run_id)])
    if not runs:
        raise ApiError(404, "Test Run not found.")
    return Response(200, _server_run(rt, runs[0]))


def plan_executions(rt: Runtime, req: Request, key: str) -> Response:
    """``GET`` lists a Test Plan's Test Executions; ``POST`` adds or removes them."""
    server_dc.authorize(rt, req)
    plan = _issue_of(rt, key, "Test Plan")
    store = rt.store
    if req.method == "POST":
        add, remove = _add_remove(req)
        problems = []
        with store.transaction():
            for exec_key in add:
                row = store.issue(exec_key)
                if row is None or row["type"] != "Test Execution":
                    problems.append(f"Issue with key {exec_key} not found or is not of type Test Execution.")
                else:
                    store.link_plan_execution(plan["id"], row["id"])
            for exec_key in remove:
                row = store.issue(exec_key)
                if row is None or not store.unlink_plan_execution(plan["id"], row["id"]):
                    problems.append(f"Issue with key {exec_key} is not a Test Execution of {key}.")
        return Response(200, problems)
    out = []
    for issue_id in store.plan_execution_ids(plan["id"]):
        row = store.issue(str(issue_id))
        assert row is not None
        fields = jira_fields(rt, row, [rt.config.environments_field])
        out.append({"id": row["id"], "key": row["key"], "summary": row["summary"], "self": rt.issue_self(row["id"]),
                    "testEnvironments": fields.get(rt.config.environments_field, [])})
    return Response(200, out)


def test_statuses(rt: Runtime, req: Request) -> Response:
    """``GET …/api/settings/teststatuses``: the Test Run statuses Server knows."""
    server_dc.authorize(rt, req)
    out = []
    for rank, name in enumerate(SERVER_NAMES, 1):
        status = status_object(name, "server")
        out.append({"id": rank, "rank": rank, "name": name, "description": status["description"],
                    "final": status["final"], "color": status["color"],
                    "requirementStatusName": status["coverageStatus"]})
    return Response(200, out)


# -- Jira create -------------------------------------------------------------------------------------


def _jira_error(errors: dict[str, str], messages: list[str] | None = None) -> Response:
    return Response(400, {"errorMessages": messages or [], "errors": errors})


def create_issue(rt: Runtime, req: Request) -> Response:
    """Jira's ``POST /rest/api/2/issue`` for the issue types Xray has (Test Execution, Test Plan, Test) and
    Story (a requirement Tests link to)."""
    server_dc.authorize(rt, req)
    try:
        body = req.json_body()
    except ApiError:
        return _jira_error({}, ["Unexpected character in the request body: it is not JSON."])
    if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
        return _jira_error({}, ['Send a JSON object with "fields": {"project": {"key": "..."}, "issuetype": '
                                '{"name": "Test Execution"}, "summary": "..."}.'])
    fields = body["fields"]
    problems: dict[str, str] = {}
    store = rt.store
    project_ref = fields.get("project")
    ref = project_ref.get("key", project_ref.get("id")) if isinstance(project_ref, dict) else None
    project = store.project(str(ref)) if isinstance(ref, str | int) and not isinstance(ref, bool) else None
    if project_ref is None:
        problems["project"] = "project is required"
    elif project is None:
        problems["project"] = "valid project is required"
    kind = fields.get("issuetype")
    by_id = {v: k for k, v in ISSUE_TYPES.items()}
    issue_type = None
    if isinstance(kind, dict):
        issue_type = kind.get("name") if kind.get("name") in ISSUE_TYPES else by_id.get(str(kind.get("id")))
    if kind is None:
        problems["issuetype"] = "issue type is required"
    elif issue_type is None:
        problems["issuetype"] = "valid issue type is required"
    summary = fields.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        problems["summary"] = "You must specify a summary of the issue."
    cfg = rt.config
    allowed_custom = (cfg.test_plan_field, cfg.environments_field) if issue_type == "Test Execution" else ()
    for name in fields:
        if name.startswith("customfield_") and name not in allowed_custom:
            problems[name] = f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
    labels = fields.get("labels") or []
    if not isinstance(labels, list) or not all(isinstance(x, str) and x and not any(c.isspace() for c in x)
                                               for x in labels):
        problems["labels"] = "Labels must be a list of words without spaces."
    plans = _string_list(fields.get(cfg.test_plan_field), cfg.test_plan_field, problems)
    for plan_key in plans:
        plan = store.issue(plan_key)
        if plan is None or plan["type"] != "Test Plan":
            problems[cfg.test_plan_field] = f"Issue with key {plan_key} not found or is not of type Test Plan."
    if len(plans) > 1:
        problems[cfg.test_plan_field] = "The sandbox links one Test Plan per Test Execution."
    environments = _string_list(fields.get(cfg.environments_field), cfg.environments_field, problems)
    if problems:
        return _jira_error(problems)
    assert project is not None and issue_type is not None and isinstance(summary, str)
    with store.transaction():
        if issue_type == "Test Execution":
            store.add_environments(environments)
            row = store.create_execution(
                project["key"], summary, description=_text(fields.get("description")), labels=labels,
                components=_names(fields.get("components")), fix_versions=_names(fields.get("fixVersions")),
                test_plan=plans[0] if plans else None, environments=environments, format="",
                endpoint=req.path, dialect="server", multipart=False, info=body, imports=0)
        elif issue_type == "Test":
            # a Manual Test has no definition for imports to match: give it one no report can have
            current = store.project(project["key"])  # inside the transaction: the next number is ours
            assert current is not None
            key = f"{project['key']}-{current['last_number'] + 1}"
            row = store.create_test(project["key"], summary, f"jira:{key}", test_type="Manual", labels=labels,
                                    description=_text(fields.get("description")), origin="jira")
            assert row["key"] == key
        else:
            row = store.create_issue(project["key"], issue_type, summary)
    req.record["execution"] = row["key"] if issue_type == "Test Execution" else None
    return Response(201, {"id": str(row["id"]), "key": row["key"], "self": rt.issue_self(row["id"])})


def _string_list(value: Any, name: str, problems: dict[str, str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    problems[name] = "expected an array of strings"
    return []


def _names(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [str(v.get("name", v.get("id"))) for v in value if isinstance(v, dict) and (v.get("name") or v.get("id"))]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# -- evidence downloads ------------------------------------------------------------------------------


def evidence_response(rt: Runtime, evidence_id: str) -> Response:
    """The kept bytes of one evidence file with its content type (404 when there is none)."""
    found = rt.store.evidence_file(int(evidence_id)) if evidence_id.isdigit() else None
    if found is None:
        raise ApiError(404, f"Attachment {evidence_id} not found.")
    name = found["filename"]
    shown = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    # a report's evidence is anyone's file: opened in a browser, an HTML or SVG one must not run script
    return Response(200, bytes(found["data"]), {
        "Content-Type": found["content_type"],
        "Content-Disposition": f"inline; filename=\"{shown}\"; filename*=UTF-8''{quote(name, safe='')}",
        "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
        "X-Content-Type-Options": "nosniff"})


def server_attachment(rt: Runtime, req: Request, evidence_id: str) -> Response:
    server_dc.authorize(rt, req)
    return evidence_response(rt, evidence_id)


def cloud_attachment(rt: Runtime, req: Request, evidence_id: str) -> Response:
    cloud.authorize(rt, req)
    return evidence_response(rt, evidence_id)
