"""Xray Server/Data Center end to end: the real command against the sandbox's Server dialect, PAT and basic
auth, every format, multipart part names and the Test Plan custom field; plus Cloud region/base-URL hints."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import REPORT_FIXTURES, assert_one_clean_line, sandbox_env, seeded_sandbox, xray_tasks
from xray_tasks.sandbox import Sandbox

JSON_FORMATS = ("xray", "cucumber", "behave")


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with seeded_sandbox(3) as sandbox:
        yield sandbox


def server_env(sb: Sandbox, tmp: Path, *, auth: str = "pat", fields: bool = True, **extra: str) -> dict[str, str]:
    """Settings for the sandbox's Server/DC dialect only through XRAY_* variables; no Cloud credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XRAY_", "INVOKE_", "GITHUB_"))}
    env |= {"XRAY_DEPLOYMENT": "server", "XRAY_BASE_URL": sb.url, "XRAY_PROJECT_KEY": "DEMO",
            "XRAY_TOKEN_CACHE": str(tmp / "tokens.json"), "XRAY_ENV_FILE": os.devnull,
            "XRAY_STATE_FILE": str(tmp / ".xray-run.json"), "XRAY_MAX_RETRIES": "0"}
    if auth == "pat":
        env["XRAY_SERVER_TOKEN"] = sb.config.server_token
    else:
        env |= {"XRAY_SERVER_USER": sb.config.server_user, "XRAY_SERVER_PASSWORD": sb.config.server_password}
    if fields:
        env |= {"XRAY_SERVER_TEST_PLAN_FIELD": sb.config.test_plan_field,
                "XRAY_SERVER_ENVIRONMENTS_FIELD": sb.config.environments_field}
    env.update(extra)
    return env


def imported_key(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("Imported "), proc.stdout
    return line.split(" into ")[1].split(":")[0]


def server_report(report: Path, fmt: str, tmp: Path) -> Path:
    """The report as a Server user has it: pytest-jira-xray's --cloud Xray JSON uses Cloud statuses
    (PASSED/FAILED), which Server/DC refuses — written without --cloud it has PASS/FAIL."""
    if fmt != "xray":
        return report
    data = json.loads(report.read_text(encoding="utf-8"))
    for test in data["tests"]:
        test["status"] = {"PASSED": "PASS", "FAILED": "FAIL"}.get(test["status"], test["status"])
    out = tmp / "xray-server.json"
    out.write_text(json.dumps(data), encoding="utf-8")
    return out


def request_for(sb: Sandbox, key: str) -> dict[str, Any]:
    found = [r for r in sb.store.requests() if r.get("execution") == key and "/import/" in str(r["path"])]
    assert found, key
    return found[-1]


@pytest.mark.parametrize("auth", ["pat", "basic"])
@pytest.mark.parametrize("fmt", list(REPORT_FIXTURES))
def test_every_format_imports_standard(fmt: str, auth: str, request: pytest.FixtureRequest, sb: Sandbox,
                                       tmp_path: Path) -> None:
    """Standard endpoint on /rest/raven/2.0: XML as multipart part 'file', JSON as the raw body."""
    report = server_report(request.getfixturevalue(REPORT_FIXTURES[fmt]), fmt, tmp_path)
    proc = xray_tasks("import-results", "--report", str(report), env=server_env(sb, tmp_path, auth=auth))
    key = imported_key(proc)
    execution = sb.store.execution(key)
    assert execution is not None
    assert execution["format"] == fmt and execution["total"] > 0
    assert set(execution["counts"]) <= {"PASS", "FAIL", "TODO", "EXECUTING", "ABORTED"}
    req = request_for(sb, key)
    assert req["path"].startswith("/rest/raven/2.0/import/execution")
    assert req["auth"] == auth
    if fmt in JSON_FORMATS:
        assert not req["parts"] and str(req["content_type"]).startswith("application/json")
    else:
        assert req["parts"] == ["file"]
    assert f"/browse/{key}" in proc.stdout
    assert sb.config.server_token not in proc.stdout + proc.stderr


def test_cloud_statuses_in_xray_json_get_a_server_hint(xray_json_report: Path, sb: Sandbox, tmp_path: Path) -> None:
    """Xray JSON written for Cloud (PASSED/FAILED) is refused by Server/DC: Xray's text plus a hint."""
    proc = xray_tasks("import-results", "--report", str(xray_json_report), env=server_env(sb, tmp_path))
    line = assert_one_clean_line(proc, sb.config.server_token)
    assert proc.returncode == 16
    assert "PASS, FAIL" in line and "Server/DC" in line.split(" — ", 1)[1]


@pytest.mark.parametrize("fmt", list(REPORT_FIXTURES))
def test_multipart_part_names_and_test_plan_custom_field(fmt: str, request: pytest.FixtureRequest, sb: Sandbox,
                                                         tmp_path: Path) -> None:
    """Multipart: 'file' (XML) or 'result' (JSON) + info + testInfo; the Test Plan and environments go into
    the configured custom fields of info, and the sandbox links the Test Execution to the plan."""
    report = server_report(request.getfixturevalue(REPORT_FIXTURES[fmt]), fmt, tmp_path)
    env = server_env(sb, tmp_path, XRAY_TEST_ENVIRONMENTS="linux;chrome")
    proc = xray_tasks("import-results", "--report", str(report), "--multipart", "--test-plan", "DEMO-1",
                      "--var", f"summary=Server {fmt}", env=env)
    key = imported_key(proc)
    execution = sb.store.execution(key)
    assert execution is not None
    assert execution["multipart"] is True
    assert execution["test_plan"] == "DEMO-1"
    fields = execution["info"]["fields"]
    assert fields[sb.config.test_plan_field] == ["DEMO-1"]
    assert fields[sb.config.environments_field] == ["linux", "chrome"]
    assert fields["summary"] == f"Server {fmt}"
    assert "xrayFields" not in execution["info"]
    req = request_for(sb, key)
    report_part = "result" if fmt in JSON_FORMATS else "file"
    assert req["path"] == f"/rest/raven/2.0/import/execution{'' if fmt == 'xray' else '/' + fmt}/multipart"
    assert req["parts"] == [report_part, "info", "testInfo"]


@pytest.mark.parametrize("multipart", [False, True])
def test_api_version_1_0_for_xray_before_4(multipart: bool, pytest_junit_report: Path, sb: Sandbox,
                                          tmp_path: Path) -> None:
    """XRAY_API_VERSION=1.0 sends every import under /rest/raven/1.0 (Xray Server before 4.0)."""
    env = server_env(sb, tmp_path, XRAY_API_VERSION="1.0")
    args = ["--multipart", "--var", "summary=Old Xray"] if multipart else []
    key = imported_key(xray_tasks("import-results", "--report", str(pytest_junit_report), *args, env=env))
    req = request_for(sb, key)
    assert req["path"] == f"/rest/raven/1.0/import/execution/junit{'/multipart' if multipart else ''}"
    assert req["parts"] == (["file", "info", "testInfo"] if multipart else ["file"])


def test_standard_xml_passes_test_plan_as_query(pytest_junit_report: Path, sb: Sandbox, tmp_path: Path) -> None:
    """Standard XML on Server: the Test Plan goes as testPlanKey in the query (no custom field needed)."""
    env = server_env(sb, tmp_path, fields=False, XRAY_TEST_PLAN_KEY="DEMO-1")
    key = imported_key(xray_tasks("import-results", "--report", str(pytest_junit_report), env=env))
    execution = sb.store.execution(key)
    assert execution is not None and execution["test_plan"] == "DEMO-1"
    assert request_for(sb, key)["query"]["testPlanKey"] == "DEMO-1"


@pytest.mark.parametrize("how", ["multipart", "cucumber"])
def test_test_plan_without_field_id_exits_11_naming_the_setting(how: str, request: pytest.FixtureRequest,
                                                                  sb: Sandbox, tmp_path: Path) -> None:
    """Multipart with a test plan and no XRAY_SERVER_TEST_PLAN_FIELD: exit 11 before anything is sent."""
    report: Path = request.getfixturevalue("pytest_junit_report" if how == "multipart" else "cucumber_report")
    extra = ["--multipart"] if how == "multipart" else []
    before = len(sb.store.requests())
    proc = xray_tasks("import-results", "--report", str(report), *extra, "--test-plan", "DEMO-1",
                      env=server_env(sb, tmp_path, fields=False))
    line = assert_one_clean_line(proc, sb.config.server_token)
    assert proc.returncode == 11
    assert "XRAY_SERVER_TEST_PLAN_FIELD" in line
    assert len(sb.store.requests()) == before


@pytest.mark.parametrize("auth", ["pat", "basic"])
def test_wrong_server_credentials_exit_15(auth: str, pytest_junit_report: Path, sb: Sandbox,
                                          tmp_path: Path) -> None:
    """Wrong PAT or password: exit 15, one clean line naming the Server settings, no secret."""
    wrong = "wrong-server-secret-123"
    extra = {"XRAY_SERVER_TOKEN": wrong} if auth == "pat" else {"XRAY_SERVER_PASSWORD": wrong}
    proc = xray_tasks("import-results", "--report", str(pytest_junit_report),
                      env=server_env(sb, tmp_path, auth=auth, **extra))
    line = assert_one_clean_line(proc, wrong)
    assert proc.returncode == 15
    assert "XRAY_SERVER_TOKEN" in line or "XRAY_SERVER_PASSWORD" in line
    assert "XRAY_CLIENT" not in line


def test_authenticate_checks_server_credentials(sb: Sandbox, tmp_path: Path) -> None:
    proc = xray_tasks("authenticate", env=server_env(sb, tmp_path, auth="basic"))
    assert proc.returncode == 0, proc.stderr
    assert "Server/DC" in proc.stderr and "Basic" in proc.stderr


def test_print_token_on_server_is_refused_not_silent(sb: Sandbox, tmp_path: Path) -> None:
    """TOKEN=$(xray-tasks authenticate --print-token) must not end up empty with exit 0 on Server/DC."""
    proc = xray_tasks("authenticate", "--print-token", env=server_env(sb, tmp_path))
    line = assert_one_clean_line(proc, sb.config.server_token)
    assert proc.returncode == 11 and proc.stdout == ""
    assert "no token to print" in line and "XRAY_SERVER_TOKEN" in line


# -- Cloud regions and base URLs --------------------------------------------------------------------------


def test_another_region_401_names_xray_region(pytest_junit_report: Path, tmp_path: Path) -> None:
    with Sandbox() as cloud:
        cloud.faults.region_mismatch = True
        proc = xray_tasks("import-results", "--report", str(pytest_junit_report),
                          env=sandbox_env(cloud, tmp_path))
    line = assert_one_clean_line(proc, cloud.config.client_secret)
    assert proc.returncode == 15
    assert "another region" in line and "XRAY_REGION" in line


@pytest.mark.parametrize("url, fix", [
    ("https://eu.xray.cloud.getxray.app/api/v2", "XRAY_BASE_URL=https://eu.xray.cloud.getxray.app"),
    ("https://xray.cloud.getxray.app/api/v2/import/execution/junit", "XRAY_BASE_URL=https://xray.cloud.getxray.app"),
    ("xray.cloud.getxray.app", "https://xray.cloud.getxray.app"),
    ("https://xray.cloud.getxray.app/jira/", "XRAY_BASE_URL=https://xray.cloud.getxray.app"),
    ("https://jira.example.com/rest/raven/2.0", "XRAY_BASE_URL=https://jira.example.com"),
    ("https://acme.atlassian.net", "XRAY_BASE_URL=https://xray.cloud.getxray.app"),
])
def test_a_malformed_base_url_exits_11_naming_the_fix(url: str, fix: str, pytest_junit_report: Path, sb: Sandbox,
                                                      tmp_path: Path) -> None:
    proc = xray_tasks("import-results", "--report", str(pytest_junit_report),
                      env=sandbox_env(sb, tmp_path, XRAY_BASE_URL=url))
    line = assert_one_clean_line(proc, sb.config.client_secret)
    assert proc.returncode == 11
    assert fix in line, line


def test_jira_url_for_cloud_404_hints_at_the_xray_host(pytest_junit_report: Path, sb: Sandbox,
                                                       tmp_path: Path) -> None:
    """A Jira site (here: the sandbox under a context path) as a Cloud base URL answers 404: the hint
    names the Xray Cloud host and XRAY_REGION."""
    proc = xray_tasks("import-results", "--report", str(pytest_junit_report),
                      env=sandbox_env(sb, tmp_path, XRAY_BASE_URL=f"{sb.url}/jira", XRAY_DEPLOYMENT="cloud"))
    line = assert_one_clean_line(proc, sb.config.client_secret)
    assert "404" in line
    assert "https://xray.cloud.getxray.app" in line and "XRAY_BASE_URL" in line
