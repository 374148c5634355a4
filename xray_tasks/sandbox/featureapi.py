"""The feature import and export endpoints of both dialects (contract §13-14): request shapes and answers.

Import (multipart: part ``file`` holding one ``.feature`` or a ``.zip``; optional ``testInfo`` and
``precondInfo`` — ``preCondInfo`` is accepted too, as xray-maven-plugin spells it for Server):

* Cloud ``POST /api/v1|v2/import/feature?projectKey=|projectId=[&source=]`` → 200
  ``{"updatedOrCreatedTests": [{id, key, self}], "updatedOrCreatedPreconditions": [...], "errors": [...]}``,
  each error ``Error in file <path>: <problem>``.
* Server ``POST /rest/raven/1.0|2.0|latest/import/feature?projectKey=[&updateRepository=true|false]`` → 200
  with an array ``[{id, key, self, issueType: {id, name}}]`` (Tests, then Preconditions, whose type is
  named "Pre-Condition"), or, when some file had problems, an object ``{"message": <problems, one per
  line>, "testIssues": [...], "preconditionIssues": [...]}``.
* Nothing imported (every file had a problem, or no file had a scenario): 400 ``{"error": "There are no
  valid tests imported"}`` on both (on Server this shape is an assumption); the problems are in the
  request log's ``note``.

Export (``keys`` separated by ``;`` or ``,`` and/or ``filter``, a saved filter's id — see
:mod:`xray_tasks.sandbox.featureexport` for what becomes which file):

* Cloud ``GET /api/v1|v2/export/cucumber`` → a zip (``application/zip``).
* Server ``GET /rest/raven/1.0|2.0|latest/export/test`` → a zip with ``fz=true``; without it, the plain
  ``.feature`` (``text/plain``) when there is one file, else a zip.
* Errors are 400 ``{"error": ...}``: no keys nor filter, an unknown key, an unknown filter ("Error fetching
  filter information", as observed), an issue type that cannot be exported, no Cucumber Test at all.

Every endpoint authenticates as its dialect does and refuses query parameters it does not take.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from xray_tasks.sandbox import cloud, errors, server_dc
from xray_tasks.sandbox.config import Runtime
from xray_tasks.sandbox.errors import ApiError
from xray_tasks.sandbox.exchange import Request, Response
from xray_tasks.sandbox.featureexport import export_features, split_keys
from xray_tasks.sandbox.features import FeatureImport, Imported, NothingImported, import_features
from xray_tasks.sandbox.featurezip import build_zip, read_upload
from xray_tasks.sandbox.imports import TestDefaults
from xray_tasks.sandbox.issuedata import load_json_part, test_defaults
from xray_tasks.sandbox.multipart import Part
from xray_tasks.sandbox.store import ISSUE_TYPES

__all__ = ["cloud_export", "cloud_import", "server_export", "server_import"]

_PARTS = ("file", "testInfo", "precondInfo", "preCondInfo")
_PARTS_DESCRIBED = "a part 'file' (a .feature or a .zip of them) and optionally 'testInfo' and 'precondInfo'"
#: how Server names the Precondition issue type
_SERVER_TYPE_NAMES = {"Precondition": "Pre-Condition"}


def _project(rt: Runtime, ref: str) -> str:
    row = rt.store.project(ref)
    if row is None:
        raise ApiError(400, errors.project_not_found(ref))
    return str(row["key"])


def _defaults(rt: Runtime, parts: dict[str, Part], *names: str) -> TestDefaults:
    for name in names:
        if name in parts:
            return test_defaults(rt, load_json_part(parts[name], name))
    return TestDefaults()


def _run(rt: Runtime, req: Request, job: FeatureImport) -> Imported:
    """Read the multipart body into ``job`` and import it; the outcome goes into the request log."""
    with req.body.spool() as spool:
        parts = req.parts(spool, _PARTS, _PARTS_DESCRIBED)
        try:
            if "file" not in parts:
                raise ApiError(400, errors.missing_part("file"))
            job.test_defaults = _defaults(rt, parts, "testInfo")
            job.precondition_defaults = _defaults(rt, parts, "precondInfo", "preCondInfo")
            job.files = read_upload(parts["file"].file, parts["file"].filename)
            try:
                done = import_features(rt, job)
            except NothingImported as exc:
                req.record["note"] = "; ".join(errors.in_file(p, m) for p, m in exc.problems) or "no scenarios"
                raise
        finally:
            for part in parts.values():
                part.close()
    req.record["note"] = (f"{len(job.files)} file(s): {len(done.tests)} Test(s), "
                          f"{len(done.preconditions)} Precondition(s), {len(done.errors)} file error(s)")
    return done


def _ref(rt: Runtime, row: sqlite3.Row) -> dict[str, str]:
    return {"id": str(row["id"]), "key": row["key"], "self": rt.issue_self(row["id"])}


def _server_ref(rt: Runtime, row: sqlite3.Row) -> dict[str, Any]:
    return {**_ref(rt, row), "issueType": {"id": ISSUE_TYPES[row["type"]],
                                           "name": _SERVER_TYPE_NAMES.get(row["type"], row["type"])}}


def cloud_import(rt: Runtime, req: Request) -> Response:
    """``POST /api/v1|v2/import/feature``."""
    cloud.authorize_api(rt, req)
    cloud.check_query(req, ("projectKey", "projectId", "source"))
    ref = req.param("projectKey") or req.param("projectId")
    if ref is None:
        raise ApiError(400, errors.FEATURE_PROJECT_REQUIRED)
    job = FeatureImport(dialect="cloud", project=_project(rt, ref), files=[], source=req.param("source"))
    done = _run(rt, req, job)
    return Response(200, {"updatedOrCreatedTests": [_ref(rt, t) for t in done.tests],
                          "updatedOrCreatedPreconditions": [_ref(rt, p) for p in done.preconditions],
                          "errors": [errors.in_file(path, message) for path, message in done.errors]})


def server_import(rt: Runtime, req: Request) -> Response:
    """``POST /rest/raven/1.0|2.0|latest/import/feature``."""
    server_dc.authorize(rt, req)
    cloud.check_query(req, ("projectKey", "updateRepository"))
    ref = req.param("projectKey")
    if ref is None:
        raise ApiError(400, errors.FEATURE_PROJECT_KEY_REQUIRED)
    mirror = (req.param("updateRepository") or "false").lower()
    if mirror not in ("true", "false"):
        raise ApiError(400, errors.UPDATE_REPOSITORY_INVALID)
    job = FeatureImport(dialect="server", project=_project(rt, ref), files=[], update_repository=mirror == "true")
    done = _run(rt, req, job)
    tests = [_server_ref(rt, t) for t in done.tests]
    preconditions = [_server_ref(rt, p) for p in done.preconditions]
    if not done.errors:
        return Response(200, tests + preconditions)
    return Response(200, {"message": "\n".join(message for _, message in done.errors), "testIssues": tests,
                          "preconditionIssues": preconditions})


def _export(rt: Runtime, req: Request, *, cloud_names: bool) -> list[tuple[str, str]]:
    cloud.check_query(req, ("keys", "filter", "fz"))
    files = export_features(rt, split_keys(req.param("keys")), req.param("filter"), cloud=cloud_names)
    req.record["note"] = f"{len(files)} feature file(s)"
    return files


def _zip(files: list[tuple[str, str]]) -> Response:
    return Response(200, build_zip(files), {"Content-Disposition": 'attachment; filename="features.zip"'},
                    content_type="application/zip")


def cloud_export(rt: Runtime, req: Request) -> Response:
    """``GET /api/v1|v2/export/cucumber``."""
    cloud.authorize_api(rt, req)
    return _zip(_export(rt, req, cloud_names=True))


def server_export(rt: Runtime, req: Request) -> Response:
    """``GET /rest/raven/1.0|2.0|latest/export/test``."""
    server_dc.authorize(rt, req)
    fz = (req.param("fz") or "false").lower()
    if fz not in ("true", "false"):
        raise ApiError(400, errors.FZ_INVALID)
    files = _export(rt, req, cloud_names=False)
    if fz == "true" or len(files) != 1:
        return _zip(files)
    name, text = files[0]
    return Response(200, text.encode("utf-8"), {"Content-Disposition": f'attachment; filename="{name}"'},
                    content_type="text/plain; charset=utf-8")
