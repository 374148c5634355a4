"""Every setting of xray-tasks, resolved once, with where each value came from.

Precedence, highest first — the one rule for every setting:

1. a command-line flag of the task (``--project DEMO``);
2. an ``XRAY_*`` environment variable (``XRAY_PROJECT_KEY=DEMO``);
3. the ``.env`` file (``XRAY_ENV_FILE``, default ``./.env``), read with python-dotenv; it never
   overrides a real environment variable;
4. the Invoke configuration, section ``xray:`` of ``invoke.yaml`` (keys are the setting names below,
   e.g. ``project_key``) or a user's ``ns.configure({"xray": {...}})``;
5. the built-in default, kept here in code (Invoke's nested collection defaults are lost to pre-tasks
   and to a user's ``ns.configure``; see pyinvoke/invoke#736 and #782).

Template variables come from ``XRAY_VAR_<NAME>`` (environment, then ``.env``) and ``--var NAME=VALUE``.
Secrets (client secret, Server password and token) are held with ``repr=False`` and are never printed:
``Settings.describe()`` redacts them.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from xray_tasks.errors import SettingsError, register_secret

__all__ = ["CLOUD_HOST", "REGIONS", "SETTINGS", "Setting", "Settings", "resolve_settings"]

CLOUD_HOST = "xray.cloud.getxray.app"
REGIONS = {"global": f"https://{CLOUD_HOST}", "us": f"https://us.{CLOUD_HOST}",
           "eu": f"https://eu.{CLOUD_HOST}", "au": f"https://au.{CLOUD_HOST}"}
DEPLOYMENTS = ("cloud", "server")
ON_ERROR = ("fail", "warn")
SECRET_NAMES = frozenset({"client_secret", "server_password", "server_token"})


def _split_list(value: str) -> tuple[str, ...]:
    """``a;b`` or ``a,b`` → ``("a", "b")`` (Xray itself separates environments with ``;``). Spaces stay:
    report paths and environment names ("Chrome 120") may hold them."""
    return tuple(p.strip() for p in re.split(r"[;,]", value) if p.strip())


def _to_bool(value: str) -> bool:
    low = value.strip().lower()
    if low in {"1", "true", "yes", "on"}:
        return True
    if low in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"{value!r} is not a yes/no value (use true or false)")


def _to_float(value: str) -> float:
    number = float(value)
    if number < 0:
        raise ValueError(f"{value!r} is negative")
    return number


def _to_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"{value!r} is negative")
    return number


@dataclass(frozen=True)
class Setting:
    """One setting: its name, environment variable, parser, default and help."""

    name: str
    help: str
    default: Any = None
    parse: Callable[[str], Any] = str
    secret: bool = False

    @property
    def env(self) -> str:
        return f"XRAY_{self.name.upper()}"


SETTINGS: tuple[Setting, ...] = (
    Setting("deployment", "cloud or server (Server/Data Center); inferred from the credentials if unset"),
    Setting("base_url", "Xray Cloud host, or the Jira base URL for Server/DC", None),
    Setting("region", "Xray Cloud region when XRAY_BASE_URL is unset: global, us, eu or au", "global"),
    Setting("api_version", "REST API version: Cloud 2 or 1 (/api/v2, /api/v1); Server/DC 2.0, 1.0 (Xray before "
            "4.0) or latest (/rest/raven/...)", None),
    Setting("client_id", "Xray Cloud API key client id"),
    Setting("client_secret", "Xray Cloud API key client secret", secret=True),
    Setting("server_token", "Server/DC personal access token (sent as Bearer)", secret=True),
    Setting("server_user", "Server/DC user name for basic authentication"),
    Setting("server_password", "Server/DC password for basic authentication", secret=True),
    Setting("server_test_plan_field", "Server/DC custom field id of 'Test Plan', e.g. customfield_11807"),
    Setting("server_environments_field",
            "Server/DC custom field id of 'Test Environments', e.g. customfield_11805"),
    Setting("project_key", "Jira project key of the Test Execution, e.g. CALC"),
    Setting("test_plan_key", "Test Plan issue key to link the Test Execution to"),
    Setting("test_exec_key", "existing Test Execution key to import into"),
    Setting("test_environments", "Test Environments, separated by ; or ,", (), _split_list),
    Setting("revision", "source revision stored on the Test Execution"),
    Setting("fix_version", "Jira fix version name of the Test Execution"),
    Setting("report", "report path(s) or glob(s), separated by ; or ,", (), _split_list),
    Setting("report_format", "report format, or auto to detect it from the content", "auto"),
    Setting("test_command", "command that runs the tests (run-tests)"),
    Setting("template_dir", "folder with info.json.j2 / test-info.json.j2 overriding the bundled ones"),
    Setting("token_cache", "token cache file (default: the user cache dir)"),
    Setting("state_file", "where run-tests records its run for later steps", ".xray-run.json"),
    Setting("jira_url", "Jira site URL for browse links, e.g. https://acme.atlassian.net"),
    Setting("timeout", "read/write timeout in seconds", 300.0, _to_float),
    Setting("connect_timeout", "connect timeout in seconds", 15.0, _to_float),
    Setting("deadline", "longest one request may take in seconds, answer included (0: no limit)", 1800.0,
            _to_float),
    Setting("max_retries", "retries on 429/502/503/504 and connection failures (0 disables)", 3, _to_int),
    Setting("retry_budget", "total seconds retries may take", 120.0, _to_float),
    Setting("ca_bundle", "CA bundle file for TLS verification"),
    Setting("verify_tls", "verify TLS certificates (false only for a test server)", True, _to_bool),
    Setting("proxy", "HTTP(S) proxy URL (HTTPS_PROXY/NO_PROXY are honoured too)"),
    Setting("allow_http", "allow plain http:// to a non-loopback host", False, _to_bool),
    Setting("max_request_mb", "largest request body in MiB before splitting or refusing", 100.0, _to_float),
    Setting("on_error", "what an import failure does in ci: fail or warn", "fail"),
)
_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :func:`resolve_settings`; secrets never appear in ``repr``."""

    deployment: str = "cloud"
    base_url: str = REGIONS["global"]
    region: str = "global"
    api_version: str | None = None  # None: the deployment's default, 2 (Cloud) or 2.0 (Server/DC)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    server_token: str | None = field(default=None, repr=False)
    server_user: str | None = None
    server_password: str | None = field(default=None, repr=False)
    server_test_plan_field: str | None = None
    server_environments_field: str | None = None
    project_key: str | None = None
    test_plan_key: str | None = None
    test_exec_key: str | None = None
    test_environments: tuple[str, ...] = ()
    revision: str | None = None
    fix_version: str | None = None
    report: tuple[str, ...] = ()
    report_format: str = "auto"
    test_command: str | None = None
    template_dir: str | None = None
    token_cache: str | None = None
    state_file: str = ".xray-run.json"
    jira_url: str | None = None
    timeout: float = 300.0
    connect_timeout: float = 15.0
    deadline: float = 1800.0
    max_retries: int = 3
    retry_budget: float = 120.0
    ca_bundle: str | None = None
    verify_tls: bool = True
    proxy: str | None = None
    allow_http: bool = False
    max_request_mb: float = 100.0
    on_error: str = "fail"
    variables: Mapping[str, str] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def is_cloud(self) -> bool:
        return self.deployment == "cloud"

    @property
    def api_root(self) -> str:
        """The API's path under the base URL, e.g. ``/api/v2`` or ``/rest/raven/2.0``."""
        if self.is_cloud:
            return f"/api/v{self.api_version or '2'}"
        return f"/rest/raven/{self.api_version or '2.0'}"

    @property
    def api_url(self) -> str:
        """Base URL and API root: where requests go, and what a cached token belongs to."""
        return self.base_url + self.api_root

    @property
    def is_loopback(self) -> bool:
        return _is_loopback(urlsplit(self.base_url).hostname or "")

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, shown value, source) for every setting, secrets redacted."""
        rows = []
        for s in SETTINGS:
            value = getattr(self, s.name)
            if s.secret:
                shown = "(set, hidden)" if value else "(unset)"
            elif isinstance(value, tuple):
                shown = ";".join(value) if value else "(unset)"
            else:
                shown = "(unset)" if value is None else str(value)
            rows.append((s.name, shown, self.sources.get(s.name, "default")))
        return rows

    def secrets(self) -> tuple[str, ...]:
        """The secret values in force (for redaction in output)."""
        return tuple(v for n in SECRET_NAMES if (v := getattr(self, n)))


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _read_env_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read the settings file {path}: {exc}",
                            "fix or remove the file, or point XRAY_ENV_FILE elsewhere") from None
    return {k: v for k, v in values.items() if v is not None}


def resolve_settings(
    flags: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    variables: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve every setting once, by the precedence in this module's docstring.

    ``flags`` are task arguments (``None`` means "not given"), ``config`` the ``xray`` section of the
    Invoke config, ``environ`` the process environment (default ``os.environ``), ``variables`` the
    ``--var`` values. Raises :class:`SettingsError` naming the setting and its source on a bad value.
    """
    environ = os.environ if environ is None else environ
    env_file = Path(environ.get("XRAY_ENV_FILE", ".env"))
    dotenv = _read_env_file(env_file)
    flags = {k: v for k, v in (flags or {}).items() if v is not None and v != () and v != []}
    config = dict(config or {})
    unknown = sorted(set(config) - set(_BY_NAME) - {"variables"})
    if unknown:
        raise SettingsError(f"unknown key(s) in the Invoke config section 'xray': {', '.join(unknown)}",
                            f"valid keys: {', '.join(sorted(_BY_NAME))}")

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for s in SETTINGS:
        layers: list[tuple[str, Any]] = [
            ("flag", flags.get(s.name)),
            (f"env {s.env}", environ.get(s.env)),
            (f".env {s.env} ({env_file})", dotenv.get(s.env)),
            ("invoke config xray." + s.name, config.get(s.name)),
        ]
        for source, raw in layers:
            if raw is None or (isinstance(raw, str) and raw.strip() == "" and not s.secret):
                continue
            values[s.name] = _parse(s, raw, source)
            sources[s.name] = source
            break

    region = str(values.get("region", "global")).lower()
    if region not in REGIONS:
        raise SettingsError(f"XRAY_REGION={region!r} ({sources.get('region')}) is not a Cloud region",
                            "use one of global, us, eu, au — or set XRAY_BASE_URL to the full host")
    values["region"] = region
    if "base_url" not in values:
        values["base_url"] = REGIONS[region]
        sources["base_url"] = f"region {region}"
    deployment = values.get("deployment") or _infer_deployment(values)
    if deployment not in DEPLOYMENTS:
        raise SettingsError(f"XRAY_DEPLOYMENT={deployment!r} is neither cloud nor server",
                            "set XRAY_DEPLOYMENT=cloud or XRAY_DEPLOYMENT=server")
    values["deployment"] = deployment
    values["base_url"] = check_base_url(str(values["base_url"]), deployment, sources.get("base_url", ""))
    values["api_version"] = _api_version(values.get("api_version"), deployment, sources.get("api_version", ""))
    if values.get("on_error", "fail") not in ON_ERROR:
        raise SettingsError(f"XRAY_ON_ERROR={values['on_error']!r} is neither fail nor warn",
                            "set XRAY_ON_ERROR=fail or XRAY_ON_ERROR=warn")

    merged_vars = {k[len("XRAY_VAR_"):].lower(): v for k, v in dotenv.items() if k.startswith("XRAY_VAR_")}
    merged_vars |= {k[len("XRAY_VAR_"):].lower(): v for k, v in environ.items() if k.startswith("XRAY_VAR_")}
    merged_vars |= dict(config.get("variables") or {})
    merged_vars |= dict(variables or {})
    for name in SECRET_NAMES:
        register_secret(values.get(name))
    return Settings(**values, variables=merged_vars, sources=sources)


def _parse(s: Setting, raw: Any, source: str) -> Any:
    if not isinstance(raw, str):
        if s.parse is _split_list and isinstance(raw, list | tuple):
            return tuple(str(x) for x in raw)
        if s.parse is _to_bool and isinstance(raw, bool):
            return raw
        if s.parse in (_to_float, _to_int) and isinstance(raw, int | float) and not isinstance(raw, bool):
            return s.parse(str(raw))
        raw = str(raw)
    try:
        return s.parse(raw.strip() if not s.secret else raw)
    except ValueError as exc:
        raise SettingsError(f"{s.env} ({source}) has a bad value: {exc}", f"{s.env}: {s.help}") from None


_API_VERSIONS = {
    "cloud": {"2": "2", "v2": "2", "2.0": "2", "1": "1", "v1": "1", "1.0": "1"},
    "server": {"2": "2.0", "v2": "2.0", "2.0": "2.0", "1": "1.0", "v1": "1.0", "1.0": "1.0", "latest": "latest"},
}


def _api_version(raw: str | None, deployment: str, source: str) -> str | None:
    """The API version for the deployment's paths: Cloud ``2``/``1``, Server/DC ``2.0``/``1.0``/``latest``."""
    if raw is None:
        return None
    known = _API_VERSIONS[deployment]
    version = known.get(str(raw).strip().lower())
    if version is None:
        allowed = "2 or 1" if deployment == "cloud" else "2.0, 1.0 or latest"
        raise SettingsError(f"XRAY_API_VERSION={raw!r} ({source}) is not an Xray {deployment} API version",
                            f"use {allowed} (unset it for the default)")
    return version


def _infer_deployment(values: Mapping[str, Any]) -> str:
    """Server when Server credentials are set and no Cloud ones, or the base URL is not a Cloud host."""
    host = urlsplit(str(values.get("base_url", ""))).hostname or ""
    if host.endswith(CLOUD_HOST):
        return "cloud"
    has_server = any(values.get(k) for k in ("server_token", "server_user"))
    has_cloud = any(values.get(k) for k in ("client_id", "client_secret"))
    return "server" if has_server and not has_cloud else "cloud"


def check_base_url(url: str, deployment: str, source: str = "") -> str:
    """Return the base URL normalised, or raise SettingsError saying exactly what is wrong with it."""
    where = f" ({source})" if source else ""
    url = url.strip()
    parts = urlsplit(url)
    if "@" in url.split("://", 1)[-1].split("/", 1)[0]:  # never echo a password written into the URL
        raise SettingsError(f"XRAY_BASE_URL{where} has a user name or password in it (…@host)",
                            "remove it from the URL; use XRAY_CLIENT_ID/XRAY_CLIENT_SECRET (Cloud) or "
                            "XRAY_SERVER_TOKEN, XRAY_SERVER_USER/XRAY_SERVER_PASSWORD (Server/DC)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"XRAY_BASE_URL={url!r}{where} is not an http(s) URL",
                            f"write it with its scheme, e.g. https://{parts.path or CLOUD_HOST}")
    if parts.query or parts.fragment:
        raise SettingsError(f"XRAY_BASE_URL={url!r}{where} has a query or fragment",
                            "give only the scheme, host and (for Server/DC) Jira's context path")
    path = re.sub(r"/{2,}", "/", parts.path).rstrip("/")
    api = re.search(r"/(api/v\d|rest/raven|rest/api)(/|$)", path + "/")
    if api:
        keep = path[: api.start()]
        fixed = f"{parts.scheme}://{parts.netloc}{keep}"
        raise SettingsError(f"XRAY_BASE_URL={url!r}{where} includes the API path /{api.group(1)}",
                            f"set XRAY_BASE_URL={fixed}; xray-tasks adds the API path itself")
    if deployment == "cloud" and (parts.hostname or "").endswith(".atlassian.net"):
        raise SettingsError(f"XRAY_BASE_URL={url!r}{where} is a Jira Cloud site, not the Xray Cloud API host",
                            f"set XRAY_BASE_URL={REGIONS['global']} (or unset it and set XRAY_REGION=us, eu "
                            f"or au); put the Jira site in XRAY_JIRA_URL for browse links")
    if deployment == "cloud" and path and (parts.hostname or "").endswith(CLOUD_HOST):
        raise SettingsError(f"XRAY_BASE_URL={url!r}{where} has a path after the Xray Cloud host",
                            f"set XRAY_BASE_URL={parts.scheme}://{parts.netloc}")
    return f"{parts.scheme}://{parts.netloc}{path}"


def setting_names() -> list[str]:
    return [f.name for f in fields(Settings) if f.name not in ("variables", "sources")]
