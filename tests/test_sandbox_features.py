"""The sandbox's Cucumber feature import and export over loopback HTTP, in both dialects, and the BDD round
trip with real runners: features → Tests → exported .feature files → behave / cucumber-js → results on the
same Test keys."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cloud_api import CLIENT
from tests.runners import _cucumber_js, _env
from xray_tasks.gherkin import GherkinError, parse
from xray_tasks.sandbox import Sandbox
from xray_tasks.sandbox.featurezip import MAX_ENTRIES, MAX_FILE_BYTES

DIALECTS = ["cloud", "server"]
RUN_TIMEOUT = 120


def feature(text: str) -> bytes:
    return textwrap.dedent(text).lstrip("\n").encode()


def zipped(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def unzipped(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


@dataclass
class Outcome:
    """A feature import's answer, the same for both dialects."""

    status: int
    tests: list[str]
    preconditions: list[str]
    errors: list[str]
    body: Any


class Xray:
    """One dialect of one sandbox, authenticated, over httpx."""

    def __init__(self, sb: Sandbox, dialect: str) -> None:
        self.sb = sb
        self.dialect = dialect
        self.http = httpx.Client(base_url=sb.url, timeout=30)
        if dialect == "cloud":
            token = self.http.post("/api/v2/authenticate", json=CLIENT).json()
            self.http.headers["Authorization"] = f"Bearer {token}"
        else:
            self.http.auth = ("admin", "admin")

    @property
    def cloud(self) -> bool:
        return self.dialect == "cloud"

    def import_features(self, name: str, data: bytes, project: str = "CALC", extra: dict[str, Any] | None = None,
                        **params: str) -> Outcome:
        path = "/api/v2/import/feature" if self.cloud else "/rest/raven/2.0/import/feature"
        ctype = "application/zip" if name.endswith(".zip") else "text/plain"
        files: dict[str, Any] = {"file": (name, data, ctype)}
        for part, doc in (extra or {}).items():
            files[part] = (f"{part}.json", json.dumps(doc).encode(), "application/json")
        resp = self.http.post(path, params={"projectKey": project, **params}, files=files)
        body = resp.json()
        if resp.status_code != 200:
            return Outcome(resp.status_code, [], [], [], body)
        if self.cloud:
            return Outcome(200, [t["key"] for t in body["updatedOrCreatedTests"]],
                           [p["key"] for p in body["updatedOrCreatedPreconditions"]], body["errors"], body)
        listed = body if isinstance(body, list) else body["testIssues"] + body["preconditionIssues"]
        return Outcome(200, [i["key"] for i in listed if i["issueType"]["name"] == "Test"],
                       [i["key"] for i in listed if i["issueType"]["name"] == "Pre-Condition"],
                       [] if isinstance(body, list) else body["message"].split("\n"), body)

    def export(self, **params: str) -> httpx.Response:
        if self.cloud:
            return self.http.get("/api/v2/export/cucumber", params=params)
        return self.http.get("/rest/raven/2.0/export/test", params={"fz": "true", **params})

    def import_results(self, fmt: str, report: bytes) -> str:
        path = f"/api/v2/import/execution/{fmt}" if self.cloud else f"/rest/raven/2.0/import/execution/{fmt}"
        resp = self.http.post(path, content=report, headers={"Content-Type": "application/json"})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        return str(body["key"] if self.cloud else body["testExecIssue"]["key"])

    def gherkin(self, key: str) -> dict[str, Any]:
        resp = self.http.get(f"/sandbox/gherkin/{key}")
        assert resp.status_code == 200, resp.text
        data: dict[str, Any] = resp.json()
        return data

    def story(self, summary: str, project: str = "CALC") -> str:
        resp = self.http.post("/sandbox/issues", json={"project": project, "type": "Story", "summary": summary})
        assert resp.status_code == 201, resp.text
        return str(resp.json()["key"])

    def test_keys(self) -> list[str]:
        return [t["key"] for t in self.http.get("/sandbox/tests").json()]


@pytest.fixture(params=DIALECTS)
def xray(request: pytest.FixtureRequest, sb: Sandbox) -> Xray:
    return Xray(sb, request.param)


LOGIN = feature("""
    @REQ_{req} @web
    Feature: Login
      Users sign in with a password.

      Background: Logged out
        Given I am logged out

      @smoke @id:login-1
      Scenario: Good password
        When I sign in with
          | user  | password |
          | alice | s3cret   |
        Then I see "Welcome"

      Scenario Outline: Bad password <n>
        When I sign in with password "<pw>"
          \"\"\"
          Scenario: this doc string is not a header
          \"\"\"
        Then I see an error

        Examples:
          | n | pw   |
          | 1 | nope |
    """)


def login(req: str) -> bytes:
    return LOGIN.replace(b"{req}", req.encode())


# -- import ----------------------------------------------------------------------------------------


def test_single_feature_creates_cucumber_tests_and_a_precondition(xray: Xray) -> None:
    """A .feature becomes Cucumber Tests (summary, steps, scenario type, tag labels) linked to the Feature's
    requirement and to a Precondition made from the Background, answered in the dialect's own shape."""
    req = xray.story("Sign in")
    got = xray.import_features("login.feature", login(req))
    assert got.status == 200 and len(got.tests) == 2 and len(got.preconditions) == 1 and got.errors == []
    if xray.cloud:
        assert set(got.body) == {"updatedOrCreatedTests", "updatedOrCreatedPreconditions", "errors"}
        assert got.body["updatedOrCreatedTests"][0]["self"].endswith(f"/rest/api/2/issue/"
                                                                     f"{got.body['updatedOrCreatedTests'][0]['id']}")
    else:
        assert isinstance(got.body, list) and [i["issueType"]["name"] for i in got.body] == \
            ["Test", "Test", "Pre-Condition"]
    good, outline = (xray.gherkin(k) for k in got.tests)
    assert (good["summary"], good["scenario_type"], outline["scenario_type"]) == \
        ("Good password", "Scenario", "Scenario Outline")
    assert good["steps"].splitlines()[:2] == ["When I sign in with", "  | user  | password |"]
    assert "Scenario: this doc string is not a header" in outline["steps"]
    assert outline["steps"].splitlines()[-3:] == ["Examples:", "  | n | pw   |", "  | 1 | nope |"]
    path_label = [] if xray.cloud else ["login.feature"]  # Server labels what it creates with the path
    assert good["labels"] == ["smoke", "id:login-1", *path_label]
    assert good["requirements"] == [req] and good["preconditions"] == got.preconditions
    precondition = xray.gherkin(got.preconditions[0])
    assert (precondition["type"], precondition["summary"], precondition["steps"]) == \
        ("Precondition", "Logged out", "Given I am logged out")
    types = {t["key"]: t["type"] for t in xray.http.get("/sandbox/tests").json()}
    assert [types[k] for k in got.tests] == ["Cucumber", "Cucumber"]


def test_zip_with_sub_folders_keeps_paths_and_reimport_updates(xray: Xray) -> None:
    """A zip's .feature files are read from sub-folders (other entries ignored) with their relative paths,
    and importing the same zip again updates the same Tests instead of creating new ones."""
    upload = zipped({
        "core/add.feature": feature("""
            Feature: Add
              Scenario: Adds
                Given 1 + 1
            """),
        "web/deep/sub.feature": feature("""
            Feature: Subtract
              Scenario: Subtracts
                Given 2 - 1
              Scenario: Subtracts twice
                Given 3 - 1 - 1
            """),
        "README.md": b"not a feature",
        "web/": b"",
    })
    params = {"source": "calc-repo"} if xray.cloud else {"updateRepository": "true"}
    first = xray.import_features("features.zip", upload, **params)
    assert first.status == 200 and len(first.tests) == 3 and first.errors == []
    paths = [xray.gherkin(k)["path"] for k in first.tests]
    assert paths == ["core/add.feature", "web/deep/sub.feature", "web/deep/sub.feature"]
    if xray.cloud:
        assert xray.gherkin(first.tests[0])["source"] == "calc-repo"
    else:
        assert [xray.gherkin(k)["folder"] for k in first.tests] == ["core", "web/deep", "web/deep"]
    before = xray.test_keys()
    again = xray.import_features("features.zip", upload, **params)
    assert again.tests == first.tests
    assert xray.test_keys() == before


def test_key_tag_updates_that_test(xray: Xray) -> None:
    """A scenario tagged @TEST_<KEY> updates that Test — new summary and steps — even from another file."""
    first = xray.import_features("a.feature", feature("""
        Feature: F
          Scenario: Old name
            Given old steps
        """))
    key = first.tests[0]
    updated = xray.import_features("elsewhere/b.feature", feature(f"""
        Feature: F
          @TEST_{key} @fresh
          Scenario: New name
            Given new steps
        """))
    assert updated.tests == [key]
    got = xray.gherkin(key)
    assert (got["summary"], got["steps"]) == ("New name", "Given new steps")
    assert "fresh" in got["labels"]


def test_same_summary_in_the_project_is_updated(xray: Xray) -> None:
    """Without a key, a scenario whose summary matches a Cucumber Test of the project updates it."""
    key = xray.import_features("a.feature", b"Feature: F\n  Scenario: Shared name\n    Given one\n").tests[0]
    again = xray.import_features("b.feature", b"Feature: G\n  Scenario: Shared name\n    Given two\n")
    assert again.tests == [key]
    assert xray.gherkin(key)["steps"] == "Given two"


def test_unknown_key_is_a_per_file_error_in_a_200(xray: Xray) -> None:
    """A key that does not exist leaves its file out and is reported per file, while the other files are
    imported (Cloud: "Error in file …" in errors; Server: the object with a message)."""
    upload = zipped({
        "good.feature": b"Feature: G\n  Scenario: Works\n    Given fine\n",
        "bad.feature": b"Feature: B\n  Scenario: Left out too\n    Given x\n"
                       b"  @TEST_CALC-999\n  Scenario: Missing\n    Given y\n",
    })
    got = xray.import_features("features.zip", upload)
    assert got.status == 200 and len(got.tests) == 1
    if xray.cloud:
        assert got.errors == ["Error in file bad.feature: Test with key CALC-999 was not found!"]
    else:
        assert isinstance(got.body, dict) and got.body["message"] == "Test with key CALC-999 was not found!"
    summaries = {t["summary"] for t in xray.http.get("/sandbox/tests").json()}
    assert "Left out too" not in summaries  # the whole file is left out


def test_nothing_valid_is_a_400_and_keeps_nothing(xray: Xray) -> None:
    """When no Test can be imported the answer is 400 "There are no valid tests imported", nothing is
    created, and the request log says why."""
    before = xray.test_keys()
    got = xray.import_features("only.feature", feature("""
        Feature: F
          Background:
            Given a precondition that must not be kept
          Scenario: Fine
            Given fine
          @TEST_CALC-999
          Scenario: Missing
            Given y
        """))
    assert (got.status, got.body) == (400, {"error": "There are no valid tests imported"})
    assert xray.test_keys() == before
    assert xray.http.get("/sandbox/health").json()["tests"] == len(before)
    log = xray.http.get("/sandbox/requests").json()[-1]
    assert log["note"] == "Error in file only.feature: Test with key CALC-999 was not found!"


@pytest.mark.parametrize("prefix", ["TEST_", "TC:"], ids=["default prefix", "custom prefix TC:"])
def test_only_the_configured_prefix_names_a_test(prefix: str) -> None:
    """A tag with the configured prefix updates the Test; a key-looking tag with another prefix (or none)
    is not recognised, so it becomes a label and a new Test is created, as on a real instance."""
    with Sandbox(test_prefix=prefix) as sb:
        xray = Xray(sb, "cloud")
        key = xray.import_features("a.feature", b"Feature: F\n  Scenario: Target\n    Given x\n").tests[0]
        other = "TC:" if prefix == "TEST_" else "TEST_"
        got = xray.import_features("b.feature", feature(f"""
            Feature: G
              @{prefix}{key}
              Scenario: Renamed by key
                Given y
              @{other}{key} @{key}
              Scenario: Not a key tag
                Given z
            """))
        assert got.tests[0] == key and xray.gherkin(key)["summary"] == "Renamed by key"
        created = xray.gherkin(got.tests[1])
        assert got.tests[1] != key and created["labels"] == [f"{other}{key}", key]
        sb.close()


def test_rule_backgrounds_apply_to_their_rule_only(sb: Sandbox) -> None:
    """A Rule's Background becomes a Precondition of that Rule's scenarios only; the Feature's applies to all."""
    xray = Xray(sb, "cloud")
    got = xray.import_features("rules.feature", feature("""
        Feature: Accounts
          Background: Signed out
            Given I am signed out

          Scenario: Anyone browses
            Given the home page

          Rule: Admins
            Background: An admin exists
              Given an admin account

            Scenario: Admin signs in
              When the admin signs in
        """))
    anyone, admin = got.tests
    signed_out, admin_exists = got.preconditions
    assert xray.gherkin(anyone)["preconditions"] == [signed_out]
    assert xray.gherkin(admin)["preconditions"] == [signed_out, admin_exists]


def test_project_parameters_per_dialect(sb: Sandbox) -> None:
    """Cloud takes projectKey or projectId and Server projectKey; a missing or unknown project, or an unknown
    parameter, is a 400 before anything is imported."""
    cloud, server = Xray(sb, "cloud"), Xray(sb, "server")
    body = b"Feature: F\n  Scenario: S\n    Given x\n"
    project = sb.store.project("CALC")
    assert project is not None
    calc_id = str(project["id"])
    by_id = cloud.http.post("/api/v1/import/feature", params={"projectId": calc_id},
                            files={"file": ("a.feature", body, "text/plain")})
    assert by_id.status_code == 200 and by_id.json()["updatedOrCreatedTests"][0]["key"].startswith("CALC-")
    cases = [
        (cloud, "/api/v2/import/feature", {}, "Error importing features: a projectKey or a projectId query parameter "
                                              "is required to import the features!"),
        (cloud, "/api/v2/import/feature", {"projectKey": "NOPE"},
         "Error retrieving Project from Jira with key \"NOPE\": No project could be found with key 'NOPE'."),
        (server, "/rest/raven/latest/import/feature", {}, "Error importing features: the projectKey query parameter "
                                                          "is required!"),
        (server, "/rest/raven/2.0/import/feature", {"projectKey": "CALC", "updateRepository": "yes"},
         "Error importing features: updateRepository must be true or false."),
        (server, "/rest/raven/2.0/import/feature", {"projectKey": "CALC", "source": "repo"},
         "Error importing results: unknown query parameter(s): source. Supported (case-sensitive): projectKey, "
         "updateRepository."),
    ]
    for client, path, params, message in cases:
        resp = client.http.post(path, params=params, files={"file": ("a.feature", body, "text/plain")})
        assert (resp.status_code, resp.json()) == (400, {"error": message}), params


def test_precondition_comment_updates_and_unknown_precondition_errors(xray: Xray) -> None:
    """A #@PRECOND_<KEY> comment under Background updates that Precondition; an unknown one is a
    per-file error."""
    first = xray.import_features("a.feature", b"Feature: F\n  Background: Start\n    Given old start\n"
                                              b"  Scenario: S\n    Given x\n")
    pre = first.preconditions[0]
    second = xray.import_features("b.feature", feature(f"""
        Feature: G
          Background: Start again
            #@PRECOND_{pre}
            Given new start
          Scenario: T
            Given y
        """))
    assert second.preconditions == [pre]
    assert (xray.gherkin(pre)["summary"], xray.gherkin(pre)["steps"]) == ("Start again", "Given new start")
    assert xray.gherkin(second.tests[0])["preconditions"] == [pre]
    bad = xray.import_features("ok.zip", zipped({
        "c.feature": b"Feature: H\n  Background:\n    #@PRECOND_CALC-999\n  Scenario: U\n    Given z\n",
        "d.feature": b"Feature: I\n  Scenario: V\n    Given w\n"}))
    assert len(bad.tests) == 1
    assert bad.errors == (["Error in file c.feature: Precondition with key CALC-999 was not found!"] if xray.cloud
                          else ["Precondition with key CALC-999 was not found!"])


def test_language_and_gherkin_errors(xray: Xray) -> None:
    """A '# language: de' file imports with German keywords; a broken file is a per-file error naming the line."""
    got = xray.import_features("both.zip", zipped({
        "de.feature": "# language: de\nFunktionalität: Rechner\n  Szenariogrundriss: Addieren <a>\n"
                      "    Angenommen <a>\n    Beispiele:\n      | a |\n      | 1 |\n".encode(),
        "broken.feature": b"Feature: X\n  @tag\n  Given a step in the wrong place\n"}))
    assert len(got.tests) == 1
    german = xray.gherkin(got.tests[0])
    assert (german["summary"], german["language"], german["scenario_type"]) == \
        ("Addieren <a>", "de", "Scenario Outline")
    message = "the file is not valid Gherkin: line 3: expected a Feature, Rule, Scenario or Examples line after " \
              "the tags of line 2, got 'Given a step in the wrong place'"
    assert got.errors == ([f"Error in file broken.feature: {message}"] if xray.cloud else [message])


def test_test_info_applies_to_created_tests(sb: Sandbox) -> None:
    """testInfo and precondInfo fields (labels, description) go to the issues the import creates."""
    xray = Xray(sb, "cloud")
    got = xray.import_features("a.feature", b"Feature: F\n  Background:\n    Given p\n  Scenario: S\n    Given x\n",
                               extra={"testInfo": {"fields": {"labels": ["from-ci"], "description": "Made by CI"}},
                                      "precondInfo": {"fields": {"labels": ["pre-ci"]}}})
    assert xray.gherkin(got.tests[0])["labels"] == ["from-ci"]
    assert next(t for t in sb.store.tests() if t["key"] == got.tests[0])["description"] == "Made by CI"
    assert xray.gherkin(got.preconditions[0])["labels"] == ["pre-ci"]


@pytest.mark.parametrize("entries, reason", [
    ({"../evil.feature": b"Feature: E\n  Scenario: S\n    Given x\n"}, "unsafe path"),
    ({"/abs.feature": b"Feature: E\n  Scenario: S\n    Given x\n"}, "unsafe path"),
    ({"big.feature": b"#" * (MAX_FILE_BYTES + 1)}, "larger than"),
    ({f"f{i}.txt": b"" for i in range(MAX_ENTRIES + 1)}, "entries, more than"),
], ids=["parent folder", "absolute path", "zip bomb", "too many entries"])
def test_unsafe_zips_are_refused(entries: dict[str, bytes], reason: str, xray: Xray) -> None:
    """Path tricks, huge uncompressed features and entry floods are refused with a 400 before anything
    is imported."""
    got = xray.import_features("features.zip", zipped(entries))
    assert got.status == 400 and reason in got.body["error"], got.body
    assert xray.test_keys() == []


# -- the parser against the official one --------------------------------------------------------------

OFFICIAL_PARSER = """
const Gherkin = require('@cucumber/gherkin');
const Messages = require('@cucumber/messages');
const fs = require('fs');
const out = [];
for (const file of process.argv.slice(2)) {
  try {
    const parser = new Gherkin.Parser(new Gherkin.AstBuilder(Messages.IdGenerator.incrementing()),
                                      new Gherkin.GherkinClassicTokenMatcher());
    const f = parser.parse(fs.readFileSync(file, 'utf8')).feature;
    if (!f) { out.push(null); continue; }
    const backgrounds = [], scenarios = [];
    const walk = (children, rule) => {
      for (const c of children) {
        if (c.background) backgrounds.push({name: c.background.name, rule});
        if (c.scenario) scenarios.push({name: c.scenario.name, rule, outline: c.scenario.examples.length > 0,
          tags: c.scenario.tags.map(t => t.name.slice(1)),
          steps: c.scenario.steps.map(s => (s.keyword + s.text).trim())});
        if (c.rule) walk(c.rule.children, c.rule.name);
      }
    };
    walk(f.children, null);
    out.push({name: f.name, language: f.language, tags: f.tags.map(t => t.name.slice(1)), backgrounds, scenarios});
  } catch (e) { out.push({error: String(e.message)}); }
}
console.log(JSON.stringify(out));
"""
TRICKY_FEATURES = {
    "everything.feature": """
        # a comment before the tags
        @REQ_CALC-5 @web   # a comment after tags
        Feature: Everything at once
          A description
          over two lines.

          Background: Signed out
            #@PRECOND_CALC-7
            Given I am signed out

          # a comment that belongs to nobody
          @TEST_CALC-12 @smoke
          Scenario: Doc strings and tables
            A scenario description line.
            Given a payload
              \"\"\"json
              {"Scenario": "not a header", "@tag": "not a tag"}
              \"\"\"
            And a markdown block
              ```
              Feature: not a second feature
              ```
            When I send
              | name  | value |
              | a\\|b | 2     |
            Then it works

          @id:outline
          Scenario Template: Template <n>
            Given <n>

            @first
            Scenarios: the first
              | n |
              | 1 |

            Examples: the second
              | n |
              | 2 |

          Rule: Admins only
            Background: An admin
              Given an admin

            Example: Admin signs in
              * the admin signs in
              But nothing breaks
        """,
    "tabs-and-crlf.feature": "Feature: Tabs\r\n\tScenario: Tabbed\r\n\t\tGiven a tab\r\n\t\tThen a crlf\r\n",
    "german.feature": """
        # language: de
        @REQ_CALC-1
        Funktionalität: Rechner
          Grundlage:
            Angenommen ein Rechner
          Szenariogrundriss: Addieren <a>
            Wenn ich <a> addiere
            Beispiele:
              | a |
              | 1 |
          Szenario: Nichts
            Dann nichts
        """,
    "french.feature": """
        #language:fr
        Fonctionnalité: Calculatrice
          Plan du scénario: Additionner <a>
            Soit <a>
            Exemples:
              | a |
              | 1 |
        """,
    "only-comments.feature": "# nothing here\n\n# at all\n",
    "tags-at-the-end.feature": "Feature: F\n  Scenario: S\n    Given x\n  @dangling\n",
    "step-after-tags.feature": "Feature: F\n  @tag\n  Given a step in the wrong place\n",
    "two-features.feature": "Feature: A\nFeature: B\n",
    "open-doc-string.feature": "Feature: F\n  Scenario: S\n    Given x\n      \"\"\"\n      never closed\n",
    "unknown-language.feature": "# language: xx-nope\nFeature: F\n",
}


def ours(text: str) -> dict[str, Any] | None:
    """Our parser's view of a file in the official parser's terms; step lines are checked separately."""
    try:
        f = parse(text)
    except GherkinError as exc:
        return {"error": str(exc)}
    if f is None:
        return None
    return {"name": f.name, "language": f.language, "tags": list(f.tags),
            "backgrounds": [{"name": b.name, "rule": b.rule} for b in f.backgrounds],
            "scenarios": [{"name": s.name, "rule": s.rule, "outline": s.kind == "scenario_outline",
                           "tags": list(s.tags), "body": s.body} for s in f.scenarios]}


@pytest.mark.slow
def test_parser_agrees_with_the_official_gherkin_parser(tmp_path: Path) -> None:
    """On tricky files (doc strings holding headers, tagged Examples, Rules, synonyms, tabs, CRLF, German and
    French, broken files) our parser finds what Cucumber's own Gherkin parser finds, and refuses what it
    refuses."""
    found = _cucumber_js()
    if found is None or shutil.which("node") is None:
        pytest.skip("Cucumber's gherkin parser not found: npm install --prefix .tools @cucumber/cucumber")
    paths = []
    for name, text in TRICKY_FEATURES.items():
        path = tmp_path / name
        path.write_bytes((textwrap.dedent(text).lstrip("\n") if "\r" not in text else text).encode())
        paths.append(path)
    script = tmp_path / "parse.js"
    script.write_text(OFFICIAL_PARSER, encoding="utf-8")
    proc = subprocess.run(["node", str(script), *map(str, paths)], capture_output=True, text=True,
                          env=_env(NODE_PATH=str(found[1])), timeout=RUN_TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for path, official in zip(paths, json.loads(proc.stdout), strict=True):
        mine = ours(path.read_text(encoding="utf-8"))
        if official is None or "error" in official:
            assert mine == official if official is None else (mine is not None and "error" in mine), \
                (path.name, official, mine)
            continue
        assert mine is not None and "error" not in mine, (path.name, mine)
        for theirs, our in zip(official["scenarios"], mine["scenarios"], strict=True):
            lines = [line.strip() for line in our.pop("body").splitlines()]
            steps = iter(lines)
            assert all(step in steps for step in theirs.pop("steps")), (path.name, theirs["name"], lines)
        assert mine == official, path.name


# -- export ----------------------------------------------------------------------------------------


@dataclass
class Catalogue:
    """Issues made through the API for the export tests."""

    login_req: str
    admin_req: str
    login_tests: list[str]
    admin_test: str
    loose_test: str
    precondition: str
    generic_test: str


def catalogue(xray: Xray) -> Catalogue:
    """Two requirements, a Background, a Test covering both requirements, a Test with neither, and a
    Generic Test from a JUnit import."""
    login_req, admin_req = xray.story("Sign in"), xray.story("Administer")
    first = xray.import_features("login.feature", login(login_req),
                                 extra={"testInfo": {"fields": {"description": "Checks sign-in\nwith a table"}}})
    both = xray.import_features("admin.feature", feature(f"""
        @REQ_{login_req} @REQ_{admin_req}
        Feature: Admin
          @admin
          Scenario: Admin signs in
            Given an admin
        """))
    loose = xray.import_features("loose.feature", b"Feature: Loose\n  Scenario: Stands alone\n    Given nothing\n")
    junit = (b'<testsuite name="s"><testcase classname="calc.Calc" name="adds" time="0.1"/></testsuite>')
    if xray.cloud:
        resp = xray.http.post("/api/v2/import/execution/junit", params={"projectKey": "CALC"}, content=junit,
                              headers={"Content-Type": "application/xml"})
    else:
        resp = xray.http.post("/rest/raven/2.0/import/execution/junit", params={"projectKey": "CALC"},
                              files={"file": ("junit.xml", junit, "application/xml")})
    assert resp.status_code == 200, resp.text
    generic = next(t["key"] for t in xray.http.get("/sandbox/tests").json() if t["type"] == "Generic")
    return Catalogue(login_req, admin_req, first.tests, both.tests[0], loose.tests[0], first.preconditions[0],
                     generic)


def export_files(xray: Xray, **params: str) -> dict[str, str]:
    resp = xray.export(**params)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/zip"
    return unzipped(resp.content)


def test_export_by_test_key_names_files_and_writes_xray_tags(xray: Xray) -> None:
    """Exported files are named <n>_<REQ>_<PRECOND>.feature and carry @REQ_ on the Feature, #@PRECOND_
    under Background, @TEST_<KEY> and labels per scenario, and the Test's description as comments."""
    c = catalogue(xray)
    files = export_files(xray, keys=c.login_tests[0])
    name = f"1_{c.login_req}_{c.precondition}.feature"
    assert list(files) == [name]
    labels = "@smoke @id:login-1" + ("" if xray.cloud else " @login.feature")
    assert files[name] == textwrap.dedent(f"""\
        @REQ_{c.login_req}
        Feature: Sign in

          Background: Logged out
            #@PRECOND_{c.precondition}
            Given I am logged out

          #Checks sign-in
          #with a table
          @TEST_{c.login_tests[0]} {labels}
          Scenario: Good password
            When I sign in with
              | user  | password |
              | alice | s3cret   |
            Then I see "Welcome"
        """)


def test_a_test_with_two_requirements_is_in_two_files(xray: Xray) -> None:
    """Exporting a Test linked to two requirements gives one file per requirement, each with the scenario."""
    c = catalogue(xray)
    files = export_files(xray, keys=c.admin_test)
    assert list(files) == [f"1_{c.login_req}.feature", f"2_{c.admin_req}.feature"]
    assert all(f"@TEST_{c.admin_test} @admin" in text for text in files.values())
    assert files[f"2_{c.admin_req}.feature"].startswith(f"@REQ_{c.admin_req}\nFeature: Administer\n")


def test_export_by_requirement_plan_execution_and_filter(xray: Xray) -> None:
    """Requirement, Test Plan, Test Execution and saved-filter keys expand to their Cucumber Tests; the
    Test Execution's key is written on the Feature; a Test without requirement gets its own file."""
    c = catalogue(xray)
    by_requirement = export_files(xray, keys=c.login_req)
    assert list(by_requirement) == [f"1_{c.login_req}_{c.precondition}.feature", f"2_{c.login_req}.feature",
                                    f"3_{c.admin_req}.feature"]
    report = {"info": {"project": "CALC", "summary": "Nightly", "testPlanKey": "CALC-1"},
              "tests": [{"testKey": k, "status": "PASSED" if xray.cloud else "PASS"}
                        for k in (c.loose_test, c.login_tests[1])]}
    execution = _xray_json(xray, report)
    by_plan = export_files(xray, keys="CALC-1")
    by_execution = export_files(xray, keys=execution)
    assert list(by_plan) == list(by_execution) == [f"1_{c.login_req}_{c.precondition}.feature", "2.feature"]
    assert by_execution["2.feature"].startswith(f"@{execution}\nFeature: Stands alone\n")
    assert f"@TEST_{c.loose_test}" in by_plan["2.feature"] and f"@{execution}" not in by_plan["2.feature"]
    saved = xray.http.post("/sandbox/filters", json={"keys": [c.loose_test, c.admin_test]})
    assert saved.status_code == 201
    by_filter = export_files(xray, filter=saved.json()["id"])
    assert list(by_filter) == [f"1_{c.login_req}.feature", f"2_{c.admin_req}.feature", "3.feature"]
    both = export_files(xray, keys=f"{c.loose_test},{c.admin_test}")  # commas work like ';'
    assert both == by_filter


def _xray_json(xray: Xray, report: dict[str, Any]) -> str:
    """Import an Xray JSON report through the standard endpoint; the Test Execution key."""
    path = "/api/v2/import/execution" if xray.cloud else "/rest/raven/2.0/import/execution"
    resp = xray.http.post(path, json=report)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["key"] if xray.cloud else resp.json()["testExecIssue"]["key"])


def test_sandbox_api_for_issues_and_filters_refuses_bad_bodies(sb: Sandbox) -> None:
    """/sandbox/issues makes only requirements and Test Plans, /sandbox/filters only over existing keys;
    saved filters are listed."""
    http = httpx.Client(base_url=sb.url)
    bad_type = http.post("/sandbox/issues", json={"project": "CALC", "type": "Test Execution", "summary": "x"})
    assert bad_type.status_code == 400 and "Story" in bad_type.json()["error"]
    plan = http.post("/sandbox/issues", json={"project": "DEMO", "type": "Test Plan", "summary": "Release 2"})
    assert plan.status_code == 201 and plan.json()["type"] == "Test Plan"
    assert http.post("/sandbox/filters", json={"keys": ["CALC-77"]}).json() == {"error": "No issue with key CALC-77"}
    saved = http.post("/sandbox/filters", json={"keys": [plan.json()["key"]], "name": "plans"}).json()
    assert saved["id"] == "10000"
    assert http.get("/sandbox/filters").json() == [saved]
    assert http.get("/sandbox/gherkin/CALC-1").status_code == 404  # a Test Plan has no Gherkin


def test_export_errors(xray: Xray) -> None:
    """Unknown keys, unknown filters, no keys at all and Tests without Gherkin are 400s with Xray-like text."""
    c = catalogue(xray)
    cases = {
        "keys=CALC-999;CALC-998": "Error exporting features: the following issues were not found: CALC-999, CALC-998!",
        "filter=424242": "Error fetching filter information",
        "": "Error exporting features: send keys (Test, Test Execution, Test Plan or requirement keys separated by "
            "';') or filter (the id of a saved filter).",
        f"keys={c.generic_test}": f"Error exporting features: there are no Cucumber Tests to export "
                                  f"({c.generic_test} is not Cucumber)!",
    }
    for query, message in cases.items():
        params = dict([query.split("=", 1)]) if query else {}
        resp = xray.export(**params)
        assert (resp.status_code, resp.json()) == (400, {"error": message}), query
    mixed = export_files(xray, keys=f"{c.generic_test};{c.loose_test}")  # a Generic Test is left out
    assert list(mixed) == ["1.feature"]


def test_server_export_without_fz(sb: Sandbox) -> None:
    """On Server without fz=true one resulting file comes as plain .feature text, several as a zip."""
    xray = Xray(sb, "server")
    c = catalogue(xray)
    one = xray.http.get("/rest/raven/1.0/export/test", params={"keys": c.loose_test})
    assert one.headers["content-type"].startswith("text/plain")
    assert one.headers["content-disposition"] == 'attachment; filename="1.feature"'
    assert one.text.startswith("Feature: Stands alone\n")
    several = xray.http.get("/rest/raven/1.0/export/test", params={"keys": c.admin_test})
    assert several.headers["content-type"] == "application/zip" and len(unzipped(several.content)) == 2


def test_cloud_names_are_cut_at_50_characters(sb: Sandbox) -> None:
    """Cloud cuts a file name at 50 characters before .feature; Server keeps it whole."""
    xray = Xray(sb, "cloud")
    made = xray.import_features("many.zip", zipped({
        f"f{i}.feature": f"Feature: F{i}\n  Background: B{i}\n    Given start {i}\n  Scenario: S{i}\n    Given x\n"
        .encode() for i in range(8)}))
    req = xray.story("Long")
    saved = xray.http.post("/sandbox/filters", json={"keys": made.tests}).json()["id"]
    # one Test carrying all eight Preconditions: a Background per file, linked through the key comments
    comments = "".join(f"    #@PRECOND_{p}\n" for p in made.preconditions)
    joined = xray.import_features("joined.feature", (f"@REQ_{req}\nFeature: J\n  Background:\n{comments}"
                                                     "  Scenario: All of them\n    Given y\n").encode())
    names = list(export_files(xray, keys=joined.tests[0]))
    assert len(names) == 1 and len(names[0]) == 50 + len(".feature")
    assert names[0].startswith(f"1_{req}_{made.preconditions[0]}_")
    server = Xray(sb, "server")
    full = list(export_files(server, keys=joined.tests[0]))
    assert full == ["_".join(["1", req, *made.preconditions]) + ".feature"]
    assert len(export_files(xray, filter=saved)) == 8


# -- the round trip with real runners ----------------------------------------------------------------


CALCULATOR = """
    @REQ_{req}
    Feature: Calculator
      Background: A fresh calculator
        Given a calculator

      @smoke
      Scenario: Adds
        When I add 2 and 3
        Then the result is 5

      Scenario: Broken subtraction
        When I subtract 3 from 5
        Then the result is 3

      Scenario Outline: Adds <a> and <b>
        When I add <a> and <b>
        Then the result is <sum>

        Examples:
          | a | b | sum |
          | 1 | 2 | 3   |
          | 2 | 2 | 4   |
    """
BEHAVE_STEPS = """
    from behave import given, then, when


    @given("a calculator")
    def fresh(context):
        context.result = 0


    @when("I add {a:d} and {b:d}")
    def add(context, a, b):
        context.result = a + b


    @when("I subtract {a:d} from {b:d}")
    def subtract(context, a, b):
        context.result = b - a


    @then("the result is {n:d}")
    def result(context, n):
        assert context.result == n, f"{context.result} != {n}"
    """
CUCUMBER_STEPS = """
    const { Given, When, Then } = require('@cucumber/cucumber');
    const assert = require('assert');
    Given('a calculator', function () { this.result = 0; });
    When('I add {int} and {int}', function (a, b) { this.result = a + b; });
    When('I subtract {int} from {int}', function (a, b) { this.result = b - a; });
    Then('the result is {int}', function (n) { assert.strictEqual(this.result, n); });
    """


def run(cmd: list[str], cwd: Path, report: Path, env: dict[str, str]) -> bytes:
    """Run a real test runner (failing scenarios are expected) and return the report it wrote."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    assert report.is_file() and report.stat().st_size, (proc.stdout + proc.stderr)[-3000:]
    return report.read_bytes()


def round_trip(xray: Xray, tmp_path: Path, prefix: str) -> tuple[dict[str, str], Path]:
    """Import the calculator feature, export it by requirement and unzip it into tmp_path/features;
    the Test keys by summary and the features folder."""
    req = xray.story("Calculator")
    got = xray.import_features("calc/calculator.feature", feature(CALCULATOR.replace("{req}", req)))
    assert got.status == 200 and len(got.tests) == 3, got.body
    keys = {xray.gherkin(k)["summary"]: k for k in got.tests}
    files = export_files(xray, keys=req)
    assert list(files) == [f"1_{req}_{got.preconditions[0]}.feature"]
    assert all(f"@{prefix}{k}" in next(iter(files.values())) for k in keys.values())
    folder = tmp_path / "features"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return keys, folder


def check_runs(xray: Xray, execution: str, keys: dict[str, str]) -> None:
    runs = {r["test_key"]: r["status"] for r in xray.http.get(f"/sandbox/executions/{execution}").json()["runs"]}
    passed, failed = ("PASSED", "FAILED") if xray.cloud else ("PASS", "FAIL")
    assert runs == {keys["Adds"]: passed, keys["Broken subtraction"]: failed, keys["Adds <a> and <b>"]: passed}


@pytest.mark.slow
@pytest.mark.parametrize("dialect, prefix", [("cloud", "TEST_"), ("server", "TEST_"), ("cloud", "TC:")],
                         ids=["cloud", "server", "cloud with prefix TC:"])
def test_round_trip_with_behave(dialect: str, prefix: str, tmp_path: Path) -> None:
    """Features imported, exported, run by behave and its JSON imported put the runs on the same Test keys."""
    pytest.importorskip("behave", reason="behave is not installed: pip install behave")
    with Sandbox(test_prefix=prefix) as sb:
        xray = Xray(sb, dialect)
        keys, folder = round_trip(xray, tmp_path, prefix)
        (folder / "steps").mkdir()
        (folder / "steps" / "calculator_steps.py").write_text(textwrap.dedent(BEHAVE_STEPS), encoding="utf-8")
        report = tmp_path / "behave.json"
        data = run([sys.executable, "-m", "behave", "--no-summary", "--no-snippets", "-f", "json", "-o", str(report),
                    "features"], tmp_path, report, _env())
        check_runs(xray, xray.import_results("behave", data), keys)
        sb.close()


@pytest.mark.slow
@pytest.mark.parametrize("dialect", DIALECTS)
def test_round_trip_with_cucumber_js(dialect: str, tmp_path: Path) -> None:
    """The same round trip with cucumber-js and its Cucumber JSON."""
    found = _cucumber_js()
    if found is None or shutil.which("node") is None:
        pytest.skip("cucumber-js not found: npm install --prefix .tools @cucumber/cucumber")
    exe, modules = found
    with Sandbox() as sb:
        xray = Xray(sb, dialect)
        keys, folder = round_trip(xray, tmp_path, "TEST_")
        (tmp_path / "steps").mkdir()
        (tmp_path / "steps" / "calculator_steps.js").write_text(textwrap.dedent(CUCUMBER_STEPS), encoding="utf-8")
        report = tmp_path / "cucumber.json"
        env = _env(NODE_PATH=str(modules), CUCUMBER_PUBLISH_QUIET="true", NO_COLOR="1")
        data = run([str(exe), "--require", "steps/*.js", "--format", f"json:{report}", f"{folder.name}/"], tmp_path,
                   report, env)
        check_runs(xray, xray.import_results("cucumber", data), keys)
        sb.close()
