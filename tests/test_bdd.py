"""The BDD loop through the real ``xray-tasks`` command over loopback, in both dialects: .feature files in a
git repository → ``import-features`` → Cucumber Tests in the stand-in; Tests → ``export-features`` → behave
or cucumber-js → ``import-results`` (or all of it in ``ci --features-from``) → runs on the same keys; and
bad input — no features, hostile export zips, unknown keys, Xray's per-file errors, options the deployment
lacks, untagged scenarios — ending in one line with its exit code and nothing half-done."""

from __future__ import annotations

import http.server
import io
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli_helpers import assert_one_clean_line, sandbox_env, xray_tasks
from tests.runners import _cucumber_js, _env
from xray_tasks.answers import Answer, features_imported
from xray_tasks.demo import SUITES
from xray_tasks.errors import XrayRejectedError
from xray_tasks.featurefiles import IN_MEMORY, find_features, pack
from xray_tasks.merge import ScratchFolder
from xray_tasks.sandbox import Sandbox
from xray_tasks.unzip import UnsafeZip, extract

DIALECTS = ["cloud", "server"]
SUITE = SUITES / "behave_calc"  # the demo's calculator feature and its behave steps
RUN_TIMEOUT = 120
CUCUMBER_STEPS = """\
const { Given, When, Then } = require('@cucumber/cucumber');
const assert = require('assert');
Given('a calculator', function () { this.result = 0; });
When('I add {int} and {int}', function (a, b) { this.result = a + b; });
When('I subtract {int} from {int}', function (a, b) { this.result = b - a; });
Then('the result is {int}', function (n) { assert.strictEqual(this.result, n); });
"""


def dialect_env(sb: Sandbox, tmp: Path, dialect: str, **extra: str) -> dict[str, str]:
    """Settings for one dialect of the sandbox, only through XRAY_* variables."""
    env = sandbox_env(sb, tmp, **extra)
    if dialect == "server":
        del env["XRAY_CLIENT_ID"], env["XRAY_CLIENT_SECRET"]
        env |= {"XRAY_DEPLOYMENT": "server", "XRAY_SERVER_USER": sb.config.server_user,
                "XRAY_SERVER_PASSWORD": sb.config.server_password}
    return env


def gherkin(sb: Sandbox, key: str) -> dict[str, Any]:
    """What the stand-in holds for a Cucumber Test or Precondition."""
    resp = httpx.get(f"{sb.url}/sandbox/gherkin/{key}")
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def listed(proc: subprocess.CompletedProcess[str], kind: str) -> list[str]:
    """The keys import-features printed for ``kind`` ("Test" or "Precondition")."""
    return re.findall(rf"^  {kind} +([A-Z]+-\d+)", proc.stdout, re.M)


def runs_of(sb: Sandbox, proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """Test key -> status of the Test Execution an import-results (or ci) printed."""
    found = re.search(r" into ([A-Z]+-\d+)", proc.stdout)
    assert found, proc.stdout + proc.stderr
    execution = sb.store.execution(found.group(1))
    assert execution is not None
    return {run["test_key"]: run["status"] for run in execution["runs"]}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def import_suite(sb: Sandbox, tmp: Path, dialect: str) -> list[str]:
    """Import the bundled calculator feature; its three Test keys in scenario order."""
    proc = xray_tasks("import-features", "--features", str(SUITE), env=dialect_env(sb, tmp, dialect))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    keys = listed(proc, "Test")
    assert [gherkin(sb, k)["summary"] for k in keys] == \
        ["Adds two numbers", "Subtracts, failing on purpose", "Adds <a> and <b>"]
    return keys


def passed_failed(dialect: str) -> tuple[str, str]:
    return ("PASSED", "FAILED") if dialect == "cloud" else ("PASS", "FAIL")


# -- import-features ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_features_in_git_become_tests_and_reimport_updates_them(dialect: str, sb: Sandbox, tmp_path: Path) -> None:
    """A repository's features folder is zipped with paths relative to it and becomes Cucumber Tests and a
    Precondition with the templates' fields (git commit label included) and the dialect's query and parts;
    importing again updates the same Tests."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed: apt-get install git")
    repo = tmp_path / "repo"
    (repo / "features/core").mkdir(parents=True)
    shutil.copy(SUITE / "calculator.feature", repo / "features/core")
    write(repo / "features/login.feature", "Feature: Login\n  Scenario: Good password\n    Given I sign in\n")
    write(repo / "features/README.md", "not a feature: left out of the zip\n")
    for cmd in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm",
                                                 "features"]):
        subprocess.run(["git", *cmd], cwd=repo, check=True, capture_output=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True,
                            text=True).stdout.strip()
    test_info = write(tmp_path / "test-info.json.j2", '{"fields": {"labels": ["bdd", {{ git.short_commit | json }}], '
                      '"description": {{ ("From %d feature files" % report.count) | json }}}}')
    precond_info = write(tmp_path / "precond-info.json.j2", '{"fields": {"labels": [{{ vars.team | json }}]}}')
    extra = ["--source", "calc-app"] if dialect == "cloud" else ["--update-repository"]
    args = ["import-features", "--features", "features", "--test-info-template", str(test_info),
            "--precondition-info-template", str(precond_info), "--var", "team=core", *extra]
    env = dialect_env(sb, tmp_path, dialect)

    proc = xray_tasks(*args, env=env, cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("Imported 2 feature files into DEMO: 4 Tests, 1 Precondition created or updated")
    tests, preconditions = listed(proc, "Test"), listed(proc, "Precondition")
    assert len(tests) == 4 and len(preconditions) == 1
    held = {key: gherkin(sb, key) for key in tests}
    assert sorted(t["summary"] for t in held.values()) == \
        ["Adds <a> and <b>", "Adds two numbers", "Good password", "Subtracts, failing on purpose"]
    assert {t["path"] for t in held.values()} == {"core/calculator.feature", "login.feature"}
    for test in held.values():
        assert test["type"] == "Test" and {"bdd", commit[:8]} <= set(test["labels"])
        assert test["source"] == ("calc-app" if dialect == "cloud" else None)
        if dialect == "server":  # --update-repository mirrors the folders
            assert test["folder"] == ("core" if test["path"].startswith("core/") else None)
    tested = {t["key"]: t for t in sb.store.tests()}
    assert all(tested[k]["type"] == "Cucumber" and tested[k]["description"] == "From 2 feature files" for k in tests)
    precondition = gherkin(sb, preconditions[0])
    assert (precondition["summary"], precondition["labels"]) == ("A fresh calculator", ["core"])
    request = sb.store.requests()[-1]
    assert request["path"].endswith("/import/feature") and request["status"] == 200
    assert request["parts"] == ["file", "testInfo", "precondInfo" if dialect == "cloud" else "preCondInfo"]
    assert "calc-app" in json.dumps(request["query"]) if dialect == "cloud" else "updateRepository" in \
        json.dumps(request["query"])

    again = xray_tasks(*args, env=env, cwd=repo)
    assert again.returncode == 0, again.stdout + again.stderr
    assert sorted(listed(again, "Test")) == sorted(tests) and listed(again, "Precondition") == preconditions
    assert len(sb.store.tests()) == len(tested)  # updated, not duplicated


def test_one_feature_file_is_sent_as_it_is_with_json_output(sb: Sandbox, tmp_path: Path) -> None:
    """A single .feature goes as the part 'file' in text/plain; --json prints one object with the keys and
    the scenario names the key tags give."""
    env = sandbox_env(sb, tmp_path)
    first = xray_tasks("import-features", "--features",
                       str(write(tmp_path / "a/f.feature", "Feature: F\n  Scenario: First name\n    Given x\n")),
                       env=env)
    assert first.returncode == 0, first.stderr
    key = listed(first, "Test")[0]
    feature = write(tmp_path / "b/tagged.feature", f"Feature: F\n  @TEST_{key}\n  Scenario: Known one\n    Given x\n")
    proc = xray_tasks("import-features", "--features", str(feature), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [(t["key"], t["summary"]) for t in data["tests"]] == [(key, "Known one")]
    assert (data["preconditions"], data["errors"], data["files"]) == ([], [], ["tagged.feature"])
    assert gherkin(sb, key)["summary"] == "Known one"  # the key tag chose the Test to update
    log = sb.store.requests()[-1]
    assert log["parts"] == ["file"] and log["content_type"].startswith("multipart/form-data")


def test_large_feature_sets_are_zipped_through_a_temporary_file(sb: Sandbox, tmp_path: Path) -> None:
    """Features over the in-memory limit are zipped into TMPDIR (streamed, removed afterwards) and imported
    whole."""
    filler = "\n".join(f"      row {n} " + "x" * 60 for n in range(40_000))  # about 2.8 MB per file
    for n in (1, 2):
        write(tmp_path / f"features/f{n}.feature", f'Feature: F{n}\n  Scenario: Big {n}\n    Given text\n'
                                                   f'      """\n{filler}\n      """\n')
    assert sum(p.stat().st_size for p in (tmp_path / "features").iterdir()) > IN_MEMORY
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    proc = xray_tasks("import-features", "--features", str(tmp_path / "features"),
                      env=sandbox_env(sb, tmp_path, TMPDIR=str(scratch)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(gherkin(sb, k)["summary"] for k in listed(proc, "Test")) == ["Big 1", "Big 2"]
    assert list(scratch.iterdir()) == []  # the temporary zip is gone
    log = sb.store.requests()[-1]
    assert log["parts"] == ["file"] and not log["chunked"] and log["body_size"] > 10_000
    with ScratchFolder(scratch) as folder:  # the same packing, looked at directly: a zip file in the folder
        upload = pack(find_features([str(tmp_path / "features")]), folder, 100 << 20)
        assert isinstance(upload.payload, str) and Path(upload.payload).parent.parent == scratch
        with zipfile.ZipFile(upload.payload) as archive:
            assert archive.namelist() == ["f1.feature", "f2.feature"] and archive.testzip() is None


def test_dry_run_maps_scenarios_and_backgrounds_and_sends_nothing(sb: Sandbox, tmp_path: Path) -> None:
    """The dry run lists each file with what each scenario (key tag with the configured prefix, or a new
    Test) and Background (its #@ comment key, or a new Precondition) becomes, and flags a bare key."""
    write(tmp_path / "features/a.feature", """Feature: A
  Background: Setup
    #@PRECOND_DEMO-9
    Given a start

  @TEST_DEMO-2 @smoke
  Scenario: Tagged
    Given x

  @DEMO-7
  Scenario: Bare key
    Given y
""")
    write(tmp_path / "features/sub/b.feature", "Feature: B\n  @TC:DEMO-3\n  Scenario: Other prefix\n    Given z\n")
    proc = xray_tasks("import-features", "--features", str(tmp_path / "features"), "--dry-run",
                      env=sandbox_env(sb, tmp_path))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert re.search(r'Background "Setup" +→ DEMO-9$', out, re.M), out
    assert re.search(r'Scenario "Tagged" +→ DEMO-2$', out, re.M)
    assert re.search(r'Scenario "Bare key" +→ new Test$', out, re.M)
    assert "@DEMO-7 looks like a Test key without the prefix TEST_" in out
    assert re.search(r"^  sub/b.feature$", out, re.M) and re.search(r'Scenario "Other prefix" +→ new Test$', out, re.M)
    assert "part 'file': features.zip, 2 feature files zipped (application/zip" in out
    assert out.rstrip().endswith("dry run: nothing was sent")

    other = xray_tasks("import-features", "--features", str(tmp_path / "features/sub"), "--dry-run", "--json",
                       env=sandbox_env(sb, tmp_path, XRAY_CUCUMBER_TEST_PREFIX="TC:"))
    assert other.returncode == 0, other.stderr
    data = json.loads(other.stdout)
    assert data["request"]["parts"][0]["content_type"] == "text/plain"
    assert data["features"] == [{"name": "b.feature", "problems": [], "items": [
        {"keyword": "Scenario", "name": "Other prefix", "line": 3, "keys": ["DEMO-3"], "target": "DEMO-3"}]}]
    assert sb.store.requests() == []  # not even an authentication


# -- the round trip with real runners -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("dialect", DIALECTS)
def test_export_run_with_behave_and_import_lands_on_the_same_tests(dialect: str, sb: Sandbox,
                                                                   tmp_path: Path) -> None:
    """Tests exported as .feature files, run by a real behave and imported put their runs on the same keys."""
    pytest.importorskip("behave", reason="behave is not installed: pip install behave")
    keys = import_suite(sb, tmp_path, dialect)
    env = dialect_env(sb, tmp_path, dialect)
    work = tmp_path / "work"
    (work / "features/steps").mkdir(parents=True)
    proc = xray_tasks("export-features", "--keys", ",".join(keys), "--out", "features/xray", env=env, cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = sorted((work / "features/xray").iterdir())
    assert [p.name for p in written] == [re.findall(r"features/xray/(\S+)", proc.stdout)[0]]
    text = written[0].read_text(encoding="utf-8")
    assert all(f"@TEST_{k}" in text for k in keys)
    shutil.copy(SUITE / "steps/calculator_steps.py", work / "features/steps")
    report = work / "reports/behave.json"
    subprocess.run([sys.executable, "-m", "behave", "features/xray", "--no-summary", "--no-snippets", "-f", "json",
                    "-o", str(report)], cwd=work, env=_env(), capture_output=True, timeout=RUN_TIMEOUT, check=False)
    assert report.is_file()
    imported = xray_tasks("import-results", "--report", str(report), "--strict-tags", env=env, cwd=work)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    passed, failed = passed_failed(dialect)
    assert runs_of(sb, imported) == {keys[0]: passed, keys[1]: failed, keys[2]: passed}


@pytest.mark.slow
def test_ci_features_from_exports_runs_behave_and_imports(sb: Sandbox, tmp_path: Path) -> None:
    """ci --features-from exports (--clean removes an earlier export's files first), runs behave on them,
    imports, and exits with behave's code."""
    pytest.importorskip("behave", reason="behave is not installed: pip install behave")
    keys = import_suite(sb, tmp_path, "cloud")
    work = tmp_path / "work"
    shutil.copytree(SUITE / "steps", work / "features/steps")
    stale = write(work / "features/xray/9_GONE.feature", "Feature: Gone\n  @TEST_DEMO-404\n  Scenario: Deleted\n"
                  "    Given a calculator\n")
    command = f"{sys.executable} -m behave features/xray --no-summary --no-snippets -f json -o reports/behave.json"
    proc = xray_tasks("ci", "--features-from", ",".join(keys), "--features-dir", "features/xray", "--clean",
                      "--command", command, "--report", "reports/behave.json",
                      env=sandbox_env(sb, tmp_path, PYTHONDONTWRITEBYTECODE="1"), cwd=work)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # behave's code: one scenario fails on purpose
    assert "removed 1 .feature file of an earlier export" in proc.stderr and not stale.exists()
    assert runs_of(sb, proc) == {keys[0]: "PASSED", keys[1]: "FAILED", keys[2]: "PASSED"}


@pytest.mark.slow
@pytest.mark.parametrize("dialect", DIALECTS)
def test_ci_features_from_with_cucumber_js(dialect: str, sb: Sandbox, tmp_path: Path) -> None:
    """The same loop with a real cucumber-js and its Cucumber JSON."""
    found = _cucumber_js()
    if found is None or shutil.which("node") is None:
        pytest.skip("cucumber-js not found: npm install --prefix .tools @cucumber/cucumber")
    exe, modules = found
    keys = import_suite(sb, tmp_path, dialect)
    work = tmp_path / "work"
    write(work / "steps/calculator_steps.js", CUCUMBER_STEPS)
    command = f"{exe} --require 'steps/*.js' --format json:reports/cucumber.json features/xray/"
    env = dialect_env(sb, tmp_path, dialect, NODE_PATH=str(modules), CUCUMBER_PUBLISH_QUIET="true", NO_COLOR="1")
    proc = xray_tasks("ci", "--features-from", ";".join(keys), "--command", command, "--report",
                      "reports/cucumber.json", "--strict-tags", env=env, cwd=work)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    passed, failed = passed_failed(dialect)
    assert runs_of(sb, proc) == {keys[0]: passed, keys[1]: failed, keys[2]: passed}
    assert (work / "features/xray").is_dir()  # the default --features-dir


# -- bad input: one line, its exit code, nothing half-done ---------------------------------------------------


def test_a_folder_without_features_is_refused_before_anything_is_sent(sb: Sandbox, tmp_path: Path) -> None:
    """A folder holding no .feature file (nor does a glob matching only other files) exits 12."""
    write(tmp_path / "features/notes.txt", "no Gherkin here\n")
    for given in (str(tmp_path / "features"), str(tmp_path / "features/*.txt")):
        proc = xray_tasks("import-features", "--features", given, env=sandbox_env(sb, tmp_path))
        line = assert_one_clean_line(proc, "sandbox-secret")
        assert proc.returncode == 12 and "no .feature file" in line, line
    assert sb.store.requests() == []


@pytest.mark.parametrize("dialect", DIALECTS)
def test_options_the_deployment_lacks_are_refused(dialect: str, sb: Sandbox, tmp_path: Path) -> None:
    """--update-repository on Cloud and --source on Server/DC exit 11 naming the option, sending nothing."""
    feature = write(tmp_path / "a.feature", "Feature: A\n  Scenario: S\n    Given x\n")
    option = ["--update-repository"] if dialect == "cloud" else ["--source", "repo"]
    proc = xray_tasks("import-features", "--features", str(feature), *option, env=dialect_env(sb, tmp_path, dialect))
    line = assert_one_clean_line(proc, "sandbox-secret")
    assert proc.returncode == 11 and option[0] in line, line
    assert sb.store.requests() == []


@pytest.mark.parametrize("dialect", DIALECTS)
def test_per_file_errors_fail_the_import_and_everything_is_listed(dialect: str, sb: Sandbox, tmp_path: Path) -> None:
    """A 200 carrying per-file errors lists the Tests imported and every error, and exits 16 (in --json too);
    --on-error warn makes it a warning."""
    write(tmp_path / "features/good.feature", "Feature: Good\n  Scenario: Fine\n    Given x\n")
    write(tmp_path / "features/bad.feature", "Feature: Bad\n  @TEST_DEMO-999\n  Scenario: Unknown key\n    Given y\n")
    env = dialect_env(sb, tmp_path, dialect)
    proc = xray_tasks("import-features", "--features", str(tmp_path / "features"), env=env)
    line = assert_one_clean_line(proc, "sandbox-secret", "admin:admin")
    assert proc.returncode == 16 and "DEMO-999" in line and "1 problem" in line, line
    tests = listed(proc, "Test")
    assert len(tests) == 1 and gherkin(sb, tests[0])["summary"] == "Fine"
    assert re.search(r"^  error: .*DEMO-999", proc.stdout, re.M), proc.stdout

    as_json = xray_tasks("import-features", "--features", str(tmp_path / "features"), "--json", env=env)
    data = json.loads(as_json.stdout)
    assert as_json.returncode == 16 and data["exit_code"] == 16 and [t["key"] for t in data["tests"]] == tests
    assert len(data["errors"]) == 1 and "DEMO-999" in data["errors"][0]

    warned = xray_tasks("import-features", "--features", str(tmp_path / "features"), "--on-error", "warn", env=env)
    assert warned.returncode == 0 and "xray-tasks: warning: feature import failed" in warned.stderr, warned.stderr


def test_nothing_importable_gets_xrays_text_and_the_tag_prefix_hint(sb: Sandbox, tmp_path: Path) -> None:
    """When no scenario can be imported Xray answers 400; the line carries its text and the tag-prefix hint."""
    write(tmp_path / "f.feature", "Feature: F\n  @TEST_DEMO-998\n  Scenario: Unknown\n    Given x\n")
    proc = xray_tasks("import-features", "--features", str(tmp_path / "f.feature"), env=sandbox_env(sb, tmp_path))
    line = assert_one_clean_line(proc, "sandbox-secret")
    assert proc.returncode == 16 and "There are no valid tests imported" in line and "tag-prefix" in line, line


@pytest.mark.parametrize("dialect", DIALECTS)
def test_unknown_keys_give_xrays_error_in_one_line(dialect: str, sb: Sandbox, tmp_path: Path) -> None:
    """Exporting keys Xray does not know exits 16 with Xray's own text, and writes nothing."""
    proc = xray_tasks("export-features", "--keys", "DEMO-999;DEMO-998", "--out", str(tmp_path / "out"),
                      env=dialect_env(sb, tmp_path, dialect))
    line = assert_one_clean_line(proc, "sandbox-secret", "admin:admin")
    assert proc.returncode == 16 and "not found: DEMO-999, DEMO-998" in line and "--keys" in line, line
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".xray-export-*"))
    assert "DEMO-999;DEMO-998" in json.dumps(sb.store.requests()[-1]["query"])  # joined with ';' as documented


def test_export_over_the_size_cap_is_refused(sb: Sandbox, tmp_path: Path) -> None:
    """An export unpacking to more than XRAY_MAX_EXPORT_MB exits 16 naming the setting, writing nothing."""
    big = "\n".join(f"      line {n} of a long doc string" for n in range(2000))
    write(tmp_path / "big.feature", f'Feature: Big\n  Scenario: Long\n    Given text\n      """\n{big}\n      """\n')
    env = sandbox_env(sb, tmp_path, XRAY_MAX_EXPORT_MB="0.02")
    imported = xray_tasks("import-features", "--features", str(tmp_path / "big.feature"), env=env)
    assert imported.returncode == 0, imported.stderr
    proc = xray_tasks("export-features", "--keys", listed(imported, "Test")[0], "--out", str(tmp_path / "out"),
                      env=env)
    line = assert_one_clean_line(proc, "sandbox-secret")
    assert proc.returncode == 16 and "too large" in line and "XRAY_MAX_EXPORT_MB" in line, line
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".xray-export-*"))


def test_clean_refuses_the_working_directory_and_keeps_what_is_not_an_export(sb: Sandbox, tmp_path: Path) -> None:
    """--clean refuses the working directory; in its own folder it removes only the .feature files at the top,
    keeping step definitions, other files and sub-folders."""
    keys = import_suite(sb, tmp_path, "cloud")
    env = sandbox_env(sb, tmp_path)
    refused = xray_tasks("export-features", "--keys", keys[0], "--out", ".", "--clean", env=env, cwd=tmp_path)
    line = assert_one_clean_line(refused, "sandbox-secret")
    assert refused.returncode == 11 and "working directory" in line, line
    out = tmp_path / "out"
    kept = [write(out / "steps/steps.py", "# steps\n"), write(out / "notes.txt", "x\n"),
            write(out / "mine/own.feature", "Feature: Mine\n")]
    old = write(out / "1_OLD.feature", "Feature: Old\n")
    proc = xray_tasks("export-features", "--keys", keys[0], "--out", str(out), "--clean", env=env)
    assert proc.returncode == 0, proc.stderr
    assert not old.exists() and all(p.exists() for p in kept)
    assert sorted(p.name for p in out.glob("*.feature")) == ["1_" + gherkin(sb, keys[0])["preconditions"][0]
                                                             + ".feature"]


@pytest.mark.slow
def test_strict_tags_refuses_untagged_scenarios_before_sending(sb: Sandbox, tmp_path: Path) -> None:
    """A real behave report whose scenarios carry no Test key gets a note naming a few of them; with
    --strict-tags (import-results or ci) it exits 12 before anything is sent."""
    pytest.importorskip("behave", reason="behave is not installed: pip install behave")
    scenarios = "".join(f"\n  Scenario: Untagged {n}\n    Given a calculator\n" for n in range(1, 6))
    write(tmp_path / "features/plain.feature", f"Feature: Plain\n{scenarios}\n  @TEST_DEMO-2\n  Scenario: Tagged\n"
                                               "    Given a calculator\n")
    shutil.copytree(SUITE / "steps", tmp_path / "features/steps")
    command = f"{sys.executable} -m behave features --no-summary --no-snippets -f json -o behave.json"
    env = sandbox_env(sb, tmp_path)
    ci = xray_tasks("ci", "--command", command, "--report", "behave.json", "--strict-tags", env=env, cwd=tmp_path)
    line = assert_one_clean_line(ci, "sandbox-secret")
    assert ci.returncode == 12 and "--strict-tags: 5 scenarios" in line, line
    assert "'Plain: Untagged 1', 'Plain: Untagged 2', 'Plain: Untagged 3' and 2 more" in line
    # ci authenticated before the tests (its pre-flight check); nothing was imported
    assert [r["path"] for r in sb.store.requests()] == ["/api/v2/authenticate"]
    strict = xray_tasks("import-results", "--report", "behave.json", "--strict-tags", env=env, cwd=tmp_path)
    assert strict.returncode == 12 and len(sb.store.requests()) == 1
    noted = xray_tasks("import-results", "--report", "behave.json", env=env, cwd=tmp_path)
    assert "note: 5 scenarios in" in noted.stderr and "carry no Test key tag (@TEST_<KEY>)" in noted.stderr
    assert noted.returncode == 16  # the stand-in, like Xray, rejects the untagged results


# -- hostile export zips, from a stub Xray ------------------------------------------------------------------


def zip_of(*entries: tuple[zipfile.ZipInfo | str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return out.getvalue()


def entry(name: str, mode: int = 0o100644) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def lying_sizes(data: bytes, declared: int) -> bytes:
    """The zip ``data`` (one entry) with its uncompressed size rewritten in both headers."""
    patched = bytearray(data)
    local, central = patched.find(b"PK\x03\x04"), patched.find(b"PK\x01\x02")
    struct.pack_into("<I", patched, local + 22, declared)
    struct.pack_into("<I", patched, central + 24, declared)
    return bytes(patched)


FEATURE = b"Feature: F\n  Scenario: S\n    Given x\n"
BOMB = b"\0" * (3 << 20)
HOSTILE: dict[str, tuple[bytes, str]] = {
    "zip-slip": (zip_of(("ok.feature", FEATURE), ("../evil.feature", FEATURE)), "climbs out of the folder"),
    "absolute path": (zip_of(("ok.feature", FEATURE), ("/tmp/evil.feature", FEATURE)), "absolute path"),
    "backslash": (zip_of((r"..\evil.feature", FEATURE),), "backslash"),
    "drive letter": (zip_of(("C:/evil.feature", FEATURE),), "drive letter"),
    "symlink": (zip_of(("ok.feature", FEATURE), (entry("evil.feature", stat.S_IFLNK | 0o777), b"/etc/passwd")),
                "symbolic link"),
    "device": (zip_of((entry("evil.feature", stat.S_IFCHR | 0o644), b""),), "not a regular file"),
    "twice": (zip_of(("a/x.feature", FEATURE), ("A/X.feature", FEATURE)), "appears twice"),
    "file and folder": (zip_of(("a.feature", FEATURE), ("a.feature/b.feature", FEATURE)), "both a file and a folder"),
    "declared bomb": (zip_of(("ok.feature", FEATURE), ("bomb.feature", BOMB)), "unpacks to 3.0 MiB"),
    "lying bomb": (lying_sizes(zip_of(("bomb.feature", BOMB),), 100), "cannot be read"),
    "not a zip": (b"PK\x03\x04 but nothing else", "not a readable zip file"),
}


def stub_env(stub: StubXray, tmp: Path, **extra: str) -> dict[str, str]:
    """Cloud settings pointed at a stub Xray."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XRAY_", "INVOKE_"))}
    return env | {"XRAY_BASE_URL": stub.url, "XRAY_CLIENT_ID": "stub", "XRAY_CLIENT_SECRET": "stub-secret",
                  "XRAY_TOKEN_CACHE": str(tmp / "tokens.json"), "XRAY_ENV_FILE": os.devnull,
                  "XRAY_MAX_RETRIES": "0", **extra}


class StubXray:
    """A loopback Xray Cloud that authenticates anyone and answers every feature export with ``body``."""

    def __init__(self, body: bytes, content_type: str = "application/octet-stream") -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def reply(self, status: int, data: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.reply(200, json.dumps("stub-token-0123456789abcdef").encode(), "application/json")

            def do_GET(self) -> None:
                self.reply(200, body, content_type)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> StubXray:
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("case", ["zip-slip", "symlink", "declared bomb", "lying bomb"])
def test_hostile_export_zips_are_refused_and_nothing_is_written(case: str, tmp_path: Path) -> None:
    """A zip with a zip-slip entry, a symlink, or a bomb (honest or lying sizes) exits 16 naming the entry's
    problem; neither --out nor anything beside it is written, and an earlier export stays."""
    body, reason = HOSTILE[case]
    out = tmp_path / "project/features/xray"
    earlier = write(out / "1_EARLIER.feature", "Feature: Earlier\n")
    with StubXray(body) as stub:
        env = stub_env(stub, tmp_path, XRAY_MAX_EXPORT_MB="1")
        proc = xray_tasks("export-features", "--keys", "DEMO-2", "--out", str(out), "--clean", env=env, cwd=tmp_path)
    line = assert_one_clean_line(proc, "stub-secret")
    assert proc.returncode == 16 and reason in line and "nothing was written" in line, line
    assert [p.name for p in out.iterdir()] == [earlier.name]  # --clean removes nothing when the export fails
    leftovers = [p for p in tmp_path.rglob("*") if p.name in ("evil.feature", "bomb.feature")
                 or p.name.startswith(".xray-export-")]
    assert leftovers == []


def test_a_plain_feature_answer_and_an_octet_stream_zip_are_both_taken(tmp_path: Path) -> None:
    """An export is recognised by its bytes: a zip as application/octet-stream, or one plain .feature text
    (Server without fz=true) named from Content-Disposition or 1.feature."""
    with StubXray(zip_of(("1_DEMO-5.feature", FEATURE), ("notes.txt", b"x"))) as stub:
        env = stub_env(stub, tmp_path)
        proc = xray_tasks("export-features", "--keys", "DEMO-2", "--out", "a", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["1_DEMO-5.feature"]
    assert "left out 1 entry that is not .feature files: notes.txt" in proc.stderr
    with StubXray(FEATURE, "text/plain") as stub:
        env["XRAY_BASE_URL"] = stub.url
        proc = xray_tasks("export-features", "--keys", "DEMO-2", "--out", "b", "--json", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["files"] == ["1.feature"]
    assert (tmp_path / "b/1.feature").read_bytes() == FEATURE


# -- the pieces, directly -------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_extract_refuses_every_unsafe_archive_before_writing(case: str, tmp_path: Path) -> None:
    """Every hostile archive is refused with its reason, and the target folder stays empty."""
    body, reason = HOSTILE[case]
    archive = tmp_path / "export.zip"
    archive.write_bytes(body)
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(UnsafeZip, match=re.escape(reason)):
        extract(archive, target, suffixes=(".feature",), max_bytes=1 << 20)
    assert [p for p in target.rglob("*") if p.is_file()] == []


def test_extract_counts_entries_and_writes_only_features(tmp_path: Path) -> None:
    """Too many entries is refused; a sound archive gives its .feature files (sub-folders kept) and names
    the entries left out."""
    archive = tmp_path / "many.zip"
    archive.write_bytes(zip_of(*((f"{n}.feature", FEATURE) for n in range(6))))
    with pytest.raises(UnsafeZip, match="6 entries, more than 5") as refused:
        extract(archive, tmp_path / "t1", suffixes=(".feature",), max_bytes=1 << 20, max_entries=5)
    assert refused.value.too_large
    archive.write_bytes(zip_of(("dir/", b""), ("dir/a.feature", FEATURE), ("b.feature", FEATURE), ("c.txt", b"x")))
    done = extract(archive, tmp_path / "t2", suffixes=(".feature",), max_bytes=1 << 20)
    assert (done.files, done.skipped) == (("dir/a.feature", "b.feature"), ("c.txt",))
    assert (tmp_path / "t2/dir/a.feature").read_bytes() == FEATURE and not (tmp_path / "t2/c.txt").exists()


def _answer(body: Any, status: int = 200) -> Answer:
    return Answer(status, {"content-type": "application/json"}, json.dumps(body).encode())


def test_feature_import_answers_are_read_by_their_shape() -> None:
    """Cloud's object, Server's array and Server's problem object give the same Tests, Preconditions and
    errors; an error object, a key that is no issue key, or another shape are refusals."""
    ref = {"id": "1", "key": "CALC-1", "self": "x"}
    cloud = features_imported(_answer({"updatedOrCreatedTests": [ref], "updatedOrCreatedPreconditions":
                                       [{**ref, "key": "CALC-2"}], "errors": ["Error in file a.feature: bad"]}), "t")
    server = features_imported(_answer({"message": "Error in file a.feature: bad\n", "testIssues": [
        {**ref, "issueType": {"name": "Test"}}], "preconditionIssues": [
        {**ref, "key": "CALC-2", "issueType": {"name": "Pre-Condition"}}]}), "t")
    assert cloud == server
    assert [r.key for r in cloud.tests] == ["CALC-1"] and [r.key for r in cloud.preconditions] == ["CALC-2"]
    listed_ = features_imported(_answer([{**ref, "issueType": {"name": "Test"}},
                                         {**ref, "key": "CALC-2", "issueType": {"name": "Precondition"}}]), "t")
    assert (listed_.tests, listed_.preconditions, listed_.errors) == (cloud.tests, cloud.preconditions, ())
    for bad in ({"error": "There are no valid tests imported"}, [{"key": "<script>"}], {"something": "else"}, "x"):
        with pytest.raises(XrayRejectedError):
            features_imported(_answer(bad), "t")


def test_tag_prefix_settings_are_checked(sb: Sandbox, tmp_path: Path) -> None:
    """A prefix written with its '@' is refused naming the setting; 'none' means bare keys."""
    feature = write(tmp_path / "a.feature", "Feature: A\n  @DEMO-4\n  Scenario: Bare\n    Given x\n")
    bad = xray_tasks("import-features", "--features", str(feature), "--dry-run",
                     env=sandbox_env(sb, tmp_path, XRAY_CUCUMBER_TEST_PREFIX="@TEST_"))
    line = assert_one_clean_line(bad, "sandbox-secret")
    assert bad.returncode == 11 and "XRAY_CUCUMBER_TEST_PREFIX" in line, line
    bare = xray_tasks("import-features", "--features", str(feature), "--dry-run",
                      env=sandbox_env(sb, tmp_path, XRAY_CUCUMBER_TEST_PREFIX="none"))
    assert bare.returncode == 0 and re.search(r'Scenario "Bare" +→ DEMO-4$', bare.stdout, re.M), bare.stdout


def test_download_streams_to_disk_past_the_json_answer_cap(tmp_path: Path) -> None:
    """An export larger than the 8 MiB cap on JSON answers is streamed to disk and unpacked whole."""
    body = zip_of(*((f"{n}.feature", FEATURE + os.urandom(3 << 20)) for n in range(3)))
    assert len(body) > 8 << 20
    with StubXray(body) as stub:
        proc = xray_tasks("export-features", "--keys", "DEMO-2", "--out", "big", env=stub_env(stub, tmp_path),
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.stat().st_size for p in (tmp_path / "big").iterdir()) == [len(FEATURE) + (3 << 20)] * 3
