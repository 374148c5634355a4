"""Render the multipart ``info`` / ``testInfo`` JSON from Jinja templates, and check it before sending.

Where a template comes from, first match wins: an explicit ``--info-template`` / ``--test-info-template``
file; ``XRAY_TEMPLATE_DIR/<name>``; the bundled ``templates/`` (repo checkout or editable install) or
``xray_tasks/templates`` (installed wheel). An ``XRAY_TEMPLATE_DIR`` that is missing or not a folder is an
error, not a silent fall-back to the bundled templates.

Rendering is strict: an undefined variable is an error (``StrictUndefined``); values are placed into
JSON with the ``json`` filter; the rendered text must parse as JSON and have the fields Xray needs.
Every error names the template file and line.

A template is code from the repository being tested, and a dry run prints what it renders, so it runs
in Jinja's ``ImmutableSandboxedEnvironment`` (no ``__globals__``/``__class__`` walks, no changing the
variables) and reads attributes only of plain data — strings, numbers, lists, dicts and the ``report``
fields — never of a Path or another object that could open a file. Its variables hold no secret:

* the settings, without ``client_secret``, ``server_password`` and ``server_token``, and with the
  user:password of any URL shown as ``***`` (``proxy=http://user:pass@host`` → ``http://***@host``);
* ``env``: an allow-list, not the whole environment — ``XRAY_VAR_*`` and the CI systems' variables
  (``ENV_PREFIXES``: ``GITHUB_*``, ``RUNNER_*``, ``CI_*``, ``GITLAB_*``, ``BUILD_*``, ``JOB_*``, ``GIT_*``,
  ``CHANGE_*``, ``BITBUCKET_*``, ``CIRCLE_*``, ``TRAVIS_*``, ``BUILDKITE_*``, ``SYSTEM_*``, ``AGENT_*``,
  ``TEAMCITY_*``, ``DRONE_*``; ``ENV_NAMES``: ``CI``, ``JENKINS_URL``, ``BRANCH_NAME``, ``TAG_NAME``,
  ``NODE_NAME``, ``EXECUTOR_NUMBER``, ``TF_BUILD``), minus every name that looks secret (``TOKEN``,
  ``SECRET``, ``PASS``, ``PWD``, ``KEY``, ``CREDENTIAL``, ``AUTH`` but not ``AUTHOR``, ``PRIVATE``, ``JWT``,
  ``COOKIE``, ``PAT``: ``GITHUB_TOKEN``, ``CI_JOB_TOKEN``, ``CI_REGISTRY_PASSWORD``, ``SYSTEM_ACCESSTOKEN``),
  with URL user:passwords masked (GitLab's ``CI_REPOSITORY_URL`` carries the job token). ``DB_PASS``,
  ``JIRA_PAT``, ``HTTPS_PROXY`` and the like are never there;
* ``ci.*`` built from those variables, ``git.*``, ``run.*``, ``vars.*`` (what the user passed) and ``report.*``.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from xray_tasks.errors import TemplateError
from xray_tasks.settings import SECRET_SETTINGS, Settings

__all__ = ["TEMPLATE_NAMES", "RenderedTemplate", "build_context", "find_template", "mask_userinfo", "render_template",
           "safe_environ", "shown_settings"]

TEMPLATE_NAMES = {
    ("cloud", "info"): "info.json.j2",
    ("cloud", "testInfo"): "test-info.json.j2",
    ("server", "info"): "info.server.json.j2",
    ("server", "testInfo"): "test-info.server.json.j2",
}
CLOUD_XRAY_FIELDS = frozenset({"testPlanKey", "environments"})
#: environment variables templates may read as ``env.NAME``: these prefixes and names, minus secret-looking ones
ENV_PREFIXES = ("XRAY_VAR_", "GITHUB_", "RUNNER_", "CI_", "GITLAB_", "BUILD_", "JOB_", "GIT_", "CHANGE_",
                "BITBUCKET_", "CIRCLE_", "TRAVIS_", "BUILDKITE_", "SYSTEM_", "AGENT_", "TEAMCITY_", "DRONE_")
ENV_NAMES = frozenset({"CI", "JENKINS_URL", "BRANCH_NAME", "TAG_NAME", "NODE_NAME", "EXECUTOR_NUMBER", "TF_BUILD"})
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASS|PWD|KEY|CREDENTIAL|AUTH(?!ORS?(?:_|$))|PRIVATE|JWT|COOKIE"
                          r"|(?:^|_)PAT(?:_|$)", re.IGNORECASE)
_USERINFO = re.compile(r"(?<=://)[^/?#\s]+@")


@dataclass(frozen=True)
class RenderedTemplate:
    """A rendered, parsed and checked template."""

    part: str  # "info" or "testInfo"
    source: str  # the template file used
    text: str
    data: dict[str, Any]


def bundled_template_dirs() -> list[Path]:
    here = Path(__file__).resolve().parent
    return [here / "templates", here.parent / "templates"]


def find_template(settings: Settings, part: str, explicit: str | None = None) -> Path:
    """Locate the template for ``part`` ("info" or "testInfo"), or raise TemplateError."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise TemplateError(f"template {explicit} not found",
                                f"check the path given to --{_flag(part)}-template")
        return path
    name = TEMPLATE_NAMES[(settings.deployment, part)]
    dirs = bundled_template_dirs()
    if settings.template_dir:
        chosen = Path(settings.template_dir).expanduser()
        if not chosen.is_dir():
            problem = "is a file, not a folder" if chosen.exists() else "does not exist"
            raise TemplateError(f"XRAY_TEMPLATE_DIR={settings.template_dir} {problem}",
                                f"point XRAY_TEMPLATE_DIR at the folder holding your {name}, or unset it to use "
                                "the bundled templates")
        dirs.insert(0, chosen)
    for folder in dirs:
        if (folder / name).is_file():
            return folder / name
    raise TemplateError(f"template {name} not found in {', '.join(str(d) for d in dirs)}",
                        "reinstall xray-tasks, or put the file in XRAY_TEMPLATE_DIR")


def _flag(part: str) -> str:
    return "info" if part == "info" else "test-info"


def _git(args: list[str]) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def git_context() -> dict[str, str]:
    """Branch and commit of the working directory's git repo; empty outside a repo."""
    commit = _git(["rev-parse", "HEAD"])
    if not commit:
        return {}
    info = {"commit": commit, "short_commit": commit[:8]}
    branch = os.environ.get("GITHUB_HEAD_REF") or os.environ.get("CI_COMMIT_REF_NAME") \
        or os.environ.get("BRANCH_NAME") or _git(["rev-parse", "--abbrev-ref", "HEAD"])
    if branch and branch != "HEAD":
        info["branch"] = branch
    return info


def ci_context(environ: Mapping[str, str]) -> dict[str, str]:
    """The CI system, build number and build URL, for the common CI systems."""
    e = environ
    if e.get("GITHUB_ACTIONS") == "true" and e.get("GITHUB_RUN_ID"):
        server = e.get("GITHUB_SERVER_URL", "https://github.com")
        return {"name": "github", "build": e["GITHUB_RUN_ID"],
                "url": f"{server}/{e.get('GITHUB_REPOSITORY', '')}/actions/runs/{e['GITHUB_RUN_ID']}"}
    if e.get("GITLAB_CI") and e.get("CI_PIPELINE_ID"):
        return {"name": "gitlab", "build": e["CI_PIPELINE_ID"], "url": e.get("CI_PIPELINE_URL", "")}
    if e.get("JENKINS_URL") and e.get("BUILD_NUMBER"):
        return {"name": "jenkins", "build": e["BUILD_NUMBER"], "url": e.get("BUILD_URL", "")}
    return {}


def mask_userinfo(text: str) -> str:
    """``text`` with the user:password of every URL in it shown as ``***``."""
    return _USERINFO.sub("***@", text)


def safe_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``env`` template variable: the allow-listed CI and ``XRAY_VAR_*`` variables, without any whose name
    looks secret, URL credentials masked."""
    return {name: mask_userinfo(value) for name, value in sorted(environ.items())
            if (name in ENV_NAMES or name.startswith(ENV_PREFIXES)) and not _SECRET_NAME.search(name)}


def shown_settings(settings: Settings) -> dict[str, Any]:
    """The settings as templates see them: no secret, URL credentials masked."""
    def shown(value: Any) -> Any:
        if isinstance(value, str):
            return mask_userinfo(value)
        if isinstance(value, tuple):
            return tuple(shown(v) for v in value)
        return value

    return {name: shown(value) for name, value in vars(settings).items()
            if name not in SECRET_SETTINGS and name not in ("sources", "variables")}


def build_context(settings: Settings, *, report: Any, run: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Variables every template sees (documented in the README and above)."""
    environ = os.environ if environ is None else environ
    shown = shown_settings(settings)
    return {
        **shown,
        "settings": shown,
        "vars": dict(settings.variables),
        "env": safe_environ(environ),
        "git": git_context(),
        "ci": {name: mask_userinfo(value) for name, value in ci_context(environ).items()},
        "run": dict(run or {}),
        "report": report,
    }


def _environment(folder: Path) -> Any:
    import jinja2

    env = _sandbox()(loader=jinja2.FileSystemLoader(str(folder)), undefined=jinja2.StrictUndefined,
                     autoescape=False, keep_trailing_newline=True)
    env.filters["json"] = _to_json
    env.filters["tojson"] = _to_json  # Jinja's own fails on an undefined value without naming it
    return env


@functools.cache
def _sandbox() -> type[Any]:
    """Jinja's immutable sandbox, reading attributes only of plain data (built on first use: Jinja is
    imported only when a template is rendered)."""
    import jinja2.runtime
    import jinja2.utils
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    plain = (str, int, float, list, tuple, dict, set, frozenset, SimpleNamespace, jinja2.utils.Namespace,
             jinja2.utils.Cycler, jinja2.utils.Joiner, jinja2.runtime.LoopContext)

    class PlainDataSandbox(ImmutableSandboxedEnvironment):
        def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
            return super().is_safe_attribute(obj, attr, value) and (
                isinstance(obj, plain) or attr in getattr(type(obj), "template_fields", ()))

    return PlainDataSandbox


def _to_json(value: Any) -> str:
    """The ``json`` filter; an undefined value (also inside a list or dict) raises Jinja's own "is undefined"
    error naming the variable, not json's "StrictUndefined is not JSON serializable"."""
    import jinja2

    def undefined(obj: Any) -> Any:
        if isinstance(obj, jinja2.Undefined):
            obj._fail_with_undefined_error()
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")

    if isinstance(value, jinja2.Undefined):
        undefined(value)
    return json.dumps(value, ensure_ascii=False, default=undefined)


def _template_line(path: Path) -> int | None:
    """Line of the template where the exception being handled was raised (Jinja rewrites tracebacks)."""
    tb = sys.exc_info()[2]
    line = None
    target = str(path.resolve())
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in (target, str(path)):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_template(path: Path, part: str, context: Mapping[str, Any], deployment: str) -> RenderedTemplate:
    """Render ``path`` with ``context``, parse the JSON and check it; raise TemplateError with file:line."""
    import jinja2
    from jinja2.exceptions import SecurityError

    env = _environment(path.parent)
    try:
        text = env.get_template(path.name).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {path} line {exc.lineno}: syntax error: {exc.message}",
                            "fix the Jinja syntax (run with --dry-run to try again without sending)") from None
    except jinja2.UndefinedError as exc:
        line = _template_line(path)
        at = f" line {line}" if line else ""
        if "has no attribute" in (exc.message or ""):  # e.g. git.branch outside a git checkout
            hint = ("vars.* come from --var NAME=VALUE or XRAY_VAR_NAME; git.* needs a git checkout, ci.* a CI "
                    "job, run.* a test run recorded by run-tests; or guard it: {{ git.branch | default('') | json }}")
        else:
            hint = "define it with --var NAME=VALUE or XRAY_VAR_NAME, or guard it with 'is defined' in the template"
        raise TemplateError(f"template {path}{at}: {exc.message}", hint) from None
    except jinja2.TemplateError as exc:
        line = _template_line(path)
        at = f" line {line}" if line else ""
        hint = "fix the template"
        if isinstance(exc, SecurityError):
            hint = ("templates run in a sandbox: they read the documented variables (README, Templates), not "
                    "Python internals, files or the environment")
        raise TemplateError(f"template {path}{at}: {str(exc).rstrip('.')}", hint) from None
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        line = _template_line(path)
        at = f" line {line}" if line else ""
        raise TemplateError(f"template {path}{at}: {type(exc).__name__}: {exc}", "fix the template") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        bad = text.splitlines()[exc.lineno - 1].strip() if text.splitlines() else ""
        raise TemplateError(f"template {path} rendered invalid JSON at rendered line {exc.lineno} column "
                            f"{exc.colno}: {exc.msg} (near {bad[:60]!r})",
                            "put every value through the json filter: {{ value | json }}") from None
    check_issue_json(data, part, deployment, str(path))
    return RenderedTemplate(part=part, source=str(path), text=text, data=data)


def check_issue_json(data: Any, part: str, deployment: str, source: str) -> None:
    """Refuse issue JSON that Xray would reject, before anything is sent."""
    def fail(problem: str, hint: str) -> None:
        raise TemplateError(f"template {source} renders {part} JSON that {problem}", hint)

    if not isinstance(data, dict) or not isinstance(data.get("fields"), dict):
        fail("has no \"fields\" object", 'render a Jira create-issue body: {"fields": {...}}')
    fields = data["fields"]
    project = fields.get("project")
    if part == "info":
        if not isinstance(project, dict) or not (project.get("key") or project.get("id")):
            fail("has no fields.project.key", "set XRAY_PROJECT_KEY (or --project) or fix the template")
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            fail("has no fields.summary", "give the Test Execution a summary (e.g. --var summary=...)")
        issuetype = fields.get("issuetype")
        if not isinstance(issuetype, dict) or not (issuetype.get("name") or issuetype.get("id")):
            fail("has no fields.issuetype", 'add "issuetype": {"name": "Test Execution"}')
    elif project is not None and (not isinstance(project, dict) or not (project.get("key") or project.get("id"))):
        fail("has an empty fields.project", "set XRAY_PROJECT_KEY (or --project) or fix the template")
    extra = data.get("xrayFields")
    if extra is not None:
        if deployment != "cloud":
            fail("uses xrayFields, which only Xray Cloud accepts",
                 "on Server/DC put the Test Plan and environments into their custom fields")
        if not isinstance(extra, dict):
            fail("has an xrayFields that is not an object", 'use "xrayFields": {"testPlanKey": ...}')
        invalid = sorted(set(extra) - CLOUD_XRAY_FIELDS)
        if invalid:
            fail(f"has xrayFields Xray Cloud rejects: {', '.join(invalid)}",
                 "xrayFields takes only testPlanKey and environments")
    for name, value in fields.items():
        if name.startswith("customfield_") or name in ("project", "summary", "issuetype"):
            continue
        if value is None:
            fail(f"sets fields.{name} to null", f"leave fields.{name} out when it has no value")
