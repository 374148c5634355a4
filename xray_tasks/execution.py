"""Creating an empty Test Execution up front, for CI shards to import into (contract §15).

Its fields come from the same ``info`` template and settings as a multipart import's
(:mod:`xray_tasks.templating`: ``--summary`` is ``vars.summary``, ``--var``, ``XRAY_TEMPLATE_DIR``,
``--info-template``). There are no reports yet, so the template's ``report`` is :func:`no_report`: format
``sharded``, no files, zero totals (the bundled templates then say the results follow).

* **Cloud** — GraphQL ``createTestExecution(jira: {"fields": …}, testIssueIds: [], testEnvironments: […])``:
  the issue type is implied (some sites call it "Xray Test Execution"), so the template's is left out;
  the environments and the Test Plan are the rendered ``xrayFields`` (a custom template decides). The
  Test Plan's issue id is looked up *before* anything is created (``getTestPlans(jql: "key = …")``), and
  the new execution is linked to it with ``addTestExecutionsToTestPlan``.
* **Server/DC** — Jira's ``POST /rest/api/2/issue`` with the rendered fields (Test Plan and Test
  Environments in the custom fields ``XRAY_SERVER_TEST_PLAN_FIELD`` / ``XRAY_SERVER_ENVIRONMENTS_FIELD``),
  then ``POST {api}/api/testplan/{plan}/testexecution {"add": [key]}``, whose 200 with a non-empty list
  of messages is a refusal. The Test Plan is checked first (``GET`` on the same path).

Once the execution exists its key must reach the user whatever happens next: a link that fails comes
back as :attr:`Created.problem` for the caller to raise *after* printing and writing the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from xray_tasks.answers import ISSUE_KEY, Kind, import_result, link_problems
from xray_tasks.errors import SettingsError, XrayRejectedError, XrayTasksError
from xray_tasks.formats import STATUSES
from xray_tasks.readback import plan_issue_id
from xray_tasks.settings import Settings
from xray_tasks.templating import build_context, find_template, render_template

if TYPE_CHECKING:
    from xray_tasks.client import XrayClient
    from xray_tasks.runrecord import RunRecord

__all__ = ["Created", "create_execution", "rendered_info"]

CREATE_MUTATION = """mutation ($jira: JSON!, $envs: [String]) {
  createTestExecution(testIssueIds: [], testEnvironments: $envs, jira: $jira) {
    testExecution { issueId jira(fields: ["key"]) }
    createdTestEnvironments
    warnings
  }
}"""
LINK_MUTATION = """mutation ($plan: String!, $executions: [String]!) {
  addTestExecutionsToTestPlan(issueId: $plan, testExecIssueIds: $executions) { addedTestExecutions warning }
}"""


def no_report() -> SimpleNamespace:
    """The ``report`` template variable of an execution created before any report exists."""
    return SimpleNamespace(format="sharded", format_label="Sharded test", file="", name="", files=[], formats=[],
                           count=0, tests=0, totals=dict.fromkeys(STATUSES, 0))


@dataclass(frozen=True)
class Created:
    """The new Test Execution; ``problem`` is what failed after it was created (a plan link)."""

    key: str
    id: str | None
    url: str | None
    test_plan: str | None = None
    environments: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    problem: XrayTasksError | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": "xray-tasks/execution", "key": self.key, "keys": [self.key], "id": self.id,
                "url": self.url, "test_plan": self.test_plan, "environments": list(self.environments),
                "notes": list(self.notes), "error": str(self.problem) if self.problem else None}


def rendered_info(s: Settings, info_template: str | None, record: RunRecord | None) -> dict[str, Any]:
    """The ``info`` template rendered for an execution without reports (checked like any ``info``)."""
    if not s.project_key:
        raise SettingsError("no project key for the new Test Execution", "set XRAY_PROJECT_KEY or pass --project KEY")
    if not s.is_cloud:
        if s.test_environments and not s.server_environments_field:
            raise SettingsError("test environments were asked for, but on Server/DC they are a custom field of the "
                                "Test Execution", "set XRAY_SERVER_ENVIRONMENTS_FIELD (e.g. customfield_11805; see "
                                "GET /rest/api/2/field)")
        if not s.server_test_plan_field:  # the plan is linked through Xray's own endpoint instead
            s = replace(s, test_plan_key=None)
    context = build_context(s, report=no_report(), run=record.template_vars() if record else None)
    return render_template(find_template(s, "info", info_template), "info", context, s.deployment).data


def create_execution(client: XrayClient, info: dict[str, Any]) -> Created:
    """Create the Test Execution ``info`` describes (and link it to its Test Plan)."""
    s = client.settings
    return _create_cloud(client, info) if s.is_cloud else _create_server(client, info)


def _create_cloud(client: XrayClient, info: dict[str, Any]) -> Created:
    s = client.settings
    extra = info.get("xrayFields") or {}
    plan = str(extra.get("testPlanKey") or s.test_plan_key or "") or None
    environments = [str(e) for e in extra.get("environments") or s.test_environments]
    plan_id = plan_issue_id(client, plan) if plan else None  # a wrong plan is found before anything exists
    fields = {k: v for k, v in info["fields"].items() if k != "issuetype"}
    data = client.graphql(CREATE_MUTATION, {"jira": {"fields": fields}, "envs": environments},
                          action="create the Test Execution", kind=Kind.CREATE)
    made = data.get("createTestExecution") or {}
    execution = made.get("testExecution") or {}
    key = (execution.get("jira") or {}).get("key")
    issue_id = execution.get("issueId")
    if not isinstance(key, str) or not isinstance(issue_id, str):
        raise XrayRejectedError("create the Test Execution: Xray's answer names no Test Execution",
                                "look for a new Test Execution in the project before running again")
    checked = _checked_key(key, issue_id)
    notes = [f"created the Test Environment(s) {', '.join(map(str, made['createdTestEnvironments']))}"
             ] if made.get("createdTestEnvironments") else []
    notes += [str(w) for w in made.get("warnings") or []]
    problem = None
    if plan is not None and plan_id is not None:
        problem, note = _link_cloud(client, plan, plan_id, checked, issue_id)
        notes += [note] if note else []
    return Created(checked, issue_id, client.browse_url(checked), plan, tuple(environments), tuple(notes), problem)


def _checked_key(key: str, issue_id: str) -> str:
    """``key`` when it is an issue key (what a server says reaches a terminal and GITHUB_OUTPUT checked)."""
    if not ISSUE_KEY.fullmatch(key) or not issue_id.isdigit():
        raise XrayRejectedError(f"create the Test Execution: Xray answered {key[:40]!r}, which is not an issue key",
                                "check XRAY_BASE_URL: the answer did not come from Xray's GraphQL API")
    return key


def _link_cloud(client: XrayClient, plan: str, plan_id: str, key: str,
                issue_id: str) -> tuple[XrayTasksError | None, str | None]:
    action = f"link {key} to the Test Plan {plan}"
    try:
        data = client.graphql(LINK_MUTATION, {"plan": plan_id, "executions": [issue_id]},
                              action=action, kind=Kind.UPDATE)
    except XrayTasksError as exc:
        return _not_linked(key, plan, exc), None
    linked = data.get("addTestExecutionsToTestPlan") or {}
    warning = linked.get("warning")
    if warning and not linked.get("addedTestExecutions"):
        return _not_linked(key, plan, XrayRejectedError(f"{action}: Xray answered: {warning}")), None
    return None, f"{action}: {warning}" if warning else None


def _not_linked(key: str, plan: str, exc: XrayTasksError) -> XrayTasksError:
    return type(exc)(f"{key} was created, but not linked to the Test Plan {plan}: {exc.message}",
                     f"link it in Jira, or import with --test-plan {plan}; {exc.hint or ''}".rstrip("; "))


def _create_server(client: XrayClient, info: dict[str, Any]) -> Created:
    s = client.settings
    plan = s.test_plan_key
    if plan:  # checked before anything is created: 404 when it is not a Test Plan
        client.get_json(f"{s.api_url}/api/testplan/{plan}/testexecution", action=f"check the Test Plan {plan}")
    fields = dict(info["fields"])
    answer = client.post_json(f"{s.base_url}/rest/api/2/issue", {"fields": fields},
                              action="create the Test Execution", kind=Kind.CREATE)
    issue = import_result(answer, "create the Test Execution", api="Jira's issue API")
    environments = tuple(str(e) for e in fields.get(s.server_environments_field or "") or ())
    problem = None
    if plan:
        action = f"link {issue.key} to the Test Plan {plan}"
        try:
            refused = link_problems(client.post_json(f"{s.api_url}/api/testplan/{plan}/testexecution",
                                                     {"add": [issue.key]}, action=action, kind=Kind.UPDATE))
        except XrayTasksError as exc:
            refused, problem = [], _not_linked(issue.key, plan, exc)
        if refused:
            problem = _not_linked(issue.key, plan, XrayRejectedError(f"{action}: Xray answered: {'; '.join(refused)}"))
    return Created(issue.key, issue.id, client.browse_url(issue.key, issue.self_link), plan, environments,
                   problem=problem)
