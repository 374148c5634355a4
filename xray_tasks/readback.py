"""Reading back what Xray recorded: the runs of a Test Execution, per dialect (contract §9, §16).

* **Cloud** (GraphQL): the execution's issue id — the import answer's ``id``, else
  ``getTestExecutions(jql: "key = X", limit: 1)`` — then ``getTestRuns(testExecIssueIds: [id], limit: 100,
  start: n)`` page by page until ``start >= total`` (the pages after the first are read
  :data:`PARALLEL_PAGES` at a time, since the first names the total). Each run brings its status name and
  its Test's key, summary and, for a Generic Test, its definition (``unstructured``).
* **Server/DC** (REST): ``GET {api}/api/testexec/{key}/test?detailed=true&limit=100&page=N`` from page 1
  until an empty page. Each run brings its Test's key and status only; when a comparison needs the Tests'
  names, :func:`with_summaries` reads them from the documented 1.0 export
  ``GET {base}/rest/raven/1.0/testruns?testExecKey=…&includeTestFields=summary`` (paged the same way).

One run per (Test, Test Execution), so runs are keyed by Test: a page that repeats a Test (runs added
while paging shift the offsets) does not count it twice. Every value from the server is made one
printable line before anything shows it.

Also here: the issue id of a Test Plan (``getTestPlans(jql: "key = X")``) and the Test Executions linked
to one, which creating an execution and ``finalize --test-plan`` need.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from xray_tasks.answers import ISSUE_KEY
from xray_tasks.deadline import leave_signals_to_the_main_thread
from xray_tasks.errors import SettingsError, XrayRejectedError, XrayTasksError, one_line

if TYPE_CHECKING:
    from xray_tasks.client import XrayClient

__all__ = ["PAGE", "ExecutionRef", "Recorded", "RecordedRun", "find_execution", "plan_executions", "plan_issue_id",
           "read_runs", "with_summaries"]

#: runs asked for per page (GraphQL allows 1–100; Server/DC caps ``limit`` with a global setting)
PAGE = 100
#: GraphQL pages read at once once the total is known
PARALLEL_PAGES = 4
#: pages a Server/DC read may take before it is cut off (a server ignoring ``page`` would never end)
MAX_PAGES = 10_000
#: longest text kept of any value the server sends (a key, a summary, a status name)
MAX_VALUE = 300

RUNS_QUERY = """query ($ids: [String], $limit: Int!, $start: Int) {
  getTestRuns(testExecIssueIds: $ids, limit: $limit, start: $start) {
    total start
    results { status { name } test { issueId jira(fields: ["key", "summary"]) unstructured } }
  }
}"""
FIND_QUERY = """query ($jql: String!) {
  getTestExecutions(jql: $jql, limit: 1) { total results { issueId jira(fields: ["key"]) } }
}"""
PLAN_QUERY = """query ($jql: String!) { getTestPlans(jql: $jql, limit: 1) { total results { issueId } } }"""
PLAN_EXECUTIONS_QUERY = """query ($jql: String!, $limit: Int!, $start: Int) {
  getTestPlans(jql: $jql, limit: 1) {
    results { testExecutions(limit: $limit, start: $start) { total results { jira(fields: ["key"]) } } }
  }
}"""


@dataclass(frozen=True)
class ExecutionRef:
    """A Test Execution by key, with its issue id when known (Cloud's GraphQL names issues by id)."""

    key: str
    issue_id: str | None = None


@dataclass(frozen=True)
class RecordedRun:
    """One Test Run as Xray shows it: the Test's key, the status name as recorded (``PASSED``, ``FAIL``, a
    custom one), and what names the Test when the server says (summary; definition of a Generic Test)."""

    test_key: str
    status: str
    summary: str | None = None
    definition: str | None = None

    @property
    def label(self) -> str:
        return f"{self.test_key} ({self.summary})" if self.summary else self.test_key

    @property
    def named(self) -> bool:
        """Whether anything beyond the key tells which reported test this run belongs to."""
        return self.summary is not None or self.definition is not None


@dataclass(frozen=True)
class Recorded:
    """The runs of one Test Execution, and how many requests reading them took."""

    execution: ExecutionRef
    runs: tuple[RecordedRun, ...]
    requests: int


def _text(value: Any) -> str | None:
    return one_line(str(value))[:MAX_VALUE] if isinstance(value, str | int) and str(value).strip() else None


# -- Cloud ----------------------------------------------------------------------------------------------------


def _jql_key(key: str) -> str:
    if not ISSUE_KEY.fullmatch(key):  # settings check their keys; a template's or a record's may be anything
        raise SettingsError(f"{key[:40]!r} is not a Jira issue key", "write it like CALC-15")
    return f"key = {key}"


def find_execution(client: XrayClient, key: str, issue_id: str | None = None) -> ExecutionRef:
    """The Test Execution ``key``, with its Cloud issue id (looked up unless given)."""
    if not client.settings.is_cloud or issue_id:
        return ExecutionRef(key, issue_id)
    return ExecutionRef(key, _issue_id(client, FIND_QUERY, "getTestExecutions", "Test Execution", key,
                                       "--test-exec / XRAY_TEST_EXEC_KEY"))


def _issue_id(client: XrayClient, query: str, field: str, what: str, key: str, flag: str) -> str:
    """The Cloud issue id of the issue ``key`` found by the GraphQL ``field``, or the error saying there is none."""
    data = client.graphql(query, {"jql": _jql_key(key)}, action=f"find {what} {key}")
    found = (data.get(field) or {}).get("results") or []
    issue_id = _text(found[0].get("issueId")) if found and isinstance(found[0], dict) else None
    if issue_id is None:
        raise XrayRejectedError(f"Xray has no {what} {key}: {field} found none (the key does not exist, names "
                                "another issue type, or the API key's user cannot see it)",
                                f"check the key given with {flag}")
    return issue_id


def _cloud_page(client: XrayClient, ref: ExecutionRef, start: int) -> tuple[int, list[RecordedRun]]:
    data = client.graphql(RUNS_QUERY, {"ids": [ref.issue_id], "limit": PAGE, "start": start},
                          action=f"read the runs of {ref.key}")
    page = data.get("getTestRuns") or {}
    total = page.get("total")
    runs = []
    for item in page.get("results") or []:
        test = item.get("test") if isinstance(item, dict) else None
        jira = test.get("jira") if isinstance(test, dict) else None
        status = item.get("status") if isinstance(item, dict) else None
        key = _text(jira.get("key")) if isinstance(jira, dict) else None
        if key is None or not isinstance(test, dict) or not isinstance(status, dict):
            raise XrayRejectedError(f"read the runs of {ref.key}: Xray answered a run without its Test's key or "
                                    "status", "check XRAY_BASE_URL: the answer did not come from Xray's GraphQL API")
        assert isinstance(jira, dict)
        runs.append(RecordedRun(key, _text(status.get("name")) or "TODO", _text(jira.get("summary")),
                                _text(test.get("unstructured"))))
    if not isinstance(total, int) or total < 0:
        raise XrayRejectedError(f"read the runs of {ref.key}: Xray's answer has no total",
                                "check XRAY_BASE_URL: the answer did not come from Xray's GraphQL API")
    return total, runs


def _read_cloud(client: XrayClient, ref: ExecutionRef) -> Recorded:
    total, first = _cloud_page(client, ref, 0)
    runs = {r.test_key: r for r in first}
    requests = 1
    start = len(first)
    while first and start < total:  # the rest, a few pages at once (the total may grow while shards import)
        starts = list(range(start, total, PAGE))
        with ThreadPoolExecutor(max_workers=PARALLEL_PAGES, initializer=leave_signals_to_the_main_thread) as pool:
            pages = list(pool.map(lambda at: _cloud_page(client, ref, at), starts))
        requests += len(starts)
        for _, page in pages:
            runs.update((r.test_key, r) for r in page)
        start, total = total, max([total, *(t for t, _ in pages)])
        if not any(page for _, page in pages):
            break
    return Recorded(ref, tuple(runs.values()), requests)


def plan_issue_id(client: XrayClient, key: str) -> str:
    """The issue id of the Test Plan ``key`` (Cloud), or the error saying there is none."""
    return _issue_id(client, PLAN_QUERY, "getTestPlans", "Test Plan", key, "--test-plan / XRAY_TEST_PLAN_KEY")


def plan_executions(client: XrayClient, plan: str) -> set[str]:
    """The keys of the Test Executions linked to the Test Plan ``plan``."""
    s = client.settings
    action = f"read the Test Executions of {plan}"
    if not s.is_cloud:
        listed = client.get_json(f"{s.api_url}/api/testplan/{plan}/testexecution", action=action)
        return {k for item in listed if isinstance(item, dict) and (k := _text(item.get("key")))} \
            if isinstance(listed, list) else set()
    plan_issue_id(client, plan)  # a missing plan is an error, not an empty list
    keys: set[str] = set()
    start = 0
    for _ in range(MAX_PAGES):
        data = client.graphql(PLAN_EXECUTIONS_QUERY, {"jql": _jql_key(plan), "limit": PAGE, "start": start},
                              action=action)
        found = (data.get("getTestPlans") or {}).get("results") or [{}]
        page = found[0].get("testExecutions") or {} if isinstance(found[0], dict) else {}
        results = page.get("results") or []
        keys |= {k for item in results if isinstance(item, dict) and isinstance(item.get("jira"), dict)
                 and (k := _text(item["jira"].get("key")))}
        start += len(results)
        if not results or start >= (page.get("total") or 0):
            break
    return keys


# -- Server/DC ------------------------------------------------------------------------------------------------


def _server_pages(client: XrayClient, url: str, params: str, action: str) -> Iterator[list[dict[str, Any]]]:
    """Every page of a Server/DC list from page 1 until an empty one (or one that brings nothing new)."""
    seen: set[str] = set()
    for page in range(1, MAX_PAGES + 1):
        items = client.get_json(f"{url}?{params}&limit={PAGE}&page={page}", action=action)
        if not isinstance(items, list):
            raise XrayRejectedError(f"{action}: Xray answered {type(items).__name__}, not a list of runs",
                                    "check XRAY_BASE_URL and XRAY_API_VERSION")
        rows = [item for item in items if isinstance(item, dict)]
        ids = {str(item.get("id")) for item in rows}
        if not rows or ids <= seen:  # the end; or a server that ignores ``page`` and repeats itself
            return
        seen |= ids
        yield rows
    raise XrayRejectedError(f"{action}: more than {MAX_PAGES} pages", "check XRAY_BASE_URL")


def _read_server(client: XrayClient, ref: ExecutionRef) -> Recorded:
    url = f"{client.settings.api_url}/api/testexec/{ref.key}/test"
    runs: dict[str, RecordedRun] = {}
    requests = 1
    for rows in _server_pages(client, url, "detailed=true", f"read the runs of {ref.key}"):
        requests += 1
        for item in rows:
            key = _text(item.get("key"))
            if key is None:
                raise XrayRejectedError(f"read the runs of {ref.key}: Xray answered a run without its Test's key",
                                        "check XRAY_BASE_URL and XRAY_API_VERSION")
            runs[key] = RecordedRun(key, _text(item.get("status")) or "TODO")
    return Recorded(ref, tuple(runs.values()), requests)


def with_summaries(client: XrayClient, recorded: Recorded) -> Recorded:
    """``recorded`` with each Test's summary, read from Server/DC's run export (Cloud's runs have theirs).
    When the export cannot be read the runs stay as they were: names help, they are not needed."""
    if client.settings.is_cloud or all(r.named for r in recorded.runs):
        return recorded
    url = f"{client.settings.base_url}/rest/raven/1.0/testruns"
    key = recorded.execution.key
    summaries: dict[str, str] = {}
    requests = 0
    try:
        for rows in _server_pages(client, url, f"testExecKey={key}&includeTestFields=summary",
                                  f"read the Tests of {key}"):
            requests += 1
            for item in rows:
                fields = item.get("testFields")
                summary = _text(fields.get("summary")) if isinstance(fields, dict) else None
                test_key = _text(item.get("testKey"))
                if test_key and summary:
                    summaries[test_key] = summary
    except XrayTasksError as exc:
        client.log(f"xray-tasks: note: the Tests of {key} are shown by key only: {exc.message}")
        return recorded
    runs = tuple(replace(r, summary=summaries.get(r.test_key, r.summary)) for r in recorded.runs)
    return replace(recorded, runs=runs, requests=recorded.requests + requests + 1)


def read_runs(client: XrayClient, ref: ExecutionRef) -> Recorded:
    """Every run of the Test Execution ``ref`` (Cloud: ``ref.issue_id`` must be known, see
    :func:`find_execution`)."""
    if client.settings.is_cloud:
        if not ref.issue_id:
            raise ValueError("a Cloud read-back needs the execution's issue id")
        return _read_cloud(client, ref)
    return _read_server(client, ref)
