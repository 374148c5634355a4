"""``import-features``: turn ``.feature`` files into Xray Tests and Preconditions (contract §13).

:func:`plan_features` finds and packs the files (:mod:`~xray_tasks.featurefiles`), renders the optional
``testInfo`` / ``precondInfo`` JSON with the templates' machinery (:mod:`~xray_tasks.templating`) and builds
the request, refusing what the deployment cannot do — all before anything is sent:

=====================  ==========================================  ============================================
                       Xray Cloud                                  Xray Server/DC
=====================  ==========================================  ============================================
endpoint               ``POST /api/v2/import/feature``             ``POST /rest/raven/2.0/import/feature``
query                  ``projectKey``, ``source`` (``--source``)   ``projectKey``, ``updateRepository=true``
                                                                   (``--update-repository``)
parts                  ``file``, ``testInfo``, ``precondInfo``     ``file``, ``testInfo``, ``preCondInfo``
=====================  ==========================================  ============================================

``--update-repository`` on Cloud and ``--source`` on Server/DC are refused: the other deployment has no
such parameter, and sending it would fail or be ignored without a word. :func:`import_features_step`
sends the request (once more on a dropped connection or 5xx: a re-import updates the Tests the first one
made, as Xray matches them by key, path and name), prints the Tests and Preconditions Xray created or
updated — with their scenario's name when a key tag in the files names them — and every per-file error.
It fails (exit 16) when Xray imported nothing or refused any file; ``--on-error warn`` turns Xray's
refusals and outages into a warning, never a mistake in the command or the files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from xray_tasks.answers import FeaturesImported, IssueRef, Kind, feature_import_refusal, features_imported
from xray_tasks.console import Console, err
from xray_tasks.errors import SettingsError, TemplateError, XrayRejectedError, XrayTasksError
from xray_tasks.featurefiles import FeatureSet, Upload, find_features, pack
from xray_tasks.featurepreview import FilePreview, preview
from xray_tasks.merge import ScratchFolder
from xray_tasks.plan import Request
from xray_tasks.settings import Settings
from xray_tasks.templating import build_context, render_template
from xray_tasks.workflow import only_warns

__all__ = ["FeatureOptions", "FeaturePlan", "import_features_step", "plan_features"]

ACTION = "import features"
#: the info parts' names per deployment: (Tests, Preconditions)
PART_NAMES = {"cloud": ("testInfo", "precondInfo"), "server": ("testInfo", "preCondInfo")}


@dataclass(frozen=True)
class FeatureOptions:
    """What the user asked ``import-features`` for, beyond the settings."""
    patterns: tuple[str, ...]
    source: str | None = None
    update_repository: bool = False
    test_info_template: str | None = None
    precondition_info_template: str | None = None


@dataclass(frozen=True)
class FeaturePlan:
    """The feature import request, and what a dry run shows of it."""
    endpoint: str
    query: dict[str, str]
    features: FeatureSet
    upload: Upload
    #: part name -> (template file, rendered JSON)
    rendered: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)

    def url(self, base_url: str) -> str:
        return f"{base_url}{self.endpoint}?{urlencode(self.query)}"

    def request(self, base_url: str) -> Request:
        files: list[tuple[str, tuple[str, bytes | str, str]]] = [
            ("file", (self.upload.filename, self.upload.payload, self.upload.content_type))]
        files += [(part, (f"{part}.json", json.dumps(data, ensure_ascii=False).encode(), "application/json"))
                  for part, (_, data) in self.rendered.items()]
        return Request("POST", self.url(base_url), files=files)

    def describe(self, base_url: str, auth_scheme: str) -> list[str]:
        n = len(self.features.files)
        what = (f"{self.upload.filename}, {n} feature file{'s' if n > 1 else ''} zipped" if self.upload.zipped
                else str(self.features.files[0].path))
        lines = [f"POST {self.url(base_url)}", f"  Authorization: {auth_scheme} <redacted>",
                 "  Content-Type: multipart/form-data",
                 f"  part 'file': {what} ({self.upload.content_type}, {self.upload.size:,} bytes)"]
        for part, (source, data) in self.rendered.items():
            lines.append(f"  part {part!r}: rendered from {source}")
            lines += ["    " + line for line in json.dumps(data, indent=2, ensure_ascii=False).splitlines()]
        return lines

    def to_dict(self, base_url: str) -> dict[str, Any]:
        return {"method": "POST", "url": self.url(base_url), "endpoint": self.endpoint, "query": dict(self.query),
                "parts": [{"name": "file", "filename": self.upload.filename,
                           "content_type": self.upload.content_type, "size": self.upload.size}]
                + [{"name": part, "filename": f"{part}.json", "content_type": "application/json"}
                   for part in self.rendered],
                "rendered": {part: data for part, (_, data) in self.rendered.items()},
                "files": [f.name for f in self.features.files], "root": str(self.features.root)}


def _check_options(s: Settings, options: FeatureOptions) -> None:
    if not s.project_key:
        raise SettingsError("no project key for the feature import", "set XRAY_PROJECT_KEY or pass --project KEY")
    if s.is_cloud and options.update_repository:
        raise SettingsError("--update-repository is Xray Server/DC's: Xray Cloud's feature import has no such "
                            "parameter", "leave --update-repository out on Cloud (or set XRAY_DEPLOYMENT=server "
                            "for a Server/DC Jira)")
    if not s.is_cloud and options.source is not None:
        raise SettingsError("--source is Xray Cloud's: Xray Server/DC's feature import takes no source and matches "
                            "Tests by the files' paths", "leave --source out on Server/DC")
    if options.source is not None and not options.source.strip():
        raise SettingsError("--source was given an empty name", "name where the features come from, e.g. the "
                            "repository: --source calc-app (keep it the same on every import)")


def _render(s: Settings, part: str, explicit: str, flag: str, features: FeatureSet) -> tuple[str, dict[str, Any]]:
    """A ``testInfo`` / ``precondInfo`` template rendered, parsed and checked (templates' rules)."""
    path = Path(explicit).expanduser()
    if not path.is_file():
        raise TemplateError(f"template {explicit} not found", f"check the path given to {flag}")
    names = [f.name for f in features.files]
    report = SimpleNamespace(format="feature", format_label="Cucumber features", file=names[0], name=names[0],
                             files=names, count=len(names))
    rendered = render_template(path, part, build_context(s, report=report), s.deployment)
    return str(path), rendered.data


def plan_features(s: Settings, options: FeatureOptions, scratch: ScratchFolder) -> FeaturePlan:
    """Check the options, find and pack the features, render the templates; nothing is sent."""
    _check_options(s, options)
    features = find_features(options.patterns)
    upload = pack(features, scratch, int(s.max_request_mb * 2**20))
    assert s.project_key is not None
    query = {"projectKey": s.project_key}
    if s.is_cloud and options.source:
        query["source"] = options.source.strip()
    if not s.is_cloud and options.update_repository:
        query["updateRepository"] = "true"
    tests_part, preconditions_part = PART_NAMES[s.deployment]
    rendered: dict[str, tuple[str, dict[str, Any]]] = {}
    if options.test_info_template:
        rendered[tests_part] = _render(s, tests_part, options.test_info_template, "--test-info-template", features)
    if options.precondition_info_template:
        rendered[preconditions_part] = _render(s, preconditions_part, options.precondition_info_template,
                                               "--precondition-info-template", features)
    return FeaturePlan(f"{s.api_path}/import/feature", query, features, upload, rendered)


def _summaries(previews: Sequence[FilePreview]) -> dict[str, str]:
    """Issue key -> the scenario or Background whose key tag names it."""
    return {key: item.name for p in previews for item in p.items for key in item.keys if item.name}


def _refs(refs: Sequence[IssueRef], names: dict[str, str]) -> list[dict[str, Any]]:
    return [{"key": r.key, "id": r.id, **({"summary": names[r.key]} if r.key in names else {})} for r in refs]


def _show(console: Console, plan: FeaturePlan, done: FeaturesImported, names: dict[str, str], project: str) -> None:
    n = len(plan.features.files)
    counts = (f"{len(done.tests)} Test{'s' if len(done.tests) != 1 else ''}, {len(done.preconditions)} "
              f"Precondition{'s' if len(done.preconditions) != 1 else ''}")
    console.result(f"Imported {n} feature file{'s' if n > 1 else ''} into {project}: {counts} created or updated")
    rows = [("Test", r) for r in done.tests] + [("Precondition", r) for r in done.preconditions]
    for kind, ref in rows:
        console.result(f"  {kind:<12}  {ref.key}" + (f"  {names[ref.key]}" if ref.key in names else ""))
    for problem in done.errors:
        console.result(f"  error: {problem}")


def _outcome_error(done: FeaturesImported, files: int) -> XrayRejectedError | None:
    """The failure a 200 may still be: nothing imported, or files Xray refused."""
    if done.errors:
        more = f" (and {len(done.errors) - 1} more, listed above)" if len(done.errors) > 1 else ""
        return XrayRejectedError(f"{ACTION}: Xray reported {len(done.errors)} problem"
                                 f"{'s' if len(done.errors) > 1 else ''} with the feature files: "
                                 f"{done.errors[0]}{more}",
                                 "fix the files named and import again; --dry-run shows what each scenario maps to")
    if not done.tests and not done.preconditions:
        return XrayRejectedError(f"{ACTION}: Xray imported nothing from the {files} feature file"
                                 f"{'s' if files > 1 else ''}",
                                 "check that the files hold Scenarios (--dry-run lists them)")
    return None


def import_features_step(s: Settings, options: FeatureOptions, *, as_json: bool = False,
                         dry_run: bool = False) -> FeaturesImported | None:
    """Plan, send (or show) the feature import, print what Xray did and return it (None on a dry run); raise
    our error on failure, or with XRAY_ON_ERROR=warn, for Xray's refusals and outages, only warn (None)."""
    from xray_tasks.client import XrayClient

    console = Console(as_json=as_json)
    for note in s.notes:
        console.say(f"note: {note}")
    with ScratchFolder() as scratch:
        plan = plan_features(s, options, scratch)
        previews = preview(plan.features, s.cucumber_test_prefix, s.cucumber_precondition_prefix)
        if dry_run:
            _show_dry_run(console, s, plan, previews)
            return None
        if plan.upload.zipped:
            console.say(f"zipped {len(plan.features.files)} feature files from {plan.features.root}")
        names = _summaries(previews)
        data: dict[str, Any] = {"project": s.project_key, "endpoint": plan.endpoint,
                                "files": [f.name for f in plan.features.files]}
        try:
            with XrayClient(s, log=err) as client:
                done = features_imported(client.exchange(plan.request(s.base_url), action=ACTION, kind=Kind.UPDATE,
                                                         authorized=True).answer, ACTION)
            data |= {"tests": _refs(done.tests, names), "preconditions": _refs(done.preconditions, names),
                     "errors": list(done.errors)}
            if not as_json:
                _show(console, plan, done, names, str(s.project_key))
            failure = _outcome_error(done, len(plan.features.files))
            if failure is not None:
                raise failure
        except XrayTasksError as exc:
            error = feature_import_refusal(exc, test_prefix=s.cucumber_test_prefix,
                                           precondition_prefix=s.cucumber_precondition_prefix)
            _failed(s, console, data, error)
            return None
    if as_json:
        console.data(data)
    return done


def _failed(s: Settings, console: Console, data: dict[str, Any], error: XrayTasksError) -> None:
    """--json still prints its object, with the error; then the error is raised, or with XRAY_ON_ERROR=warn
    (for Xray's refusals and outages) only told."""
    warn = only_warns(s, error)
    if console.as_json:
        console.data({**data, "error": str(error), "exit_code": 0 if warn else error.exit_code})
    if not warn:
        raise error
    console.warn(f"feature import failed (XRAY_ON_ERROR=warn): {error}")


def _show_dry_run(console: Console, s: Settings, plan: FeaturePlan, previews: Sequence[FilePreview]) -> None:
    if console.as_json:
        console.data({"dry_run": True, "request": plan.to_dict(s.base_url),
                      "features": [p.to_dict() for p in previews]})
        return
    console.result("request:")
    for line in plan.describe(s.base_url, s.auth_scheme):
        console.result(f"  {line}")
    console.result(f"feature files (names relative to {plan.features.root}):")
    for p in previews:
        for line in p.lines():
            console.result(f"  {line}")
    console.result("  (a scenario without a key tag updates the Test Xray finds by the file's path and the "
                   "scenario's name, else it becomes a new Test; a Background likewise)")
    console.result("dry run: nothing was sent")
