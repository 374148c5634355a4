"""The sandbox's web pages in a real headless browser: Debian's Chromium driven by Playwright.

No browser is downloaded: Playwright launches ``/usr/bin/chromium`` (``apt-get install chromium``, which
``.ci/run`` does). Without it, or without the playwright package, these tests skip saying which is missing.

Set ``UPDATE_SANDBOX_SCREENSHOT=1`` to also write the executions page's screenshot to
``docs/sandbox-page.png`` (the picture in the README).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli_helpers import REPO, sandbox_env, xray_tasks
from tests.test_sandbox_pages import EVIL_COMMENT, EVIL_ID, junit_from_pytest, xray_json_with_evidence
from xray_tasks.sandbox import Sandbox

CHROMIUM = Path("/usr/bin/chromium")
DOCS_SCREENSHOT = REPO / "docs" / "sandbox-page.png"
#: seconds the demo may take to start, run its suites and import (a JVM start included)
DEMO_TIMEOUT = 300


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not CHROMIUM.is_file():
        return "Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)"
    return None


pytestmark = [pytest.mark.slow, pytest.mark.skipif(_missing() is not None, reason=str(_missing()))]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module (root needs --no-sandbox; /dev/shm may be small in CI)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page that records every dialog (alert) and page error instead of letting one pass unseen."""
    context = browser.new_context(viewport={"width": 1100, "height": 640})
    tab = context.new_page()
    tab.dialogs, tab.errors = [], []
    tab.on("dialog", lambda d: (tab.dialogs.append(d.message), d.dismiss()))
    tab.on("pageerror", lambda e: tab.errors.append(str(e)))
    try:
        yield tab
    finally:
        context.close()


def screenshot(page: Any, path: Path) -> Path:
    """A PNG of what the page shows, written to ``path`` (the docs picture comes from here too)."""
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


def shown_counts(row: Any) -> dict[str, int]:
    """{status: count} as the status bar's text says it (e.g. '3 PASSED')."""
    counts = {}
    for item in row.locator("ul.counts li").all():
        n, status = item.inner_text().split()
        counts[status] = int(n)
    return counts


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    """``xray-tasks demo --keep --open`` with a $BROWSER that notes the address it is asked to open; yields that
    address while the demo's stand-in runs, then stops the demo with Ctrl-C."""
    opened = tmp_path / "opened.txt"
    fake_browser = tmp_path / "browser.sh"
    fake_browser.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {opened}\n')
    fake_browser.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "BROWSER": str(fake_browser)}
    proc = subprocess.Popen([sys.executable, "-m", "xray_tasks", "demo", "--keep", "--open"], cwd=home, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(DEMO_TIMEOUT, proc.kill)  # a hung demo fails the test instead of hanging it
    watchdog.start()
    output = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if line.startswith("The stand-in keeps running"):
                break
        assert opened.is_file(), "".join(output)
        url = opened.read_text()
        assert f"See them in a browser at {url}" in "".join(output)
        assert f"Opened {url} in your browser." in "".join(output)
        yield url
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_demo_opens_a_page_that_shows_what_the_stand_in_recorded(demo: str, page: Any, tmp_path: Path) -> None:
    """demo --keep --open: the executions page lists every Test Execution the stand-in recorded with the same
    per-status counts, and its link leads to that execution's runs."""
    recorded = httpx.get(f"{demo}sandbox/executions", timeout=30).json()
    assert len(recorded) >= 2
    page.goto(f"{demo}?refresh=0")
    assert page.title() == "Test Executions · Xray sandbox"
    rows = page.locator("table.executions tbody tr")
    assert rows.count() == len(recorded)
    for execution in recorded:
        row = rows.filter(has=page.get_by_role("link", name=execution["key"], exact=True))
        assert row.count() == 1, execution["key"]
        assert execution["summary"] in row.inner_text()
        assert shown_counts(row) == execution["counts"]
    if os.environ.get("UPDATE_SANDBOX_SCREENSHOT"):
        page.set_viewport_size({"width": 1200, "height": 400})
        page.screenshot(path=str(DOCS_SCREENSHOT))
        assert DOCS_SCREENSHOT.stat().st_size < 200_000
    shot = screenshot(page, tmp_path / "executions.png")
    assert shot.stat().st_size > 5_000

    first = recorded[0]
    page.get_by_role("link", name=first["key"], exact=True).click()
    page.wait_for_url(f"{demo}executions/{first['key']}")
    assert page.locator("h1").inner_text().startswith(first["key"])
    assert page.locator("table.runs tbody tr").count() == first["total"]
    assert shown_counts(page.locator("main > .results")) == first["counts"]
    assert page.get_by_text(first["endpoint"], exact=True).count() == 1
    screenshot(page, tmp_path / "execution.png")
    assert page.dialogs == [] and page.errors == []


def test_html_in_a_report_shows_as_text_and_evidence_images_load(page: Any, tmp_path: Path) -> None:
    """A test named <script> and a comment holding an <img onerror> show as text, run nothing, and an evidence
    PNG is drawn inline."""
    with Sandbox() as sb:
        env = sandbox_env(sb, tmp_path)
        junit = junit_from_pytest(tmp_path)
        proc = xray_tasks("import-results", "--report", str(junit), "--json", env=env)
        assert proc.returncode == 0, proc.stderr
        key = json.loads(proc.stdout)["key"]
        page.goto(f"{sb.url}/executions/{key}")
        assert page.get_by_text(f"test_evil[{EVIL_ID}]").count() == 1
        assert page.get_by_text(EVIL_COMMENT, exact=True).count() == 1
        assert page.locator("main script, main img").count() == 0
        assert page.locator("pre.failure").inner_text().startswith("AssertionError: subtraction is broken")

        proc = xray_tasks("import-results", "--report", str(xray_json_with_evidence(sb, tmp_path)), "--json", env=env)
        assert proc.returncode == 0, proc.stderr
        page.goto(f"{sb.url}/executions/{json.loads(proc.stdout)['key']}")
        image = page.get_by_role("img", name="screen.png")
        image.wait_for()
        assert image.evaluate("img => img.complete && img.naturalWidth") == 8  # decoded: png() is 8 px wide
        page.get_by_role("link", name="page.html").click()  # evidence that is HTML with a script in it
        page.wait_for_url(f"{sb.url}/sandbox/evidence/*")
        screenshot(page, tmp_path / "evidence.png")
        assert page.dialogs == []


def test_the_pages_are_navigable_by_their_names(page: Any, tmp_path: Path) -> None:
    """The navigation is a labelled list of links with the current page marked, tables have captions and
    header cells, and the request log shows a refused import's error."""
    with Sandbox() as sb:
        junit = junit_from_pytest(tmp_path)
        env = sandbox_env(sb, tmp_path, XRAY_PROJECT_KEY="NOPE")
        proc = xray_tasks("import-results", "--report", str(junit), env=env)
        assert proc.returncode == 16
        page.goto(f"{sb.url}/")
        nav = page.get_by_role("navigation", name="Sandbox pages")
        nav.get_by_role("link", name="Requests").click()
        page.wait_for_url(f"{sb.url}/requests")
        assert nav.get_by_role("link", name="Requests").get_attribute("aria-current") == "page"
        table = page.get_by_role("table")
        assert table.locator("caption").count() == 1 and table.locator("th[scope=col]").count() >= 5
        refused = next(r for r in sb.store.requests() if r["status"] == 400)
        assert page.get_by_text(refused["error"]).count() == 1
        screenshot(page, tmp_path / "requests.png")
