"""`xray-tasks doctor`: the real command against the sandbox, on a good setup and on broken ones."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import sandbox_env, xray_tasks
from xray_tasks.doctor import FAIL, OK, WARN, base_url_check, setting_checks, token_cache_check
from xray_tasks.sandbox import Sandbox
from xray_tasks.settings import resolve_settings

JUNIT = '<testsuite name="s" tests="2"><testcase classname="a" name="b"/><testcase classname="a" name="c"/>' \
        '</testsuite>'


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT, encoding="utf-8")
    return path


def server_env(sb: Sandbox, tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XRAY_", "INVOKE_", "GITHUB_"))}
    env |= {"XRAY_DEPLOYMENT": "server", "XRAY_BASE_URL": sb.url, "XRAY_SERVER_USER": sb.config.server_user,
            "XRAY_SERVER_PASSWORD": sb.config.server_password, "XRAY_PROJECT_KEY": "DEMO",
            "XRAY_SERVER_TEST_PLAN_FIELD": sb.config.test_plan_field,
            "XRAY_SERVER_ENVIRONMENTS_FIELD": sb.config.environments_field,
            "XRAY_ENV_FILE": os.devnull, "XRAY_STATE_FILE": str(tmp / ".xray-run.json")}
    return env | extra


def lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return proc.stdout.strip().splitlines()


def failed(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """Check name → its line, for every FAIL line."""
    out = {}
    for line in lines(proc):
        if line.startswith(FAIL):
            out[line[6:].split("  ")[0].strip()] = line
    return out


def no_secret(proc: subprocess.CompletedProcess[str], sb: Sandbox, tmp: Path) -> None:
    text = proc.stdout + proc.stderr
    for secret in (sb.config.client_secret, sb.config.server_token, "wrong-secret-xyz"):
        assert secret not in text
    cache = tmp / "tokens.json"
    if cache.exists():
        for entry in json.loads(cache.read_text()).values():
            assert entry["token"] not in text
    assert "Traceback" not in proc.stderr


def named(proc: subprocess.CompletedProcess[str], name: str) -> str:
    """The line of the check called ``name``."""
    found = [line for line in lines(proc) if line[6:].startswith(f"{name}  ")]
    assert len(found) == 1, proc.stdout
    return found[0]


def test_good_cloud_setup_passes(sb: Sandbox, tmp_path: Path, report: Path) -> None:
    """A working Cloud setup: every line OK or WARN, the settings shown by source, the token's expiry."""
    env = sandbox_env(sb, tmp_path, XRAY_REPORT=str(report))
    assert xray_tasks("authenticate", env=env).returncode == 0  # a cached token: doctor shows its expiry
    proc = xray_tasks("doctor", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all(line.startswith((f"{OK} ", WARN)) for line in lines(proc)), proc.stdout
    text = proc.stdout
    environment = named(proc, "settings (environment)")
    assert "XRAY_CLIENT_SECRET=(set, hidden)" in environment and "XRAY_PROJECT_KEY=DEMO" in environment
    assert "cached token valid until" in text and "mode 600" in text
    assert "credentials" in text and "authenticated" in text
    assert "template info" in text and "template testInfo" in text
    assert "(JUnit XML)" in text and "report size" in text
    no_secret(proc, sb, tmp_path)


def test_good_server_setup_checks_custom_fields(sb: Sandbox, tmp_path: Path, report: Path) -> None:
    """Server/DC: basic auth is checked against Jira and the custom field ids are found."""
    proc = xray_tasks("doctor", "--report", str(report), env=server_env(sb, tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all(line.startswith((f"{OK} ", WARN)) for line in lines(proc)), proc.stdout
    assert f"{sb.config.test_plan_field} is 'Test Plan' in Jira" in proc.stdout
    assert f"{sb.config.environments_field} is 'Test Environments' in Jira" in proc.stdout
    assert "credentials" in proc.stdout and "(Basic)" in proc.stdout
    assert "info.server.json.j2" in proc.stdout
    no_secret(proc, sb, tmp_path)


def test_json_parses_and_lists_every_check(sb: Sandbox, tmp_path: Path, report: Path) -> None:
    """--json is one list of {name, status, detail, fix} objects."""
    proc = xray_tasks("doctor", "--json", "--report", str(report), env=sandbox_env(sb, tmp_path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert isinstance(data, list) and data
    assert all(set(item) == {"name", "status", "detail", "fix"} for item in data)
    assert {item["status"] for item in data} <= {OK, WARN}
    assert {"credentials", "reachable", "template info", "report size"} <= {item["name"] for item in data}
    no_secret(proc, sb, tmp_path)


def test_a_broken_setup_names_each_broken_item(sb: Sandbox, tmp_path: Path, report: Path) -> None:
    """Wrong secret, a missing report and a broken template: each a FAIL line with its fix; exit 11."""
    bad = tmp_path / "bad.json.j2"
    bad.write_text('{"fields": {"summary": {{ vars.nothing | json }} }}\n', encoding="utf-8")
    env = sandbox_env(sb, tmp_path, XRAY_CLIENT_SECRET="wrong-secret-xyz")
    proc = xray_tasks("doctor", "--report", str(report), "--report", str(tmp_path / "missing.xml"),
                      "--info-template", str(bad), env=env)
    assert proc.returncode == 11, proc.stdout
    fails = failed(proc)
    assert set(fails) == {"credentials", "report missing.xml", "template info"}, proc.stdout
    assert "Invalid client credentials" in fails["credentials"] and "XRAY_CLIENT_ID" in fails["credentials"]
    assert "does not exist" in fails["report missing.xml"]
    assert "bad.json.j2 line 1" in fails["template info"] and "nothing" in fails["template info"]
    assert "3 check(s) failed: credentials, template info, report missing.xml" in proc.stderr
    no_secret(proc, sb, tmp_path)


def test_a_bad_base_url_is_named_with_the_fix_and_local_checks_still_run(sb: Sandbox, tmp_path: Path,
                                                                           report: Path) -> None:
    """An API path in XRAY_BASE_URL: the corrected URL is named, the placeholder URL never shown."""
    env = sandbox_env(sb, tmp_path, XRAY_BASE_URL=f"{sb.url}/api/v2/import", XRAY_REPORT=str(report))
    proc = xray_tasks("doctor", env=env)
    assert proc.returncode == 11
    fails = failed(proc)
    assert f"set XRAY_BASE_URL={sb.url};" in fails["base URL"]
    assert "template info" not in fails and "(JUnit XML)" in proc.stdout
    assert "base-url.invalid" not in proc.stdout
    no_secret(proc, sb, tmp_path)


def test_an_unreachable_host_fails_reachability(sb: Sandbox, tmp_path: Path, report: Path) -> None:
    """Connection refused: reachability fails, the credentials are not checked."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = xray_tasks("doctor", "--report", str(report),
                      env=sandbox_env(sb, tmp_path, XRAY_BASE_URL=f"http://127.0.0.1:{port}"))
    assert proc.returncode == 11
    fails = failed(proc)
    assert set(fails) == {"reachable"}, proc.stdout
    assert "connection refused" in fails["reachable"] and "XRAY_BASE_URL" in fails["reachable"]
    assert "WARN  credentials" in proc.stdout


def test_a_wrong_server_field_id_names_the_right_one(sb: Sandbox, tmp_path: Path, report: Path) -> None:
    """A wrong custom field id gets the id Jira lists under that name."""
    proc = xray_tasks("doctor", "--report", str(report),
                      env=server_env(sb, tmp_path, XRAY_SERVER_TEST_PLAN_FIELD="customfield_1"))
    assert proc.returncode == 11
    line = failed(proc)["Test Plan field"]
    assert f"set XRAY_SERVER_TEST_PLAN_FIELD={sb.config.test_plan_field}" in line


def test_doctor_has_help_for_every_flag() -> None:
    """`--help doctor` lists each flag with its help."""
    proc = subprocess.run([sys.executable, "-m", "xray_tasks", "--help", "doctor"], capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    options = [line for line in proc.stdout.splitlines() if line.strip().startswith("-")]
    assert any("--json" in o for o in options)
    assert all(len(line.split(None, 1)) == 2 for line in options), proc.stdout


def test_base_url_check_is_pure() -> None:
    """The base URL's shape is judged without the network."""
    server_on_cloud = resolve_settings(environ={"XRAY_DEPLOYMENT": "server"})
    assert base_url_check(server_on_cloud).status == FAIL
    jira_for_cloud = resolve_settings(environ={"XRAY_BASE_URL": "https://jira.example.com", "XRAY_CLIENT_ID": "x"})
    check = base_url_check(jira_for_cloud)
    assert check.status == WARN and "https://xray.cloud.getxray.app" in check.fix
    assert base_url_check(resolve_settings(environ={"XRAY_REGION": "eu"})).detail.endswith("region eu)")


def test_a_token_cache_others_can_read_fails(tmp_path: Path) -> None:
    """A token cache readable by others fails with the chmod that fixes it."""
    cache = tmp_path / "tokens.json"
    cache.write_text("{}")
    cache.chmod(0o644)
    check = token_cache_check(resolve_settings(environ={"XRAY_TOKEN_CACHE": str(cache), "XRAY_CLIENT_ID": "x"}))
    assert check.status == FAIL and f"chmod 600 {cache}" in check.fix


def test_only_settings_that_are_set_are_shown_each_source_named_once(tmp_path: Path) -> None:
    """Settings are grouped by where they come from, the .env path is named once, nothing unset is listed,
    and the deployment and base URL defaults are shown because they matter."""
    env_file = tmp_path / ".env"
    env_file.write_text("XRAY_CLIENT_ID=abc\nXRAY_CLIENT_SECRET=s3cr3t-value\nXRAY_TEST_ENVIRONMENTS=a;b\n")
    s = resolve_settings(flags={"project_key": "CALC", "report": ("a.xml", "b.xml"), "verbose": True},
                         environ={"XRAY_ENV_FILE": str(env_file), "XRAY_TIMEOUT": "60"},
                         config={"fix_version": "1.0"})
    checks = {c.name: c.detail for c in setting_checks(s)}
    assert checks["settings (flags)"] == "--project CALC  --report a.xml  --report b.xml  --verbose"
    assert checks["settings (environment)"] == "XRAY_TIMEOUT=60.0"
    dotenv = checks["settings (.env)"]
    assert dotenv.count(str(env_file)) == 1, dotenv
    assert "XRAY_CLIENT_ID=abc" in dotenv and "XRAY_CLIENT_SECRET=(set, hidden)" in dotenv
    assert "s3cr3t-value" not in " ".join(checks.values())
    assert checks["settings (invoke.yaml)"] == "xray.fix_version: 1.0"
    assert "XRAY_DEPLOYMENT=cloud (inferred)" in checks["settings (defaults)"]
    assert "XRAY_BASE_URL=https://xray.cloud.getxray.app (XRAY_REGION global)" in checks["settings (defaults)"]
    assert not any("(unset)" in detail for detail in checks.values())
    assert list(checks)[:4] == ["settings (flags)", "settings (environment)", "settings (.env)",
                                "settings (invoke.yaml)"]


def test_a_bad_setting_does_not_hide_the_other_checks(sb: Sandbox, tmp_path: Path, report: Path) -> None:
    """Two malformed settings are each a FAIL line, and the network, template and report checks still run
    with those settings at their defaults."""
    env = sandbox_env(sb, tmp_path, XRAY_TIMEOUT="soon", XRAY_TEST_PLAN_KEY="calc-15", XRAY_REPORT=str(report))
    proc = xray_tasks("doctor", env=env)
    assert proc.returncode == 11, proc.stdout
    fails = failed(proc)
    assert set(fails) == {"setting timeout", "setting test_plan_key"}, proc.stdout
    assert "'soon' is not a number" in fails["setting timeout"]
    assert "CALC-15" in fails["setting test_plan_key"]  # the upper-case fix
    assert named(proc, "credentials").startswith(OK) and named(proc, "template info").startswith(OK)
    assert named(proc, "report size").startswith(OK)
    assert "2 check(s) failed: setting test_plan_key, setting timeout" in proc.stderr
    no_secret(proc, sb, tmp_path)


def test_a_bad_credential_setting_skips_the_credentials_check(sb: Sandbox, tmp_path: Path, report: Path) -> None:
    """A client id with a tab in it fails as a setting; the credentials are then not checked (their FAIL
    would only repeat it)."""
    env = sandbox_env(sb, tmp_path, XRAY_CLIENT_ID="abc\tdef", XRAY_REPORT=str(report))
    proc = xray_tasks("doctor", env=env)
    assert proc.returncode == 11
    assert set(failed(proc)) == {"setting client_id"}, proc.stdout
    assert named(proc, "credentials").startswith(WARN) and "not checked" in named(proc, "credentials")


def test_region_unused_because_base_url_wins_is_a_warning(sb: Sandbox, tmp_path: Path, report: Path) -> None:
    """XRAY_REGION beside XRAY_BASE_URL: a WARN saying the region is not used."""
    proc = xray_tasks("doctor", env=sandbox_env(sb, tmp_path, XRAY_REGION="eu", XRAY_REPORT=str(report)))
    assert proc.returncode == 0, proc.stdout
    line = named(proc, "region")
    assert line.startswith(WARN) and "XRAY_REGION=eu" in line and "is not used" in line


def test_a_404_at_the_base_url_warns_of_a_wrong_context_path(sb: Sandbox, tmp_path: Path, report: Path) -> None:
    """Server/DC with a context path the server does not have: reachability warns with the hint, and the
    credentials check fails; at the right URL the bare host's 404 is not a warning, as the API answers."""
    wrong = server_env(sb, tmp_path, XRAY_BASE_URL=f"{sb.url}/jira")
    proc = xray_tasks("doctor", "--report", str(report), env=wrong)
    reach = named(proc, "reachable")
    assert reach.startswith(WARN) and "404" in reach and "context path" in reach, proc.stdout
    assert "credentials" in failed(proc)
    right = xray_tasks("doctor", "--report", str(report), env=server_env(sb, tmp_path))
    assert named(right, "reachable").startswith(OK), right.stdout


def test_own_outputs_among_the_reports_are_skipped(sb: Sandbox, tmp_path: Path) -> None:
    """A summary file beside the report is skipped, as the import skips it; only own outputs is a FAIL."""
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "junit.xml").write_text(JUNIT, encoding="utf-8")
    (folder / "xray.json").write_text(json.dumps({"kind": "xray-tasks/summary", "keys": ["DEMO-9"]}))
    proc = xray_tasks("doctor", "--report", str(folder), env=sandbox_env(sb, tmp_path))
    assert proc.returncode == 0, proc.stdout
    assert "skipped, xray-tasks' own summary file" in named(proc, "report xray.json")
    assert "(JUnit XML)" in named(proc, "report junit.xml")
    only = xray_tasks("doctor", "--report", str(folder / "xray.json"), env=sandbox_env(sb, tmp_path))
    assert only.returncode == 11 and "nothing to import" in failed(only)["reports"]


def test_verbose_traces_doctors_requests_without_credentials(sb: Sandbox, tmp_path: Path, report: Path) -> None:
    """--verbose: each request doctor sends is a line on stderr, with no secret and no token."""
    proc = xray_tasks("doctor", "--verbose", "--report", str(report), env=sandbox_env(sb, tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert f"http: GET {sb.url}/ → 200" in proc.stderr  # the stand-in serves its web page at /
    assert f"http: POST {sb.url}/api/v2/authenticate → 200" in proc.stderr
    no_secret(proc, sb, tmp_path)


def test_a_report_the_tests_will_write_is_a_warning_before_they_ran(sb: Sandbox, tmp_path: Path) -> None:
    """With a test command set, a report (or glob) that does not exist yet is a WARN saying the tests write
    it; without one it stays a FAIL."""
    env = sandbox_env(sb, tmp_path, XRAY_REPORT=f"{tmp_path}/reports/junit.xml;{tmp_path}/out/*.xml",
                      XRAY_TEST_COMMAND="pytest --junitxml=reports/junit.xml")
    proc = xray_tasks("doctor", env=env)
    assert proc.returncode == 0, proc.stdout
    assert named(proc, "reports").startswith(WARN) and "not written yet?" in named(proc, "reports")
    without = xray_tasks("doctor", env={k: v for k, v in env.items() if k != "XRAY_TEST_COMMAND"})
    assert without.returncode == 11 and "reports" in failed(without)
    single = xray_tasks("doctor", "--report", str(tmp_path / "missing.xml"), env=env)
    assert single.returncode == 0 and named(single, "report missing.xml").startswith(WARN)
