"""Importing results, the part shared by both dialects: validate, find or create Tests, record the runs.

Reports are read with :func:`xray_tasks.formats.iter_results`; a :class:`~xray_tasks.errors.ReportError`
(malformed, unsafe, or another format than the endpoint's) becomes a 400 with its message. For Xray JSON
the sandbox also reads the envelope itself (``testExecutionKey``, ``info``, each test's ``testKey``,
``testInfo`` and raw ``status``), because that envelope is the import request, not just a report.

Tests: a result with a key must name an existing Test; a result without one is matched to the Test with
the same definition in the project (JUnit ``classname.name`` and so on, as the formats module builds it),
and a new Generic Test is created only when there is none — so re-imports never duplicate Tests.
Cucumber/Behave results must carry a Test key (a ``@<test prefix>KEY`` tag — ``@TEST_KEY`` by default,
see :class:`~xray_tasks.sandbox.config.Config` — or a bare ``@KEY``) — unless the sandbox was
made with ``provision_untagged_scenarios=True``, which creates Cucumber Tests for them by definition (in
the execution's project, else the ``projectKey`` query parameter's, else the first seeded project).
Xray JSON tests without ``testKey`` need a ``testInfo`` with ``summary``, ``projectKey`` and ``type``.

Run statuses (the formats' normalised status → what Xray stores; the whole table, runner by runner, is
``docs/statuses.md``):

==============================  ============  ==============
normalised status               Cloud         Server/DC
==============================  ============  ==============
``passed``                      ``PASSED``    ``PASS``
``failed``                      ``FAILED``    ``FAIL``
``aborted``                     ``ABORTED``   ``ABORTED``
``skipped``, ``todo``           ``TODO``      ``TODO``
==============================  ============  ==============

(Skipped → TODO follows the JUnit rule in the contract §7.2: PASS if all passed, FAIL if any failed,
otherwise TODO.) Xray JSON statuses are taken as sent and must be one of the dialect's own
(:data:`CLOUD_STATUSES` / :data:`SERVER_STATUSES`). When one Test gets several results in one import the
run keeps the worst: FAIL(ED) > ABORTED > EXECUTING > TODO > PASS(ED).

(The rule holds for every format and for merged reports alike: they are all one import here.)

Importing into an existing Test Execution replaces the runs of the Tests in the report — status,
comment, evidence, defects and all — and keeps the others; environments sent replace the execution's,
and a test plan, revision or fix version sent replaces the old one. One run per (Test, Test Execution):
imports are transactions serialised by the store, so concurrent imports into one execution (CI shards)
never lose or duplicate a run; when two of them report the same Test, the later one's run stays.

What a report says beyond statuses (keys by ``test_id``, labels, requirements, comments, evidence,
defects…) is read with :func:`xray_tasks.formats.enriched.iter_enriched` and recorded as
:mod:`xray_tasks.sandbox.enrichment` describes. The ``drop_runs`` / ``drop_runs_of`` faults leave runs
out while the import still succeeds.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import IO, Any, BinaryIO, cast

from xray_tasks.formats import scenario_key
from xray_tasks.formats.enriched import EVIDENCE_BUDGET, EVIDENCE_BYTES, DetailedResult, TestDetails
from xray_tasks.sandbox import enrichment, errors
from xray_tasks.sandbox.config import Runtime
from xray_tasks.sandbox.errors import ApiError
from xray_tasks.sandbox.statuses import CLOUD_NAMES, SERVER_NAMES, in_dialect
from xray_tasks.sandbox.store import now_iso

__all__ = ["CLOUD_STATUSES", "SERVER_STATUSES", "ExecutionFields", "ImportRequest", "Outcome", "run_import",
           "xray_status"]

CLOUD_STATUSES = CLOUD_NAMES
SERVER_STATUSES = SERVER_NAMES
_RANK = {"FAIL": 5, "FAILED": 5, "ABORTED": 4, "EXECUTING": 3, "TODO": 2, "PASS": 1, "PASSED": 1}
_NORMALISED = {"passed": "PASS", "failed": "FAIL", "aborted": "ABORTED", "skipped": "TODO", "todo": "TODO"}
CUCUMBER_FORMATS = ("cucumber", "behave")


def xray_status(normalised: str, dialect: str) -> str:
    """The Xray run status for one of the formats' normalised statuses."""
    return in_dialect(_NORMALISED.get(normalised.lower(), "TODO"), dialect)


def _worst(a: str, b: str) -> str:
    return a if _RANK.get(a, 2) >= _RANK.get(b, 2) else b


@dataclass
class ExecutionFields:
    """What the request says about the Test Execution (None: not given)."""

    project: str | None = None
    summary: str | None = None
    description: str | None = None
    labels: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    fix_versions: list[str] = field(default_factory=list)
    test_plan: str | None = None
    environments: list[str] | None = None
    revision: str | None = None
    start_date: str | None = None
    finish_date: str | None = None


@dataclass
class TestDefaults:
    """Fields for Tests the import creates, from a multipart ``testInfo``."""

    project: str | None = None
    labels: list[str] = field(default_factory=list)
    description: str | None = None


@dataclass
class ImportRequest:
    dialect: str  # "cloud" | "server"
    endpoint: str
    fmt: str
    multipart: bool
    report: IO[bytes]
    fields: ExecutionFields
    test_exec_key: str | None = None
    #: standard endpoints add the Tests to the Test Plan; Server's multipart custom field does not
    plan_gets_tests: bool = True
    #: no project given: use the project of the first Test key (Cloud; cucumber/behave everywhere)
    derive_project: bool = False
    info: Any = None
    test_info: Any = None
    test_defaults: TestDefaults = field(default_factory=TestDefaults)
    #: how error messages name the report
    report_label: str = "the request body"
    #: standard Xray JSON: take testExecutionKey and info from the report itself
    xray_envelope: bool = False
    #: a projectKey query parameter sent to a JSON endpoint (used only to place untagged scenarios)
    query_project: str | None = None
    #: the parsed Xray JSON, once read
    envelope: dict[str, Any] | None = None


@dataclass
class Outcome:
    execution: sqlite3.Row
    tests: list[sqlite3.Row]
    created: bool


@dataclass
class _Result:
    name: str
    definition: str
    status: str
    key: str | None
    duration: float | None
    test_info: dict[str, Any] | None = None
    details: TestDetails = field(default_factory=TestDetails)


class _Named:
    """A read-only view of the spooled report that has a name for messages and no ``fileno`` (which
    would make a SpooledTemporaryFile roll over to disk)."""

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self._stream = stream
        self.name = name

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)


def read_results(req: ImportRequest, test_prefix: str) -> list[_Result]:
    """The report's results, checked by the formats module; 400 when it refuses them or finds none.

    Cucumber/Behave scenarios take their keys from their tags with ``test_prefix`` (or bare keys)."""
    from xray_tasks.errors import ReportError
    from xray_tasks.formats.enriched import iter_enriched

    req.report.seek(0)
    try:
        results: list[DetailedResult] = list(iter_enriched(
            cast("BinaryIO", _Named(req.report, req.report_label)), req.fmt, evidence_bytes=EVIDENCE_BYTES,
            evidence_budget=EVIDENCE_BUDGET))
    except ReportError as exc:
        raise ApiError(400, errors.report_rejected(exc.message)) from None
    if not results:
        raise ApiError(400, errors.NO_TESTS)
    if req.fmt == "xray":
        return _xray_results(req, [r.details for r in results])
    keys = ([scenario_key(r.tags, test_prefix) for r in results] if req.fmt in CUCUMBER_FORMATS
            else [r.key for r in results])
    return [_Result(name=r.name, definition=r.definition or r.name, status=xray_status(r.status, req.dialect),
                    key=key, duration=r.duration, details=r.details) for r, key in zip(results, keys, strict=True)]


def _xray_envelope(req: ImportRequest) -> dict[str, Any]:
    if req.envelope is not None:
        return req.envelope
    req.report.seek(0)
    try:
        data = json.load(req.report)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, errors.report_rejected(f"the Xray JSON is not valid JSON: {exc}")) from None
    if not isinstance(data, dict):
        raise ApiError(400, errors.report_rejected("the Xray JSON must be an object with a 'tests' array"))
    req.envelope = data
    return data


def _xray_results(req: ImportRequest, details: list[TestDetails]) -> list[_Result]:
    allowed = CLOUD_STATUSES if req.dialect == "cloud" else SERVER_STATUSES
    out = []
    tests = _xray_envelope(req).get("tests")
    for n, test in enumerate(tests if isinstance(tests, list) else []):
        if not isinstance(test, dict):
            raise ApiError(400, errors.report_rejected(f"tests[{n}] is not an object"))
        status = test.get("status")
        if status not in allowed:
            raise ApiError(400, errors.invalid_status(status, allowed))
        key = test.get("testKey") if isinstance(test.get("testKey"), str) else None
        info = test.get("testInfo") if isinstance(test.get("testInfo"), dict) else None
        if key is None:
            missing = [f for f in ("summary", "projectKey", "type") if not isinstance((info or {}).get(f), str)]
            if missing:
                raise ApiError(400, errors.TEST_INFO_REQUIRED.format(name=f"tests[{n}]", fields=", ".join(missing)))
        summary = (info or {}).get("summary") or key or f"tests[{n}]"
        definition = next((info[f] for f in ("definition", "scenario") if info and isinstance(info.get(f), str)),
                          summary)
        enrichment.check_statuses(details[n], allowed)
        out.append(_Result(name=summary, definition=definition, status=status, key=key, duration=None,
                           test_info=info, details=details[n]))
    if not out:
        raise ApiError(400, errors.NO_TESTS)
    return out


def apply_xray_envelope(req: ImportRequest) -> None:
    """Standard Xray JSON: take ``testExecutionKey`` and ``info`` from the body into the request."""
    data = _xray_envelope(req)
    key = data.get("testExecutionKey")
    if isinstance(key, str) and key.strip():
        req.test_exec_key = key.strip()
    info = data.get("info")
    if info is None:
        return
    if not isinstance(info, dict):
        raise ApiError(400, errors.report_rejected("'info' in the Xray JSON must be an object"))
    req.info = info
    f = req.fields
    f.project = _text(info, "project")
    f.summary = _text(info, "summary")
    f.description = _text(info, "description")
    f.revision = _text(info, "revision")
    f.test_plan = _text(info, "testPlanKey")
    f.start_date = _text(info, "startDate")
    f.finish_date = _text(info, "finishDate")
    version = _text(info, "version")
    f.fix_versions = [version] if version else []
    envs = info.get("testEnvironments")
    if envs is not None:
        if not isinstance(envs, list) or not all(isinstance(e, str) for e in envs):
            raise ApiError(400, errors.report_rejected("info.testEnvironments must be an array of strings"))
        f.environments = list(envs)


def _text(obj: dict[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ApiError(400, errors.report_rejected(f"info.{name} must be a string"))
    return str(value)


def run_import(rt: Runtime, req: ImportRequest) -> Outcome:
    """Validate and record one import, all or nothing; raises ApiError (400) on anything Xray refuses."""
    results = read_results(req, rt.config.test_prefix)
    if req.xray_envelope:
        apply_xray_envelope(req)
    store = rt.store
    f = req.fields
    with store.transaction():
        execution = None
        if req.test_exec_key:
            execution = store.issue(req.test_exec_key)
            if execution is None:
                raise ApiError(400, errors.test_execution_not_found(req.test_exec_key))
            if execution["type"] != "Test Execution":
                raise ApiError(400, errors.not_a(req.test_exec_key, "Test Execution", execution["type"]))
            project = execution["project"]
        elif f.project is not None:
            row = store.project(f.project)
            if row is None:
                raise ApiError(400, errors.project_not_found(f.project))
            project = row["key"]
        else:
            project = None
        plan = _check_plan(rt, f.test_plan)
        _check_environments(rt, f.environments)
        tests = _resolve_tests(rt, req, results, project)
        if project is None:
            if not req.derive_project or not tests:
                raise ApiError(400, errors.PROJECT_REQUIRED)
            project = tests[0][0]["project"]
        if execution is None:
            summary = f.summary
            if summary is None:
                if req.info is not None and req.fmt == "xray" and not req.multipart:
                    raise ApiError(400, errors.SUMMARY_REQUIRED_CLOUD if req.dialect == "cloud"
                                   else errors.SUMMARY_REQUIRED_SERVER)
                summary = f"Execution results [{int(time.time() * 1000)}]"
            execution = store.create_execution(
                project, summary, description=f.description, labels=f.labels, components=f.components,
                fix_versions=f.fix_versions, test_plan=f.test_plan, environments=f.environments or [],
                revision=f.revision, format=req.fmt, endpoint=req.endpoint, dialect=req.dialect,
                multipart=req.multipart, info=req.info, test_info=req.test_info, start_date=f.start_date,
                finish_date=f.finish_date)
            created = True
        else:
            own = store.execution_row(execution["id"])
            first = own is not None and not own["format"]  # created up front (GraphQL, Jira): no import yet
            store.update_execution(execution["id"], test_plan=f.test_plan, environments=f.environments,
                                   revision=f.revision, fix_versions=f.fix_versions or None,
                                   description=f.description, start_date=f.start_date, finish_date=f.finish_date,
                                   format=req.fmt if first else None, endpoint=req.endpoint if first else None)
            created = False
        merged: dict[int, tuple[sqlite3.Row, _Result]] = {}
        for test, result in tests:
            if test["id"] in merged:
                old = merged[test["id"]][1]
                result = _Result(old.name, old.definition, _worst(old.status, result.status), old.key,
                                 _add(old.duration, result.duration),
                                 details=enrichment.merge(old.details, result.details))
            merged[test["id"]] = (test, result)
        store.add_environments(f.environments or ())
        now = now_iso()
        for test, result in merged.values():
            enrichment.update_test(store, test["id"], result.details)
            if plan is not None and req.plan_gets_tests:
                store.add_to_plan(plan["id"], test["id"])
            if rt.faults.take_run_drop(test["key"], result.name, result.definition):
                continue
            run_id = store.upsert_run(execution["id"], test["id"], result.name, result.definition, result.status,
                                      result.duration)
            enrichment.record_run(store, run_id, result.details, result.duration, now)
        return Outcome(execution=execution, tests=[t for t, _ in merged.values()], created=created)


def _robot_result(rt: Runtime, result: _Result) -> _Result:
    """A Robot result with its Test key, requirements and labels taken from its tags."""
    key, requirements, labels = enrichment.robot_identity(rt.store, result.details)
    details = replace(result.details, requirements=[*result.details.requirements, *requirements],
                      labels=[*result.details.labels, *labels])
    return replace(result, key=key, details=details)


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None and b is None else (a or 0.0) + (b or 0.0)


def _check_plan(rt: Runtime, key: str | None) -> sqlite3.Row | None:
    if key is None:
        return None
    plan = rt.store.issue(key)
    if plan is None:
        raise ApiError(400, errors.test_plan_not_found(key))
    if plan["type"] != "Test Plan":
        raise ApiError(400, errors.not_a(key, "Test Plan", plan["type"]))
    return plan


def _check_environments(rt: Runtime, names: Sequence[str] | None) -> None:
    known = rt.config.environments
    if names and known is not None:
        existing = {*known, *rt.store.environment_names()}  # GraphQL createTestExecution creates them
        unknown = [n for n in names if n not in existing]
        if unknown:
            raise ApiError(400, errors.environments_unknown(unknown))


def _resolve_tests(rt: Runtime, req: ImportRequest, results: list[_Result],
                   project: str | None) -> list[tuple[sqlite3.Row, _Result]]:
    """Each result with its Test issue: found by key, or by definition (created when new)."""
    store = rt.store
    defaults = req.test_defaults
    out: list[tuple[sqlite3.Row, _Result]] = []
    for result in results:
        if req.fmt == "robot":
            result = _robot_result(rt, result)
        if result.details.test_id is not None:  # JUnit test_id: wins over test_key
            test = store.issue(result.details.test_id) if result.details.test_id.isdigit() else None
            if test is None or test["type"] != "Test":
                raise ApiError(400, errors.test_id_not_found(result.details.test_id))
            out.append((test, result))
            continue
        if result.key is not None:
            test = store.issue(result.key)
            if test is None:
                raise ApiError(400, errors.test_not_found(result.key))
            if test["type"] != "Test":
                raise ApiError(400, errors.not_a(result.key, "Test", test["type"]))
            out.append((test, result))
            continue
        gherkin = req.fmt in CUCUMBER_FORMATS
        if gherkin and not rt.config.provision_untagged_scenarios:
            raise ApiError(400, errors.UNTAGGED_SCENARIO.format(name=result.name, prefix=rt.config.test_prefix))
        if result.test_info is not None:  # Xray JSON testInfo
            info = result.test_info
            test_project = store.project(info["projectKey"])
            if test_project is None:
                raise ApiError(400, errors.project_not_found(info["projectKey"]))
            key = test_project["key"]
            labels = [x for x in info.get("labels") or [] if isinstance(x, str)]
            test_type, description, raw = str(info["type"]), None, info
        else:
            key = defaults.project or project
            if key is None and req.derive_project and out:
                key = out[0][0]["project"]
            if key is None and gherkin:  # opted in, and the standard endpoint names no project
                named = store.project(req.query_project or "")
                key = named["key"] if named is not None else store.project_keys()[0]
            if key is None:
                raise ApiError(400, errors.PROJECT_REQUIRED)
            test_type = "Cucumber" if gherkin else "Generic"
            labels, description, raw = defaults.labels, defaults.description, req.test_info
        test = store.find_test(key, result.definition)
        if test is None:
            details = result.details
            test = store.create_test(key, details.summary or result.name, result.definition, test_type=test_type,
                                     labels=list(dict.fromkeys([*labels, *details.labels])),
                                     description=details.description or description, test_info=raw,
                                     origin=req.fmt)
        out.append((test, result))
    return out
