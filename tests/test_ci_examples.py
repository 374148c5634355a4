"""The GitLab dotenv and Jenkins properties outputs, and the examples that use them, run as far as they can
run here: their shell commands against a sandbox, their files read back the way GitLab and Java read them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from invoke.vendor import yaml

from tests.cli_helpers import REPO, sandbox_env
from xray_tasks.outputs import DOTENV_NAMES, write_outputs
from xray_tasks.sandbox import Sandbox

EXAMPLES = REPO / "examples"
SUITE = "def test_ok():\n    assert True\n\ndef test_broken():\n    assert 1 == 2\n"
#: GitLab's dotenv report rules: a variable name, '=', one line of value; at most 5 KB and 20 variables
GITLAB_LINE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=[^\n]*")
HOSTILE = {"kind": "xray-tasks/summary", "key": "DEMO-7\nINJECTED=1", "keys": ["DEMO-7\nINJECTED=1", "DEMO-8"],
           "url": " http://x/browse/DEMO-7?a=b#c:d!e\\f\r\nEVIL=1 ü€😀", "totals": {"passed": 2, "failed": 1},
           "files": [], "error": None}


def gitlab_dotenv(path: Path) -> dict[str, str]:
    """Read a dotenv report as GitLab does, failing on anything GitLab would refuse."""
    raw = path.read_bytes()
    assert len(raw) < 5 * 1024
    lines = raw.decode("utf-8").split("\n")
    assert lines[-1] == "", "the file ends with a newline"
    lines = lines[:-1]
    assert 0 < len(lines) <= 20
    values = {}
    for line in lines:
        assert GITLAB_LINE.fullmatch(line), f"GitLab refuses the line {line!r}"
        name, _, value = line.partition("=")
        values[name] = value.strip()  # GitLab drops surrounding blanks; quotes would stay in the value
    return values


JAVA_READER = """
import java.io.*;
import java.util.*;
public class ReadProperties {
  public static void main(String[] args) throws Exception {
    Properties p = new Properties();
    try (Reader r = new InputStreamReader(new FileInputStream(args[0]), "UTF-8")) { p.load(r); }
    for (String name : new TreeSet<>(p.stringPropertyNames())) {
      StringBuilder hex = new StringBuilder();
      p.getProperty(name).codePoints().forEach(c -> hex.append(Integer.toHexString(c)).append(' '));
      System.out.println(name + "\\t" + hex.toString().trim());
    }
  }
}
"""


def java_properties(path: Path, tmp: Path) -> dict[str, str]:
    """Read a .properties file with java.util.Properties (as Jenkins' readProperties does)."""
    if shutil.which("java") is None:
        pytest.skip("java is not installed (apt-get install default-jdk-headless; .ci/run installs it)")
    source = tmp / "ReadProperties.java"
    source.write_text(JAVA_READER)
    proc = subprocess.run(["java", str(source), str(path)], capture_output=True, text=True, timeout=120, check=True)
    values = {}
    for line in proc.stdout.splitlines():
        name, _, hexes = line.partition("\t")
        values[name] = "".join(chr(int(h, 16)) for h in hexes.split())
    return values


def test_dotenv_and_properties_hold_one_line_per_variable_whatever_the_values(tmp_path: Path) -> None:
    """Values with line breaks, separators, comment marks and non-ASCII add no variable and read back whole:
    GitLab's rules hold for the dotenv file, Java reads the properties file to the same values."""
    dotenv, props = tmp_path / "x.env", tmp_path / "out" / "x.properties"
    assert write_outputs(HOSTILE, dotenv_file=str(dotenv), properties_file=str(props), environ={}) == []
    gitlab = gitlab_dotenv(dotenv)
    assert list(gitlab) == list(DOTENV_NAMES)
    assert gitlab["XRAY_TEST_EXEC_KEY"] == "DEMO-7INJECTED=1"  # the line break is gone, no new variable
    assert gitlab["XRAY_TEST_EXEC_URL"] == "http://x/browse/DEMO-7?a=b#c:d!e\\fEVIL=1 ü€😀"
    assert gitlab["XRAY_TESTS_TOTAL"] == "3" and gitlab["XRAY_TESTS_SKIPPED"] == ""
    assert gitlab["XRAY_IMPORT_OK"] == "true"
    assert java_properties(props, tmp_path) == gitlab


def test_a_long_key_list_is_shortened_with_a_warning(tmp_path: Path) -> None:
    """Hundreds of Test Executions (--separate) would push the dotenv report past GitLab's 5 KB: the key list
    is cut at a key boundary and a warning says so."""
    keys = [f"DEMO-{n}" for n in range(1000, 1600)]
    dotenv = tmp_path / "x.env"
    warnings = write_outputs({**HOSTILE, "key": keys[0], "keys": keys}, dotenv_file=str(dotenv), environ={})
    assert len(warnings) == 1 and "XRAY_TEST_EXEC_KEYS" in warnings[0]
    listed = gitlab_dotenv(dotenv)["XRAY_TEST_EXEC_KEYS"].split(",")
    assert listed == keys[:len(listed)] and 100 < len(listed) < len(keys)


def test_the_settings_come_from_the_environment_too(tmp_path: Path) -> None:
    """XRAY_DOTENV_FILE and XRAY_PROPERTIES_FILE are settings like any other (flag > environment)."""
    from xray_tasks.settings import resolve_settings

    env = {"XRAY_ENV_FILE": os.devnull, "XRAY_DOTENV_FILE": "a.env", "XRAY_PROPERTIES_FILE": "a.properties"}
    s = resolve_settings(environ=env)
    assert (s.dotenv_file, s.properties_file) == ("a.env", "a.properties")
    assert resolve_settings(flags={"dotenv_file": "b.env"}, environ=env).dotenv_file == "b.env"


def project(tmp_path: Path) -> Path:
    """A project checkout with a pytest suite (one test passes, one fails)."""
    work = tmp_path / "project"
    (work / "tests").mkdir(parents=True)
    (work / "tests" / "test_calc.py").write_text(SUITE)
    return work


def shell_line(line: str) -> str | None:
    """A CI script line as it runs here: `pip install` is skipped (xray-tasks is installed already) and
    `xray-tasks` is this checkout's."""
    if line.startswith("pip install"):
        return None
    return re.sub(r"^xray-tasks ", f"{sys.executable} -m xray_tasks ", line)


def run_script(lines: list[str], cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run script lines the way GitLab's shell does: one shell, the first failing line ends it."""
    script = "set -eo pipefail\n" + "\n".join(x for x in (shell_line(line) for line in lines) if x) + "\n"
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=dict(env), capture_output=True, text=True,
                          timeout=300, check=False)


def ci_env(sb: Sandbox, tmp_path: Path, variables: Mapping[str, str], **predefined: str) -> dict[str, str]:
    """The job's environment: the sandbox's credentials, the CI's predefined variables, then the job's
    ``variables:`` with ``$NAME`` expanded from those, as GitLab does."""
    env = sandbox_env(sb, tmp_path, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                      **predefined)
    del env["XRAY_PROJECT_KEY"]  # the example sets it
    return {**env, **{k: re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), ""), str(v)) for k, v in variables.items()}}


def test_the_gitlab_dotenv_example_passes_the_execution_to_a_later_job(sb: Sandbox, tmp_path: Path) -> None:
    """examples/gitlab-ci-dotenv.yml: the test job imports, exits with pytest's 1 (allowed: a warning, not a
    failure), leaves its JUnit report and a dotenv report GitLab accepts; the later job reads the key and counts."""
    pipeline = yaml.safe_load((EXAMPLES / "gitlab-ci-dotenv.yml").read_text())
    job = pipeline["tests"]
    work = project(tmp_path)
    env = ci_env(sb, tmp_path, job["variables"], CI_COMMIT_SHA="0a1b2c3d")
    proc = run_script(job["script"], work, env)
    assert proc.returncode in job["allow_failure"]["exit_codes"], proc.stdout + proc.stderr
    reports = job["artifacts"]["reports"]
    assert (work / reports["junit"]).is_file()
    dotenv = gitlab_dotenv(work / reports["dotenv"])
    execution = sb.store.execution(dotenv["XRAY_TEST_EXEC_KEY"])
    assert execution is not None and execution["revision"] == "0a1b2c3d"
    assert execution["counts"] == {"PASSED": int(dotenv["XRAY_TESTS_PASSED"]),
                                   "FAILED": int(dotenv["XRAY_TESTS_FAILED"])}
    assert dotenv["XRAY_TEST_EXEC_URL"].endswith(f"/browse/{execution['key']}")

    later = pipeline["xray-report"]
    assert later["needs"] == ["tests"]
    report = run_script(later["script"], work, {"PATH": os.environ["PATH"], **dotenv})
    assert report.returncode == 0, report.stderr
    assert f"Test Execution {execution['key']} (1 passed, 1 failed of 2)" in report.stdout


def test_the_gitlab_job_fails_when_the_import_fails(sb: Sandbox, tmp_path: Path) -> None:
    """An import refused by Xray exits 16, which the example's allow_failure does not allow."""
    pipeline = yaml.safe_load((EXAMPLES / "gitlab-ci-dotenv.yml").read_text())
    job = pipeline["tests"]
    work = project(tmp_path)
    env = ci_env(sb, tmp_path, job["variables"] | {"XRAY_PROJECT_KEY": "NOPE"}, CI_COMMIT_SHA="0a1b2c3d")
    proc = run_script(job["script"], work, env)
    assert proc.returncode == 16 and proc.returncode not in job["allow_failure"]["exit_codes"]
    assert gitlab_dotenv(work / "xray.env")["XRAY_IMPORT_OK"] == "false"


def jenkins_shell_steps(text: str) -> list[str]:
    """The shell commands of a Jenkinsfile's sh steps, in order."""
    return re.findall(r"\bsh(?:\(returnStatus: true, script: |\s)'([^']*)'", text)


def test_the_jenkins_example_marks_failed_tests_unstable(sb: Sandbox, tmp_path: Path) -> None:
    """examples/Jenkinsfile.properties: its sh steps import the results; Java's Properties reads the key, link
    and counts back; the import succeeded and the tests failed, the two conditions of its UNSTABLE branch."""
    text = (EXAMPLES / "Jenkinsfile.properties").read_text()
    steps = jenkins_shell_steps(text)
    assert steps[0] == "python3 -m venv .venv" and steps[1].startswith(".venv/bin/pip install ")  # PEP 668 agents
    assert steps[2] == "rm -f xray.properties"
    assert "readProperties(file: 'xray.properties')" in text and "unstable(" in text
    work = project(tmp_path)
    (work / ".venv").symlink_to(Path(sys.executable).parent.parent)  # the agent's venv: this one
    (work / "xray.properties").write_text("XRAY_IMPORT_OK=true\n")  # an earlier build's file
    env = ci_env(sb, tmp_path, {"XRAY_PROJECT_KEY": "DEMO"})
    assert run_script(steps[2:3], work, env).returncode == 0
    assert not (work / "xray.properties").exists()
    code = run_script(steps[3:], work, env).returncode
    assert code == 1  # pytest's own code: some tests failed
    xray = java_properties(work / "xray.properties", tmp_path)
    assert xray["XRAY_IMPORT_OK"] == "true"
    execution = sb.store.execution(xray["XRAY_TEST_EXEC_KEY"])
    assert execution is not None and xray["XRAY_TEST_EXEC_URL"].endswith(f"/browse/{execution['key']}")
    assert (xray["XRAY_TESTS_PASSED"], xray["XRAY_TESTS_FAILED"], xray["XRAY_TESTS_TOTAL"]) == ("1", "1", "2")
    assert list((work / "reports").glob("*.xml"))  # what the post step's junit publishes


def readme_jq_lines() -> list[str]:
    """The shell lines of the README's "Any CI" jq block."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("### Any CI"):]
    block = section[section.index("```bash\n") + len("```bash\n"):]
    return [line for line in block[:block.index("```")].splitlines() if line.strip()]


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed (apt-get install jq; .ci/run does)")
def test_the_readme_jq_lines_read_a_real_summary(sb: Sandbox, tmp_path: Path) -> None:
    """Each jq line the README documents gives the right answer on the summary of a real import with a failed
    test, and the error line explains a failed import."""
    work = project(tmp_path)
    env = ci_env(sb, tmp_path, {"XRAY_PROJECT_KEY": "DEMO"})
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", "-c", os.devnull,
                    "--junitxml=reports/junit.xml"], cwd=work, env=env, capture_output=True, check=False)
    lines = readme_jq_lines()
    assert len(lines) == 7

    def run(line: str, extra: str = "") -> str:
        proc = subprocess.run(["bash", "-c", (shell_line(line) or "") + extra], cwd=work, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        return proc.stdout.strip()

    key = run(lines[0], '\necho "$KEY"')
    assert re.fullmatch(r"DEMO-\d+", key)
    assert subprocess.run([sys.executable, "-m", "xray_tasks", "import-results", "--report", "reports/junit.xml",
                           "--summary-file", "xray.json"], cwd=work, env=env, check=False).returncode == 0
    second = json_key(work / "xray.json")
    assert run(lines[1]).endswith(f"/browse/{second}")
    assert run(lines[2]) == second
    assert run(lines[3]) == "1 passed, 1 failed, 0 skipped"
    assert run(lines[4]) == "some tests failed"
    assert run(lines[5]) == ""
    assert run(lines[6]) == f"{second} 1 failed"
    failed = subprocess.run([sys.executable, "-m", "xray_tasks", "import-results", "--report", "reports/junit.xml",
                             "--summary-file", "xray.json"], cwd=work, env={**env, "XRAY_PROJECT_KEY": "NOPE"},
                            check=False)
    assert failed.returncode == 16
    assert run(lines[5]).startswith("import failed (exit 16): import junit.xml: Xray answered 400")


def json_key(path: Path) -> str:
    return str(json.loads(path.read_text())["key"])


def test_an_unwritable_dotenv_file_is_a_warning_after_the_key(sb: Sandbox, tmp_path: Path) -> None:
    """--dotenv-file pointing at a folder: the import still succeeds and prints its key, then one warning
    names the file (a rerun must not create a second Test Execution)."""
    from tests.cli_helpers import xray_tasks

    junit = tmp_path / "junit.xml"
    junit.write_text('<testsuite name="s"><testcase classname="a" name="t"/></testsuite>')
    proc = xray_tasks("import-results", "--report", str(junit), "--dotenv-file", str(tmp_path),
                      "--properties-file", str(tmp_path / "ok.properties"), env=sandbox_env(sb, tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "Imported junit.xml" in proc.stdout
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and f"could not write --dotenv-file {tmp_path}" in warnings[0]
    assert "XRAY_TESTS_PASSED=1\n" in (tmp_path / "ok.properties").read_text()
