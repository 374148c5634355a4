"""The Xray Server/Data Center dialect: ``/rest/raven/{1.0,2.0,latest}`` and a little of Jira's ``/rest/api/2``.

* Auth on every call: HTTP Basic (user/password) or ``Authorization: Bearer <personal access token>``.
* Standard XML formats: ``multipart/form-data`` with one part ``file``, options as the same query
  parameters as Cloud (exact case).
* Standard JSON formats (xray, cucumber, behave): the raw JSON body. Xray JSON needs ``info.project``
  (or ``testExecutionKey``) — without it: "Error assembling issue data: project is required".
* Multipart: part ``file`` (XML formats) or ``result`` (xray, cucumber, behave) + ``info`` (+ ``testInfo``);
  Test Plan and Test Environments are custom fields of ``info`` (ids from ``GET /rest/api/2/field``);
  ``xrayFields`` is refused.
* Success: ``{"testExecIssue": {"id", "key", "self"}}``, plus ``"testIssues": {"success": [...]}`` on
  2.0/latest.
* ``GET /rest/api/2/field`` lists Jira's fields with the two Xray custom fields; ``GET /rest/api/2/myself``
  checks credentials.
"""

from __future__ import annotations

import hmac
from typing import IO, Any

from xray_tasks.sandbox import errors
from xray_tasks.sandbox.cloud import JSON_FORMATS, is_json_type, options_from_query
from xray_tasks.sandbox.config import Runtime
from xray_tasks.sandbox.errors import ApiError
from xray_tasks.sandbox.exchange import Request, Response
from xray_tasks.sandbox.imports import ExecutionFields, ImportRequest, Outcome, run_import
from xray_tasks.sandbox.issuedata import execution_fields, load_json_part, test_defaults
from xray_tasks.sandbox.multipart import Part

__all__ = ["authorize", "fields", "import_execution", "myself"]

_CHALLENGE = {"WWW-Authenticate": 'Basic realm="Xray sandbox"'}


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def authorize(rt: Runtime, req: Request) -> str:
    """The Jira user name for valid Basic credentials or PAT; ApiError 401 otherwise."""
    req.record["dialect"] = "server"
    cfg = rt.config
    auth = req.auth()
    if auth is not None:
        kind, value = auth
        req.record["auth"] = "pat" if kind == "bearer" else kind
        if kind == "basic":
            user, _, password = value.partition(":")
            if _same(user, cfg.server_user) and _same(password, cfg.server_password):
                return user
        elif kind == "bearer" and _same(value, cfg.server_token):
            return cfg.server_user
    raise ApiError(401, errors.SERVER_UNAUTHENTICATED, headers=_CHALLENGE)


def import_execution(rt: Runtime, req: Request, spool: IO[bytes], fmt: str, multipart: bool,
                     version: str) -> Response:
    """One Server/DC import of the spooled body."""
    endpoint = req.path
    is_json = fmt in JSON_FORMATS
    if multipart:
        report_part = "result" if is_json else "file"
        parts = req.parts(spool, (report_part, "info", "testInfo"),
                          f"parts '{report_part}' (the report), 'info' and optionally 'testInfo'")
        try:
            outcome = _multipart(rt, req, parts, fmt, endpoint, report_part)
        finally:
            for part in parts.values():
                part.close()
    elif is_json:
        if not is_json_type(req.content_type):
            raise ApiError(400, errors.wrong_content_type(
                req.raw_content_type, "the JSON report as the raw body with Content-Type application/json"))
        ireq = ImportRequest(dialect="server", endpoint=endpoint, fmt=fmt, multipart=False, report=spool,
                             fields=ExecutionFields(), derive_project=fmt != "xray", xray_envelope=fmt == "xray",
                             query_project=req.param("projectKey"))
        if req.query and fmt != "xray":
            req.record["note"] = "query parameters ignored (JSON formats take none)"
        outcome = run_import(rt, ireq)
    else:
        fields_, exec_key = options_from_query(req)
        parts = req.parts(spool, ("file",), "one part 'file' holding the report")
        try:
            if "file" not in parts:
                raise ApiError(400, errors.missing_part("file"))
            outcome = run_import(rt, ImportRequest(dialect="server", endpoint=endpoint, fmt=fmt, multipart=False,
                                                   report=parts["file"].file, fields=fields_,
                                                   test_exec_key=exec_key, report_label=parts["file"].label))
        finally:
            for part in parts.values():
                part.close()
    return respond(rt, req, outcome, version)


def _multipart(rt: Runtime, req: Request, parts: dict[str, Part], fmt: str, endpoint: str,
               report_part: str) -> Outcome:
    for name in (report_part, "info"):
        if name not in parts:
            raise ApiError(400, errors.missing_part(name))
    info = load_json_part(parts["info"], "info")
    fields_, plan_gets_tests = execution_fields(rt, info, "server")
    test_info = load_json_part(parts["testInfo"], "testInfo") if "testInfo" in parts else None
    ireq = ImportRequest(dialect="server", endpoint=endpoint, fmt=fmt, multipart=True,
                         report=parts[report_part].file, fields=fields_, plan_gets_tests=plan_gets_tests,
                         info=info, test_info=test_info, report_label=parts[report_part].label)
    if test_info is not None:
        ireq.test_defaults = test_defaults(rt, test_info)
    return run_import(rt, ireq)


def _ref(rt: Runtime, row: Any) -> dict[str, str]:
    return {"id": str(row["id"]), "key": row["key"], "self": rt.issue_self(row["id"])}


def respond(rt: Runtime, req: Request, outcome: Outcome, version: str) -> Response:
    req.record["execution"] = outcome.execution["key"]
    body: dict[str, Any] = {"testExecIssue": _ref(rt, outcome.execution)}
    if version != "1.0":
        body["testIssues"] = {"success": [_ref(rt, t) for t in outcome.tests]}
    return Response(200, body)


def fields(rt: Runtime, req: Request) -> Response:
    """Jira's field list (a few system fields and Xray's Test Plan / Test Environments)."""
    authorize(rt, req)
    cfg = rt.config

    def system(fid: str, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"id": fid, "key": fid, "name": name, "custom": False, "orderable": True, "navigable": True,
                "searchable": True, "clauseNames": [fid], "schema": {**schema, "system": fid}}

    def custom(fid: str, name: str, kind: str) -> dict[str, Any]:
        number = int(fid.rsplit("_", 1)[-1]) if fid.rsplit("_", 1)[-1].isdigit() else 0
        return {"id": fid, "key": fid, "name": name, "custom": True, "orderable": True, "navigable": True,
                "searchable": True, "clauseNames": [f"cf[{number}]", name],
                "schema": {"type": "array", "items": "string", "custom": f"com.xpandit.plugins.xray:{kind}",
                           "customId": number}}

    return Response(200, [
        system("summary", "Summary", {"type": "string"}),
        system("project", "Project", {"type": "project"}),
        system("issuetype", "Issue Type", {"type": "issuetype"}),
        system("description", "Description", {"type": "string"}),
        system("labels", "Labels", {"type": "array", "items": "string"}),
        system("fixVersions", "Fix Version/s", {"type": "array", "items": "version"}),
        system("components", "Component/s", {"type": "array", "items": "component"}),
        custom(cfg.test_plan_field, "Test Plan", "test-plan-custom-field"),
        custom(cfg.environments_field, "Test Environments", "test-environments-custom-field"),
    ])


def myself(rt: Runtime, req: Request) -> Response:
    """The authenticated Jira user."""
    user = authorize(rt, req)
    return Response(200, {"self": f"{rt.base_url}/rest/api/2/user?username={user}", "key": user, "name": user,
                          "displayName": f"{user} (Xray sandbox)", "emailAddress": f"{user}@sandbox.invalid",
                          "active": True, "timeZone": "UTC"})
