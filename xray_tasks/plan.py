"""The import plan: which endpoint, which query, which body — decided without any I/O.

Xray's import API differs by format and deployment (``docs/xray-api.md``, "Imports"):

* Cloud, XML formats (junit, testng, nunit, xunit, robot): the report is the raw body, options are
  query parameters.
* Server/DC, XML formats: multipart with one part ``file``, options are query parameters.
* JSON formats (xray, cucumber, behave), both: raw JSON body and **no** query parameters. Xray JSON
  carries the options inside (``info``, ``testExecutionKey``); Cucumber and Behave cannot carry them.
* Multipart (all formats): the report plus ``info`` (new Test Execution) and optional ``testInfo``;
  part names are ``results``/``info``/``testInfo`` on Cloud, ``file`` or ``result``/``info``/``testInfo``
  on Server. Multipart always creates a *new* Test Execution.

:func:`decide` picks standard or multipart from what the user asked for and refuses what the API
cannot do; :func:`build_plan` assembles the request. Neither reads files nor talks to the network.

A *follower* is a request that imports into the Test Execution the first request of the same run
creates: it is planned once, with its key unknown, and :meth:`ImportPlan.bind` fills the key in when the
first request has answered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from xray_tasks.errors import SettingsError, some
from xray_tasks.formats import FORMAT_LABELS, JSON_FORMATS
from xray_tasks.settings import Settings

__all__ = ["Decision", "ImportPlan", "Part", "Request", "build_plan", "decide", "endpoint_path", "implied_templates",
           "unused_options"]

CONTENT_TYPES = {True: "application/json", False: "application/xml"}
#: how a dry run shows the key of the Test Execution that request 1 will create
FIRST_KEY = "<key created by request 1>"


@dataclass
class Request:
    """One HTTP request to send, as data: the transport opens the report files it names for each attempt."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    json: Any = None
    files: list[tuple[str, tuple[str, bytes | str, str]]] = field(default_factory=list)  # str: a file path
    path: str | None = None  # a raw body streamed from this file

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc


@dataclass(frozen=True)
class Decision:
    """Standard or multipart, and why (each note is told to the user)."""

    multipart: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Part:
    """One multipart part: the report file (``path``) or rendered JSON (``data``)."""

    name: str
    filename: str
    content_type: str
    path: Path | None = None
    data: bytes | None = None


@dataclass(frozen=True)
class ImportPlan:
    """Everything needed to send one import request, and to show it in a dry run."""

    deployment: str
    format: str
    detected: bool
    endpoint: str  # path below the base URL
    query: Mapping[str, str]
    report: Path
    multipart: bool
    content_type: str | None = None  # raw body only
    document: Mapping[str, Any] | None = None  # Xray JSON with the options written in; else the file is sent
    parts: tuple[Part, ...] = ()
    rendered: Mapping[str, Any] = field(default_factory=dict)  # part name -> parsed JSON
    notes: tuple[str, ...] = ()
    creates_execution: bool = True
    test_exec_key: str | None = None
    sources: tuple[Path, ...] = ()  # the original reports when ``report`` is a merge of several
    follower: bool = False  # imports into the Test Execution the run's first request creates
    rewritten: bool = False  # the body is the report(s) with changes (map, evidence, reruns) written in

    @property
    def body(self) -> bytes | None:
        """The raw body when it is not the report file as it is (Xray JSON rewritten with the options)."""
        return _dump(self.document) if self.document is not None else None

    @property
    def bound(self) -> bool:
        return not self.follower or self.test_exec_key is not None

    def bind(self, key: str) -> ImportPlan:
        """This follower, aimed at ``key`` (the Test Execution the first request created)."""
        if not self.follower:
            raise ValueError("only a follower plan imports into a key it learns later")
        if self.document is not None:
            return replace(self, test_exec_key=key, document={**self.document, "testExecutionKey": key})
        if self.format == "xray":
            raise ValueError("an Xray JSON follower carries its document")
        return replace(self, test_exec_key=key, query={**self.query, "testExecKey": key})

    @property
    def files(self) -> tuple[Path, ...]:
        return self.sources or (self.report,)

    @property
    def label(self) -> str:
        """What the request carries, for messages: ``junit.xml``, ``50 JUnit XML reports``, ``part of big.xml``."""
        if len(self.files) > 1:
            return f"{len(self.files)} {FORMAT_LABELS[self.format]} reports"
        if self.files[0] == self.report or self.rewritten:
            return self.files[0].name
        return f"part of {self.files[0].name}"

    def url(self, base_url: str) -> str:
        query = dict(self.query)
        if not self.bound and self.format != "xray":
            query["testExecKey"] = FIRST_KEY
        shown = f"?{urlencode(query)}" if query else ""
        return f"{base_url}{self.endpoint}{shown}"

    def request(self, base_url: str) -> Request:
        """The HTTP request (report files are named, not opened: the transport streams them)."""
        if not self.bound:
            raise ValueError("a follower must be bound to the first request's key before it is sent")
        url = self.url(base_url)
        if not self.multipart:
            headers = {"Content-Type": self.content_type or "application/octet-stream"}
            if self.document is not None:
                return Request("POST", url, headers=headers, content=self.body)
            return Request("POST", url, headers=headers, path=str(self.report))
        files: list[tuple[str, tuple[str, bytes | str, str]]] = [
            (p.name, (p.filename, p.data if p.data is not None else str(p.path), p.content_type)) for p in self.parts]
        return Request("POST", url, files=files)

    def describe(self, base_url: str, auth: str) -> str:
        """Human-readable request, as a dry run prints it; the credential is always redacted."""
        lines = [f"POST {self.url(base_url)}", f"  Authorization: {auth} <redacted>"]
        label = f"{FORMAT_LABELS[self.format]}{', detected from content' if self.detected else ''}"
        if not self.multipart:
            lines.append(f"  Content-Type: {self.content_type}")
            how = "rewritten in memory with the options above" if self.document is not None else "streamed"
            lines.append(f"  body: {self._what()} ({label}; {how})")
            if self.document is not None:  # show what the options changed
                merged = dict(self.document)
                if not self.bound:
                    merged["testExecutionKey"] = FIRST_KEY
                shown = {k: merged[k] for k in ("testExecutionKey", "info") if k in merged}
                lines.append("  --- in the report ---")
                lines.extend("  " + line for line in json.dumps(shown, indent=2, ensure_ascii=False).splitlines())
        else:
            lines.append("  Content-Type: multipart/form-data")
            for part in self.parts:
                what = self._what() if part.path else f"{part.filename}, rendered"
                lines.append(f"  part {part.name!r}: {what} ({part.content_type})")
            for name, data in self.rendered.items():
                lines.append(f"  --- {name} ---")
                lines.extend("  " + line for line in json.dumps(data, indent=2, ensure_ascii=False).splitlines())
        lines.append("  creates a new Test Execution" if self.creates_execution
                     else f"  imports into {self.test_exec_key or 'the Test Execution request 1 creates'}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def _what(self) -> str:
        if not self.sources or self.sources == (self.report,):
            return str(self.report)
        if len(self.sources) == 1 and self.rewritten:
            return f"{self.sources[0]}, rewritten"
        if len(self.sources) == 1:
            return f"{self.sources[0]} (a part of it, cut between test suites)"
        return f"{len(self.sources)} reports merged: {some(self.sources)}"

    def to_dict(self, base_url: str) -> dict[str, Any]:
        return {
            "method": "POST", "url": self.url(base_url), "endpoint": self.endpoint, "query": dict(self.query),
            "format": self.format, "detected": self.detected, "files": [str(p) for p in self.files],
            "multipart": self.multipart, "content_type": self.content_type,
            "parts": [{"name": p.name, "filename": p.filename, "content_type": p.content_type} for p in self.parts],
            "rendered": dict(self.rendered), "notes": list(self.notes),
            "creates_execution": self.creates_execution, "test_exec_key": self.test_exec_key,
            "into_first_request": self.follower,
        }


def endpoint_path(api_path: str, fmt: str, multipart: bool) -> str:
    """``/api/v2/import/execution/junit/multipart`` and the like, under :attr:`Settings.api_path`."""
    fmt_path = "" if fmt == "xray" else f"/{fmt}"
    return f"{api_path}/import/execution{fmt_path}{'/multipart' if multipart else ''}"


def _execution_options(s: Settings) -> list[str]:
    named = [("test plan", s.test_plan_key), ("test environments", s.test_environments),
             ("revision", s.revision), ("fix version", s.fix_version)]
    return [name for name, value in named if value]


def decide(s: Settings, fmt: str, *, multipart: bool = False, templates: bool = False,
           variables: bool = False, implied: str | None = None, follower: bool = False) -> Decision:
    """Choose standard or multipart; refuse combinations the API cannot do, with the reason.

    ``multipart`` is the user's ``--multipart``; ``templates`` and ``variables`` say whether they gave
    ``--info-template``/``--test-info-template`` or ``--var`` (only multipart uses them). ``implied``
    names template settings from the environment, ``.env`` or ``invoke.yaml`` (``XRAY_VAR_*``,
    ``XRAY_TEMPLATE_DIR``): they choose multipart too, except when importing into an existing Test
    Execution, where they are left unused with a note. A ``follower`` imports into the Test Execution
    the run's first request creates: always the standard endpoint, which can.
    """
    if follower:
        if fmt in ("cucumber", "behave"):
            raise SettingsError(f"cannot import {FORMAT_LABELS[fmt]} into the Test Execution another request "
                                "creates: Xray's endpoints for it take no testExecKey",
                                "import the Cucumber/Behave reports in a run of their own")
        return Decision(multipart=False)
    notes: list[str] = []
    want = multipart
    if not want and (templates or variables):
        want = True
        notes.append("using the multipart endpoint because templates/--var only apply to it")
    if not want and implied:
        if s.test_exec_key:
            notes.append(f"{implied} not used: importing into {s.test_exec_key} goes through the standard "
                         "endpoint, which takes no templates")
        else:
            want = True
            notes.append(f"using the multipart endpoint: only it uses {implied}")
    if fmt in ("cucumber", "behave"):
        if s.test_exec_key:
            raise SettingsError(
                f"cannot import {FORMAT_LABELS[fmt]} into the existing Test Execution {s.test_exec_key}: "
                f"Xray's {fmt} endpoints take no testExecKey and multipart always creates a new one",
                "drop --test-exec / XRAY_TEST_EXEC_KEY, or convert the results to Xray JSON")
        carried = _execution_options(s)
        if carried and not want:
            want = True
            notes.append(f"using the multipart endpoint because the standard {fmt} endpoint cannot carry "
                         f"the {', '.join(carried)}")
    if want and s.test_exec_key:
        raise SettingsError(
            f"cannot import into the existing Test Execution {s.test_exec_key} with multipart: "
            "Xray's multipart endpoints always create a new Test Execution",
            "drop --multipart, templates and --var to import into it, or drop --test-exec")
    if want:
        if not s.project_key:
            raise SettingsError("no project key for the new Test Execution",
                                "set XRAY_PROJECT_KEY or pass --project KEY")
        if s.deployment == "server":
            if s.test_plan_key and not s.server_test_plan_field:
                raise SettingsError(
                    "a test plan was asked for, but Server/DC multipart needs the Test Plan custom field id",
                    "set XRAY_SERVER_TEST_PLAN_FIELD (e.g. customfield_11807; see GET /rest/api/2/field)")
            if s.test_environments and not s.server_environments_field:
                raise SettingsError(
                    "test environments were asked for, but Server/DC multipart needs their custom field id",
                    "set XRAY_SERVER_ENVIRONMENTS_FIELD (e.g. customfield_11805; see GET /rest/api/2/field)")
        if s.deployment == "cloud" and s.revision:
            notes.append("Xray Cloud's multipart info has no revision field: the default template writes "
                         "the revision into the description")
    elif fmt not in JSON_FORMATS and not (s.project_key or s.test_exec_key):
        raise SettingsError("no project key and no Test Execution key",
                            "set XRAY_PROJECT_KEY (or --project KEY), or XRAY_TEST_EXEC_KEY to import into one")
    elif fmt == "xray" and not s.project_key and not s.test_exec_key:
        notes.append("no project key given: the report's own info.project (if any) is used")
    return Decision(multipart=want, notes=tuple(notes))


def implied_templates(s: Settings) -> str | None:
    """Template settings that did not come from flags, as a note names them; None when there are none."""
    named = [f"template variables ({', '.join(sorted(s.variables))})"] if s.variables else []
    if s.template_dir:
        named.append(f"XRAY_TEMPLATE_DIR={s.template_dir}")
    return " and ".join(named) or None


def build_plan(s: Settings, report: Path, fmt: str, decision: Decision, *, detected: bool = False,
               info: Mapping[str, Any] | None = None, test_info: Mapping[str, Any] | None = None,
               xray_report: Mapping[str, Any] | None = None, sources: tuple[Path, ...] = (),
               follower: bool = False) -> ImportPlan:
    """Assemble the request. ``xray_report`` is the parsed Xray JSON when options must go inside it;
    ``follower`` plans a request into the Test Execution the run's first request creates."""
    is_json = fmt in JSON_FORMATS
    endpoint = endpoint_path(s.api_path, fmt, decision.multipart)
    notes = list(decision.notes)
    if decision.multipart:
        if info is None:
            raise ValueError("a multipart plan needs the rendered info")
        # Cloud names the report part "results"; Server "result" for JSON formats and "file" for XML.
        report_part = "results" if s.is_cloud else ("result" if is_json else "file")
        parts = [Part(report_part, report.name, CONTENT_TYPES[is_json], path=report),
                 Part("info", "info.json", "application/json", data=_dump(info))]
        notes += unused_options(s, info)
        rendered: dict[str, Any] = {"info": info}
        if test_info is not None:
            parts.append(Part("testInfo", "testInfo.json", "application/json", data=_dump(test_info)))
            rendered["testInfo"] = test_info
        return ImportPlan(s.deployment, fmt, detected, endpoint, {}, report, multipart=True, parts=tuple(parts),
                          rendered=rendered, notes=tuple(notes), creates_execution=True, sources=sources)

    exec_key = s.test_exec_key
    if is_json:
        document = None
        if fmt == "xray" and xray_report is not None:
            merged, changed = merge_xray_options(s, xray_report, follower=follower)
            if changed:
                document = merged
                notes.append(f"set {', '.join(changed)} inside the Xray JSON (its endpoint takes no query "
                             "parameters)")
            exec_key = exec_key or (str(merged["testExecutionKey"]) if merged.get("testExecutionKey") else None)
        elif fmt != "xray":
            exec_key = None
        return ImportPlan(s.deployment, fmt, detected, endpoint, {}, report, multipart=False,
                          content_type="application/json", document=document, notes=tuple(notes),
                          creates_execution=not (exec_key or follower), test_exec_key=exec_key, sources=sources,
                          follower=follower)

    query = standard_query(s)
    parts_: tuple[Part, ...] = ()
    if not s.is_cloud:
        parts_ = (Part("file", report.name, "application/xml", path=report),)
    return ImportPlan(s.deployment, fmt, detected, endpoint, query, report, multipart=not s.is_cloud,
                      content_type=None if parts_ else "application/xml", parts=parts_, notes=tuple(notes),
                      creates_execution=not (exec_key or follower), test_exec_key=exec_key, sources=sources,
                      follower=follower)


def unused_options(s: Settings, info: Mapping[str, Any]) -> list[str]:
    """Notes for options the rendered ``info`` leaves out (a custom template that ignores them), so no
    option is dropped without a word."""
    fields = _mapping(info.get("fields"))
    if s.deployment == "cloud":
        xray = _mapping(info.get("xrayFields"))
        plan, envs = xray.get("testPlanKey"), xray.get("environments")
        plan_at, envs_at = "xrayFields.testPlanKey", "xrayFields.environments"
    else:
        plan = fields.get(s.server_test_plan_field) if s.server_test_plan_field else None
        envs = fields.get(s.server_environments_field) if s.server_environments_field else None
        plan_at, envs_at = f"fields.{s.server_test_plan_field}", f"fields.{s.server_environments_field}"
    notes = []
    if s.test_plan_key and s.test_plan_key not in (plan if isinstance(plan, list) else [plan]):
        notes.append(f"the rendered info has no test plan {s.test_plan_key} at {plan_at}: the template ignores it")
    if s.test_environments and not set(s.test_environments) <= set(envs if isinstance(envs, list) else []):
        notes.append(f"the rendered info lacks test environments {';'.join(s.test_environments)} at {envs_at}: "
                     "the template ignores them")
    listed = fields.get("fixVersions")
    versions: list[Any] = listed if isinstance(listed, list) else []
    if s.fix_version and not any(isinstance(v, Mapping) and v.get("name") == s.fix_version for v in versions):
        notes.append(f"the rendered info has no fix version {s.fix_version} in fields.fixVersions: the template "
                     "ignores it")
    return notes


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def standard_query(s: Settings) -> dict[str, str]:
    """Query parameters of the standard XML endpoints (names are case-sensitive)."""
    query = {"projectKey": s.project_key, "testExecKey": s.test_exec_key, "testPlanKey": s.test_plan_key,
             "testEnvironments": ";".join(s.test_environments) or None, "revision": s.revision,
             "fixVersion": s.fix_version}
    return {k: v for k, v in query.items() if v}


def merge_xray_options(s: Settings, report: Mapping[str, Any], *, follower: bool = False
                       ) -> tuple[dict[str, Any], list[str]]:
    """Put the options into an Xray JSON report (options win over the report's own values); a follower's
    ``testExecutionKey`` is written when it is bound."""
    merged = dict(report)
    changed: list[str] = []
    if follower:
        changed.append("testExecutionKey")
    elif s.test_exec_key and merged.get("testExecutionKey") != s.test_exec_key:
        merged["testExecutionKey"] = s.test_exec_key
        changed.append("testExecutionKey")
    info = dict(merged.get("info") or {})
    wanted = {"project": s.project_key, "testPlanKey": s.test_plan_key,
              "testEnvironments": list(s.test_environments) or None, "revision": s.revision,
              "version": s.fix_version}
    for key, value in wanted.items():
        if value and info.get(key) != value:
            info[key] = value
            changed.append(f"info.{key}")
    if info and not info.get("summary") and not merged.get("testExecutionKey") and not follower:
        # Xray needs a summary once "info" creates the Test Execution; the report had none.
        info["summary"] = "Execution results imported by xray-tasks"
        changed.append("info.summary")
    if info:
        merged["info"] = info
    return merged, changed


def _dump(data: Mapping[str, Any] | None) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")
