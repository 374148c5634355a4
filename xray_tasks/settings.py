"""Every setting of xray-tasks, resolved once, with where each value came from.

Precedence, highest first — the one rule for every setting:

1. a command-line flag of the task (``--project DEMO``);
2. an ``XRAY_*`` environment variable (``XRAY_PROJECT_KEY=DEMO``);
3. the ``.env`` file: ``XRAY_ENV_FILE`` (which must exist), else the nearest ``.env`` in the working
   directory or one of its parents, the way Invoke finds ``tasks.py``; read with python-dotenv, it never
   overrides a real environment variable;
4. the Invoke configuration, section ``xray:`` of ``invoke.yaml`` (keys are the setting names below,
   e.g. ``project_key``) or a user's ``ns.configure({"xray": {...}})``;
5. the built-in default, kept here in code (Invoke's nested collection defaults are lost to pre-tasks
   and to a user's ``ns.configure``; see pyinvoke/invoke#736 and #782).

Each setting is one field of :class:`Settings`; its metadata holds the help text, the parser and
whether it is a secret, and everything else (:data:`SETTINGS`, the environment variable names, the
secret list, ``describe()`` for ``doctor``) is derived from the fields. Adding a setting is adding a
field.

Every value is checked as it is read: numbers are finite and in range, keys have Jira's shapes, URLs
carry no credentials, texts have no control characters and a sane length, and secrets lose surrounding
whitespace (a trailing newline from ``echo``) and are refused when they hold a character that cannot
travel in an HTTP header. A refusal is a :class:`SettingsError` naming the setting and its source, never
its value when it is a secret.

Template variables come from ``XRAY_VAR_<NAME>`` (environment, then ``.env``), ``variables:`` in the
Invoke config and ``--var NAME=VALUE``.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from dotenv import dotenv_values

from xray_tasks.errors import SettingsError
from xray_tasks.redaction import register_secret

__all__ = ["CLOUD_HOST", "REGIONS", "SECRET_SETTINGS", "SETTINGS", "Setting", "Settings", "check_base_url",
           "mask_url", "resolve_settings"]

CLOUD_HOST = "xray.cloud.getxray.app"
REGIONS = {"global": f"https://{CLOUD_HOST}", "us": f"https://us.{CLOUD_HOST}",
           "eu": f"https://eu.{CLOUD_HOST}", "au": f"https://au.{CLOUD_HOST}"}
DEPLOYMENTS = ("cloud", "server")
ON_ERROR = ("fail", "warn")
EVIDENCE_FOR = ("failed", "all")
RERUNS = ("last", "worst", "all")
FORMAT_CHOICES = ("auto", "xray", "cucumber", "behave", "junit", "testng", "nunit", "xunit", "robot")
#: longest value of a key, revision, version or environment name (Jira's text fields hold 255)
MAX_FIELD = 255
#: longest value of any other text setting (a path, a command)
MAX_TEXT = 32 * 1024
TOKEN_CACHE_OFF = ("off", os.devnull)

PROJECT_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,254}")
ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]*-[1-9][0-9]{0,17}")
CUSTOM_FIELD = re.compile(r"customfield_[0-9]{1,12}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# -- parsers: raw text -> value, ValueError with the reason ---------------------------------------------------


def _text(value: str, limit: int = MAX_TEXT) -> str:
    value = value.strip()
    if _CONTROL.search(value):
        raise ValueError("it holds a control character (a newline or tab inside the value?)")
    if len(value) > limit:
        raise ValueError(f"it is {len(value)} characters long; at most {limit} are accepted")
    return value


def _field_text(value: str) -> str:
    return _text(value, MAX_FIELD)


def _command(value: str) -> str:
    """A shell command may span lines; other control characters are refused."""
    value = value.strip()
    if re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", value):
        raise ValueError("it holds a control character other than a line break or tab")
    if len(value) > MAX_TEXT:
        raise ValueError(f"it is {len(value)} characters long; at most {MAX_TEXT} are accepted")
    return value


def _secret(value: str) -> str:
    """Surrounding whitespace (``echo``'s newline, a Windows ``\\r``) is dropped; inner control characters
    are refused: they cannot be part of a real secret and would break the request."""
    value = value.strip()
    if _CONTROL.search(value):
        raise ValueError("it holds a control character inside it (a line break or tab?); "
                         "copy the value again without it")
    if len(value) > MAX_TEXT:
        raise ValueError(f"it is {len(value)} characters long")
    return value


def _header_secret(value: str) -> str:
    """A secret sent as it is in an HTTP header (a personal access token) must be printable ASCII."""
    value = _secret(value)
    if not value.isascii():
        raise ValueError("it holds a non-ASCII character, which cannot be sent in an HTTP header; "
                         "copy the token again (a typographic quote or space slipped in?)")
    return value


def _user(value: str) -> str:
    value = _secret(value)
    if ":" in value:
        raise ValueError("a user name for basic authentication cannot contain ':'")
    return value


def _shaped(pattern: re.Pattern[str], what: str, example: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        value = _field_text(value)
        if not pattern.fullmatch(value):
            upper = value.upper()
            fix = f" (Jira keys are upper case: {upper})" if pattern.fullmatch(upper) else ""
            raise ValueError(f"{value[:40]!r} is not {what}, e.g. {example}{fix}")
        return value
    return parse


_project_key = _shaped(PROJECT_KEY, "a Jira project key", "CALC")
_issue_key = _shaped(ISSUE_KEY, "a Jira issue key", "CALC-15")
_custom_field = _shaped(CUSTOM_FIELD, "a Jira custom field id", "customfield_11807")


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        low = value.strip().lower()
        if low not in allowed:
            raise ValueError(f"{value[:40]!r} is not one of {', '.join(allowed)}")
        return low
    return parse


def _split_list(value: str) -> tuple[str, ...]:
    """``a;b`` or ``a,b`` → ``("a", "b")`` (Xray itself separates environments with ``;``). Spaces stay:
    report paths and environment names ("Chrome 120") may hold them."""
    return tuple(_text(p) for p in re.split(r"[;,]", value) if p.strip())


def _names(value: str) -> tuple[str, ...]:
    return tuple(_field_text(n) for n in _split_list(value))


def _to_bool(value: str) -> bool:
    low = value.strip().lower()
    if low in {"1", "true", "yes", "on"}:
        return True
    if low in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"{value[:40]!r} is not a yes/no value (use true or false)")


def _tag_prefix(value: str) -> str:
    """A Cucumber tag prefix as an Xray instance's Cucumber settings hold it (``TEST_``, ``TestName:``);
    ``none`` means bare keys (an empty value would fall through to the default)."""
    value = _field_text(value)
    if value.lower() == "none":
        return ""
    if value.startswith(("@", "#")):
        raise ValueError(f"{value[:40]!r} starts with {value[0]!r}: give the prefix alone, e.g. TEST_ for "
                         "@TEST_CALC-12")
    if re.search(r"\s", value):
        raise ValueError(f"{value[:40]!r} holds a space, which a Gherkin tag cannot")
    return value


def _number(low: float, high: float, *, zero: bool = False) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"{value[:40]!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{value.strip()[:40]!r} is not a finite number")
        if number == 0 and zero:
            return 0.0
        if not low <= number <= high:
            lowest = "0 (no limit) or " if zero else ""
            raise ValueError(f"{number:g} is out of range: use {lowest}{low:g} to {high:g}")
        return number
    return parse


def _whole(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value.strip())
        except ValueError:
            raise ValueError(f"{value[:40]!r} is not a whole number") from None
        if not low <= number <= high:
            raise ValueError(f"{number} is out of range: use {low} to {high}")
        return number
    return parse


MAX_SHARDS = 1000


def _shard(value: str) -> str:
    """``I/N``: this job is shard I of N (1-based, as GitLab's ``CI_NODE_INDEX`` counts)."""
    value = _field_text(value)
    index, sep, total = value.partition("/")
    if not sep or not index.strip().isdigit() or not total.strip().isdigit():
        raise ValueError(f"{value[:40]!r} is not I/N, e.g. 2/8 for the second of eight shards")
    i, n = int(index), int(total)
    if not 1 <= i <= n <= MAX_SHARDS:
        raise ValueError(f"{value[:40]!r}: the shard number must be 1 to N, and N at most {MAX_SHARDS}")
    return f"{i}/{n}"


def _proxy(value: str) -> str:
    value = _text(value)
    parts = _split_url(value)
    if parts.scheme in ("socks5", "socks5h", "socks4"):
        if importlib.util.find_spec("socksio") is None:
            raise ValueError("a SOCKS proxy needs the socksio package (pip install 'httpx[socks]')")
    elif parts.scheme not in ("http", "https"):
        raise ValueError(f"{mask_url(value)!r} is not a proxy URL like http://proxy.example.com:3128")
    if not parts.hostname:
        raise ValueError(f"{mask_url(value)!r} has no host")
    if parts.password:
        register_secret(parts.password)
    return value


def _jira_url(value: str) -> str:
    value = _text(value)
    parts = _split_url(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value[:80]!r} is not an http(s) URL like https://acme.atlassian.net")
    if parts.username or parts.password:
        raise ValueError("it holds a user name or password (…@host): remove them")
    return value.rstrip("/")


def _split_url(value: str) -> SplitResult:
    """``urlsplit`` with its port checked (it raises ValueError for a bad one only when asked)."""
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid URL ({exc})") from None
    return parts


# -- the settings ---------------------------------------------------------------------------------------------


def _setting(default: Any, help: str, parse: Callable[[str], Any] = _text, *, secret: bool = False,
             flag: str | None = None) -> Any:
    """A field of :class:`Settings` with its help, parser, secrecy and the task flag that sets it (if any)."""
    return field(default=default, repr=not secret,
                 metadata={"help": help, "parse": parse, "secret": secret, "flag": flag})


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :func:`resolve_settings`; secrets never appear in ``repr``."""

    deployment: str = _setting("cloud", "cloud or server (Server/Data Center); inferred from the credentials if "
                               "unset", _choice(*DEPLOYMENTS), flag="--deployment")
    base_url: str = _setting(REGIONS["global"], "Xray Cloud host, or the Jira base URL for Server/DC",
                             flag="--base-url")
    region: str = _setting("global", "Xray Cloud region when XRAY_BASE_URL is unset: global, us, eu or au",
                           _choice(*REGIONS), flag="--region")
    api_version: str | None = _setting(None, "REST API version: Cloud 2 or 1 (/api/v2, /api/v1); Server/DC 2.0, "
                                       "1.0 (Xray before 4.0) or latest (/rest/raven/...)")
    client_id: str | None = _setting(None, "Xray Cloud API key client id", _secret)
    client_secret: str | None = _setting(None, "Xray Cloud API key client secret", _secret, secret=True)
    server_token: str | None = _setting(None, "Server/DC personal access token (sent as Bearer)", _header_secret,
                                        secret=True)
    server_user: str | None = _setting(None, "Server/DC user name for basic authentication", _user)
    server_password: str | None = _setting(None, "Server/DC password for basic authentication", _secret,
                                           secret=True)
    server_test_plan_field: str | None = _setting(None, "Server/DC custom field id of 'Test Plan', e.g. "
                                                  "customfield_11807", _custom_field)
    server_environments_field: str | None = _setting(None, "Server/DC custom field id of 'Test Environments', "
                                                     "e.g. customfield_11805", _custom_field)
    project_key: str | None = _setting(None, "Jira project key of the Test Execution, e.g. CALC", _project_key,
                                       flag="--project")
    test_plan_key: str | None = _setting(None, "Test Plan issue key to link the Test Execution to", _issue_key,
                                         flag="--test-plan")
    test_exec_key: str | None = _setting(None, "existing Test Execution key to import into", _issue_key,
                                         flag="--test-exec")
    test_environments: tuple[str, ...] = _setting((), "Test Environments, separated by ; or ,", _names,
                                                  flag="--test-env")
    revision: str | None = _setting(None, "source revision stored on the Test Execution", _field_text,
                                    flag="--revision")
    fix_version: str | None = _setting(None, "Jira fix version name of the Test Execution", _field_text,
                                       flag="--fix-version")
    report: tuple[str, ...] = _setting((), "report path(s) or glob(s), separated by ; or ,", _split_list,
                                       flag="--report")
    report_format: str = _setting("auto", "report format, or auto to detect it from the content",
                                  _choice(*FORMAT_CHOICES), flag="--format")
    test_command: str | None = _setting(None, "command that runs the tests (run-tests)", _command,
                                        flag="--command")
    template_dir: str | None = _setting(None, "folder with info.json.j2 / test-info.json.j2 overriding the "
                                        "bundled ones")
    token_cache: str | None = _setting(None, "token cache file (default: the user cache dir; off or /dev/null: "
                                       "no cache)")
    state_file: str = _setting(".xray-run.json", "where run-tests records its run for later steps")
    jira_url: str | None = _setting(None, "Jira site URL for browse links, e.g. https://acme.atlassian.net",
                                    _jira_url)
    timeout: float = _setting(300.0, "read/write timeout in seconds", _number(0.1, 86400))
    connect_timeout: float = _setting(15.0, "connect timeout in seconds", _number(0.1, 3600))
    deadline: float = _setting(1800.0, "longest one request may take in seconds, answer included (0: no limit)",
                               _number(1, 7 * 86400, zero=True))
    max_retries: int = _setting(3, "retries on 429/502/503/504 and connection failures (0 disables)",
                                _whole(0, 100))
    retry_budget: float = _setting(120.0, "total seconds retries may take", _number(0, 86400, zero=True))
    ca_bundle: str | None = _setting(None, "CA bundle file for TLS verification")
    verify_tls: bool = _setting(True, "verify TLS certificates (false only for a test server)", _to_bool)
    proxy: str | None = _setting(None, "HTTP(S) proxy URL (HTTPS_PROXY/NO_PROXY are honoured too)", _proxy)
    allow_http: bool = _setting(False, "allow plain http:// to a host that is not this machine", _to_bool)
    max_request_mb: float = _setting(100.0, "largest request body in MiB before splitting or refusing",
                                     _number(0.01, 100_000))
    max_export_mb: float = _setting(256.0, "largest feature export in MiB, unzipped (export-features refuses "
                                    "bigger ones)", _number(0.01, 100_000))
    cucumber_test_prefix: str = _setting("TEST_", "tag prefix naming a Test in .feature files and Cucumber/Behave "
                                         "reports, as in Xray's Cucumber settings (@TEST_CALC-12); none: bare "
                                         "keys", _tag_prefix)
    cucumber_precondition_prefix: str = _setting("PRECOND_", "prefix of the comment naming a Precondition under "
                                                 "Background: (#@PRECOND_CALC-7), as in Xray's Cucumber settings; "
                                                 "none: bare keys", _tag_prefix)
    map: str | None = _setting(None, "map file (YAML or CSV) giving tests their Test keys, requirements, labels "
                               "and evidence", flag="--map")
    evidence: tuple[str, ...] = _setting((), "evidence folders, globs or files, separated by ; or ,", _split_list,
                                         flag="--evidence")
    evidence_for: str = _setting("failed", "whose evidence is attached: failed (failing and flaky tests) or all",
                                 _choice(*EVIDENCE_FOR), flag="--evidence-for")
    evidence_max_mb: float = _setting(10.0, "largest evidence file in MiB; a larger one is left out with a note",
                                      _number(0.001, 100_000))
    reruns: str = _setting("last", "several attempts of one test: last or worst is sent, or all as they are",
                           _choice(*RERUNS), flag="--reruns")
    on_error: str = _setting("fail", "what an import failure does in ci: fail or warn", _choice(*ON_ERROR),
                             flag="--on-error")
    verbose: bool = _setting(False, "trace every HTTP request and answer on stderr (credentials redacted)", _to_bool,
                             flag="--verbose")
    dotenv_file: str | None = _setting(None, "write the Test Execution key, URL and counts to this file as NAME=value "
                                       "lines (GitLab artifacts:reports:dotenv)", flag="--dotenv-file")
    properties_file: str | None = _setting(None, "write the Test Execution key, URL and counts to this Java "
                                           ".properties file (Jenkins readProperties)", flag="--properties-file")
    verify: bool | None = _setting(None, "read the Test Execution back after an import and compare it with the "
                                   "reports (import-results: off unless true; ci: on unless false)", _to_bool,
                                   flag="--verify")
    verify_wait: float = _setting(10.0, "seconds the read-back may wait for Xray to show every run before a "
                                  "difference counts", _number(0, 3600))
    shard: str | None = _setting(None, "this CI job's shard as I/N, e.g. 2/8: the import leaves a shard record for "
                                 "finalize (GitLab's CI_NODE_INDEX/CI_NODE_TOTAL when unset)", _shard,
                                 flag="--shard")
    shard_dir: str = _setting(".", "folder of the shard records xray-shard-<I>.json (written by shards, read by "
                              "finalize)", flag="--shard-dir")
    variables: Mapping[str, str] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    #: what the user should know about how settings were resolved (an option that another one overrides)
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def is_cloud(self) -> bool:
        return self.deployment == "cloud"

    @property
    def auth_scheme(self) -> str:
        """The Authorization scheme requests carry: a token (Cloud, or a Server/DC personal access token) or
        user and password."""
        return "Bearer" if self.is_cloud or self.server_token else "Basic"

    @property
    def api_path(self) -> str:
        """The API's path under the base URL, e.g. ``/api/v2`` or ``/rest/raven/2.0``."""
        if self.is_cloud:
            return f"/api/v{self.api_version or '2'}"
        return f"/rest/raven/{self.api_version or '2.0'}"

    @property
    def api_url(self) -> str:
        """Base URL and API path: where requests go, and what a cached token belongs to."""
        return self.base_url + self.api_path

    @property
    def token_cache_off(self) -> bool:
        return (self.token_cache or "").strip().lower() in TOKEN_CACHE_OFF

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, shown value, source) for every setting; secrets hidden, URL credentials masked."""
        rows = []
        for s in SETTINGS:
            value = getattr(self, s.name)
            if s.secret:
                shown = "(set, hidden)" if value else "(unset)"
            elif isinstance(value, tuple):
                shown = ";".join(value) if value else "(unset)"
            elif value is None:
                shown = "(unset)"
            else:
                shown = mask_url(str(value)) if s.name in ("proxy", "base_url", "jira_url") else str(value)
            rows.append((s.name, shown, self.sources.get(s.name, "default")))
        return rows


@dataclass(frozen=True)
class Setting:
    """One setting as the docs and ``doctor`` show it: derived from a field of :class:`Settings`."""

    name: str
    help: str
    default: Any
    parse: Callable[[str], Any]
    secret: bool
    flag: str | None = None

    @property
    def env(self) -> str:
        return f"XRAY_{self.name.upper()}"

    def named(self, source: str) -> str:
        """How a message names the setting: its flag when the value came from the command line."""
        return self.flag if source == "flag" and self.flag else f"{self.env} ({source})"


SETTINGS: tuple[Setting, ...] = tuple(
    Setting(f.name, f.metadata["help"], f.default, f.metadata["parse"], f.metadata["secret"], f.metadata["flag"])
    for f in fields(Settings) if "help" in f.metadata)
_BY_NAME = {s.name: s for s in SETTINGS}
SECRET_SETTINGS = frozenset(s.name for s in SETTINGS if s.secret)


def mask_url(url: str) -> str:
    """``url`` with any user name and password replaced by ``***`` (for showing a proxy or base URL)."""
    head, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return url
    return f"{head}://***@{authority.rpartition('@')[2]}{slash}{path}"


# -- resolution -----------------------------------------------------------------------------------------------


def find_env_file(environ: Mapping[str, str], cwd: Path | None = None) -> Path | None:
    """``XRAY_ENV_FILE`` (refused when it does not exist), else the nearest ``.env`` upwards from ``cwd``."""
    named = environ.get("XRAY_ENV_FILE")
    if named:
        path = Path(named).expanduser()
        if path == Path(os.devnull):
            return None
        if not path.is_file():
            what = "is a folder" if path.is_dir() else "does not exist"
            raise SettingsError(f"XRAY_ENV_FILE={named} {what}",
                                "point XRAY_ENV_FILE at your .env file, or unset it to use ./.env")
        return path
    folder = (cwd or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / ".env").is_file():
            return candidate / ".env"
    return None


def _read_env_file(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    try:
        values = dotenv_values(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read the settings file {path}: {exc}",
                            "fix or remove the file, or point XRAY_ENV_FILE elsewhere") from None
    return {str(k): str(v) for k, v in values.items() if v is not None}


def _config_section(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise SettingsError(f"the 'xray' section of the Invoke config (invoke.yaml) is a {type(config).__name__}, "
                            "not a mapping of settings", "write it as 'xray:' followed by indented 'key: value' "
                            "lines, e.g.  project_key: CALC")
    section: dict[str, Any] = {str(k): v for k, v in config.items()}
    unknown = sorted(set(section) - set(_BY_NAME) - {"variables"})
    if unknown:
        raise SettingsError(f"unknown key(s) in the Invoke config section 'xray': {', '.join(unknown)}",
                            f"valid keys: {', '.join(sorted(_BY_NAME))}, variables")
    variables = section.get("variables")
    if variables is not None and not isinstance(variables, Mapping):
        raise SettingsError("'variables' in the Invoke config section 'xray' is not a mapping",
                            "write it as 'variables:' followed by indented 'name: value' lines")
    return section


def resolve_settings(
    flags: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    variables: Mapping[str, str] | None = None,
    *,
    ignore: frozenset[str] = frozenset(),
) -> Settings:
    """Resolve every setting once, by the precedence in this module's docstring.

    ``flags`` are task arguments (``None`` means "not given"), ``config`` the ``xray`` section of the
    Invoke config, ``environ`` the process environment (default ``os.environ``), ``variables`` the
    ``--var`` values. Raises :class:`SettingsError` naming the setting and its source on a bad value.
    ``ignore`` names settings left at their defaults whatever sets them (``doctor`` goes on past a bad value).
    """
    environ = os.environ if environ is None else environ
    env_file = find_env_file(environ)
    dotenv = _read_env_file(env_file)
    flags = {k: v for k, v in (flags or {}).items() if v is not None and v != () and v != []}
    section = _config_section(config)

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for s in SETTINGS:
        if s.name in ignore:
            continue
        layers: list[tuple[str, Any]] = [
            ("flag", flags.get(s.name)),
            (f"env {s.env}", environ.get(s.env)),
            (f".env {s.env} ({env_file})", dotenv.get(s.env)),
            ("invoke config xray." + s.name, section.get(s.name)),
        ]
        for source, raw in layers:
            if raw is None or (isinstance(raw, str) and raw.strip() == ""):
                continue
            values[s.name] = _parse(s, raw, source)
            sources[s.name] = source
            break

    notes: list[str] = []
    region = values.get("region", "global")
    if "base_url" not in values:
        values["base_url"] = REGIONS[region]
        sources["base_url"] = f"region {region}"
    elif "region" in values:
        notes.append(f"XRAY_REGION={region} ({sources['region']}) is not used: XRAY_BASE_URL "
                     f"({sources['base_url']}) wins")
    deployment = values.get("deployment") or _infer_deployment(values)
    values["deployment"] = deployment
    values["base_url"] = check_base_url(str(values["base_url"]), deployment, sources.get("base_url", ""))
    values["api_version"] = _api_version(values.get("api_version"), deployment, sources.get("api_version", ""))

    merged_vars = {k[len("XRAY_VAR_"):].lower(): v for k, v in dotenv.items() if k.startswith("XRAY_VAR_")}
    merged_vars |= {k[len("XRAY_VAR_"):].lower(): v for k, v in environ.items() if k.startswith("XRAY_VAR_")}
    merged_vars |= {str(k): str(v) for k, v in (section.get("variables") or {}).items()}
    merged_vars |= dict(variables or {})
    for name in SECRET_SETTINGS:
        register_secret(values.get(name))
    return Settings(**values, variables=merged_vars, sources=sources, notes=tuple(notes))


def _parse(s: Setting, raw: Any, source: str) -> Any:
    if isinstance(raw, bool) and s.parse is _to_bool:
        return raw
    if isinstance(raw, list | tuple):
        if s.parse not in (_split_list, _names):
            raise SettingsError(f"{s.named(source)} is a list; it takes one value", f"{s.env}: {s.help}")
        raw = ";".join(str(x) for x in raw)
    elif isinstance(raw, Mapping):
        raise SettingsError(f"{s.named(source)} is a mapping; it takes one value", f"{s.env}: {s.help}")
    elif not isinstance(raw, str):
        raw = str(raw)
    try:
        return s.parse(raw)
    except ValueError as exc:
        raise SettingsError(f"{s.named(source)} has a bad value: {exc}", f"{s.env}: {s.help}") from None


_API_VERSIONS = {
    "cloud": {"2": "2", "v2": "2", "2.0": "2", "1": "1", "v1": "1", "1.0": "1"},
    "server": {"2": "2.0", "v2": "2.0", "2.0": "2.0", "1": "1.0", "v1": "1.0", "1.0": "1.0", "latest": "latest"},
}


def _api_version(raw: str | None, deployment: str, source: str) -> str | None:
    """The API version for the deployment's paths: Cloud ``2``/``1``, Server/DC ``2.0``/``1.0``/``latest``."""
    if raw is None:
        return None
    version = _API_VERSIONS[deployment].get(str(raw).strip().lower())
    if version is None:
        allowed = "2 or 1" if deployment == "cloud" else "2.0, 1.0 or latest"
        raise SettingsError(f"XRAY_API_VERSION={str(raw)[:40]!r} ({source}) is not an Xray {deployment} API "
                            f"version", f"use {allowed} (unset it for the default)")
    return version


def _infer_deployment(values: Mapping[str, Any]) -> str:
    """Server when Server credentials are set and no Cloud ones, or the base URL is not a Cloud host."""
    try:
        host = urlsplit(str(values.get("base_url", ""))).hostname or ""
    except ValueError:
        host = ""
    if host.endswith(CLOUD_HOST):
        return "cloud"
    has_server = any(values.get(k) for k in ("server_token", "server_user"))
    has_cloud = any(values.get(k) for k in ("client_id", "client_secret"))
    return "server" if has_server and not has_cloud else "cloud"


_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def check_base_url(url: str, deployment: str, source: str = "") -> str:
    """Return the base URL normalised, or raise SettingsError saying exactly what is wrong with it.

    A URL with credentials in it is refused without echoing it: its password would be printed."""
    where = f" ({source})" if source else ""
    url = url.strip()
    if "@" in url:
        raise SettingsError(f"XRAY_BASE_URL{where} has a user name or password in it (…@host)",
                            "remove it from the URL; use XRAY_CLIENT_ID/XRAY_CLIENT_SECRET (Cloud) or "
                            "XRAY_SERVER_TOKEN, XRAY_SERVER_USER/XRAY_SERVER_PASSWORD (Server/DC)")
    shown = url[:120]
    try:
        parts = _split_url(url)
    except ValueError as exc:
        raise SettingsError(f"XRAY_BASE_URL={shown!r}{where} is {exc}",
                            "write it as https://host[:port][/context-path]") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"XRAY_BASE_URL={shown!r}{where} is not an http(s) URL",
                            f"write it with its scheme, e.g. https://{parts.path or CLOUD_HOST}")
    host = parts.hostname
    if not _valid_host(host, bracketed="[" in parts.netloc):
        raise SettingsError(f"XRAY_BASE_URL={shown!r}{where} has an invalid host name {host[:60]!r}",
                            "host names are letters, digits and '-' between dots; an IPv6 address goes in "
                            "brackets, e.g. https://[::1]:8765")
    if parts.port == 0:
        raise SettingsError(f"XRAY_BASE_URL={shown!r}{where} has port 0", "use the server's real port, 1 to 65535")
    if parts.query or parts.fragment:
        raise SettingsError(f"XRAY_BASE_URL={shown!r}{where} has a query or fragment",
                            "give only the scheme, host and (for Server/DC) Jira's context path")
    path = re.sub(r"/{2,}", "/", parts.path).rstrip("/")
    if _CONTROL.search(path) or " " in path:
        raise SettingsError(f"XRAY_BASE_URL={shown!r}{where} has spaces or control characters in its path",
                            "give only the scheme, host and (for Server/DC) Jira's context path")
    api = re.search(r"/(api/v\d|rest/raven|rest/api)(/|$)", path + "/")
    if api:
        keep = path[: api.start()]
        fixed = f"{parts.scheme}://{parts.netloc}{keep}"
        raise SettingsError(f"XRAY_BASE_URL={shown!r}{where} includes the API path /{api.group(1)}",
                            f"set XRAY_BASE_URL={fixed}; xray-tasks adds the API path itself")
    if deployment == "cloud" and host.endswith(".atlassian.net"):
        raise SettingsError(f"XRAY_BASE_URL={shown!r}{where} is a Jira Cloud site, not the Xray Cloud API host",
                            f"set XRAY_BASE_URL={REGIONS['global']} (or unset it and set XRAY_REGION=us, eu "
                            f"or au); put the Jira site in XRAY_JIRA_URL for browse links")
    if deployment == "cloud" and path and host.endswith(CLOUD_HOST):
        raise SettingsError(f"XRAY_BASE_URL={shown!r}{where} has a path after the Xray Cloud host",
                            f"set XRAY_BASE_URL={parts.scheme}://{parts.netloc}")
    return f"{parts.scheme}://{parts.netloc}{path}"


def _valid_host(host: str, *, bracketed: bool) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return address.version == 4 or bracketed
    labels = host.rstrip(".").split(".")
    return len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)
