"""Templates: variables from every source, JSON escaping, and errors that name the file and line."""

from __future__ import annotations

import json
import os
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


# -- the sandbox and what templates can see ---------------------------------------------------------------

SECRET = "tpl-S3cret-5d2e91"
WRAP_CLOSE = ("{% for c in CHAIN.__subclasses__() %}{% if c.__name__ == '_wrap_close' %}"
              "{{ c.__init__.__globals__.environ.XRAY_CLIENT_SECRET }}{% endif %}{% endfor %}")
ATTACKS = {
    "cycler globals": "{{ cycler.__init__.__globals__.os.environ.XRAY_CLIENT_SECRET }}",
    "lipsum globals": "{{ lipsum.__globals__.os.environ.XRAY_CLIENT_SECRET }}",
    "joiner globals": "{{ joiner.__init__.__globals__.os.environ.XRAY_CLIENT_SECRET }}",
    "namespace globals": "{{ namespace.__init__.__globals__.os.environ.XRAY_CLIENT_SECRET }}",
    "range mro": WRAP_CLOSE.replace("CHAIN", "range.__class__.__mro__[1]"),
    "str mro": WRAP_CLOSE.replace("CHAIN", "''.__class__.__mro__[1]"),
    "self": "{{ self._TemplateReference__context.environment.globals }}",
    "format": "{{ '{0.__init__.__globals__[os].environ[XRAY_CLIENT_SECRET]}'.format(cycler) }}",
    "report path": "{{ report.items[0][0].parent.joinpath('secret.txt').read_text() }}",
    "changing vars": "{% set _ = vars.update({'x': 1}) %}{{ vars }}",
}


def real_report(folder: Path) -> Any:
    from xray_tasks.reports import ReportInfo

    junit = folder / "junit.xml"
    junit.write_text('<testsuite name="s" tests="2"><testcase classname="a" name="ok"/>'
                     '<testcase classname="a" name="bad"><failure/></testcase></testsuite>')
    return ReportInfo([(junit, "junit")])


@pytest.mark.parametrize("expression", list(ATTACKS.values()), ids=list(ATTACKS))
def test_templates_cannot_reach_secrets_files_or_python_internals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   expression: str) -> None:
    """Classic Jinja escapes (globals of cycler/lipsum/joiner/namespace, __mro__ walks, str.format, a Path
    method, changing a variable) end in one TemplateError, without the secret."""
    monkeypatch.setenv("XRAY_CLIENT_SECRET", SECRET)
    (tmp_path / "secret.txt").write_text(SECRET)
    s = resolve_settings(environ={"XRAY_PROJECT_KEY": "DEMO", "XRAY_CLIENT_SECRET": SECRET})
    tpl = tmp_path / "evil.json.j2"
    tpl.write_text('{"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Test Execution"}, '
                   '"summary": "' + expression + '"}}')
    with pytest.raises(TemplateError) as info:
        render_template(tpl, "info", build_context(s, report=real_report(tmp_path)), "cloud")
    assert "sandbox" in str(info.value) and SECRET not in str(info.value)


def test_a_dry_run_does_not_print_the_secret_a_template_reaches_for(tmp_path: Path) -> None:
    """The cycler attack through the real command's dry run: exit 14, one line, the client secret nowhere."""
    from tests.cli_helpers import assert_one_clean_line, xray_tasks

    tpl = tmp_path / "info.json.j2"
    tpl.write_text('{"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Test Execution"}, "summary": '
                   '{{ cycler.__init__.__globals__.os.environ.XRAY_CLIENT_SECRET | json }}}}')
    real_report(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("XRAY_")} | {
        "XRAY_CLIENT_ID": "id", "XRAY_CLIENT_SECRET": SECRET, "XRAY_PROJECT_KEY": "DEMO",
        "XRAY_ENV_FILE": os.devnull}
    proc = xray_tasks("import-results", "--report", str(tmp_path / "junit.xml"), "--info-template", str(tpl),
                      "--dry-run", env=env)
    line = assert_one_clean_line(proc, SECRET)
    assert proc.returncode == 14 and "is unsafe" in line


def test_ordinary_template_features_still_work_in_the_sandbox(tmp_path: Path) -> None:
    """Loops, namespace, joiner, string methods, filters and the report's lazy totals render as before."""
    tpl = tmp_path / "info.json.j2"
    tpl.write_text(
        '{% set ns = namespace(n=0) %}{% set sep = joiner("; ") %}'
        '{% for f in report.files %}{% set ns.n = ns.n + loop.index %}{% endfor %}'
        '{"fields": {"project": {"key": {{ project_key | json }}}, "issuetype": {"name": "Test Execution"},'
        ' "summary": {{ ("%s|%d|%s|%s|%d" % (report.format_label, ns.n, vars.labels.split(",") | join("+"),'
        ' (env.keys() | list | join(",")) ~ sep() ~ sep() ~ "x", report.totals.failed)) | json }}}}')
    s = resolve_settings(environ={"XRAY_PROJECT_KEY": "DEMO", "XRAY_VAR_LABELS": "a,b"})
    context = build_context(s, report=real_report(tmp_path), environ={"CI_JOB_ID": "7"})
    data = render_template(tpl, "info", context, "cloud").data
    assert data["fields"]["summary"] == "JUnit XML|1|a+b|CI_JOB_ID; x|1"


def test_settings_shown_to_templates_hold_no_secret(tmp_path: Path) -> None:
    """client_secret, server_password and server_token are left out and a URL's user:password is masked."""
    s = resolve_settings(environ={"XRAY_PROJECT_KEY": "DEMO", "XRAY_CLIENT_SECRET": "cs-secret-1",
                                  "XRAY_SERVER_PASSWORD": "pw-secret-2", "XRAY_SERVER_TOKEN": "tok-secret-3",
                                  "XRAY_PROXY": "http://proxyuser:px-secret-4@proxy.example:3128"})
    context = build_context(s, report=fake_report(), environ={})
    text = repr(context)
    for secret in ("cs-secret-1", "pw-secret-2", "tok-secret-3", "px-secret-4", "proxyuser"):
        assert secret not in text
    assert context["proxy"] == context["settings"]["proxy"] == "http://***@proxy.example:3128"
    assert {"client_secret", "server_password", "server_token"}.isdisjoint(context["settings"])


def test_env_is_an_allow_list_of_ci_variables_without_secrets() -> None:
    """env holds CI and XRAY_VAR_* variables only, minus secret-looking names, with URL credentials masked."""
    environ = {
        "GITHUB_RUN_ID": "42", "GITHUB_TOKEN": "ghs_x", "CI_PIPELINE_ID": "7", "CI_JOB_TOKEN": "glcbt",
        "CI_REGISTRY_PASSWORD": "p", "CI_JOB_JWT": "eyJ", "CI_COMMIT_AUTHOR": "Ann <ann@example.com>",
        "CI_REPOSITORY_URL": "https://gitlab-ci-token:glcbt-1@gitlab.example/acme/calc.git",
        "BUILD_NUMBER": "9", "JENKINS_URL": "https://ci.example/", "BRANCH_NAME": "main", "GIT_COMMIT": "abc",
        "SYSTEM_ACCESSTOKEN": "azure", "TF_BUILD": "True", "BITBUCKET_STEP_OIDC_TOKEN": "o",
        "CIRCLE_BUILD_NUM": "3", "BUILDKITE_AGENT_ACCESS_TOKEN": "b", "XRAY_VAR_TEAM": "core",
        "XRAY_VAR_API_KEY": "k", "XRAY_CLIENT_SECRET": "s", "DB_PASS": "d", "JIRA_PAT": "j", "HOME": "/root",
        "HTTPS_PROXY": "http://u:p@proxy:3128", "AWS_SECRET_ACCESS_KEY": "a", "PATH": "/usr/bin",
    }
    s = resolve_settings(environ={"XRAY_PROJECT_KEY": "DEMO"})
    assert build_context(s, report=fake_report(), environ=environ)["env"] == {
        "BRANCH_NAME": "main", "BUILD_NUMBER": "9", "CIRCLE_BUILD_NUM": "3",
        "CI_COMMIT_AUTHOR": "Ann <ann@example.com>", "CI_PIPELINE_ID": "7",
        "CI_REPOSITORY_URL": "https://***@gitlab.example/acme/calc.git", "GITHUB_RUN_ID": "42",
        "GIT_COMMIT": "abc", "JENKINS_URL": "https://ci.example/", "TF_BUILD": "True", "XRAY_VAR_TEAM": "core"}


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_a_template_dir_that_is_not_a_folder_is_an_error(tmp_path: Path, kind: str) -> None:
    """XRAY_TEMPLATE_DIR naming nothing, or a file, is a TemplateError naming the setting and the path — not a
    silent fall-back to the bundled templates."""
    where = tmp_path / "templates"
    if kind == "file":
        where.write_text("not a folder")
    s = resolve_settings(environ={"XRAY_PROJECT_KEY": "DEMO", "XRAY_TEMPLATE_DIR": str(where)})
    with pytest.raises(TemplateError) as info:
        find_template(s, "info")
    problem = "is a file, not a folder" if kind == "file" else "does not exist"
    assert str(info.value).startswith(f"XRAY_TEMPLATE_DIR={where} {problem} — point XRAY_TEMPLATE_DIR at")
