"""A small Xray Cloud client for the sandbox's own tests: authenticate, GraphQL, import, read runs back."""

from __future__ import annotations

from typing import Any

import httpx

from xray_tasks.sandbox import Sandbox

CLIENT = {"client_id": "sandbox-client", "client_secret": "sandbox-secret"}
CREATE = """
mutation Create($jira: JSON!, $envs: [String], $tests: [String]) {
  createTestExecution(jira: $jira, testEnvironments: $envs, testIssueIds: $tests) {
    testExecution { issueId jira(fields: ["key", "summary", "labels"]) }
    createdTestEnvironments
    warnings
  }
}"""
RUNS = """
query Runs($ids: [String], $start: Int) {
  getTestRuns(testExecIssueIds: $ids, limit: 2, start: $start) {
    total start limit
    results { id status { name final color } test { issueId jira(fields: ["key", "summary"]) }
              testExecution { issueId } startedOn finishedOn comment defects
              evidence { filename downloadLink mimeType size } }
  }
}"""


class Cloud:
    """An authenticated httpx client for one sandbox's Cloud API."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.http = httpx.Client(base_url=sandbox.url, timeout=30)
        token = self.http.post("/api/v2/authenticate", json=CLIENT)
        assert token.status_code == 200, token.text
        self.headers = {"Authorization": f"Bearer {token.json()}"}

    def post(self, query: str, variables: dict[str, Any] | None = None, *, version: str = "v2",
             operation: str | None = None) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        if operation is not None:
            body["operationName"] = operation
        return self.http.post(f"/api/{version}/graphql", json=body, headers=self.headers)

    def gql(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """The body of a GraphQL answer, which must be HTTP 200."""
        reply = self.post(query, variables, **kw)
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        return body

    def data(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """The ``data`` of an answer that must have no errors."""
        body = self.gql(query, variables, **kw)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    def create(self, summary: str = "CI #1234", project: str = "DEMO", **variables: Any) -> dict[str, Any]:
        jira = {"fields": {"project": {"key": project}, "summary": summary, "labels": ["ci"]}}
        result: dict[str, Any] = self.data(CREATE, {"jira": jira, **variables})["createTestExecution"]
        return result

    def import_xml(self, query: str, report: bytes, fmt: str = "junit") -> httpx.Response:
        return self.http.post(f"/api/v2/import/execution/{fmt}?{query}", content=report,
                              headers={**self.headers, "Content-Type": "application/xml"})


def junit(*cases: tuple[str, str]) -> bytes:
    """A JUnit report of (name, outcome) pairs in class calc.Calc; outcome passed/failed/skipped."""
    body = {"passed": "", "failed": "<failure message='boom'/>", "skipped": "<skipped/>"}
    rows = "".join(f'<testcase classname="calc.Calc" name="{n}" time="0.5">{body[o]}</testcase>' for n, o in cases)
    return f'<?xml version="1.0"?><testsuites><testsuite name="calc">{rows}</testsuite></testsuites>'.encode()


def all_runs(cloud: Cloud, execution_id: str) -> tuple[list[dict[str, Any]], list[tuple[int, int, int]]]:
    """Every run of an execution, read two at a time the way a client loops; and each page's
    (total, start, limit)."""
    runs: list[dict[str, Any]] = []
    pages = []
    start = 0
    while True:
        page = cloud.data(RUNS, {"ids": [execution_id], "start": start})["getTestRuns"]
        pages.append((page["total"], page["start"], page["limit"]))
        runs += page["results"]
        start += len(page["results"])
        if not page["results"] or start >= page["total"]:
            return runs, pages
