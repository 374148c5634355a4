"""Import plans: the right endpoint, query and parts per format and deployment, decided without I/O."""

from __future__ import annotations

from pathlib import Path

import pytest

from xray_tasks.errors import SettingsError
from xray_tasks.plan import build_plan, decide, endpoint_path, implied_templates, unused_options
from xray_tasks.settings import Settings, resolve_settings

REPORT = Path("out/report.xml")
INFO = {"fields": {"project": {"key": "DEMO"}, "summary": "s", "issuetype": {"name": "Test Execution"}}}


def cloud(**env: str) -> Settings:
    return resolve_settings(environ={"XRAY_PROJECT_KEY": "DEMO"} | env)


def server(**env: str) -> Settings:
    return resolve_settings(environ={"XRAY_PROJECT_KEY": "DEMO", "XRAY_DEPLOYMENT": "server",
                                     "XRAY_BASE_URL": "https://jira.example.com/jira"} | env)


@pytest.mark.parametrize("fmt", ["junit", "testng", "nunit", "xunit", "robot"])
def test_cloud_xml_is_a_raw_body_with_every_option_in_the_query(fmt: str) -> None:
    """Cloud XML formats: raw application/xml body, options as case-sensitive query parameters."""
    s = cloud(XRAY_TEST_PLAN_KEY="DEMO-1", XRAY_TEST_ENVIRONMENTS="chrome;linux", XRAY_REVISION="abc",
              XRAY_FIX_VERSION="1.0")
    plan = build_plan(s, REPORT, fmt, decide(s, fmt))
    assert plan.endpoint == f"/api/v2/import/execution/{fmt}"
    assert not plan.multipart
    assert plan.content_type == "application/xml"
    assert dict(plan.query) == {"projectKey": "DEMO", "testPlanKey": "DEMO-1", "testEnvironments": "chrome;linux",
                                "revision": "abc", "fixVersion": "1.0"}


def test_server_xml_is_multipart_with_a_file_part_and_query() -> None:
    """Server/DC XML formats: one multipart part named 'file', options in the query."""
    s = server(XRAY_TEST_PLAN_KEY="DEMO-1")
    plan = build_plan(s, REPORT, "junit", decide(s, "junit"))
    assert plan.endpoint == "/rest/raven/2.0/import/execution/junit"
    assert [p.name for p in plan.parts] == ["file"]
    assert plan.query["testPlanKey"] == "DEMO-1"
    assert plan.url(s.base_url).startswith("https://jira.example.com/jira/rest/raven/2.0/")


@pytest.mark.parametrize(("deployment", "fmt", "names"), [
    ("cloud", "testng", ["results", "info", "testInfo"]),
    ("cloud", "cucumber", ["results", "info", "testInfo"]),
    ("server", "junit", ["file", "info", "testInfo"]),
    ("server", "behave", ["result", "info", "testInfo"]),
])
def test_multipart_part_names_follow_the_deployment(deployment: str, fmt: str, names: list[str]) -> None:
    """Cloud: results/info/testInfo; Server: file (XML) or result (JSON) plus info/testInfo."""
    s = cloud() if deployment == "cloud" else server()
    plan = build_plan(s, REPORT, fmt, decide(s, fmt, multipart=True), info=INFO, test_info={"fields": {}})
    assert [p.name for p in plan.parts] == names
    assert plan.endpoint.endswith(f"/{fmt}/multipart")
    assert plan.query == {}
    assert plan.creates_execution


def test_cucumber_with_a_test_plan_switches_to_multipart_and_says_so() -> None:
    """The standard Cucumber endpoint cannot carry a test plan: multipart, with a note."""
    decision = decide(cloud(XRAY_TEST_PLAN_KEY="DEMO-1"), "cucumber")
    assert decision.multipart
    assert any("cannot carry the test plan" in n for n in decision.notes)


def test_cucumber_without_options_stays_standard() -> None:
    """Nothing to carry: the standard Cucumber endpoint with no query."""
    s = cloud()
    plan = build_plan(s, REPORT, "cucumber", decide(s, "cucumber"))
    assert plan.endpoint == "/api/v2/import/execution/cucumber"
    assert plan.query == {}
    assert plan.content_type == "application/json"


@pytest.mark.parametrize(("fmt", "kwargs", "expected"), [
    ("junit", {"multipart": True}, "multipart endpoints always create a new Test Execution"),
    ("junit", {"variables": True}, "multipart endpoints always create a new Test Execution"),
    ("cucumber", {}, "take no testExecKey"),
    ("behave", {}, "take no testExecKey"),
])
def test_impossible_combinations_are_refused_before_sending(fmt: str, kwargs: dict[str, bool], expected: str) -> None:
    """An existing Test Execution with multipart, --var or Cucumber/Behave is refused with the reason."""
    with pytest.raises(SettingsError, match=expected):
        decide(cloud(XRAY_TEST_EXEC_KEY="DEMO-9"), fmt, **kwargs)


def test_xray_json_options_go_inside_the_body_not_the_query() -> None:
    """Xray JSON takes no query parameters: options are merged into info / testExecutionKey."""
    s = cloud(XRAY_TEST_PLAN_KEY="DEMO-1", XRAY_TEST_ENVIRONMENTS="chrome", XRAY_REVISION="r1")
    report = {"info": {"summary": "mine"}, "tests": [{"testKey": "DEMO-2", "status": "PASSED"}]}
    plan = build_plan(s, Path("x.json"), "xray", decide(s, "xray"), xray_report=report)
    assert plan.endpoint == "/api/v2/import/execution"
    assert plan.query == {}
    import json
    body = json.loads(plan.body or b"")
    assert body["info"] == {"summary": "mine", "project": "DEMO", "testPlanKey": "DEMO-1",
                            "testEnvironments": ["chrome"], "revision": "r1"}
    assert any("inside the Xray JSON" in n for n in plan.notes)
    text = plan.describe(s.base_url, "Bearer")
    assert "body: x.json (Xray JSON; rewritten in memory" in text
    assert '"testPlanKey": "DEMO-1"' in text and "DEMO-2" not in text  # info shown, not the tests


def test_dry_run_names_a_single_report_plainly() -> None:
    """One whole report is named as it is, not as a part of a split one."""
    from dataclasses import replace

    s = cloud()
    plan = replace(build_plan(s, REPORT, "junit", decide(s, "junit")), sources=(REPORT,))
    text = plan.describe(s.base_url, "Bearer")
    assert f"body: {REPORT} (JUnit XML; streamed)" in text and "a part of it" not in text


def test_xml_without_project_or_execution_is_refused() -> None:
    """The standard XML endpoints need projectKey or testExecKey."""
    s = resolve_settings(environ={})
    with pytest.raises(SettingsError, match="XRAY_PROJECT_KEY"):
        decide(s, "junit")


def test_server_test_plan_needs_its_custom_field_id() -> None:
    """Server multipart with a test plan and no field id is refused, naming the setting."""
    with pytest.raises(SettingsError, match="XRAY_SERVER_TEST_PLAN_FIELD"):
        decide(server(XRAY_TEST_PLAN_KEY="DEMO-1"), "junit", multipart=True)


def test_dry_run_description_redacts_the_credential_and_shows_rendered_json() -> None:
    """describe() shows method, URL, parts and the rendered summary, never a token."""
    s = cloud()
    plan = build_plan(s, REPORT, "junit", decide(s, "junit", multipart=True), info=INFO)
    text = plan.describe(s.base_url, "Bearer")
    assert "POST https://xray.cloud.getxray.app/api/v2/import/execution/junit/multipart" in text
    assert "Authorization: Bearer <redacted>" in text
    assert '"summary": "s"' in text


def test_endpoint_paths_for_xray_json_have_no_format_segment() -> None:
    """Xray JSON imports to /import/execution, others to /import/execution/<format>."""
    assert endpoint_path("/api/v2", "xray", False) == "/api/v2/import/execution"
    assert endpoint_path("/rest/raven/2.0", "xray", True) == "/rest/raven/2.0/import/execution/multipart"


def test_options_a_custom_info_leaves_out_are_named() -> None:
    """A template that ignores the test plan, environments or fix version gets a note for each."""
    s = cloud(XRAY_TEST_PLAN_KEY="DEMO-1", XRAY_TEST_ENVIRONMENTS="a;b", XRAY_FIX_VERSION="1.0")
    bare = {"fields": {"project": {"key": "DEMO"}, "summary": "s", "issuetype": {"name": "Test Execution"}}}
    notes = unused_options(s, bare)
    assert len(notes) == 3 and "xrayFields.testPlanKey" in notes[0] and "a;b" in notes[1] and "1.0" in notes[2]
    full = {"fields": {**bare["fields"], "fixVersions": [{"name": "1.0"}]},
            "xrayFields": {"testPlanKey": "DEMO-1", "environments": ["b", "a"]}}
    assert unused_options(s, full) == []
    srv = server(XRAY_TEST_PLAN_KEY="DEMO-1", XRAY_SERVER_TEST_PLAN_FIELD="customfield_7")
    assert unused_options(srv, {"fields": {"customfield_7": ["DEMO-1"]}}) == []
    assert "fields.customfield_7" in unused_options(srv, {"fields": {}})[0]


def test_template_settings_from_the_environment_choose_multipart_unless_importing_into_a_key() -> None:
    """XRAY_VAR_*/XRAY_TEMPLATE_DIR switch to multipart with a note; with a Test Execution key they are
    left unused, with a note, instead of refusing the import."""
    s = cloud(XRAY_VAR_SUMMARY="Nightly")
    implied = implied_templates(s)
    assert implied == "template variables (summary)"
    decision = decide(s, "junit", implied=implied)
    assert decision.multipart and "only it uses template variables (summary)" in decision.notes[0]
    into = cloud(XRAY_VAR_SUMMARY="Nightly", XRAY_TEST_EXEC_KEY="DEMO-9")
    decision = decide(into, "junit", implied=implied_templates(into))
    assert not decision.multipart and "not used: importing into DEMO-9" in decision.notes[0]
    assert implied_templates(cloud()) is None


def test_plan_label_names_what_the_request_carries() -> None:
    """Messages name the user's reports, never the temporary merged or split file."""
    from dataclasses import replace

    s = cloud()
    plan = build_plan(s, Path("/tmp/merged-junit-x1.xml"), "junit", decide(s, "junit"))
    assert replace(plan, sources=(Path("a.xml"), Path("b.xml"))).label == "2 JUnit XML reports"
    assert replace(plan, sources=(Path("big.xml"),)).label == "part of big.xml"
    assert build_plan(s, REPORT, "junit", decide(s, "junit")).label == REPORT.name
