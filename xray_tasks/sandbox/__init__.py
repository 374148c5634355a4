"""The sandbox: a local, faithful stand-in for Xray's import API, Cloud and Server/Data Center dialects.

Use it from tests (``with Sandbox() as sb: ... sb.url ... sb.store.executions()``), from the command line
(``python -m xray_tasks.sandbox --port 0``, or ``inv xray.sandbox``) or through :func:`serve`.

What it speaks (the contract is docs/xray-api.md):

* Cloud, ``/api/v1`` and ``/api/v2`` — see :mod:`xray_tasks.sandbox.cloud`: ``/authenticate`` (JWT),
  every standard and multipart import endpoint, ``{"id", "key", "self"}`` answers.
* Server/DC, ``/rest/raven/1.0``, ``2.0``, ``latest`` — see :mod:`xray_tasks.sandbox.server_dc`: Basic or
  PAT auth, multipart ``file``/``result``, Test Plan/Environments custom fields, ``GET /rest/api/2/field``,
  ``/rest/api/2/myself`` and ``/rest/api/2/issue/<id|key>``.
* Cucumber features, both dialects — see :mod:`xray_tasks.sandbox.featureapi`: import ``.feature`` files
  or a zip of them into Cucumber Tests and Preconditions (``/import/feature``), export them back as
  ``.feature`` files (Cloud ``/export/cucumber``, Server ``/export/test``); tag prefixes are
  :class:`Config` settings.
* Read-back and up-front creation (contract §15, §16): Cloud GraphQL at ``/api/v1|v2/graphql`` — see
  :mod:`xray_tasks.sandbox.xray_graphql`; Server/DC ``api/testexec/<KEY>/test``, ``testruns``,
  ``api/testrun``, ``api/testplan/<KEY>/testexecution`` and Jira's ``POST /rest/api/2/issue`` — see
  :mod:`xray_tasks.sandbox.readback`.
* What reports say beyond statuses (contract §17: keys, requirements, labels, comments, evidence,
  defects, custom fields, iterations) is recorded per Test and per run — see
  :mod:`xray_tasks.sandbox.enrichment`. One run per (Test, Test Execution): worst result wins inside an
  import, the later import wins across imports.
* Validation like Xray's, with Xray's texts where they are known — every text is in
  :mod:`xray_tasks.sandbox.errors`; statuses and Test matching in :mod:`xray_tasks.sandbox.imports`.
* Its own JSON API under ``/sandbox`` — :mod:`xray_tasks.sandbox.readapi` and
  :mod:`xray_tasks.sandbox.issueapi` (requirements, saved filters, a Test's Gherkin).
* Web pages for a person at ``/`` (Test Executions with their runs, Tests, the request log) —
  :mod:`xray_tasks.sandbox.web` (templates and style sheet in ``pages/``), read by
  :mod:`xray_tasks.sandbox.webdata`.
* Fault injection (429, 503, latency, dropped connections, expired tokens, wrong region, accept without
  parsing, dropped runs) — :mod:`xray_tasks.sandbox.faults`.

Authentication errors (401, ``{"error": ...}``): bad client id/secret → "Authentication failed. Invalid
client credentials!"; no Authorization header → "Authentication failed. Missing 'Authorization: Bearer
<token>' header!"; forged/malformed token or Basic auth on Cloud → "Authentication failed. Invalid
token!"; expired or revoked token → "Authentication failed. Token has expired!"; Server without valid
Basic/PAT → "You are not authenticated. Authentication required to use this resource."

Run statuses (formats' normalised status → Cloud / Server; docs/statuses.md has every runner's values):
passed → PASSED / PASS, failed → FAILED / FAIL, aborted → ABORTED, skipped and todo → TODO; Xray JSON
statuses are kept as sent and must be the dialect's own (PASSED, FAILED, TODO, EXECUTING, ABORTED on
Cloud; PASS, FAIL, TODO, EXECUTING, ABORTED on Server).

Modules: ``app`` (Sandbox, serve), ``server`` (HTTP, routing, request log), ``bodies`` (Content-Length
and chunked bodies, spooling), ``multipart`` (streaming form-data), ``exchange`` (request/response
objects), ``cloud`` and ``server_dc`` (the two dialects' request shapes), ``issuedata`` (multipart
info/testInfo), ``imports`` (validation, Tests, runs), ``enrichment`` (what reports add to Tests and runs),
``featurezip`` (uploads and exported zips), ``features``
(feature import) and ``featureexport``, both with the Gherkin parser the client uses too
(:mod:`xray_tasks.gherkin`), ``featureapi`` (their endpoints), ``store`` and ``records`` (SQLite),
``graphql_syntax`` and ``graphql`` (the GraphQL language), ``xray_graphql`` (Xray's schema), ``jql``,
``jirafields``, ``statuses``, ``readback`` (Server read-back, Jira create, evidence downloads), ``tokens``
(JWT), ``faults``, ``readapi``, ``issueapi``, ``config``, ``errors``, ``web`` and ``webdata`` (the web
pages).
"""

from __future__ import annotations

from xray_tasks.sandbox.app import Sandbox, serve
from xray_tasks.sandbox.config import Config
from xray_tasks.sandbox.errors import ApiError
from xray_tasks.sandbox.faults import Faults
from xray_tasks.sandbox.store import Store

__all__ = ["ApiError", "Config", "Faults", "Sandbox", "Store", "serve"]
