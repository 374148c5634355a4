"""Session fixtures that produce REAL reports by running real test runners on the suites in
``tests/fixtures/``. Load it with ``pytest_plugins = ["tests.runners"]``.

Each fixture yields the :class:`~pathlib.Path` of a report written into a session temporary folder and
skips, with the command that installs it, when its runner is missing. :data:`EXPECTED` says what each
report holds (format and totals as :func:`xray_tasks.formats.summarize` counts them).

NUnit 3 XML comes from the same real pytest run through the pytest-nunit plugin; NUnit 2, NUnit 3 as
.NET's NUnit writes it (inconclusive, parameterized fixtures) and xUnit.net reports are hand-written
samples in ``tests/fixtures/samples/``: no .NET runtime is available here to produce real ones.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = FIXTURES.parents[1]
TIMEOUT = 120  # seconds for one runner; they take one or two

#: fixture name -> (format, the non-zero totals summarize() counts; its other STATUSES keys are 0)
EXPECTED: dict[str, tuple[str, dict[str, int]]] = {
    "pytest_junit_report": ("junit", {"passed": 3, "failed": 1, "skipped": 1}),
    # pytest-jira-xray writes only the tests marked with a key, and a skipped test as ABORTED
    "xray_json_report": ("xray", {"passed": 1, "failed": 1, "skipped": 0, "aborted": 1}),
    "robot_report": ("robot", {"passed": 2, "failed": 1, "skipped": 1}),
    "robot_xunit_report": ("junit", {"passed": 2, "failed": 1, "skipped": 1}),
    "behave_report": ("behave", {"passed": 3, "failed": 1, "skipped": 2}),
    "cucumber_report": ("cucumber", {"passed": 3, "failed": 1, "skipped": 2}),
    "testng_report": ("testng", {"passed": 2, "failed": 1, "skipped": 1}),
    "nunit_pytest_report": ("nunit", {"passed": 3, "failed": 1, "skipped": 1}),
    "nunit3_report": ("nunit", {"passed": 3, "failed": 1, "skipped": 1, "todo": 1}),  # Inconclusive -> todo
    "nunit2_report": ("nunit", {"passed": 3, "failed": 1, "skipped": 1}),
    "xunit_report": ("xunit", {"passed": 3, "failed": 1, "skipped": 1}),
}
#: format -> the fixture whose report stands for it in all_reports / report_for
FIXTURE_FOR: dict[str, str] = {
    "xray": "xray_json_report",
    "cucumber": "cucumber_report",
    "behave": "behave_report",
    "junit": "pytest_junit_report",
    "testng": "testng_report",
    "nunit": "nunit_pytest_report",
    "xunit": "xunit_report",
    "robot": "robot_report",
}
_JAVA_DIR = Path("/usr/share/java")
_TESTNG_JARS = ("testng.jar", "jcommander.jar", "slf4j-api.jar")
_TESTNG_OPTIONAL_JARS = ("slf4j-nop.jar",)  # silences slf4j's "no binding" warning
_JVM_FAST_START = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto")


def _env(**extra: str) -> dict[str, str]:
    """The environment for a runner: ours without pytest/Xray settings that would change its behaviour."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "XRAY_", "COV_CORE_")) and k != "PYTHONPATH"}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONIOENCODING="utf-8", PYTHONUTF8="1", **extra)
    return env


def _run(what: str, cmd: Sequence[str], cwd: Path, *outputs: Path, env: dict[str, str] | None = None) -> None:
    """Run ``cmd``; fail the test when it does not write every one of ``outputs`` (failing tests inside
    the run are expected: runners exit non-zero then)."""
    try:
        proc = subprocess.run(list(cmd), cwd=cwd, env=env or _env(), capture_output=True, text=True,
                              encoding="utf-8", errors="replace", timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} did not finish within {TIMEOUT}s: {' '.join(cmd)}")
    missing = [str(p) for p in outputs if not p.is_file() or p.stat().st_size == 0]
    if missing:
        tail = (proc.stdout + proc.stderr)[-3000:]
        pytest.fail(f"{what} (exit {proc.returncode}) wrote no report at {', '.join(missing)}:\n{tail}")


def _need_module(module: str, install: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed: {install}")


# --------------------------------------------------------------------------------------------------
# pytest: JUnit XML and, through pytest-jira-xray, Xray JSON from one run


@pytest.fixture(scope="session")
def _pytest_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run the bundled pytest suite once; {"junit": path, "xray": path when pytest-jira-xray is there,
    "nunit": path when pytest-nunit is there}."""
    suite = FIXTURES / "pytest_suite"
    out = tmp_path_factory.mktemp("pytest-report")
    reports = {"junit": out / "junit.xml"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", os.devnull,
           "--rootdir", str(suite), "--confcutdir", str(suite), "-o", "junit_family=xunit1",
           "--junitxml", str(reports["junit"])]
    if importlib.util.find_spec("pytest_xray") is not None:
        reports["xray"] = out / "xray.json"
        cmd += ["--jira-xray", "--cloud", "--xraypath", str(reports["xray"])]
    if importlib.util.find_spec("pytest_nunit") is not None:
        reports["nunit"] = out / "nunit.xml"
        cmd += ["--nunitxml", str(reports["nunit"])]
    cmd.append("sample_suite.py")
    _run("pytest", cmd, suite, *reports.values())
    return reports


# The function may not be named pytest_*: pytest would take it for a hook of this plugin module.
@pytest.fixture(scope="session", name="pytest_junit_report")
def junit_from_pytest(_pytest_run: dict[str, Path]) -> Path:
    """JUnit XML written by a real pytest --junitxml run: 3 passed, 1 failed, 1 skipped; keys DEMO-2 and
    DEMO-3 as test_key properties; one test named with non-ASCII letters, quotes, & and <>."""
    return _pytest_run["junit"]


@pytest.fixture(scope="session")
def xray_json_report(_pytest_run: dict[str, Path]) -> Path:
    """Xray JSON written offline by pytest-jira-xray (--jira-xray --cloud --xraypath): DEMO-2 PASSED,
    DEMO-3 FAILED, DEMO-4 ABORTED (pytest's skip)."""
    if "xray" not in _pytest_run:
        pytest.skip("pytest-jira-xray is not installed: pip install pytest-jira-xray")
    return _pytest_run["xray"]


@pytest.fixture(scope="session")
def nunit_pytest_report(_pytest_run: dict[str, Path]) -> Path:
    """NUnit 3 XML written by pytest-nunit (--nunitxml) in the same real run: 3 passed, 1 failed, 1 skipped."""
    if "nunit" not in _pytest_run:
        pytest.skip("pytest-nunit is not installed: pip install pytest-nunit")
    return _pytest_run["nunit"]


# --------------------------------------------------------------------------------------------------
# Robot Framework: output.xml and, from the same run, its --xunit (JUnit) file


@pytest.fixture(scope="session")
def _robot_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    _need_module("robot", "pip install robotframework")
    out = tmp_path_factory.mktemp("robot-report")
    reports = {"robot": out / "output.xml", "junit": out / "xunit.xml"}
    _run("robot", [sys.executable, "-m", "robot", "--output", str(reports["robot"]), "--report", "NONE",
                   "--log", "NONE", "--xunit", str(reports["junit"]), "--console", "quiet",
                   str(FIXTURES / "robot")], out, *reports.values())
    return reports


@pytest.fixture(scope="session")
def robot_report(_robot_run: dict[str, Path]) -> Path:
    """Robot Framework output.xml from a real run of tests/fixtures/robot: 2 passed, 1 failed, 1 skipped;
    "Adds Two Numbers" is tagged DEMO-3; suites Robot.Calculator and Robot.Strings.Unicode."""
    return _robot_run["robot"]


@pytest.fixture(scope="session")
def robot_xunit_report(_robot_run: dict[str, Path]) -> Path:
    """The JUnit-style file Robot writes with --xunit in the same run (root <testsuite>, nested suites)."""
    return _robot_run["junit"]


# --------------------------------------------------------------------------------------------------
# Behave and cucumber-js


@pytest.fixture(scope="session")
def behave_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Behave JSON (-f json.pretty) from a real run of tests/fixtures/behave: 3 passed, 1 failed, 2
    skipped (one undefined step, one skipped by a hook); every scenario is tagged with DEMO-2, DEMO-3 or
    DEMO-4 (as @TEST_DEMO-n or @DEMO-n), as Xray requires; the feature carries @REQ_DEMO-1."""
    _need_module("behave", "pip install behave")
    report = tmp_path_factory.mktemp("behave-report") / "behave.json"
    _run("behave", [sys.executable, "-m", "behave", "--no-summary", "--no-snippets", "-f", "json.pretty",
                    "-o", str(report), "features"], FIXTURES / "behave", report)
    return report


def _cucumber_js() -> tuple[Path, Path] | None:
    """(cucumber-js executable, the node_modules it lives in), preferring the repo's .tools install."""
    candidates = [REPO / ".tools" / "node_modules" / ".bin" / "cucumber-js"]
    on_path = shutil.which("cucumber-js")
    if on_path:
        candidates.append(Path(on_path))
    for exe in candidates:
        if not exe.is_file():
            continue
        modules = next((p for p in exe.resolve().parents if p.name == "node_modules"), None)
        if modules is not None:
            return exe, modules
    return None


@pytest.fixture(scope="session")
def cucumber_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cucumber JSON (--format json:FILE) from a real cucumber-js run of tests/fixtures/cucumber: 3 passed,
    1 failed, 2 skipped (one undefined, one pending step); every scenario is tagged with DEMO-2, DEMO-3 or
    DEMO-4, as Xray requires; the feature's @REQ_DEMO-1 is repeated on each scenario by cucumber-js."""
    found = _cucumber_js()
    if found is None or shutil.which("node") is None:
        pytest.skip("cucumber-js not found: npm install --prefix .tools @cucumber/cucumber")
    exe, modules = found
    report = tmp_path_factory.mktemp("cucumber-report") / "cucumber.json"
    _run("cucumber-js", [str(exe), "--require", "steps/*.js", "--format", f"json:{report}", "features/"],
         FIXTURES / "cucumber", report, env=_env(NODE_PATH=str(modules), CUCUMBER_PUBLISH_QUIET="true",
                                                   NO_COLOR="1"))
    return report


# --------------------------------------------------------------------------------------------------
# TestNG: compile once, run once


@pytest.fixture(scope="session")
def testng_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """testng-results.xml from a real TestNG 7 run of tests/fixtures/testng/SampleTest.java: 2 passed,
    1 failed, 1 skipped (plus @BeforeMethod config entries); addsNumbers carries attribute test=DEMO-2."""
    javac, java = shutil.which("javac"), shutil.which("java")
    if javac is None or java is None:
        pytest.skip("no JDK (javac/java) found: apt-get install default-jdk-headless")
    jars = [_JAVA_DIR / name for name in _TESTNG_JARS]
    if not all(jar.is_file() for jar in jars):
        pytest.skip("TestNG jars not found: apt-get install libtestng7-java libjcommander-java libslf4j-java")
    jars += [jar for jar in (_JAVA_DIR / name for name in _TESTNG_OPTIONAL_JARS) if jar.is_file()]
    work = tmp_path_factory.mktemp("testng-report")
    classes = work / "classes"
    classpath = os.pathsep.join(str(jar) for jar in jars)
    _run("javac", [javac, *(f"-J{flag}" for flag in _JVM_FAST_START), "-encoding", "UTF-8",
                   "-d", str(classes), "-cp", classpath, str(FIXTURES / "testng" / "SampleTest.java")],
         work, classes / "SampleTest.class")
    report = work / "out" / "testng-results.xml"
    _run("TestNG", [java, *_JVM_FAST_START, "-Dfile.encoding=UTF-8", "-cp",
                    os.pathsep.join([classpath, str(classes)]), "org.testng.TestNG", "-d", str(work / "out"),
                    "-usedefaultlisteners", "false",
                    "-reporter", "org.testng.reporters.XMLReporter:generateTestResultAttributes=true",
                    "-testclass", "SampleTest"], work, report)
    return report


# --------------------------------------------------------------------------------------------------
# .NET formats: hand-written samples (no .NET runtime here)


@pytest.fixture(scope="session")
def nunit3_report() -> Path:
    """Hand-written NUnit 3 <test-run> sample: 3 passed, 1 failed, 1 skipped, 1 inconclusive."""
    return FIXTURES / "samples" / "nunit3.xml"


@pytest.fixture(scope="session")
def nunit2_report() -> Path:
    """Hand-written NUnit 2.6 <test-results> sample: 3 passed, 1 failed, 1 skipped (Ignored)."""
    return FIXTURES / "samples" / "nunit2.xml"


@pytest.fixture(scope="session")
def xunit_report() -> Path:
    """Hand-written xUnit.net v2 <assemblies> sample: 3 passed, 1 failed, 1 skipped."""
    return FIXTURES / "samples" / "xunit2.xml"


# --------------------------------------------------------------------------------------------------
# by format


@pytest.fixture(scope="session")
def report_for(request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """A function: format name -> the report standing for that format (skips the test when its runner is
    missing). JUnit is pytest's report, NUnit the NUnit 3 sample, xUnit the xUnit.net v2 sample."""

    def get(fmt: str) -> Path:
        path: Path = request.getfixturevalue(FIXTURE_FOR[fmt])
        return path

    return get


@pytest.fixture(scope="session")
def all_reports(request: pytest.FixtureRequest) -> dict[str, Path]:
    """Format -> report for every format whose runner is available (the others are left out); runs
    every runner."""
    found: dict[str, Path] = {}
    for fmt, name in FIXTURE_FOR.items():
        try:
            found[fmt] = request.getfixturevalue(name)
        except pytest.skip.Exception:
            continue
    return found
