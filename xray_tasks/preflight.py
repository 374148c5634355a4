"""Before ``ci`` runs the tests: check everything the import after them will need that can be checked now.

A missing secret, a malformed setting or a broken template must be found in seconds, not after a
20-minute suite. :func:`preflight` checks, in order, and raises the error the import would have raised:

1. a report to import is configured (``--report`` / ``XRAY_REPORT``): the files do not exist yet;
2. the credentials are set, and the HTTP client can be built (plain ``http://`` off this machine, a CA
   bundle that does not load);
3. the import's shape: standard or multipart, refusing what Xray cannot do, as the import will decide it
   (for ``--format auto`` as for an XML report);
4. when the import will be multipart, both templates render, with a placeholder report and run;
5. authentication: one request, or none when the token cache holds a valid token (which the import then
   reuses); on Server/DC one ``GET /rest/api/2/myself``. Refused credentials (15) or an answer that is not
   Xray's (16) stop ``ci`` before the tests; Xray being unreachable (17) is a warning — the tests still
   run and the import tries again, with its retries, after them. Only one attempt is made here.
"""

from __future__ import annotations

import time
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from xray_tasks.auth import cloud_credentials, server_auth
from xray_tasks.console import err
from xray_tasks.errors import SettingsError, XrayUnavailableError
from xray_tasks.formats import STATUSES
from xray_tasks.importer import ImportOptions
from xray_tasks.plan import decide, implied_templates
from xray_tasks.runrecord import RunRecord
from xray_tasks.settings import Settings
from xray_tasks.templating import build_context, find_template, render_template

__all__ = ["placeholder_report", "placeholder_run", "preflight"]


def placeholder_report() -> Any:
    """What templates see as ``report`` before any report exists (a JUnit file with no tests)."""
    return SimpleNamespace(format="junit", formats=["junit"], format_label="JUnit XML", file="report.xml",
                           name="report.xml", files=["report.xml"], count=1, tests=0,
                           totals=dict.fromkeys(STATUSES, 0))


def placeholder_run(command: str | None, reports: tuple[str, ...]) -> dict[str, Any]:
    """What templates see as ``run`` before the tests ran: a finished, passing run of ``command``."""
    now = time.time()
    return RunRecord(command=command or "", started=now, finished=now, exit_code=0, reports=reports,
                     state="finished").template_vars()


def preflight(s: Settings, options: ImportOptions, *, command: str | None = None) -> None:
    """Raise what the import after the tests would raise, as far as it can be known before them."""
    if not s.report:
        raise SettingsError("ci: no report to import after the tests",
                            "pass --report PATH (where the tests write their reports; a folder or a glob works) "
                            "or set XRAY_REPORT")
    if s.is_cloud:
        cloud_credentials(s)
    else:
        server_auth(s)
    fmt = s.report_format if s.report_format != "auto" else "junit"
    decision = decide(s, fmt, multipart=options.multipart,
                      templates=bool(options.info_template or options.test_info_template),
                      variables=options.cli_vars, implied=None if options.cli_vars else implied_templates(s))
    if decision.multipart:
        context = build_context(s, report=placeholder_report(), run=placeholder_run(command or s.test_command,
                                                                                     s.report))
        for part, explicit in (("info", options.info_template), ("testInfo", options.test_info_template)):
            render_template(find_template(s, part, explicit), part, context, s.deployment)
    _authenticate(s)


def _authenticate(s: Settings) -> None:
    """One attempt at authenticating (Cloud, a cached token reused) or at reading the user (Server/DC)."""
    from xray_tasks.client import XrayClient

    once = replace(s, max_retries=0)
    with XrayClient(once, log=err) as client:
        try:
            if once.is_cloud:
                client.authenticate()
            else:
                client.whoami()
        except XrayUnavailableError as exc:
            err(f"xray-tasks: warning: checked before the tests: {exc}; the tests run anyway and the import "
                "tries again after them")
