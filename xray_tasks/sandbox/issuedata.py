"""The multipart ``info`` and ``testInfo`` parts: Jira create-issue JSON, checked the way Jira and Xray do.

``info`` → :class:`~xray_tasks.sandbox.imports.ExecutionFields`. Accepted in ``fields``: ``project``
(``{"key"}`` or ``{"id"}``, required), ``summary`` (required), ``issuetype`` (optional; must be Test
Execution by name or id), ``description``, ``labels`` (strings without spaces), ``fixVersions`` and
``components`` (``[{"name"}]``), and any other standard Jira field (kept, not interpreted). A
``customfield_*`` is refused ("cannot be set") unless it is one the dialect knows: on Server/DC the Test
Plan and Test Environments fields (ids from :class:`~xray_tasks.sandbox.config.Config`), arrays of
strings. Cloud takes the Test Plan and environments from a top-level ``xrayFields`` object with only
``testPlanKey`` and ``environments``; Server refuses ``xrayFields``.

``testInfo`` → :class:`~xray_tasks.sandbox.imports.TestDefaults`: optional ``fields.project`` (the
project new Tests are created in), ``labels`` and ``description``.
"""

from __future__ import annotations

import json
from typing import Any

from xray_tasks.sandbox import errors
from xray_tasks.sandbox.config import Runtime
from xray_tasks.sandbox.errors import ApiError
from xray_tasks.sandbox.imports import ExecutionFields, TestDefaults
from xray_tasks.sandbox.multipart import Part
from xray_tasks.sandbox.store import ISSUE_TYPES

__all__ = ["XRAY_FIELDS", "execution_fields", "load_json_part", "test_defaults"]

XRAY_FIELDS = ("testPlanKey", "environments")


def load_json_part(part: Part, label: str) -> Any:
    """The part's JSON; 400 when it is not UTF-8 JSON."""
    try:
        return json.loads(part.read().decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, errors.info_not_json(label, str(exc))) from None


def _fields(doc: Any, label: str) -> dict[str, Any]:
    if not isinstance(doc, dict) or not isinstance(doc.get("fields"), dict):
        raise ApiError(400, errors.info_not_object(label))
    fields: dict[str, Any] = doc["fields"]
    return fields


def _strings(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, errors.field_invalid(name, "expected an array of strings"))
    return list(value)


def _named(value: Any, name: str) -> list[str]:
    if not isinstance(value, list):
        raise ApiError(400, errors.field_invalid(name, 'expected an array like [{"name": "..."}]'))
    out = []
    for item in value:
        ref = item.get("name", item.get("id")) if isinstance(item, dict) else None
        if not isinstance(ref, str | int) or isinstance(ref, bool) or ref == "":
            raise ApiError(400, errors.field_invalid(name, 'each entry needs a "name" or an "id"'))
        out.append(str(ref))
    return out


def _labels(value: Any) -> list[str]:
    labels = _strings(value, "labels") if value is not None else []
    for label in labels:
        if not label or any(c.isspace() for c in label):
            raise ApiError(400, errors.field_invalid("labels", f"The label '{label}' contains spaces which is "
                                                               "invalid."))
    return labels


def _project_ref(value: Any) -> str | None:
    if isinstance(value, dict):
        ref = value.get("key", value.get("id"))
        if isinstance(ref, str | int) and not isinstance(ref, bool) and str(ref):
            return str(ref)
    return None


def _description(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)  # e.g. Atlassian Document Format: kept as JSON text


def execution_fields(rt: Runtime, info: Any, dialect: str) -> tuple[ExecutionFields, bool]:
    """The Test Execution fields of a multipart ``info``, and whether its Tests join the Test Plan."""
    fields = _fields(info, "info")
    out = ExecutionFields()
    out.project = _project_ref(fields.get("project"))
    if out.project is None:
        raise ApiError(400, errors.PROJECT_REQUIRED)
    summary = fields.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        raise ApiError(400, errors.SUMMARY_REQUIRED_CLOUD if dialect == "cloud" else errors.SUMMARY_REQUIRED_SERVER)
    out.summary = summary
    issuetype = fields.get("issuetype")
    if issuetype is not None and not (
            isinstance(issuetype, dict) and (issuetype.get("name") == "Test Execution"
                                             or str(issuetype.get("id")) == ISSUE_TYPES["Test Execution"])):
        raise ApiError(400, errors.ISSUETYPE_INVALID)
    out.description = _description(fields.get("description"))
    out.labels = _labels(fields.get("labels"))
    out.fix_versions = _named(fields["fixVersions"], "fixVersions") if fields.get("fixVersions") is not None else []
    out.components = _named(fields["components"], "components") if fields.get("components") is not None else []
    cfg = rt.config
    plan_gets_tests = True
    known_custom = (cfg.test_plan_field, cfg.environments_field) if dialect == "server" else ()
    unknown = [k for k in fields if k.startswith("customfield_") and k not in known_custom]
    if unknown:
        raise ApiError(400, errors.field_cannot_be_set(unknown))
    if dialect == "server":
        if "xrayFields" in info:
            raise ApiError(400, errors.XRAY_FIELDS_ON_SERVER)
        if fields.get(cfg.test_plan_field) is not None:
            plans = _strings(fields[cfg.test_plan_field], cfg.test_plan_field)
            if len(plans) > 1:
                raise ApiError(400, errors.field_invalid(cfg.test_plan_field, "the sandbox links one Test Plan"))
            out.test_plan = plans[0] if plans else None
            plan_gets_tests = False  # contract §5.3: the custom field does not add the Tests to the plan
        if fields.get(cfg.environments_field) is not None:
            out.environments = _strings(fields[cfg.environments_field], cfg.environments_field)
    else:
        xray_fields = info.get("xrayFields")
        if xray_fields is not None:
            if not isinstance(xray_fields, dict):
                raise ApiError(400, errors.field_invalid("xrayFields", "expected an object"))
            invalid = [k for k in xray_fields if k not in XRAY_FIELDS]
            if invalid:
                raise ApiError(400, errors.xray_fields_invalid(invalid))
            plan = xray_fields.get("testPlanKey")
            if plan is not None and not isinstance(plan, str):
                raise ApiError(400, errors.field_invalid("xrayFields.testPlanKey", "expected a string"))
            out.test_plan = plan or None
            if xray_fields.get("environments") is not None:
                out.environments = _strings(xray_fields["environments"], "xrayFields.environments")
    return out, plan_gets_tests


def test_defaults(rt: Runtime, test_info: Any) -> TestDefaults:
    """What a multipart ``testInfo`` sets on the Tests the import creates."""
    fields = _fields(test_info, "testInfo")
    out = TestDefaults()
    ref = _project_ref(fields.get("project"))
    if ref is not None:
        row = rt.store.project(ref)
        if row is None:
            raise ApiError(400, errors.project_not_found(ref))
        out.project = row["key"]
    out.labels = _labels(fields.get("labels"))
    out.description = _description(fields.get("description"))
    return out
