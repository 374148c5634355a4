"""The Xray Cloud dialect: ``/api/v1`` and ``/api/v2`` (same shapes).

* ``POST /authenticate`` ``{"client_id", "client_secret"}`` → 200, a JSON string holding a JWT.
* Imports need ``Authorization: Bearer <token>``.
* Standard XML formats (junit, testng, nunit, xunit, robot): the report is the raw body,
  ``Content-Type: application/xml`` or ``text/xml``; options as query parameters ``projectKey``,
  ``testExecKey``, ``testPlanKey``, ``testEnvironments`` (``;``-separated), ``revision``, ``fixVersion``
  (exact case; any other name → 400).
* Standard JSON formats (xray, cucumber, behave): the raw JSON body, ``application/json``; query
  parameters are ignored. Xray JSON carries ``testExecutionKey``/``info``; without ``info.project`` the
  project of the first Test key is used.
* Multipart (every format): parts ``results`` + ``info`` (+ ``testInfo``); always a new Test Execution.
* Success: ``{"id", "key", "self"}``.
"""

from __future__ import annotations

import hmac
from typing import IO

from xray_tasks.sandbox import errors
from xray_tasks.sandbox.config import Runtime
from xray_tasks.sandbox.errors import ApiError
from xray_tasks.sandbox.exchange import Request, Response
from xray_tasks.sandbox.imports import ExecutionFields, ImportRequest, Outcome, run_import
from xray_tasks.sandbox.issuedata import execution_fields, load_json_part, test_defaults
from xray_tasks.sandbox.multipart import Part

__all__ = ["QUERY_PARAMS", "authenticate", "authorize", "authorize_api", "check_query", "import_execution",
           "options_from_query"]

QUERY_PARAMS = ("projectKey", "testExecKey", "testPlanKey", "testEnvironments", "revision", "fixVersion")
XML_TYPES = ("application/xml", "text/xml")
JSON_FORMATS = ("xray", "cucumber", "behave")


def is_json_type(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def authenticate(rt: Runtime, req: Request) -> Response:
    """Check the API key pair and answer with a token as a JSON string."""
    req.record["dialect"] = "cloud"
    body = req.json_body()
    if not isinstance(body, dict) or not isinstance(body.get("client_id"), str) \
            or not isinstance(body.get("client_secret"), str):
        raise ApiError(400, errors.AUTH_BODY_MALFORMED)
    cfg = rt.config
    good_id = hmac.compare_digest(body["client_id"].encode(), cfg.client_id.encode())
    good_secret = hmac.compare_digest(body["client_secret"].encode(), cfg.client_secret.encode())
    if not (good_id and good_secret):
        raise ApiError(401, errors.BAD_CLIENT_CREDENTIALS)
    return Response(200, rt.tokens.issue(body["client_id"]))


def authorize(rt: Runtime, req: Request) -> None:
    """A valid, unexpired, unrevoked Bearer token, or ApiError 401."""
    req.record["dialect"] = "cloud"
    auth = req.auth()
    if auth is None:
        raise ApiError(401, errors.TOKEN_MISSING)
    req.record["auth"] = auth[0]
    if auth[0] != "bearer":
        raise ApiError(401, errors.TOKEN_INVALID)
    rt.tokens.verify(auth[1])


def authorize_api(rt: Runtime, req: Request) -> None:
    """:func:`authorize`, then the region check of the data endpoints (imports, GraphQL, features): a token
    of another region is refused there (the fault ``region_mismatch``)."""
    authorize(rt, req)
    if rt.faults.region_mismatch:
        raise ApiError(401, errors.REGION_MISMATCH)


def check_query(req: Request, allowed: tuple[str, ...]) -> None:
    """400, as Xray answers, for a query parameter the endpoint does not take."""
    unknown = [name for name, _ in req.query if name not in allowed]
    if unknown:
        raise ApiError(400, errors.unknown_query_params(unknown, allowed))


def options_from_query(req: Request) -> tuple[ExecutionFields, str | None]:
    """Execution fields and testExecKey from the query; 400 on unknown names or neither project nor key."""
    check_query(req, QUERY_PARAMS)
    exec_key = req.param("testExecKey")
    project = req.param("projectKey")
    if exec_key is None and project is None:
        raise ApiError(400, errors.NO_PROJECT_OR_EXECUTION)
    envs = req.param("testEnvironments")
    version = req.param("fixVersion")
    return ExecutionFields(
        project=project, test_plan=req.param("testPlanKey"), revision=req.param("revision"),
        environments=[e.strip() for e in envs.split(";") if e.strip()] if envs else None,
        fix_versions=[version] if version else []), exec_key


def import_execution(rt: Runtime, req: Request, spool: IO[bytes], fmt: str, multipart: bool) -> Response:
    """One Cloud import of the spooled body."""
    endpoint = req.path
    if multipart:
        parts = req.parts(spool, ("results", "info", "testInfo"),
                          "parts 'results' (the report), 'info' and optionally 'testInfo'")
        try:
            outcome = _multipart(rt, req, parts, fmt, endpoint)
        finally:
            for part in parts.values():
                part.close()
    elif fmt in JSON_FORMATS:
        if not is_json_type(req.content_type):
            raise ApiError(400, errors.wrong_content_type(
                req.raw_content_type, "the JSON report as the raw body with Content-Type application/json"))
        if req.query:
            req.record["note"] = "query parameters ignored (JSON formats take none)"
        ireq = ImportRequest(dialect="cloud", endpoint=endpoint, fmt=fmt, multipart=False, report=spool,
                             fields=ExecutionFields(), derive_project=True, xray_envelope=fmt == "xray",
                             query_project=req.param("projectKey"))
        outcome = run_import(rt, ireq)
    else:
        fields, exec_key = options_from_query(req)
        if req.content_type not in XML_TYPES:
            raise ApiError(400, errors.wrong_content_type(
                req.raw_content_type, "the XML report as the raw body with Content-Type application/xml or text/xml"))
        outcome = run_import(rt, ImportRequest(dialect="cloud", endpoint=endpoint, fmt=fmt, multipart=False,
                                               report=spool, fields=fields, test_exec_key=exec_key))
    return respond(rt, req, outcome)


def _multipart(rt: Runtime, req: Request, parts: dict[str, Part], fmt: str, endpoint: str) -> Outcome:
    for name in ("results", "info"):
        if name not in parts:
            raise ApiError(400, errors.missing_part(name))
    info = load_json_part(parts["info"], "info")
    fields, plan_gets_tests = execution_fields(rt, info, "cloud")
    test_info = load_json_part(parts["testInfo"], "testInfo") if "testInfo" in parts else None
    defaults = test_defaults(rt, test_info) if test_info is not None else None
    ireq = ImportRequest(dialect="cloud", endpoint=endpoint, fmt=fmt, multipart=True, report=parts["results"].file,
                         fields=fields, plan_gets_tests=plan_gets_tests, info=info, test_info=test_info,
                         report_label=parts["results"].label)
    if defaults is not None:
        ireq.test_defaults = defaults
    return run_import(rt, ireq)


def respond(rt: Runtime, req: Request, outcome: Outcome) -> Response:
    issue = outcome.execution
    req.record["execution"] = issue["key"]
    return Response(200, {"id": str(issue["id"]), "key": issue["key"], "self": rt.issue_self(issue["id"])})
