"""Xray Cloud GraphQL on the sandbox, over loopback with httpx: creating a Test Execution up front,
importing into it, reading it back page by page, linking it to a Test Plan, and every kind of error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cloud_api import CREATE, Cloud, all_runs, junit
from xray_tasks.sandbox import Sandbox
from xray_tasks.sandbox import errors as texts

# -- the flow a CI client follows ------------------------------------------------------------------


def test_create_up_front_import_with_test_exec_key_and_read_back_in_pages_of_two(
        cloud: Cloud, pytest_junit_report: Path) -> None:
    """A Test Execution created by GraphQL receives a real pytest import by testExecKey, and getTestRuns
    with limit 2 pages through all five runs with their statuses."""
    for name in ("adds", "rounding", "roots"):  # DEMO-2..4: the report's test_key properties name DEMO-2/3
        cloud.sandbox.store.create_test("DEMO", name)
    created = cloud.create(envs=["chrome"])
    execution = created["testExecution"]
    key = execution["jira"]["key"]
    assert (key, execution["jira"]["summary"], execution["jira"]["labels"]) == ("DEMO-5", "CI #1234", ["ci"])
    assert created["createdTestEnvironments"] == ["chrome"] and created["warnings"] == []
    before, _ = all_runs(cloud, execution["issueId"])
    assert before == []

    imported = cloud.import_xml(f"testExecKey={key}", pytest_junit_report.read_bytes())
    assert imported.status_code == 200, imported.text
    assert imported.json()["key"] == key
    stored = cloud.http.get(f"/sandbox/executions/{key}").json()
    assert (stored["imports"], stored["format"], stored["environments"]) == (1, "junit", ["chrome"])

    runs, pages = all_runs(cloud, execution["issueId"])
    assert pages == [(5, 0, 2), (5, 2, 2), (5, 4, 2)]
    assert len({r["id"] for r in runs}) == 5
    statuses = [r["status"]["name"] for r in runs]
    assert sorted(statuses) == ["FAILED", "PASSED", "PASSED", "PASSED", "TODO"]
    by_key = {r["test"]["jira"]["key"]: r for r in runs}
    assert by_key["DEMO-2"]["status"] == {"name": "PASSED", "final": True, "color": "#95C160"}
    assert by_key["DEMO-3"]["status"]["name"] == "FAILED"
    assert all(r["testExecution"]["issueId"] == execution["issueId"] for r in runs)
    assert all(r["startedOn"] and r["finishedOn"] and r["startedOn"] <= r["finishedOn"] for r in runs)


def test_verify_by_key_with_get_test_executions_and_nested_pages(cloud: Cloud) -> None:
    """getTestExecutions(jql: "key = X") finds the execution; its testRuns, tests and testPlans page
    with limit and start, and getTestExecution(issueId) answers the same runs."""
    created = cloud.create(envs=["linux"])["testExecution"]
    key = created["jira"]["key"]
    cloud.import_xml(f"testExecKey={key}&testPlanKey=DEMO-1",
                     junit(("a", "passed"), ("b", "failed"), ("c", "passed")))
    query = """query ($jql: String!) {
      getTestExecutions(jql: $jql, limit: 1) {
        total
        results {
          issueId
          jira(fields: ["key", "summary", "fixVersions", "nonexistent"])
          testEnvironments
          testPlans(limit: 10) { total results { jira(fields: ["key"]) } }
          first: testRuns(limit: 2) { total results { status { name } test { jira(fields: ["key"]) } } }
          rest: testRuns(limit: 2, start: 2) { start results { status { name } } }
          tests(limit: 10) { total results { issueId testType { name kind } unstructured } }
        }
      }
    }"""
    found = cloud.data(query, {"jql": f"key = {key}"})["getTestExecutions"]
    assert found["total"] == 1
    execution = found["results"][0]
    assert execution["issueId"] == created["issueId"]
    assert execution["jira"] == {"key": key, "summary": "CI #1234", "fixVersions": []}
    assert execution["testEnvironments"] == ["linux"]
    assert execution["testPlans"] == {"total": 1, "results": [{"jira": {"key": "DEMO-1"}}]}
    assert execution["first"]["total"] == 3 and len(execution["first"]["results"]) == 2
    assert execution["rest"] == {"start": 2, "results": [{"status": {"name": "PASSED"}}]}
    assert execution["tests"]["total"] == 3
    assert {t["unstructured"] for t in execution["tests"]["results"]} == {"calc.Calc.a", "calc.Calc.b", "calc.Calc.c"}
    assert execution["tests"]["results"][0]["testType"] == {"name": "Generic", "kind": "Unstructured"}

    by_id = cloud.data("""query ($id: String!) { getTestExecution(issueId: $id) {
        jira(fields: ["key"]) testRuns(limit: 100) { total results { status { name } } } } }""",
                       {"id": created["issueId"]})["getTestExecution"]
    assert by_id["jira"] == {"key": key}
    assert [r["status"]["name"] for r in by_id["testRuns"]["results"]] == ["PASSED", "FAILED", "PASSED"]


def test_created_environments_exist_for_later_rest_imports() -> None:
    """createTestExecution creates unknown environments and lists only those; REST imports then accept
    them while still refusing environments nobody created (contract §3.2 vs §15.1)."""
    with Sandbox(environments=["linux"]) as sandbox:
        cloud = Cloud(sandbox)
        created = cloud.create(envs=["linux", "chrome", "chrome"])
        assert created["createdTestEnvironments"] == ["chrome"]
        again = cloud.create(summary="CI #1235", envs=["chrome", "edge"])
        assert again["createdTestEnvironments"] == ["edge"]
        key = created["testExecution"]["jira"]["key"]
        ok = cloud.import_xml(f"testExecKey={key}&testEnvironments=chrome;linux", junit(("a", "passed")))
        refused = cloud.import_xml(f"testExecKey={key}&testEnvironments=safari", junit(("a", "passed")))
        assert ok.status_code == 200, ok.text
        assert (refused.status_code, refused.json()["error"]) == (400, texts.environments_unknown(["safari"]))
        assert cloud.http.get("/sandbox/environments").json() == ["chrome", "edge", "linux"]
        cloud.http.close()
    sandbox.close()


def test_create_with_tests_adds_todo_runs_and_warns_about_unknown_ids(cloud: Cloud) -> None:
    """testIssueIds (ids, not keys) put the Tests in the execution as TODO runs; ids that are not Tests
    come back as warnings, and an import then replaces the TODO run."""
    test = cloud.sandbox.store.create_test("DEMO", "adds", "calc.Calc.adds")
    created = cloud.create(tests=[str(test["id"]), "99999", "DEMO-2", "10000"])
    assert len(created["warnings"]) == 3 and "99999" in created["warnings"][0]
    execution = created["testExecution"]
    runs, _ = all_runs(cloud, execution["issueId"])
    assert [(r["test"]["jira"]["key"], r["status"]["name"]) for r in runs] == [("DEMO-2", "TODO")]
    cloud.import_xml(f"testExecKey={execution['jira']['key']}", junit(("adds", "failed")))
    runs, _ = all_runs(cloud, execution["issueId"])
    assert [(r["test"]["jira"]["key"], r["status"]["name"]) for r in runs] == [("DEMO-2", "FAILED")]

    both = cloud.gql("""mutation { createTestExecution(jira: {fields: {project: {key: "DEMO"}, summary: "x"}},
                         testIssueIds: ["1"], tests: [{issueId: "1"}]) { warnings } }""")
    assert both["data"] == {"createTestExecution": None}
    assert both["errors"][0]["message"].startswith("testIssueIds and tests cannot be used together")
    added = cloud.data("""mutation ($id: String!, $t: [String]!) { addTestsToTestExecution(issueId: $id,
                          testIssueIds: $t) { addedTests warning } }""",
                       {"id": execution["issueId"], "t": [str(test["id"])]})
    assert added == {"addTestsToTestExecution": {"addedTests": [], "warning": None}}  # already in it


def test_create_test_execution_refuses_what_jira_refuses(cloud: Cloud) -> None:
    """A jira object without summary, with an unknown project or a custom field is a GraphQL error
    with Jira's/Xray's text, and nothing is created; a project id and any issue type name are fine."""
    cases = [({"fields": {"project": {"key": "DEMO"}}}, texts.SUMMARY_REQUIRED_CLOUD),
             ({"fields": {"project": {"key": "NOPE"}, "summary": "s"}}, texts.project_not_found("NOPE")),
             ({"fields": {"summary": "s"}}, texts.PROJECT_REQUIRED),
             ({"fields": {"project": {"key": "DEMO"}, "summary": "s", "customfield_1": ["x"]}},
              texts.field_cannot_be_set(["customfield_1"])),
             ("just a string", 'jira must be a Jira issue object like {"fields"')]
    for jira, message in cases:
        body = cloud.gql(CREATE, {"jira": jira})
        assert body["data"] == {"createTestExecution": None}
        assert body["errors"][0]["message"].startswith(message), body
        assert body["errors"][0]["path"] == ["createTestExecution"]
    assert cloud.sandbox.store.executions() == []
    typed = {"fields": {"project": {"id": "10000"}, "summary": "s", "issuetype": {"name": "Xray Test Execution"}}}
    made = cloud.data(CREATE, {"jira": typed})["createTestExecution"]["testExecution"]
    assert made["jira"]["key"] == "DEMO-2"  # the issue type is implied, whatever a site calls it


# -- Test Plans -----------------------------------------------------------------------------------


def test_add_test_executions_to_test_plan_links_once_and_reports_problems(cloud: Cloud) -> None:
    """addTestExecutionsToTestPlan links by issue ids; a second call adds nothing; ids that are not
    Test Executions make a warning; an unknown plan is a permissions error; the link shows in GraphQL
    and in Server's testplan REST call."""
    execution = cloud.create()["testExecution"]
    plan = cloud.data('{ getTestPlans(jql: "key = DEMO-1", limit: 1) { results { issueId } } }')
    plan_id = plan["getTestPlans"]["results"][0]["issueId"]
    link = """mutation ($plan: String!, $execs: [String]!) {
      addTestExecutionsToTestPlan(issueId: $plan, testExecIssueIds: $execs) { addedTestExecutions warning } }"""
    first = cloud.data(link, {"plan": plan_id, "execs": [execution["issueId"], "424242"]})
    assert first["addTestExecutionsToTestPlan"]["addedTestExecutions"] == [execution["issueId"]]
    assert "424242" in first["addTestExecutionsToTestPlan"]["warning"]
    second = cloud.data(link, {"plan": plan_id, "execs": [execution["issueId"]]})
    assert second == {"addTestExecutionsToTestPlan": {"addedTestExecutions": [], "warning": None}}

    denied = cloud.gql(link, {"plan": "77777", "execs": [execution["issueId"]]})
    assert denied["data"] == {"addTestExecutionsToTestPlan": None}
    assert denied["errors"][0]["message"] == "User doesn't have permissions to edit issue with id 77777"
    wrong = cloud.gql(link, {"plan": execution["issueId"], "execs": [execution["issueId"]]})
    assert wrong["errors"][0]["message"] == f"Issue with id {execution['issueId']} is not a Test Plan."

    listed = cloud.data("""query ($id: String!) { getTestPlan(issueId: $id) { jira(fields: ["key"])
        testExecutions(limit: 5) { total results { jira(fields: ["key"]) } } } }""", {"id": plan_id})
    assert listed["getTestPlan"]["testExecutions"] == {"total": 1, "results": [{"jira": {"key": "DEMO-2"}}]}
    server = cloud.http.get("/rest/raven/2.0/api/testplan/DEMO-1/testexecution", auth=("admin", "admin"))
    assert [e["key"] for e in server.json()] == ["DEMO-2"]


# -- searching ------------------------------------------------------------------------------------


def test_get_tests_and_jql_forms(cloud: Cloud) -> None:
    """getTests answers key =, key in (…), project = and issueIds; getTest by id; unknown ids are null."""
    store = cloud.sandbox.store
    a, b = store.create_test("DEMO", "a"), store.create_test("CALC", "b")
    query = """query ($jql: String, $ids: [String]) {
      getTests(jql: $jql, issueIds: $ids, limit: 10) { total results { jira(fields: ["key"]) } } }"""

    def keys(**variables: Any) -> list[str]:
        found = cloud.data(query, variables)["getTests"]
        assert found["total"] == len(found["results"])
        return [t["jira"]["key"] for t in found["results"]]

    assert keys(jql=f"key = {a['key']}") == [a["key"]]
    assert keys(jql=f"key in ({a['key']}, '{b['key']}')") == [a["key"], b["key"]]
    assert keys(jql="project = CALC") == [b["key"]]
    assert keys(jql="project = CALC AND issuetype = Test ORDER BY key DESC") == [b["key"]]
    assert keys(ids=[str(b["id"])]) == [b["key"]]
    assert keys(jql="project = DEMO", ids=[str(b["id"])]) == []
    assert keys() == [a["key"], b["key"]]
    one = cloud.data("""query ($id: String!) { a: getTest(issueId: $id) { jira(fields: ["summary"])
                         } b: getTest(issueId: "1") { issueId } c: getTestExecution(issueId: $id) { issueId } }""",
                     {"id": str(a["id"])})
    assert one == {"a": {"jira": {"summary": "a"}}, "b": None, "c": None}


def test_jql_matching_more_than_100_issues_is_an_error(cloud: Cloud) -> None:
    """A JQL that matches 101 Tests is refused (contract §15.1) while a narrower one works."""
    store = cloud.sandbox.store
    for n in range(101):
        store.create_test("CALC", f"t{n}")
    body = cloud.gql('{ getTests(jql: "project = CALC", limit: 5) { total } ok: getTests(jql: "key = CALC-2", '
                     "limit: 5) { total } }")
    assert body["data"] == {"getTests": None, "ok": {"total": 1}}
    assert body["errors"][0]["message"].startswith("The JQL matches 101 issues, more than the 100 allowed")
    assert body["errors"][0]["path"] == ["getTests"]


# -- errors ---------------------------------------------------------------------------------------

ERRORS = [
    ("limit missing", "{ getTestRuns { total } }", None,
     'Field "getTestRuns" argument "limit" of type "Int!" is required, but it was not provided.', None),
    ("limit over 100", "{ getTestRuns(limit: 101) { total } }", None,
     "The limit must be between 1 and 100 (it was 101).", ["getTestRuns"]),
    ("limit over 100 in a variable", "query ($n: Int!) { getTestExecutions(limit: $n) { total } }", {"n": 500},
     "The limit must be between 1 and 100 (it was 500).", ["getTestExecutions"]),
    ("nested limit over 100", '{ getTestExecution(issueId: "1") { issueId } getTestPlans(limit: 1) { results { '
     "tests(limit: 200) { total } } } }", None, "The limit must be between 1 and 100 (it was 200).",
     ["getTestPlans", "results", 0, "tests"]),
    ("limit as a string", '{ getTestRuns(limit: "2") { total } }', None,
     'Int cannot represent non-integer value: "2"', None),
    ("unknown field", "{ getTestRuns(limit: 1) { results { id nonsense } } }", None,
     'Cannot query field "nonsense" on type "TestRun".', None),
    ("unknown root field", "{ getEverything { id } }", None, 'Cannot query field "getEverything" on type "Query".',
     None),
    ("unknown argument", "{ getTestRuns(limit: 1, testExecKeys: [\"DEMO-1\"]) { total } }", None,
     'Unknown argument "testExecKeys" on field "Query.getTestRuns".', None),
    ("bad syntax", "{ getTestRuns(limit: 1) { total }", None, "Syntax Error: Expected Name, found <EOF>.", None),
    ("stray character", "{ getTestRuns(limit: 1) { total } } ;", None, 'Syntax Error: Unexpected character: ";".',
     None),
    ("object without selection", "{ getTestRuns(limit: 1) }", None,
     'Field "getTestRuns" of type "TestRunResults" must have a selection of subfields.', None),
    ("undefined variable", "query { getTestRuns(limit: $n) { total } }", None, 'Variable "$n" is not defined.', None),
    ("missing variable", "query ($n: Int!) { getTestRuns(limit: $n) { total } }", {},
     'Variable "$n" of required type "Int!" was not provided.', None),
    ("variable of the wrong type", "query ($n: Int!) { getTestRuns(limit: $n) { total } }", {"n": "two"},
     'Variable "$n" got invalid value "two"; Int cannot represent non-integer value: "two"', None),
    ("nullable variable for a required argument", "query ($n: Int) { getTestRuns(limit: $n) { total } }", {"n": 1},
     'Variable "$n" of type "Int" used in position expecting type "Int!".', None),
    ("unused variable", "query ($n: Int) { getStatuses { name } }", None, 'Variable "$n" is never used.', None),
    ("JQL syntax", '{ getTestExecutions(jql: "key = ", limit: 1) { total } }', None,
     "Error in the JQL Query: Expecting either a value, list or function but got the end of the query.",
     ["getTestExecutions"]),
    ("JQL unknown key", '{ getTestExecutions(jql: "key = DEMO-999", limit: 1) { total } }', None,
     "An issue with key 'DEMO-999' does not exist for field 'key'.", ["getTestExecutions"]),
    ("JQL unknown field", '{ getTests(jql: "summary ~ adds", limit: 1) { total } }', None,
     "Field 'summary' does not exist or you do not have permission to view it.", ["getTests"]),
    ("too many items", "{ getTestPlans(limit: 100) { results { testExecutions(limit: 100) { results { "
     "testRuns(limit: 2) { total } } } } } }", None, "The query requests up to 20000 items", None),
    ("two operations, no name", "query A { getStatuses { name } } query B { getStatuses { name } }", None,
     "Must provide operation name if query contains multiple operations.", None),
]


@pytest.mark.parametrize(("query", "variables", "message", "path"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_graphql_errors_come_in_errors_with_http_200(cloud: Cloud, query: str, variables: dict[str, Any] | None,
                                                     message: str, path: list[Any] | None) -> None:
    """Every GraphQL error is HTTP 200 with errors[].message (and locations/path where it applies):
    validation errors give data null, resolver errors null only their field."""
    body = cloud.gql(query, variables)
    assert any(e["message"].startswith(message) for e in body["errors"]), body
    error = next(e for e in body["errors"] if e["message"].startswith(message))
    if path is None:
        assert body["data"] is None
    else:
        assert error["path"] == path
        assert body["data"] is not None
    if "operation name" not in message:
        assert error["locations"][0]["line"] >= 1 and error["locations"][0]["column"] >= 1


def test_http_level_problems_are_not_graphql_answers(cloud: Cloud) -> None:
    """No token: 401 like imports; a body that is not a GraphQL request: 400 with errors[]; the 429
    fault applies to GraphQL too."""
    http = cloud.http
    bare = http.post("/api/v2/graphql", json={"query": "{ getStatuses { name } }"})
    assert (bare.status_code, bare.json()) == (401, {"error": texts.TOKEN_MISSING})
    for body, message in ((b"{nope", "Error reading the request body: not valid JSON"),
                          (b'{"variables": {}}', "Must provide query string."),
                          (b'{"query": "{ getStatuses { name } }", "variables": "{}"}', "Variables must be provided")):
        reply = http.post("/api/v2/graphql", content=body,
                          headers={**cloud.headers, "Content-Type": "application/json"})
        assert reply.status_code == 400
        assert reply.json()["errors"][0]["message"].startswith(message)
    cloud.sandbox.faults.status_429 = 1
    limited = cloud.post("{ getStatuses { name } }")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert cloud.post("{ getStatuses { name } }", version="v1").status_code == 200


def test_language_features_clients_use(cloud: Cloud) -> None:
    """Aliases, fragments (named and inline), defaults, @include/@skip, __typename, operationName and
    literals of every kind work on Xray's schema."""
    cloud.sandbox.store.create_test("DEMO", "adds")
    query = """
    query Other { getStatuses { name } }
    query Wanted($jql: String = "project = DEMO", $more: Boolean!) {
      tests: getTests(jql: $jql, limit: 5, start: 0) {
        __typename
        ...Counts
        results { ... on Test { key: jira(fields: ["key"]) } issueId @include(if: $more) }
      }
      passed: getStatus(name: "PASSED") { name final }
      none: getStatus(name: "NOPE") { name }
      statuses: getStatuses(projectId: null, testType: {name: "Manual", kind: STEPS, n: [1, 2.5, true]}) { name }
    }
    fragment Counts on TestResults { total limit }
    """
    data = cloud.data(query, {"more": False}, operation="Wanted")
    assert data["tests"] == {"__typename": "TestResults", "total": 1, "limit": 5,
                             "results": [{"key": {"key": "DEMO-2"}}]}
    assert data["passed"] == {"name": "PASSED", "final": True} and data["none"] is None
    assert [s["name"] for s in data["statuses"]] == ["PASSED", "FAILED", "TODO", "EXECUTING", "ABORTED"]
    assert cloud.data(query, {"more": True}, operation="Wanted")["tests"]["results"][0]["issueId"].isdigit()
    unknown = cloud.gql(query, {"more": True}, operation="Missing")
    assert unknown == {"data": None, "errors": [{"message": 'Unknown operation named "Missing".'}]}
