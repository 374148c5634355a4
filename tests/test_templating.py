"""Templates: variables from every source, JSON escaping, and errors that name the file and line."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from xray_tasks.errors import TemplateError
from xray_tasks.settings import resolve_settings
from xray_tasks.templating import build_context, find_template, render_template


def fake_report(**totals: int) -> Any:
    counts = {"passed": 3, "failed": 1, "skipped": 1} | totals
    return SimpleNamespace(format="junit", format_label="JUnit XML", file="out/junit.xml", name="junit.xml",
                           files=["out/junit.xml"], totals=counts, tests=sum(counts.values()))


def render(part: str = "info", template: Path | None = None, environ: dict[str, str] | None = None,
           run: dict[str, Any] | None = None, deployment: str = "cloud", **env: str) -> dict[str, Any]:
    base = {"XRAY_PROJECT_KEY": "DEMO"} | env
    if deployment == "server":
        base |= {"XRAY_DEPLOYMENT": "server", "XRAY_BASE_URL": "https://jira.example.com"}
    s = resolve_settings(environ=base)
    context = build_context(s, report=fake_report(), run=run, environ=environ or {})
    path = template or find_template(s, part)
    return render_template(path, part, context, s.deployment).data


def test_default_info_carries_project_plan_environments_and_fix_version() -> None:
    """Settings reach the Cloud info: project, xrayFields.testPlanKey/environments, fixVersions."""
    data = render(XRAY_TEST_PLAN_KEY="DEMO-1", XRAY_TEST_ENVIRONMENTS="chrome;linux", XRAY_FIX_VERSION="1.2")
    assert data["fields"]["project"] == {"key": "DEMO"}
    assert data["fields"]["issuetype"] == {"name": "Test Execution"}
    assert data["xrayFields"] == {"testPlanKey": "DEMO-1", "environments": ["chrome", "linux"]}
    assert data["fields"]["fixVersions"] == [{"name": "1.2"}]
    assert "3 passed, 1 failed, 1 skipped of 5" in data["fields"]["description"]


def test_default_info_has_no_xray_fields_when_nothing_asks_for_them() -> None:
    """Without plan or environments the info carries no xrayFields at all."""
    assert "xrayFields" not in render()


def test_summary_var_with_quotes_newlines_and_unicode_stays_valid_json() -> None:
    """--var values are JSON-escaped: quotes, backslashes, newlines and unicode survive intact."""
    tricky = 'Nightly "run" \\ #7\nsecond line — ünïcødé ✓'
    data = render(XRAY_VAR_SUMMARY=tricky)
    assert data["fields"]["summary"] == tricky


def test_run_and_ci_variables_reach_the_description() -> None:
    """The recorded run and the CI build URL appear in the default description."""
    environ = {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "42", "GITHUB_REPOSITORY": "acme/calc"}
    data = render(environ=environ, run={"command": "pytest -q", "exit_code": 1})
    description = data["fields"]["description"]
    assert "Test command: pytest -q (exit 1)" in description
    assert "https://github.com/acme/calc/actions/runs/42" in description


def test_server_info_uses_custom_fields() -> None:
    """Server/DC info puts plan and environments into the configured custom fields, no xrayFields."""
    data = render(deployment="server", XRAY_TEST_PLAN_KEY="DEMO-1", XRAY_TEST_ENVIRONMENTS="chrome",
                  XRAY_SERVER_TEST_PLAN_FIELD="customfield_11807", XRAY_SERVER_ENVIRONMENTS_FIELD="customfield_11805")
    assert data["fields"]["customfield_11807"] == ["DEMO-1"]
    assert data["fields"]["customfield_11805"] == ["chrome"]
    assert "xrayFields" not in data


def test_env_secrets_are_not_template_variables(tmp_path: Path) -> None:
    """Secret-looking environment variables are filtered out of ``env``."""
    tpl = tmp_path / "info.json.j2"
    tpl.write_text('{"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Test Execution"},'
                   ' "summary": {{ (env.keys() | sort | join(",")) | json }}}}')
    data = render(template=tpl, environ={"BUILD_NUMBER": "9", "MY_API_TOKEN": "t", "XRAY_CLIENT_SECRET": "s"})
    assert data["fields"]["summary"] == "BUILD_NUMBER"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"fields": {{ oops }}}', "line 1: 'oops' is undefined"),
        ('{"fields": {{ vars.nope | tojson }}}', "no attribute 'nope' — vars.* come from --var NAME=VALUE"),
        ('{"fields": {"summary": {{ git.nope | json }}}}', "git.* needs a git checkout"),
        ('{\n"fields": {% if %}\n}', "line 2: syntax error"),
        ('{"fields": {"summary": {{ "x" }} }}', "invalid JSON"),
        ('{"fields": {"issuetype": {"name": "Test Execution"}, "summary": "s"}}', "no fields.project.key"),
        ('{"fields": {"project": {"key": "D"}, "issuetype": {"name": "Test Execution"}}}', "no fields.summary"),
        ('{"fields": {"project": {"key": "D"}, "issuetype": {"name": "E"}, "summary": "s"},'
         ' "xrayFields": {"testEnvironments": ["x"]}}', "xrayFields Xray Cloud rejects: testEnvironments"),
    ],
    ids=["undefined variable", "undefined in tojson", "missing attribute", "syntax error", "invalid json",
         "no project", "no summary", "bad xrayFields"],
)
def test_template_errors_name_file_and_problem(tmp_path: Path, body: str, expected: str) -> None:
    """Each broken template ends in one TemplateError naming the template file."""
    tpl = tmp_path / "broken.json.j2"
    tpl.write_text(body)
    with pytest.raises(TemplateError) as info:
        render(template=tpl)
    message = str(info.value)
    assert expected in message
    assert str(tpl) in message
    assert "\n" not in message


def test_template_dir_overrides_the_bundled_template(tmp_path: Path) -> None:
    """A file of the same name in XRAY_TEMPLATE_DIR wins over the bundled one."""
    (tmp_path / "info.json.j2").write_text(json.dumps(
        {"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Test Execution"}, "summary": "mine"}}))
    data = render(XRAY_TEMPLATE_DIR=str(tmp_path))
    assert data["fields"]["summary"] == "mine"


def test_missing_explicit_template_is_a_clear_error() -> None:
    """--info-template pointing nowhere says so."""
    s = resolve_settings(environ={})
    with pytest.raises(TemplateError, match=r"nope\.j2 not found"):
        find_template(s, "info", "nope.j2")
