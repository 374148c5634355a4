"""Xray Cloud's GraphQL API, the part clients use to create Test Executions up front, link them to Test
Plans and read runs back (contract §9, §15.1, §16.1): ``POST /api/v1/graphql`` and ``/api/v2/graphql``.

Requests are ``{"query", "variables"?, "operationName"?}`` with the same Bearer token as imports (401
``{"error"}`` without one, as imports answer; the 429/503 and region faults apply too). GraphQL errors are
HTTP 200 (see :mod:`xray_tasks.sandbox.graphql`); a body that is not such an object is a 400 with
``{"errors": [...]}``.

Queries: ``getTestExecutions`` / ``getTests`` / ``getTestPlans`` (``jql``, ``issueIds``,
``projectId``, ``modifiedSince``, ``limit``, ``start``), ``getTestExecution`` / ``getTest`` /
``getTestPlan`` (``issueId``; null when there is none), ``getTestRuns`` (``testExecIssueIds``,
``testIssueIds``, ``testRunAssignees``, ``modifiedSince``, ``limit``, ``start``), ``getTestRun``
(``testIssueId``, ``testExecIssueId``), ``getTestRunById``, ``getStatuses``, ``getStatus``.
Mutations: ``createTestExecution`` (``jira``, whose ``issuetype`` is ignored since it is implied — some
sites name it "Xray Test Execution" —, ``testIssueIds`` or ``tests``, ``testEnvironments``:
environments that do not exist are created and listed in ``createdTestEnvironments``; Tests that are
not found are ``warnings``), ``addTestExecutionsToTestPlan`` (already linked → not in
``addedTestExecutions``), ``addTestsToTestExecution``.

Rules as Xray states them: every list takes ``limit`` (1–100, an error otherwise) and ``start``; nested
limits may ask for 10,000 items at most; a JQL matching more than 100 issues is an error; issues are
named by id (``issueId``), not key. Unknown ids give empty results, a Test Plan the user cannot edit (here:
one that does not exist) gives "User doesn't have permissions to edit issue with id …".
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from xray_tasks.sandbox import errors
from xray_tasks.sandbox.config import Runtime
from xray_tasks.sandbox.errors import ApiError
from xray_tasks.sandbox.exchange import Request, Response
from xray_tasks.sandbox.graphql import FieldDef, FieldError, Schema, execute
from xray_tasks.sandbox.issuedata import execution_fields
from xray_tasks.sandbox.jirafields import jira_fields
from xray_tasks.sandbox.jql import JqlError, search
from xray_tasks.sandbox.statuses import CLOUD_NAMES, status_object

__all__ = ["MAX_LIMIT", "SCHEMA", "endpoint"]

MAX_LIMIT = 100
MAX_JQL_ISSUES = 100
_TEST_KINDS = {"Generic": "Unstructured", "Cucumber": "Gherkin", "Manual": "Steps"}


@dataclass
class Ctx:
    rt: Runtime


# -- helpers -----------------------------------------------------------------------------------------


def _page(args: dict[str, Any]) -> tuple[int, int]:
    limit, start = args["limit"], args.get("start") or 0
    if not 1 <= limit <= MAX_LIMIT:
        raise FieldError(f"The limit must be between 1 and {MAX_LIMIT} (it was {limit}).")
    if start < 0:
        raise FieldError(f"The start must not be negative (it was {start}).")
    return limit, start


def _results(items: list[Any], args: dict[str, Any], total: int | None = None) -> dict[str, Any]:
    """A page ``{total, start, limit, results}`` of ``items`` (already paged when ``total`` is given)."""
    limit, start = _page(args)
    if total is None:
        total, items = len(items), items[start:start + limit]
    return {"total": total, "start": start, "limit": limit, "results": items}


def _ids(values: list[str] | None) -> list[int] | None:
    return None if values is None else [int(v) for v in values if v.isdigit()]


def _since(args: dict[str, Any]) -> datetime | None:
    text = args.get("modifiedSince")
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FieldError(f"modifiedSince must be an ISO 8601 date-time (it was {text!r}).") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _modified_after(stamp: str, since: datetime | None) -> bool:
    return since is None or datetime.fromisoformat(stamp) >= since


def _issue(rt: Runtime, row: sqlite3.Row) -> dict[str, Any]:
    """An issue as a GraphQL object (Test, TestExecution or TestPlan)."""
    project = rt.store.project(row["project"])
    updated = row["created"]
    if row["type"] == "Test Execution":
        own = rt.store.execution_row(row["id"])
        updated = own["updated"] if own is not None else updated
    return {"issueId": str(row["id"]), "projectId": str(project["id"]) if project else None,
            "lastModified": updated, "_row": row}


def _issues(ctx: Ctx, args: dict[str, Any], issue_type: str) -> dict[str, Any]:
    store = ctx.rt.store
    _page(args)
    if args.get("jql") is not None:
        try:
            rows = search(store, args["jql"], (issue_type,), project_id=args.get("projectId"))
        except JqlError as exc:
            raise FieldError(str(exc)) from None
        if len(rows) > MAX_JQL_ISSUES:
            raise FieldError(f"The JQL matches {len(rows)} issues, more than the {MAX_JQL_ISSUES} allowed; "
                             "narrow it down.")
    else:
        project = store.project(args["projectId"]) if args.get("projectId") is not None else None
        rows = store.find_issues((issue_type,), projects=None if args.get("projectId") is None
                                 else [project["key"]] if project else [])
    wanted = _ids(args.get("issueIds"))
    if wanted is not None:
        rows = [r for r in rows if r["id"] in wanted]
    since = _since(args)
    objects = [_issue(ctx.rt, r) for r in rows]
    return _results([o for o in objects if _modified_after(o["lastModified"], since)], args)


def _one_issue(ctx: Ctx, issue_id: str, issue_type: str) -> dict[str, Any] | None:
    row = ctx.rt.store.issue(issue_id) if issue_id.isdigit() else None
    return _issue(ctx.rt, row) if row is not None and row["type"] == issue_type else None


def _run(ctx: Ctx, run: dict[str, Any]) -> dict[str, Any]:
    """A stored run (``Store.runs_page``) as a GraphQL TestRun."""
    rt = ctx.rt
    defects = []
    for key in run["defects"]:
        issue = rt.store.issue(key)
        defects.append(str(issue["id"]) if issue is not None else key)
    return {
        "id": str(run["id"]), "status": status_object(run["status"], "cloud"), "comment": run["comment"],
        "startedOn": run["started"], "finishedOn": run["finished"], "executedById": run["executed_by"],
        "assigneeId": run["assignee"], "defects": defects, "lastModified": run["updated"],
        "evidence": [{"id": e["id"], "filename": e["filename"], "mimeType": e["content_type"], "size": e["size"],
                      "createdOn": e["created"], "storedInJira": False,
                      "downloadLink": f"{rt.base_url}/api/v2/attachments/{e['id']}"} for e in run["evidence"]],
        "examples": [_example(n, e, run) for n, e in enumerate(run["examples"], 1)],
        "customFields": [{"id": name, "name": name, "values": values}
                         for name, values in run["custom_fields"].items()],
        "_run": run,
    }


def _example(n: int, example: Any, run: dict[str, Any]) -> dict[str, Any]:
    status = example.get("status") if isinstance(example, dict) else example
    return {"id": f"{run['id']}-{n}", "status": status_object(str(status), "cloud"),
            "duration": example.get("duration") if isinstance(example, dict) else None}


def _runs(ctx: Ctx, args: dict[str, Any], *, executions: list[int] | None = None,
          tests: list[int] | None = None) -> dict[str, Any]:
    limit, start = _page(args)
    assignees, since = args.get("testRunAssignees"), _since(args)
    store = ctx.rt.store
    if assignees is None and since is None:
        total, runs = store.runs_page(execution_ids=executions, test_ids=tests, start=start, limit=limit)
        return _results([_run(ctx, r) for r in runs], args, total)
    _, every = store.runs_page(execution_ids=executions, test_ids=tests)
    kept = [r for r in every if (assignees is None or r["assignee"] in assignees)
            and _modified_after(r["updated"], since)]
    return _results([_run(ctx, r) for r in kept], args)


# -- resolvers ----------------------------------------------------------------------------------------


def _jira(ctx: Ctx, parent: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    return jira_fields(ctx.rt, parent["_row"], args["fields"] or [])


def _execution_runs(ctx: Ctx, parent: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    return _runs(ctx, args, executions=[parent["_row"]["id"]])


def _execution_tests(ctx: Ctx, parent: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    limit, start = _page(args)
    total, runs = ctx.rt.store.runs_page(execution_ids=[parent["_row"]["id"]], start=start, limit=limit)
    return _results([_issue(ctx.rt, _row(ctx, r["test_id"])) for r in runs], args, total)


def _execution_plans(ctx: Ctx, parent: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    ids = ctx.rt.store.execution_plan_ids(parent["_row"]["id"])
    return _results([_issue(ctx.rt, _row(ctx, i)) for i in ids], args)


def _execution_environments(ctx: Ctx, parent: dict[str, Any], args: dict[str, Any]) -> list[str]:
    field = ctx.rt.config.environments_field
    return list(jira_fields(ctx.rt, parent["_row"], [field]).get(field, []))


def _plan_tests(ctx: Ctx, parent: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    ids = ctx.rt.store.plan_test_ids(parent["_row"]["id"])
    return _results([_issue(ctx.rt, _row(ctx, i)) for i in ids], args)


def _plan_executions(ctx: Ctx, parent: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    ids = ctx.rt.store.plan_execution_ids(parent["_row"]["id"])
    return _results([_issue(ctx.rt, _row(ctx, i)) for i in ids], args)


def _test_type(ctx: Ctx, parent: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    own = ctx.rt.store.test_row(parent["_row"]["id"])
    name = own["test_type"] if own is not None else "Generic"
    return {"name": name, "kind": _TEST_KINDS.get(name, "Unstructured")}


def _test_definition(kind: str) -> Any:
    def resolve(ctx: Ctx, parent: dict[str, Any], args: dict[str, Any]) -> str | None:
        own = ctx.rt.store.test_row(parent["_row"]["id"])
        if own is None or _TEST_KINDS.get(own["test_type"], "Unstructured") != kind:
            return None
        return str(own["definition"])
    return resolve


def _test_executions(ctx: Ctx, parent: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    _, runs = ctx.rt.store.runs_page(test_ids=[parent["_row"]["id"]])
    return _results([_issue(ctx.rt, _row(ctx, r["execution_id"])) for r in runs], args)


def _test_plans(ctx: Ctx, parent: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    plans = [p for p in ctx.rt.store.find_issues(("Test Plan",))
             if parent["_row"]["id"] in ctx.rt.store.plan_test_ids(p["id"])]
    return _results([_issue(ctx.rt, p) for p in plans], args)


def _row(ctx: Ctx, issue_id: int) -> sqlite3.Row:
    row = ctx.rt.store.issue(str(issue_id))
    assert row is not None
    return row


def _run_test(ctx: Ctx, parent: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    return _issue(ctx.rt, _row(ctx, parent["_run"]["test_id"]))


def _run_execution(ctx: Ctx, parent: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    return _issue(ctx.rt, _row(ctx, parent["_run"]["execution_id"]))


def _run_test_type(ctx: Ctx, parent: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    return _test_type(ctx, {"_row": _row(ctx, parent["_run"]["test_id"])}, args)


def _iterations(ctx: Ctx, parent: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    items = []
    for rank, it in enumerate(parent["_run"]["iterations"], 1):
        params = it.get("parameters") if isinstance(it.get("parameters"), list) else []
        items.append({"rank": str(rank), "name": it.get("name"), "log": it.get("log"),
                      "duration": it.get("duration"), "status": status_object(str(it.get("status")), "cloud"),
                      "parameters": [{"name": p.get("name"), "value": p.get("value")} for p in params
                                     if isinstance(p, dict)]})
    return _results(items, args)


def _get_test_runs(ctx: Ctx, parent: Any, args: dict[str, Any]) -> dict[str, Any]:
    return _runs(ctx, args, executions=_ids(args.get("testExecIssueIds")), tests=_ids(args.get("testIssueIds")))


def _get_test_run(ctx: Ctx, parent: Any, args: dict[str, Any]) -> dict[str, Any] | None:
    tests, executions = _ids([args["testIssueId"]]), _ids([args["testExecIssueId"]])
    _, runs = ctx.rt.store.runs_page(execution_ids=executions, test_ids=tests)
    return _run(ctx, runs[0]) if runs else None


def _get_test_run_by_id(ctx: Ctx, parent: Any, args: dict[str, Any]) -> dict[str, Any] | None:
    _, runs = ctx.rt.store.runs_page(run_ids=_ids([args["id"]]))
    return _run(ctx, runs[0]) if runs else None


def _statuses(ctx: Ctx, parent: Any, args: dict[str, Any]) -> list[dict[str, Any]]:
    return [status_object(name, "cloud") for name in CLOUD_NAMES]


def _status(ctx: Ctx, parent: Any, args: dict[str, Any]) -> dict[str, Any] | None:
    return status_object(args["name"], "cloud") if args["name"] in CLOUD_NAMES else None


# -- mutations ----------------------------------------------------------------------------------------


def _test_ids(ctx: Ctx, args: dict[str, Any], warnings: list[str]) -> list[sqlite3.Row]:
    """The Tests named by ``testIssueIds`` or ``tests``; the others become warnings."""
    if args.get("testIssueIds") is not None and args.get("tests") is not None:
        raise FieldError("testIssueIds and tests cannot be used together; use one of them.")
    ids = args.get("testIssueIds")
    if ids is None:
        ids = [t["issueId"] for t in args.get("tests") or []]
    found = []
    for issue_id in dict.fromkeys(ids):
        row = ctx.rt.store.issue(issue_id) if issue_id.isdigit() else None
        if row is None or row["type"] != "Test":
            warnings.append(f"Test with id {issue_id} was not found or is not a Test.")
        else:
            found.append(row)
    return found


def _add_todo_runs(ctx: Ctx, execution_id: int, tests: list[sqlite3.Row]) -> list[str]:
    """Add a TODO run for each Test the execution has no run of; the ids of the Tests added."""
    store, added = ctx.rt.store, []
    with store.transaction():
        for test in tests:
            if store.add_todo_run(execution_id, test):
                added.append(str(test["id"]))
    return added


def _create_execution(ctx: Ctx, parent: Any, args: dict[str, Any]) -> dict[str, Any]:
    rt, store = ctx.rt, ctx.rt.store
    jira = args["jira"]
    if not isinstance(jira, dict) or not isinstance(jira.get("fields"), dict):
        raise FieldError('jira must be a Jira issue object like {"fields": {"project": {"key": "CALC"}, '
                         '"summary": "..."}}.')
    implied = {k: v for k, v in jira["fields"].items() if k != "issuetype"}  # always a Test Execution here
    try:
        fields, _ = execution_fields(rt, {"fields": implied}, "cloud")
    except ApiError as exc:
        raise FieldError(exc.message) from None
    assert fields.project is not None
    project = store.project(fields.project)
    if project is None:
        raise FieldError(errors.project_not_found(fields.project))
    warnings: list[str] = []
    environments = list(dict.fromkeys(args.get("testEnvironments") or []))
    with store.transaction():
        tests = _test_ids(ctx, args, warnings)
        known = {*(rt.config.environments or ()), *store.environment_names()}
        created = [e for e in environments if e not in known]
        store.add_environments(environments)
        row = store.create_execution(
            project["key"], fields.summary or "", description=fields.description, labels=fields.labels,
            components=fields.components, fix_versions=fields.fix_versions, environments=environments,
            format="", endpoint="graphql createTestExecution", dialect="cloud", multipart=False, info=jira,
            imports=0)
        _add_todo_runs(ctx, row["id"], tests)
    return {"testExecution": _issue(rt, row), "createdTestEnvironments": created, "warnings": warnings}


def _permission_denied(issue_id: str) -> FieldError:
    return FieldError(f"User doesn't have permissions to edit issue with id {issue_id}")


def _editable(ctx: Ctx, issue_id: str, issue_type: str) -> sqlite3.Row:
    """The issue a mutation changes: one the user may edit (else Xray's permission error), of ``issue_type``."""
    issue = ctx.rt.store.issue(issue_id) if issue_id.isdigit() else None
    if issue is None:
        raise _permission_denied(issue_id)
    if issue["type"] != issue_type:
        raise FieldError(f"Issue with id {issue_id} is not a {issue_type}.")
    return issue


def _add_executions_to_plan(ctx: Ctx, parent: Any, args: dict[str, Any]) -> dict[str, Any]:
    store = ctx.rt.store
    plan = _editable(ctx, args["issueId"], "Test Plan")
    added, refused = [], []
    with store.transaction():
        for issue_id in dict.fromkeys(args["testExecIssueIds"]):
            row = store.issue(issue_id) if issue_id.isdigit() else None
            if row is None or row["type"] != "Test Execution":
                refused.append(issue_id)
            elif store.link_plan_execution(plan["id"], row["id"]):
                added.append(issue_id)
    warning = (f"Test Executions with ids {', '.join(refused)} were not found or are not Test Executions."
               if refused else None)
    return {"addedTestExecutions": added, "warning": warning}


def _add_tests_to_execution(ctx: Ctx, parent: Any, args: dict[str, Any]) -> dict[str, Any]:
    execution = _editable(ctx, args["issueId"], "Test Execution")
    warnings: list[str] = []
    tests = _test_ids(ctx, {"testIssueIds": args["testIssueIds"]}, warnings)
    added = _add_todo_runs(ctx, execution["id"], tests)
    return {"addedTests": added, "warning": " ".join(warnings) or None}


# -- schema -------------------------------------------------------------------------------------------

_PAGE = {"limit": "Int!", "start": "Int"}
_SEARCH = {"issueIds": "[String]", "jql": "String", "projectId": "String", "modifiedSince": "String", **_PAGE}
_JIRA = FieldDef("JSON", {"fields": "[String]!"}, _jira)


def _connection(item: str) -> dict[str, FieldDef]:
    return {"total": FieldDef("Int"), "start": FieldDef("Int"), "limit": FieldDef("Int"),
            "results": FieldDef(f"[{item}]")}


SCHEMA = Schema(
    objects={
        "Query": {
            "getTestExecutions": FieldDef("TestExecutionResults", _SEARCH,
                                          lambda c, p, a: _issues(c, a, "Test Execution"), paged=True),
            "getTests": FieldDef("TestResults", _SEARCH, lambda c, p, a: _issues(c, a, "Test"), paged=True),
            "getTestPlans": FieldDef("TestPlanResults", _SEARCH, lambda c, p, a: _issues(c, a, "Test Plan"),
                                     paged=True),
            "getTestExecution": FieldDef("TestExecution", {"issueId": "String!"},
                                         lambda c, p, a: _one_issue(c, a["issueId"], "Test Execution")),
            "getTest": FieldDef("Test", {"issueId": "String!"}, lambda c, p, a: _one_issue(c, a["issueId"], "Test")),
            "getTestPlan": FieldDef("TestPlan", {"issueId": "String!"},
                                    lambda c, p, a: _one_issue(c, a["issueId"], "Test Plan")),
            "getTestRuns": FieldDef("TestRunResults", {"testIssueIds": "[String]", "testExecIssueIds": "[String]",
                                                       "testRunAssignees": "[String]", "modifiedSince": "String",
                                                       **_PAGE}, _get_test_runs, paged=True),
            "getTestRun": FieldDef("TestRun", {"testIssueId": "String!", "testExecIssueId": "String!"},
                                   _get_test_run),
            "getTestRunById": FieldDef("TestRun", {"id": "String!"}, _get_test_run_by_id),
            "getStatuses": FieldDef("[Status]", {"projectId": "String", "testType": "JSON"}, _statuses),
            "getStatus": FieldDef("Status", {"name": "String!", "projectId": "String"}, _status),
        },
        "Mutation": {
            "createTestExecution": FieldDef("CreateTestExecutionResult", {
                "jira": "JSON!", "testIssueIds": "[String]", "tests": "[TestWithVersionInput]",
                "testEnvironments": "[String]"}, _create_execution),
            "addTestExecutionsToTestPlan": FieldDef("AddTestExecutionsResult", {
                "issueId": "String!", "testExecIssueIds": "[String]!"}, _add_executions_to_plan),
            "addTestsToTestExecution": FieldDef("AddTestsResult", {
                "issueId": "String!", "testIssueIds": "[String]!"}, _add_tests_to_execution),
        },
        "TestExecutionResults": _connection("TestExecution"),
        "TestResults": _connection("Test"),
        "TestPlanResults": _connection("TestPlan"),
        "TestRunResults": _connection("TestRun"),
        "TestRunIterationResults": _connection("TestRunIteration"),
        "TestExecution": {
            "issueId": FieldDef("String"), "projectId": FieldDef("String"), "lastModified": FieldDef("String"),
            "jira": _JIRA, "testEnvironments": FieldDef("[String]", resolve=_execution_environments),
            "testRuns": FieldDef("TestRunResults", _PAGE, _execution_runs, paged=True),
            "tests": FieldDef("TestResults", _PAGE, _execution_tests, paged=True),
            "testPlans": FieldDef("TestPlanResults", _PAGE, _execution_plans, paged=True),
        },
        "Test": {
            "issueId": FieldDef("String"), "projectId": FieldDef("String"), "lastModified": FieldDef("String"),
            "jira": _JIRA, "testType": FieldDef("TestType", resolve=_test_type),
            "unstructured": FieldDef("String", resolve=_test_definition("Unstructured")),
            "gherkin": FieldDef("String", resolve=_test_definition("Gherkin")),
            "testExecutions": FieldDef("TestExecutionResults", _PAGE, _test_executions, paged=True),
            "testPlans": FieldDef("TestPlanResults", _PAGE, _test_plans, paged=True),
        },
        "TestPlan": {
            "issueId": FieldDef("String"), "projectId": FieldDef("String"), "lastModified": FieldDef("String"),
            "jira": _JIRA,
            "tests": FieldDef("TestResults", _PAGE, _plan_tests, paged=True),
            "testExecutions": FieldDef("TestExecutionResults", _PAGE, _plan_executions, paged=True),
        },
        "TestRun": {
            "id": FieldDef("String"), "status": FieldDef("Status"), "comment": FieldDef("String"),
            "startedOn": FieldDef("String"), "finishedOn": FieldDef("String"),
            "executedById": FieldDef("String"), "assigneeId": FieldDef("String"),
            "defects": FieldDef("[String]"), "evidence": FieldDef("[Evidence]"), "lastModified": FieldDef("String"),
            "examples": FieldDef("[Example]"), "customFields": FieldDef("[TestRunCustomFieldValue]"),
            "test": FieldDef("Test", resolve=_run_test),
            "testExecution": FieldDef("TestExecution", resolve=_run_execution),
            "testType": FieldDef("TestType", resolve=_run_test_type),
            "iterations": FieldDef("TestRunIterationResults", _PAGE, _iterations, paged=True),
        },
        "Status": {name: FieldDef("Boolean" if name == "final" else "String")
                   for name in ("name", "description", "final", "color", "coverageStatus")},
        "TestType": {"name": FieldDef("String"), "kind": FieldDef("String")},
        "Evidence": {"id": FieldDef("String"), "filename": FieldDef("String"), "mimeType": FieldDef("String"),
                     "size": FieldDef("Int"), "downloadLink": FieldDef("String"), "createdOn": FieldDef("String"),
                     "storedInJira": FieldDef("Boolean")},
        "Example": {"id": FieldDef("String"), "status": FieldDef("Status"), "duration": FieldDef("Float")},
        "TestRunCustomFieldValue": {"id": FieldDef("String"), "name": FieldDef("String"),
                                    "values": FieldDef("JSON")},
        "TestRunIteration": {"rank": FieldDef("String"), "name": FieldDef("String"), "log": FieldDef("String"),
                             "duration": FieldDef("String"), "status": FieldDef("Status"),
                             "parameters": FieldDef("[TestRunParameter]")},
        "TestRunParameter": {"name": FieldDef("String"), "value": FieldDef("String")},
        "CreateTestExecutionResult": {"testExecution": FieldDef("TestExecution"),
                                      "createdTestEnvironments": FieldDef("[String]"),
                                      "warnings": FieldDef("[String]")},
        "AddTestExecutionsResult": {"addedTestExecutions": FieldDef("[String]"), "warning": FieldDef("String")},
        "AddTestsResult": {"addedTests": FieldDef("[String]"), "warning": FieldDef("String")},
    },
    inputs={"TestWithVersionInput": {"issueId": "String!", "versionId": "Int"}},
)


def endpoint(rt: Runtime, req: Request) -> Response:
    """One GraphQL request (the caller has checked the token)."""
    try:
        body = req.json_body()
    except ApiError as exc:
        return Response(400, {"errors": [{"message": exc.message}]})
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return Response(400, {"errors": [{"message": "Must provide query string."}]})
    variables = body.get("variables")
    if variables is not None and not isinstance(variables, dict):
        return Response(400, {"errors": [{"message": "Variables must be provided as an Object where each property "
                                                     "is a variable value. Perhaps look to see if an unparsed JSON "
                                                     "string was provided."}]})
    name = body.get("operationName")
    if name is not None and not isinstance(name, str):
        return Response(400, {"errors": [{"message": "operationName must be a string."}]})
    result = execute(SCHEMA, body["query"], variables, name, Ctx(rt))
    if result.get("errors"):
        req.record["error"] = "; ".join(e["message"] for e in result["errors"])[:500]
    req.record["note"] = "graphql" if name is None else f"graphql {name}"
    return Response(200, result)
