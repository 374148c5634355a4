"""The README's main-job command: `xray-tasks demo` runs the whole flow on a throw-away stand-in."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

from tests.cli_helpers import xray_tasks
from xray_tasks import demo


def test_demo_runs_tests_imports_and_cleans_up(tmp_path: Path) -> None:
    """Runs the bundled suites, imports standard and multipart, goes round the BDD loop, prints the recorded
    counts, leaves nothing."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}  # no XRAY_* settings, no credentials
    proc = xray_tasks("demo", env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bdd = importlib.util.find_spec("behave") is not None
    expected = (3 if demo.testng_classpath() else 2) + 1 + bdd  # + the enriched import (map, evidence, reruns)
    assert f"Done: {expected} Test Executions created" in proc.stdout, proc.stdout
    recorded = re.findall(r"^  (DEMO-\d+)\s+(.+?)\s{2,}'(.*)': (.*)$", proc.stdout, re.M)
    assert len(recorded) == expected, proc.stdout
    assert [how for _, how, _, _ in recorded][:2] == ["JUnit, standard", "JUnit, multipart"]
    assert recorded[1][2] == "Demo: calculator suite via xray-tasks"  # the --var reached the multipart info
    for _, _, _, counts in recorded:
        assert "FAILED" in counts and "PASSED" in counts  # the suites fail one test on purpose
    enriched = [r for r in recorded if r[1] == "JUnit, enriched"]
    assert len(enriched) == 1 and enriched[0][3] == "1 FAILED, 2 PASSED"
    assert re.search(r"PASSED  test_cart.test_total_is_flaky\n\s+comment: Flaky: passed on attempt 2 of 2", proc.stdout)
    assert re.search(r"FAILED  test_cart.test_checkout_is_broken\n\s+evidence: test_checkout_is_broken.png \(\d+ "
                     r"bytes\)", proc.stdout)
    if bdd:  # the behave runs landed on the Tests the feature import created
        assert recorded[-1][1] == "Behave, standard"
        created = re.findall(r"^  Test +(DEMO-\d+)$", proc.stdout, re.M)
        behave = proc.stdout[proc.stdout.index("Behave, standard"):].split("\n\n")[0]  # its line and its runs
        runs = re.findall(r"^    (DEMO-\d+) +(PASSED|FAILED) +(.+)$", behave, re.M)
        assert len(created) == 3 and [key for key, _, _ in runs] == created, proc.stdout
        assert [status for _, status, _ in runs] == ["PASSED", "FAILED", "PASSED"]
    work = re.search(r"Working in (\S+) ", proc.stdout)
    assert work is not None and not Path(work.group(1)).exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # nothing written where it ran
