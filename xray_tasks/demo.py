"""``xray-tasks demo``: the whole flow on a local Xray stand-in, with no credentials and no network.

It starts the sandbox on a free loopback port, runs the bundled pytest suite through ``run-tests``
(and the bundled TestNG suite when a JDK and Debian's TestNG jars are present), authenticates, imports
with the standard endpoint and with multipart + the default templates, imports a cart suite with a map
file (one Test key), a screenshot on the failing test and a flaky test's attempts collapsed, goes once round
the BDD loop with the bundled calculator feature when behave is installed (``import-features`` →
``export-features`` → behave → ``import-results``), prints what the sandbox recorded for each Test
Execution and the address of its web pages (``--keep`` leaves them up, ``--open`` also opens them in a
browser).
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import struct
import sys
import tempfile
import time
import webbrowser
import zlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from xray_tasks.console import Console, err
from xray_tasks.errors import SettingsError
from xray_tasks.importer import ImportOptions, ImportOutcome
from xray_tasks.runrecord import load_record
from xray_tasks.settings import Settings, resolve_settings
from xray_tasks.workflow import OutputOptions, perform_import, run_test_command

__all__ = ["run_demo", "testng_classpath"]

SUITES = Path(__file__).resolve().parent / "demo_suites"
TESTNG_JARS = ("testng.jar", "jcommander.jar", "slf4j-api.jar", "slf4j-nop.jar")
JAVA_DIRS = (Path("/usr/share/java"),)


def testng_classpath() -> str | None:
    """Classpath of Debian's TestNG (libtestng7-java + libjcommander-java), or None when absent."""
    if not (shutil.which("java") and shutil.which("javac")):
        return None
    for folder in JAVA_DIRS:
        jars = [folder / name for name in TESTNG_JARS]
        if all(j.is_file() for j in jars[:3]):
            return os.pathsep.join(str(j) for j in jars if j.is_file())
    return None


def testng_command(work: Path, classpath: str) -> str:
    """Compile and run the bundled TestNG suite; writes ``work/testng/testng-results.xml``."""
    source = SUITES / "testng" / "CalculatorTest.java"
    classes = work / "testng-classes"
    q = shlex.quote
    # Only the XML reporter: Debian's jar lacks the HTML reporter's resources.
    return (f"javac -cp {q(classpath)} -d {q(str(classes))} {q(str(source))} && "
            f"java -cp {q(classpath + os.pathsep + str(classes))} org.testng.TestNG -usedefaultlisteners false "
            f"-listener org.testng.reporters.XMLReporter -d {q(str(work / 'testng'))} -testclass CalculatorTest")


def pytest_command(junit: Path, work: Path) -> str:
    q = shlex.quote
    return (f"{q(sys.executable)} -m pytest {q(str(SUITES / 'pytest_calc'))} -q -p no:cacheprovider "
            f"--rootdir {q(str(work))} -c {q(os.devnull)} --junitxml {q(str(junit))}")


def behave_command(features: Path, report: Path) -> str:
    q = shlex.quote
    return (f"{q(sys.executable)} -m behave {q(str(features))} --no-summary --no-snippets --no-capture "
            f"-f json -o {q(str(report))}")


def _bdd(s: Settings, work: Path, run_import: Callable[[Settings, ImportOptions], ImportOutcome | None]
         ) -> list[str]:
    """The BDD loop on the bundled feature: the Test Execution keys it created."""
    from xray_tasks.featureexport import ExportRequest, export_features, show_exported
    from xray_tasks.features import FeatureOptions, import_features_step

    suite = SUITES / "behave_calc"
    print(f"   import-features --features {suite / 'calculator.feature'}")
    done = import_features_step(s, FeatureOptions((str(suite / "calculator.feature"),)))
    if done is None:
        return []
    features = work / "bdd" / "features"
    print("   export-features --keys " + ",".join(t.key for t in done.tests) + f" --out {features}")
    show_exported(Console(), export_features(s, ExportRequest(tuple(t.key for t in done.tests), None, features)))
    shutil.copytree(suite / "steps", features / "steps")  # behave finds the steps beside the exported features
    report = work / "bdd" / "behave.json"
    # the standard Behave endpoint: it takes no Test Plan, environments or revision
    s_bdd = replace(s, report=(str(report),), test_command=behave_command(features, report), test_plan_key=None,
                    test_environments=(), revision=None)
    _run_tests(s_bdd)
    outcome = run_import(s_bdd, ImportOptions(strict_tags=True))
    return list(outcome.keys) if outcome else []


def _settings(url: str, client_id: str, client_secret: str, work: Path, report: Path, command: str) -> Settings:
    flags = {"base_url": url, "client_id": client_id, "client_secret": client_secret, "project_key": "DEMO",
             "test_plan_key": "DEMO-1", "test_environments": ("demo",), "revision": "demo",
             "token_cache": str(work / "tokens.json"), "state_file": str(work / ".xray-run.json"),
             "report": (str(report),), "test_command": command}
    return resolve_settings(flags=flags, environ={"XRAY_ENV_FILE": os.devnull})


def _run_tests(s: Settings) -> None:
    """``run-tests`` for one bundled suite; Ctrl-C while it runs ends the demo as it ends run-tests (130)."""
    from invoke.exceptions import Exit

    record = run_test_command(s, None, "", clean=True)
    if record.stop_code is not None:
        raise Exit(code=record.stop_code)


def png(width: int = 8, height: int = 6) -> bytes:
    """A small real PNG image (a gradient), made with zlib and struct: the demo's "screenshot"."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"".join(bytes((x * 30, y * 40, 160)) for x in range(width)) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _enrichment_step(s: Settings, work: Path, sb: Any,
                     run_import: Callable[[Settings, ImportOptions], ImportOutcome | None]) -> list[str]:
    """Run the cart suite (with pytest-rerunfailures when installed, else twice: a retried CI job), map one
    test to a Test made up front, put a screenshot beside the failing one, import, return the keys."""
    q = shlex.quote
    key = sb.store.create_test("DEMO", "Adds an item to the cart")["key"]
    (work / "xray-map.yaml").write_text(f'tests:\n  - match: "*test_cart.test_adds_item"\n    key: {key}\n'
                                        '    labels: [cart, demo]\n', encoding="utf-8")
    (work / "screenshots").mkdir()
    (work / "screenshots" / "test_checkout_is_broken.png").write_bytes(png())
    base = (f"DEMO_ATTEMPTS={q(str(work / 'attempts.txt'))} {q(sys.executable)} -m pytest "
            f"{q(str(SUITES / 'pytest_cart'))} -q -p no:cacheprovider --rootdir {q(str(work))} -c {q(os.devnull)}")
    if importlib.util.find_spec("pytest_rerunfailures") is not None:
        print("   pytest-rerunfailures re-runs the failures once (--reruns 1): every attempt is in the report")
        reports = [work / "cart.xml"]
        commands = [f"{base} --reruns 1 --junitxml {q(str(reports[0]))}"]
    else:
        print("   (pytest-rerunfailures is not installed: the suite runs twice, like a retried CI job)")
        reports = [work / "cart-1.xml", work / "cart-2.xml"]
        commands = [f"{base} --junitxml {q(str(r))}" for r in reports]
    for command, report in zip(commands, reports, strict=True):
        _run_tests(replace(s, report=(str(report),), test_command=command))
        time.sleep(0.01 if len(reports) == 1 else 1.1)  # reruns across reports go by modification time
    enriched = replace(s, report=tuple(str(r) for r in reports), map=str(work / "xray-map.yaml"),
                       evidence=(str(work / "screenshots"),))
    outcome = run_import(enriched, ImportOptions())
    return outcome.keys if outcome else []


def _show_runs(sb: Any, key: str) -> None:
    execution = sb.store.execution(key) or {}
    print(f"\n  Test Runs of {key}:")
    for run in execution.get("runs", []):
        evidence = ", ".join(f"{e['filename']} ({e['size']} bytes)" for e in run.get("evidence", []))
        print(f"    {run['test_key']:<8} {run['status']:<7} {run.get('definition') or run.get('name') or ''}")
        if run.get("comment"):
            print(f"             comment: {run['comment']}")
        if evidence:
            print(f"             evidence: {evidence}")


def open_page(url: str) -> None:
    """Open ``url`` in the user's browser ($BROWSER or the system's), or say to open it by hand."""
    try:
        opened = webbrowser.open(url)
    except webbrowser.Error:
        opened = False
    print(f"Opened {url} in your browser." if opened else f"No browser could be started here: open {url} yourself.")


def run_demo(keep: bool = False, open_browser: bool = False) -> None:
    """The whole flow on a throw-away stand-in; ``keep`` leaves it (and its web pages) up until Ctrl-C,
    ``open_browser`` opens the pages in a browser and implies ``keep``."""
    from xray_tasks.client import XrayClient
    from xray_tasks.sandbox import Sandbox

    def run_import(s: Settings, options: ImportOptions) -> ImportOutcome | None:
        return perform_import(s, options, OutputOptions(), load_record(Path(s.state_file)), Console())

    if importlib.util.find_spec("pytest") is None:
        raise SettingsError("the demo runs a small pytest suite, but pytest is not installed",
                            "pip install 'xray-tasks[demo]' (or pip install pytest)")
    keep = keep or open_browser
    work = Path(tempfile.mkdtemp(prefix="xray-tasks-demo-"))
    sb = Sandbox().start()
    try:
        print(f"Local Xray stand-in on {sb.url} (no network, no real credentials). Working in {work} "
              "(removed at the end).\n")
        junit = work / "junit.xml"
        s = _settings(sb.url, sb.config.client_id, sb.config.client_secret, work, junit, pytest_command(junit, work))
        print("1. run-tests: the bundled pytest suite (one test fails and one is skipped on purpose)")
        _run_tests(s)
        print("\n2. authenticate")
        with XrayClient(s, log=err) as client:
            token = client.authenticate()
        print(f"   token obtained, cached in {s.token_cache}, expires in "
              f"{(token.expires_at - time.time()) / 3600:.0f} h (never printed)")
        keys: list[tuple[str, str]] = []
        print("\n3. import-results (standard JUnit endpoint, options as query parameters)")
        outcome = run_import(s, ImportOptions())
        keys += [(k, "JUnit, standard") for k in (outcome.keys if outcome else [])]
        print("\n4. import-results --multipart --var summary=... (Test Execution fields from the templates)")
        s_mp = replace(s, variables={"summary": "Demo: calculator suite via xray-tasks"})
        outcome = run_import(s_mp, ImportOptions(multipart=True, cli_vars=True))
        keys += [(k, "JUnit, multipart") for k in (outcome.keys if outcome else [])]
        classpath = testng_classpath()
        if classpath:
            print("\n5. run-tests + import-results for the bundled TestNG suite")
            results = work / "testng" / "testng-results.xml"
            s_ng = replace(s, report=(str(results),), test_command=testng_command(work, classpath))
            _run_tests(s_ng)
            outcome = run_import(s_ng, ImportOptions())
            keys += [(k, "TestNG, standard") for k in (outcome.keys if outcome else [])]
        else:
            print("\n5. TestNG skipped: needs java, javac and Debian's libtestng7-java + libjcommander-java")
        print("\n6. import-results --map --evidence: a Test key from a map file, a screenshot on the failing "
              "test, and a flaky test's attempts collapsed into one result")
        enriched = _enrichment_step(s, work, sb, run_import)
        keys += [(k, "JUnit, enriched") for k in enriched]
        bdd: list[str] = []
        if importlib.util.find_spec("behave") is not None:
            print("\n7. the BDD loop: features → Xray Tests → exported .feature files → behave → results")
            bdd = _bdd(s, work, run_import)
            keys += [(k, "Behave, standard") for k in bdd]
        else:
            print("\n7. BDD loop skipped: needs behave (pip install 'xray-tasks[demo]')")
        print("\nWhat the stand-in recorded:")
        for key, how in keys:
            execution = sb.store.execution(key) or {}
            counts = ", ".join(f"{n} {status}" for status, n in sorted((execution.get("counts") or {}).items()))
            print(f"  {key:<9} {how:<17} {execution.get('summary', '')!r}: {counts}")
            if key in bdd:  # the runs landed on the Tests the feature import made
                for run in execution.get("runs") or []:
                    print(f"    {run['test_key']:<9} {run['status']:<7} {run['name']}")
        for key in enriched:
            _show_runs(sb, key)
        print(f"\nDone: {len(keys)} Test Executions created. See them in a browser at {sb.url}/ "
              f"(as JSON at {sb.url}/sandbox/executions)"
              f"{'' if keep else '; run the demo with --keep to keep the stand-in and its pages up'}")
        if keep:
            if open_browser:
                open_page(f"{sb.url}/")
            print("The stand-in keeps running; press Ctrl-C to stop it.", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    finally:
        sb.stop()
        shutil.rmtree(work, ignore_errors=True)  # reports, token cache, run record: nothing is left behind
