"""The sandbox's web pages: what it recorded, for a person with a browser (the JSON API is for programs).

==========================  =======================================================================
``GET /``                   the Test Executions, newest first: key, summary, created, a bar and counts
                            per status, Test Plans, environments. It reloads itself every
                            :data:`REFRESH_SECONDS` seconds so a ``ci`` run shows up as it lands;
                            ``/?refresh=0`` (a link on the page) stops that
``GET /executions/<KEY>``   one Test Execution: its runs (Test, status, duration, failure message,
                            comment, defects, evidence: images inline, other files as links) and how it
                            was imported (endpoint, format, standard or multipart, the info fields, the
                            requests that landed in it)
``GET /tests``              every Test with its runs across Test Executions
``GET /requests``           the request log: what was sent, the answer's status and Xray's error text
``GET /style.css``          the one style sheet (``/favicon.ico`` answers 204, so a browser's own request
                            for it leaves no 404 in the request log)
==========================  =======================================================================

Pages are rendered on the server by Jinja2 with autoescaping on: everything that came from a report or
a request (a test named ``<script>``) is shown as text. They carry no script at all, and a
Content-Security-Policy that allows none, nor styles or images from anywhere but the sandbox itself.
No request for a page is written to the request log, and page requests bypass the fault switches.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xray_tasks.sandbox import webdata
from xray_tasks.sandbox.config import Runtime
from xray_tasks.sandbox.exchange import Request, Response

if TYPE_CHECKING:
    import jinja2

__all__ = ["REFRESH_SECONDS", "execution", "executions", "favicon", "requests", "style", "tests"]

PAGES = Path(__file__).resolve().parent / "pages"
#: how often the executions page reloads itself unless ``?refresh=0``
REFRESH_SECONDS = 5
HTML = "text/html; charset=utf-8"
#: no script, no frames, no form posts; styles and images only from the sandbox itself
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(PAGES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=_when, seconds=_seconds, size=_size, pretty=_pretty)
    return env


def _when(value: str | None) -> str:
    """``2026-11-29T08:30:12.345Z`` → ``2026-11-29 08:30:12 UTC`` (text that is no timestamp stays as it is)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    offset = moment.utcoffset()
    zone = "" if offset is None else "UTC" if not offset else moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M:%S} {zone}".rstrip()


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _size(value: int | None) -> str:
    if value is None:
        return ""
    if value < 1024:
        return f"{value} bytes"
    return f"{value / 1024:.1f} KiB" if value < 1 << 20 else f"{value / (1 << 20):.1f} MiB"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def render(template: str, status: int = 200, **context: Any) -> Response:
    """A page: ``template`` rendered with ``context``, with the pages' security headers."""
    html = _environment().get_template(template).render(**context)
    return Response(status, html.encode("utf-8"), dict(SECURITY_HEADERS), content_type=HTML)


def executions(rt: Runtime, req: Request) -> Response:
    refresh = req.param("refresh")
    seconds = 0 if refresh is not None and refresh.strip() in ("0", "off", "no") else REFRESH_SECONDS
    return render("executions.html.j2", current="executions", refresh=seconds, base_url=rt.base_url,
                  executions=webdata.executions_page(rt.store))


def execution(rt: Runtime, req: Request, key: str) -> Response:
    found = webdata.execution_page(rt.store, key)
    if found is None:
        return render("not_found.html.j2", 404, current="", refresh=0, base_url=rt.base_url,
                      what=f"No Test Execution with key {key}.")
    return render("execution.html.j2", current="", refresh=0, base_url=rt.base_url, execution=found)


def tests(rt: Runtime, req: Request) -> Response:
    return render("tests.html.j2", current="tests", refresh=0, base_url=rt.base_url,
                  tests=webdata.tests_page(rt.store))


def requests(rt: Runtime, req: Request) -> Response:
    total, shown = webdata.requests_page(rt.store)
    return render("requests.html.j2", current="requests", refresh=0, base_url=rt.base_url, total=total,
                  requests=shown)


def style(rt: Runtime, req: Request) -> Response:
    return Response(200, (PAGES / "style.css").read_bytes(), {"Cache-Control": "no-cache"},
                    content_type="text/css; charset=utf-8")


def favicon(rt: Runtime, req: Request) -> Response:
    return Response(204, b"", {"Cache-Control": "max-age=86400"}, content_type="image/x-icon")
