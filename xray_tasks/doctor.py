"""``doctor``: check a setup without importing anything, and say what to fix.

:func:`diagnose` returns a list of :class:`Check` (name, status OK/WARN/FAIL, detail, fix):

* the settings that are set, one line per source — flags, the environment, the ``.env`` file (its path
  named once), ``invoke.yaml`` — and the defaults that matter (deployment, base URL); secrets show as
  ``(set, hidden)``. A setting with a bad value is a FAIL of its own and is left at its default, so every
  other check still runs; a note on how settings were resolved (``XRAY_REGION`` unused because
  ``XRAY_BASE_URL`` wins) is a WARN;
* the base URL's shape (a malformed one is a FAIL with the corrected value, and the network checks are
  skipped);
* reachability: one HTTP request to the base URL (a 404 there is a WARN: a wrong host or context path,
  unless the credentials check below proves the API answers);
* the token cache (location, mode, expiry of a cached token — never the token itself);
* credentials: Cloud, one authentication; Server/DC, one authenticated ``GET /rest/api/2/myself``;
* Server/DC: the Test Plan / Test Environments custom field ids exist (``GET /rest/api/2/field``);
* every template renders to valid issue JSON with the current variables;
* the reports resolve, their formats are detected, and their sizes fit ``XRAY_MAX_REQUEST_MB``;
  xray-tasks' own outputs among them (summary file, run record) are skipped, as the import skips them.

Nothing here prints; the ``doctor`` task formats the list (:func:`format_table`, :func:`as_json`).
"""

from __future__ import annotations

import json
import re
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from xray_tasks.auth import TokenCache, cache_mode_problem
from xray_tasks.console import err
from xray_tasks.errors import SettingsError, XrayTasksError
from xray_tasks.formats import FORMAT_LABELS
from xray_tasks.preflight import placeholder_report
from xray_tasks.redaction import redact, redact_data
from xray_tasks.reports import ReportInfo, detect, find_reports, own_output
from xray_tasks.settings import CLOUD_HOST, REGIONS, SETTINGS, Settings
from xray_tasks.templating import build_context, find_template, render_template

if TYPE_CHECKING:
    import httpx

    from xray_tasks.client import XrayClient

__all__ = ["FAIL", "OK", "WARN", "Check", "as_json", "diagnose", "format_table", "has_failures"]

OK, WARN, FAIL = "OK", "WARN", "FAIL"
PLACEHOLDER_URL = "https://base-url.invalid"


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""
    name: str
    status: str
    detail: str
    fix: str = ""


def _fail(name: str, exc: XrayTasksError) -> Check:
    return Check(name, FAIL, exc.message, exc.hint or "")


def has_failures(checks: Sequence[Check]) -> bool:
    return any(c.status == FAIL for c in checks)


# -- settings and base URL (pure) -------------------------------------------------------------------------


#: credentials: when one of them had a bad value, the credentials are not checked
CREDENTIALS = frozenset({"client_id", "client_secret", "server_token", "server_user", "server_password"})
_BY_NAME = {setting.name: setting for setting in SETTINGS}


def setting_checks(s: Settings, skip: frozenset[str] = frozenset()) -> list[Check]:
    """The settings that are set, one line per source (each source named once), then the defaults that
    matter: the deployment and where the base URL comes from. Secrets stay hidden; ``skip`` names settings
    not to show (a placeholder stands in for them)."""
    groups: dict[str, list[str]] = {}
    defaults: list[str] = []
    for name, shown, source in s.describe():
        setting = _BY_NAME[name]
        if name in skip:
            continue
        if source == "flag":
            value = getattr(s, name)
            flag = setting.flag or name
            given = [f"{flag} {v}" for v in value] if isinstance(value, tuple) else \
                [flag if value is True else f"{flag} {shown}"]  # a switch shows alone: --verbose
            groups.setdefault("settings (flags)", []).extend(given)
        elif source.startswith("env "):
            groups.setdefault("settings (environment)", []).append(f"{setting.env}={shown}")
        elif source.startswith(".env "):
            path = source.partition("(")[2].rstrip(")") or ".env"
            groups.setdefault("settings (.env)", [f"{path}:"]).append(f"{setting.env}={shown}")
        elif source.startswith("invoke config"):
            groups.setdefault("settings (invoke.yaml)", []).append(f"xray.{name}: {shown}")
        elif source.startswith("region "):
            defaults.append(f"{setting.env}={shown} (XRAY_REGION {source.split()[-1]})")
        elif name == "deployment":
            defaults.append(f"{setting.env}={shown} (inferred)")
        elif source != "default":
            groups.setdefault(f"settings ({source})", []).append(f"{setting.env}={shown}")
    order = ["settings (flags)", "settings (environment)", "settings (.env)", "settings (invoke.yaml)"]
    ranked = sorted(groups.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order))
    checks = [Check(label, OK, "  ".join(items)) for label, items in ranked]
    if s.variables:
        checks.append(Check("template variables", OK, ", ".join(f"vars.{n}" for n in sorted(s.variables))
                            + " (values not shown)"))
    checks.append(Check("settings (defaults)", OK, "  ".join(defaults)))
    for note in s.notes:
        region = note.startswith("XRAY_REGION")
        checks.append(Check("region" if region else "settings", WARN, note,
                            "unset XRAY_REGION, or unset XRAY_BASE_URL to use the region's host" if region else ""))
    return checks


_NAMED = re.compile(r"(XRAY_[A-Z_]+|--[a-z-]+)")


def setting_in(error: SettingsError) -> str | None:
    """The setting a SettingsError is about, from the name its message starts with (env name or flag)."""
    match = _NAMED.match(error.message)
    if not match:
        return None
    word = match.group(1)
    return next((st.name for st in SETTINGS if word in (st.env, st.flag)), None)


def base_url_check(s: Settings) -> Check:
    """The base URL's shape for the deployment (a malformed URL never gets this far: see diagnose)."""
    from xray_tasks.transport import plain_http_refusal, stays_on_machine

    parts = urlsplit(s.base_url)
    host = parts.hostname or ""
    refusal = plain_http_refusal(s)
    if refusal:
        return _fail("base URL", refusal)
    if s.is_cloud:
        if host.endswith(CLOUD_HOST):
            regional = next((r for r, u in REGIONS.items() if u == f"{parts.scheme}://{parts.netloc}"), None)
            if regional and s.region != "global" and regional != s.region and "base_url" in s.sources \
                    and not s.sources["base_url"].startswith("region"):
                return Check("base URL", WARN, f"{s.base_url} is the {regional} host but XRAY_REGION={s.region}",
                             f"unset XRAY_BASE_URL to use {REGIONS[s.region]}, or drop XRAY_REGION")
            return Check("base URL", OK, f"{s.base_url} (Xray Cloud, region {regional or 'custom'})")
        if stays_on_machine(host):
            return Check("base URL", OK, f"{s.base_url} (Cloud API on this machine: a test server)")
        return Check("base URL", WARN, f"{s.base_url} is not an Xray Cloud host ({CLOUD_HOST})",
                     f"Xray Cloud's API is {REGIONS['global']} (or XRAY_REGION=us/eu/au); "
                     "for Server/DC set XRAY_DEPLOYMENT=server")
    if host.endswith(CLOUD_HOST):
        return Check("base URL", FAIL, f"{s.base_url} is the Xray Cloud host but XRAY_DEPLOYMENT=server",
                     "set XRAY_DEPLOYMENT=cloud, or XRAY_BASE_URL to your Jira Server/DC base URL")
    return Check("base URL", OK, f"{s.base_url} (Jira Server/DC base URL)")


# -- network ----------------------------------------------------------------------------------------------


def tls_check(s: Settings) -> Check:
    from xray_tasks.transport import tls_warning

    if not s.base_url.startswith("https://"):
        return Check("TLS", OK, "not used (plain http)")
    if s.ca_bundle:
        return Check("TLS", OK, f"certificates verified against XRAY_CA_BUNDLE={s.ca_bundle}")
    warning = tls_warning(s)
    if warning:
        return Check("TLS", WARN, warning.replace("are not verified", "are NOT verified"),
                     "unset XRAY_VERIFY_TLS; for a private CA set XRAY_CA_BUNDLE")
    return Check("TLS", OK, "certificates verified against the system's CAs")


def reachability_check(s: Settings, http: httpx.Client) -> Check:
    """One GET of the base URL: an HTTP answer means the host is reachable; a 404 there hints at a wrong
    host or Jira context path (a WARN: the credentials check tells for sure)."""
    import httpx

    from xray_tasks.answers import reason

    started = time.monotonic()
    try:
        resp = http.get(f"{s.base_url}/", timeout=min(s.connect_timeout, 10.0))
    except httpx.TimeoutException as exc:
        return Check("reachable", FAIL, f"{s.base_url}: no answer ({type(exc).__name__})",
                     "check XRAY_BASE_URL, the network and HTTPS_PROXY; raise XRAY_CONNECT_TIMEOUT on a slow link")
    except httpx.HTTPError as exc:
        return Check("reachable", FAIL, f"cannot reach {s.base_url}: {reason(exc)}",
                     "check XRAY_BASE_URL (the host name), the network and HTTPS_PROXY")
    ms = (time.monotonic() - started) * 1000
    if s.verbose:

        err(f"xray-tasks: http: GET {s.base_url}/ → {resp.status_code} in {ms / 1000:.2f}s (reachability)")
    if resp.status_code == 404:
        where = ("Xray Cloud's API host is https://xray.cloud.getxray.app (or XRAY_REGION=us/eu/au), with no path"
                 if s.is_cloud else "Jira's base URL, with its context path if it has one "
                 "(e.g. https://host/jira)")
        return Check("reachable", WARN, f"{s.base_url}/ answered HTTP 404 Not Found in {ms:.0f} ms",
                     f"check XRAY_BASE_URL: a wrong host or context path? {where}")
    return Check("reachable", OK, f"{s.base_url} answered HTTP {resp.status_code} in {ms:.0f} ms")


def token_cache_check(s: Settings) -> Check:
    """Where the Cloud token cache is, whether its mode is safe, and until when a cached token is valid."""
    if not s.is_cloud:
        return Check("token cache", OK, "not used on Server/DC (every request carries the credentials)")
    cache = TokenCache.for_settings(s)
    try:
        kind, st = cache.status()
    except SettingsError as exc:
        return _fail("token cache", exc)
    if kind == "off" or cache.path is None:
        return Check("token cache", OK, f"off (XRAY_TOKEN_CACHE={s.token_cache}): every process authenticates")
    if kind == "missing":
        return Check("token cache", OK, f"{cache.path} (not created yet)")
    if kind == "special" or st is None:
        return Check("token cache", WARN, f"{cache.path} is not a regular file: no token is cached",
                     "set XRAY_TOKEN_CACHE=off to say so, or point it at a file")
    problem = cache_mode_problem(cache.path, st)
    if problem:
        return _fail("token cache", problem)
    mode = stat.S_IMODE(st.st_mode)
    token = cache.get(s.api_url, s.client_id, s.client_secret or "") if s.client_id else None
    if token is None:
        return Check("token cache", OK, f"{cache.path} (mode {mode:o}; no valid token for this client id)")
    return Check("token cache", OK, f"{cache.path} (mode {mode:o}; cached token valid until {token.valid_until})")


def credentials_check(client: XrayClient) -> Check:
    """Cloud: one authentication; Server/DC: one authenticated GET of the current user."""
    try:
        return Check("credentials", OK, client.whoami())
    except XrayTasksError as exc:
        return _fail("credentials", exc)


def server_field_checks(s: Settings, client: XrayClient) -> list[Check]:
    """Server/DC: the configured Test Plan / Test Environments custom field ids exist in Jira."""
    wanted = {"Test Plan field": ("server_test_plan_field", "XRAY_SERVER_TEST_PLAN_FIELD", s.test_plan_key),
              "Test Environments field": ("server_environments_field", "XRAY_SERVER_ENVIRONMENTS_FIELD",
                                          s.test_environments)}
    try:
        fields = client.get_json(f"{s.base_url}/rest/api/2/field", action="list Jira fields")
    except XrayTasksError as exc:
        return [_fail("custom fields", exc)]
    listed = {f.get("id"): f.get("name") for f in fields if isinstance(f, dict)} if isinstance(fields, list) else {}
    checks = []
    for label, (attr, env, needed_by) in wanted.items():
        value = getattr(s, attr)
        if not value:
            status = FAIL if needed_by else WARN
            checks.append(Check(label, status, f"{env} is not set (multipart cannot set it"
                                               f"{' — and it is asked for' if needed_by else ''})",
                                f"set {env} to the id GET /rest/api/2/field lists for '{label[:-6]}'"))
        elif value in listed:
            checks.append(Check(label, OK, f"{value} is '{listed[value]}' in Jira"))
        else:
            named = [fid for fid, name in listed.items() if name == label[:-6]]
            checks.append(Check(label, FAIL, f"{env}={value} is not a field of this Jira",
                                f"set {env}={named[0]}" if named else
                                "pick the id GET /rest/api/2/field lists for it"))
    return checks


# -- local files ------------------------------------------------------------------------------------------


def report_checks(s: Settings, fmt: str = "auto") -> tuple[list[Check], list[tuple[Path, str]]]:
    """Each report path/glob resolves and its format is detected; sizes fit XRAY_MAX_REQUEST_MB. Our own
    outputs (summary file, run record) are skipped as the import skips them. A report not written yet is
    a WARN when a test command is set (ci and run-tests write it), a FAIL otherwise."""

    if not s.report:
        return [Check("reports", WARN, "no report configured", "pass --report PATH or set XRAY_REPORT")], []
    try:
        paths = find_reports(s.report)
    except XrayTasksError as exc:
        return [_not_yet("reports", exc, s)], []
    checks: list[Check] = []
    found: list[tuple[Path, str]] = []
    own = []
    for path in paths:
        kind = own_output(path)
        if kind is not None:
            own.append(path)
            checks.append(Check(f"report {path.name}", OK, f"{path}: skipped, xray-tasks' own {kind}"))
            continue
        try:
            detected, _ = detect(path, fmt)
        except XrayTasksError as exc:
            checks.append(_not_yet(f"report {path.name}", exc, s) if not path.exists() else
                          _fail(f"report {path.name}", exc))
            continue

        found.append((path, detected))
        checks.append(Check(f"report {path.name}", OK, f"{path} ({FORMAT_LABELS[detected]})"))
    if own and len(own) == len(paths):
        checks.append(Check("reports", FAIL, "nothing to import: every file found is xray-tasks' own output",
                            "point --report / XRAY_REPORT at the test reports"))
    if found:
        limit = s.max_request_mb * 2**20
        sizes = [(p, p.stat().st_size) for p, _ in found]
        big = [(p, n) for p, n in sizes if n > limit]
        total = sum(n for _, n in sizes)
        if big:
            p, n = big[0]
            checks.append(Check("report size", FAIL, f"{p} is {n / 2**20:.1f} MiB, over XRAY_MAX_REQUEST_MB="
                                                      f"{s.max_request_mb:g}",
                                "split the report, or raise XRAY_MAX_REQUEST_MB if your Xray accepts more"))
        elif total > limit:
            checks.append(Check("report size", WARN, f"{total / 2**20:.1f} MiB in all, over XRAY_MAX_REQUEST_MB="
                                                      f"{s.max_request_mb:g}: it will be split into several requests"))
        else:
            checks.append(Check("report size", OK, f"{total / 2**20:.2f} MiB in all, within XRAY_MAX_REQUEST_MB="
                                                    f"{s.max_request_mb:g}"))
    return checks, found


def _not_yet(name: str, exc: XrayTasksError, s: Settings) -> Check:
    """A report that is not there: not written yet when the tests are to write it (a WARN), else a FAIL."""
    if not s.test_command:
        return _fail(name, exc)
    return Check(name, WARN, f"{exc.message} — not written yet? XRAY_TEST_COMMAND writes it when ci or run-tests "
                             "runs the tests", "run the tests once (xray-tasks run-tests), then check again")


def template_checks(s: Settings, reports: Sequence[tuple[Path, str]], *, info_template: str | None = None,
                    test_info_template: str | None = None) -> list[Check]:
    """Each template renders to valid issue JSON with the current variables."""
    if not s.project_key:
        return [Check("templates", WARN, "not rendered: no project key (multipart needs one)",
                      "set XRAY_PROJECT_KEY (or --project) to use --multipart and templates")]
    report: Any = ReportInfo(list(reports)) if reports else placeholder_report()
    context = build_context(s, report=report)
    checks = []
    for part, explicit in (("info", info_template), ("testInfo", test_info_template)):
        name = f"template {part}"
        try:
            path = find_template(s, part, explicit)
            rendered = render_template(path, part, context, s.deployment)
        except XrayTasksError as exc:
            checks.append(_fail(name, exc))
            continue
        summary = rendered.data.get("fields", {}).get("summary")
        shown = f", summary {summary!r}" if isinstance(summary, str) else ""
        checks.append(Check(name, OK, f"{path} renders valid {part} JSON{shown}"))
    return checks


# -- everything -------------------------------------------------------------------------------------------


def diagnose(resolve: Callable[..., Settings], *, fmt: str | None = None, info_template: str | None = None,
             test_info_template: str | None = None, http: httpx.Client | None = None) -> list[Check]:
    """Resolve the settings with ``resolve(ignore=names, **overrides)`` and run every check.

    A setting with a bad value is a FAIL line and is then left at its default (``ignore``), so the other
    checks still run; the credentials are not checked when one of them was bad. A malformed base URL is
    reported, then the local checks run with a placeholder URL and the network ones are skipped.
    """
    bad: list[Check] = []
    ignored: set[str] = set()
    offline = False
    while True:
        overrides = {"base_url": PLACEHOLDER_URL} if offline else {}
        try:
            s = resolve(ignore=frozenset(ignored), **overrides)
            break
        except SettingsError as exc:
            if "XRAY_BASE_URL" in exc.message and not offline:
                bad.append(_fail("base URL", exc))
                offline = True
                continue
            name = setting_in(exc)
            if name is None or name in ignored:
                return [*bad, _fail("settings", exc)]
            ignored.add(name)
            bad.append(_fail(f"setting {name}", exc))
    checks = setting_checks(s, frozenset({"base_url"}) if offline else frozenset()) + bad
    s = replace(s, max_retries=0)  # one request per check: doctor reports, it does not wait out outages
    if not s.project_key and "project_key" not in ignored:
        checks.append(Check("project", WARN, "XRAY_PROJECT_KEY is not set",
                            "set XRAY_PROJECT_KEY (or --project) unless you always import into --test-exec"))
    if not offline:
        checks.append(base_url_check(s))
        checks.append(tls_check(s))
    checks.append(token_cache_check(s))
    if offline:
        checks.append(Check("reachable", WARN, "not checked: the base URL is malformed", "fix XRAY_BASE_URL first"))
    else:
        checks += _network_checks(s, http, credentials=not ignored & CREDENTIALS)
    report_lines, found = report_checks(s, fmt or s.report_format)
    checks += template_checks(s, found, info_template=info_template, test_info_template=test_info_template)
    checks += report_lines
    return checks


def _network_checks(s: Settings, http: httpx.Client | None, *, credentials: bool = True) -> list[Check]:
    from xray_tasks.client import XrayClient
    from xray_tasks.transport import make_http

    try:
        client = XrayClient(s, http if http is not None else make_http(s))
    except XrayTasksError as exc:
        return [_fail("reachable", exc)]
    try:
        reach = reachability_check(s, client.http)
        if reach.status == FAIL:
            return [reach, Check("credentials", WARN, "not checked: Xray is not reachable", reach.fix)]
        if not credentials:
            return [reach, Check("credentials", WARN, "not checked: a credential setting has a bad value (above)",
                                 "fix it first")]
        creds = credentials_check(client)
        if reach.status == WARN and creds.status == OK:  # the API answered: the 404 was only the bare host
            reach = Check("reachable", OK, f"{reach.detail.split(' in ')[0]}, but the API below it answers")
        out = [reach, creds]
        if not s.is_cloud and creds.status == OK:
            out += server_field_checks(s, client)
        return out
    finally:
        if http is None:
            client.close()


# -- output -----------------------------------------------------------------------------------------------


def format_table(checks: Sequence[Check]) -> str:
    """One line per check: status, name, detail and (if any) the fix; secrets redacted."""
    width = max((len(c.name) for c in checks), default=0)
    lines = []
    for c in checks:
        fix = f" — fix: {c.fix}" if c.fix and c.status != OK else ""
        lines.append(redact(f"{c.status:<4}  {c.name:<{width}}  {c.detail}{fix}"))
    return "\n".join(lines)


def as_json(checks: Sequence[Check]) -> str:
    return json.dumps(redact_data([asdict(c) for c in checks]), ensure_ascii=False)
