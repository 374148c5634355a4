"""Importing ``.feature`` files (contract §13): Scenarios become Cucumber Tests, Backgrounds Preconditions,
``@REQ_`` tags "tests" links — matched to existing issues the way each dialect does.

Tags and comments (prefixes from :class:`~xray_tasks.sandbox.config.Config`, defaults ``TEST_``,
``PRECOND_``, ``REQ_``):

* a scenario tag ``@<test prefix><KEY>`` names the Test to update; ``@<requirement prefix><KEY>`` on the
  Feature (or on a scenario) links the Test to that requirement; ``@id:xxx`` is the scenario's id;
  every other scenario tag — ``@id:xxx`` included — becomes a label. A key-looking tag without the
  configured prefix (``@CALC-12`` when the prefix is ``TEST_``) is not recognised as a key, as on a real
  instance with that prefix: it becomes a label, and the scenario is matched or created like an untagged
  one (so a file whose every key has the wrong prefix creates new Tests). With an empty prefix, bare keys
  are the key tags.
* a ``#@<precondition prefix><KEY>`` comment under ``Background:`` names the Precondition: with one such
  comment the Background's name and steps update it; with several, the Background is taken to be their
  concatenation (as the export writes it) and they are only linked. A Background without one is matched
  like a scenario, its summary being its name or, when unnamed, "Background for" and the Tests' keys.
  Feature tags naming a Test Execution (the export writes them) are ignored.

Matching a scenario without a key tag, first hit wins — Cloud: same ``source`` + relative path and the
same ``@id:`` tag (or, without one, the same summary); then the same summary among the project's Cucumber
Tests; then a new Test. Server/DC: a Test labelled with the relative path and the same ``id:`` label (or
summary); then the same summary; then a new Test, labelled with the relative path (spaces become ``_``).

Problems are per file and leave that file out entirely: not UTF-8, not Gherkin, a scenario without a
name or with two Test keys, a key that does not exist or names the wrong kind of issue (a Generic Test
cannot become a Cucumber Test). When no Test at all was created or updated, nothing is kept and the
answer is 400 "There are no valid tests imported". On update, labels from tags are added to the Test's
labels (none are removed); ``testInfo`` / ``precondInfo`` fields (labels, description) apply to issues the
import creates.
"""

from __future__ import annotations

import json
import posixpath
import re
import sqlite3
from dataclasses import dataclass, field

from xray_tasks.formats import key_in_tag
from xray_tasks.gherkin import Block, Feature, GherkinError, parse
from xray_tasks.sandbox import errors
from xray_tasks.sandbox.config import Config, Runtime
from xray_tasks.sandbox.errors import ApiError
from xray_tasks.sandbox.featurezip import FeatureFile
from xray_tasks.sandbox.imports import TestDefaults
from xray_tasks.sandbox.store import REQUIREMENT_TYPES, Store

__all__ = ["FeatureImport", "Imported", "NothingImported", "import_features"]

@dataclass
class FeatureImport:
    """One import request, dialect-neutral."""

    dialect: str  # "cloud" | "server"
    project: str
    files: list[FeatureFile]
    #: Cloud: where the features come from, part of the match key
    source: str | None = None
    #: Server: mirror the zip's folders as Test Repository folders (recorded per Test)
    update_repository: bool = False
    test_defaults: TestDefaults = field(default_factory=TestDefaults)
    precondition_defaults: TestDefaults = field(default_factory=TestDefaults)


@dataclass
class Imported:
    """The Tests and Preconditions created or updated (each once, in order), and the per-file errors."""

    tests: list[sqlite3.Row] = field(default_factory=list)
    preconditions: list[sqlite3.Row] = field(default_factory=list)
    #: (relative path, message)
    errors: list[tuple[str, str]] = field(default_factory=list)

    def add(self, rows: list[sqlite3.Row], row: sqlite3.Row) -> None:
        if all(r["id"] != row["id"] for r in rows):
            rows.append(row)


class NothingImported(ApiError):
    """The 400 "There are no valid tests imported", with the per-file problems behind it (for the log)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(400, errors.NO_VALID_TESTS)
        self.problems = problems


class _FileProblem(Exception):
    """Why one file is left out."""


@dataclass
class _Scenario:
    block: Block
    test: sqlite3.Row | None
    labels: list[str]
    id_tag: str | None
    requirements: list[sqlite3.Row]


@dataclass
class _Background:
    block: Block
    preconditions: list[sqlite3.Row]


@dataclass
class _Plan:
    """One file, checked: nothing is written before every key in it is known to be good."""

    path: str
    feature: Feature
    scenarios: list[_Scenario]
    backgrounds: list[_Background]


def _existing(store: Store, key: str, wanted: str) -> sqlite3.Row:
    issue = store.issue(key)
    if issue is None:
        missing = {"Test": errors.test_key_not_found, "Precondition": errors.precondition_key_not_found}
        raise _FileProblem(missing.get(wanted, errors.requirement_key_not_found)(key))
    if wanted == "requirement":
        if issue["type"] not in REQUIREMENT_TYPES:
            raise _FileProblem(errors.wrong_issue_type(key, "requirement", issue["type"]))
    elif issue["type"] != wanted:
        raise _FileProblem(errors.wrong_issue_type(key, wanted, issue["type"]))
    if wanted == "Test":
        row = store.test_row(issue["id"])
        if row is not None and row["test_type"] != "Cucumber":
            raise _FileProblem(errors.not_a_cucumber_test(key, row["test_type"]))
    return issue


def _requirements(store: Store, tags: tuple[str, ...], cfg: Config, *, skip_executions: bool) -> list[sqlite3.Row]:
    out = []
    for tag in tags:
        key = key_in_tag(tag, cfg.requirement_prefix)
        if key is None:
            continue
        issue = store.issue(key)
        if skip_executions and issue is not None and issue["type"] == "Test Execution":
            continue
        out.append(_existing(store, key, "requirement"))
    return out


def _plan(store: Store, cfg: Config, file: FeatureFile) -> _Plan | None:
    try:
        text = file.data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _FileProblem(errors.NOT_UTF8) from None
    try:
        feature = parse(text)
    except GherkinError as exc:
        raise _FileProblem(errors.not_gherkin(str(exc))) from None
    if feature is None:
        return None
    feature_requirements = _requirements(store, feature.tags, cfg, skip_executions=True)
    scenarios = []
    for block in feature.scenarios:
        if not block.name:
            raise _FileProblem(errors.unnamed_scenario(block.line))
        keys = [k for t in block.tags if (k := key_in_tag(t, cfg.test_prefix)) is not None]
        if len(keys) > 1:
            raise _FileProblem(errors.several_test_keys(block.name, keys))
        own = _requirements(store, tuple(t for t in block.tags if key_in_tag(t, cfg.test_prefix) is None), cfg,
                            skip_executions=False)
        plain = [t for t in block.tags if key_in_tag(t, cfg.test_prefix) is None
                 and key_in_tag(t, cfg.requirement_prefix) is None]
        id_tag = next((t[3:] for t in plain if t.startswith("id:") and len(t) > 3), None)
        scenarios.append(_Scenario(block=block, test=_existing(store, keys[0], "Test") if keys else None,
                                   labels=plain, id_tag=id_tag, requirements=feature_requirements + own))
    backgrounds = []
    for block in feature.backgrounds:
        keys = [k for t in block.comment_tags if (k := key_in_tag(t, cfg.precondition_prefix)) is not None]
        if block.body or keys:
            backgrounds.append(_Background(block, [_existing(store, k, "Precondition") for k in keys]))
    return _Plan(path=file.path, feature=feature, scenarios=scenarios, backgrounds=backgrounds)


def _label(path: str) -> str:
    return re.sub(r"\s+", "_", path)


def _free_definition(store: Store, project: str, wanted: str, test_id: int | None) -> str:
    """``wanted`` when no other Test of the project has it as its definition, else ``wanted (2)``, ..."""
    candidate, n = wanted, 1
    while (other := store.find_test(project, candidate)) is not None and other["id"] != test_id:
        n += 1
        candidate = f"{wanted} ({n})"
    return candidate


class _Writer:
    """Writes checked plans into the store for one request."""

    def __init__(self, rt: Runtime, job: FeatureImport, out: Imported) -> None:
        self.store = rt.store
        self.job = job
        self.out = out
        self.server = job.dialect == "server"

    def place(self, path: str) -> dict[str, str | None]:
        folder = posixpath.dirname(path) if self.server and self.job.update_repository else None
        return {"source": None if self.server else self.job.source, "path": path, "folder": folder or None}

    def match(self, issue_type: str, summary: str, path: str, id_tag: str | None) -> sqlite3.Row | None:
        store, project = self.store, self.job.project
        place = self.place(path)
        by_id = {"id_tag": id_tag} if id_tag else {"summary": summary}
        if self.server and issue_type == "Test":
            found = store.find_gherkin(project, issue_type, by_place=True, label=_label(path), **by_id)
        else:
            found = store.find_gherkin(project, issue_type, by_place=True, source=place["source"], path=path,
                                       **by_id)
        return found or store.find_gherkin(project, issue_type, summary=summary)

    def scenario(self, plan: _Plan, item: _Scenario) -> sqlite3.Row:
        store, block = self.store, item.block
        project = self.job.project
        test = item.test or self.match("Test", block.name, plan.path, item.id_tag)
        definition = f"{plan.feature.name}: {block.name}" if plan.feature.name else block.name
        if test is None:
            defaults = self.job.test_defaults
            labels = _merged(defaults.labels, item.labels, [_label(plan.path)] if self.server else [])
            test = store.create_test(project, block.name, _free_definition(store, project, definition, None),
                                     test_type="Cucumber", labels=labels, description=defaults.description,
                                     origin="feature")
        else:
            row = store.test_row(test["id"])
            old = [] if row is None else _json_list(row["labels"])
            store.update_test(test["id"], summary=block.name, labels=_merged(old, item.labels),
                              definition=_free_definition(store, test["project"], definition, test["id"]),
                              test_type="Cucumber")
        store.set_gherkin(test["id"], block.scenario_type, block.body, plan.feature.language,
                          id_tag=item.id_tag, **self.place(plan.path))
        store.add_requirements(test["id"], [requirement["key"] for requirement in item.requirements])
        fresh = store.issue(str(test["id"]))
        assert fresh is not None
        self.out.add(self.out.tests, fresh)
        return fresh

    def background(self, plan: _Plan, item: _Background, tests: list[sqlite3.Row]) -> None:
        store, block = self.store, item.block
        preconditions = item.preconditions
        if len(preconditions) == 1 and block.body:
            precondition = preconditions[0]
            summary = block.name or precondition["summary"]
            row = store.precondition_row(precondition["id"])
            store.update_precondition(precondition["id"], summary=summary,
                                      labels=[] if row is None else _json_list(row["labels"]))
            store.set_gherkin(precondition["id"], "Background", block.body, plan.feature.language, id_tag=None,
                              **self.place(plan.path))
        elif not preconditions:
            summary = block.name or ("Background for " + ", ".join(t["key"] for t in tests) if tests
                                     else f"Background of {plan.feature.name}")
            found = self.match("Precondition", summary, plan.path, None)
            if found is None:
                defaults = self.job.precondition_defaults
                found = store.create_precondition(self.job.project, summary, labels=defaults.labels,
                                                  description=defaults.description)
            else:
                row = store.precondition_row(found["id"])
                store.update_precondition(found["id"], summary=summary,
                                          labels=[] if row is None else _json_list(row["labels"]))
            store.set_gherkin(found["id"], "Background", block.body, plan.feature.language, id_tag=None,
                              **self.place(plan.path))
            preconditions = [found]
        for precondition in preconditions:
            for test in tests:
                store.link(test["id"], precondition["id"], "precondition")
            fresh = store.issue(str(precondition["id"]))
            assert fresh is not None
            self.out.add(self.out.preconditions, fresh)

    def write(self, plan: _Plan) -> None:
        tests = [(item.block, self.scenario(plan, item)) for item in plan.scenarios]
        for item in plan.backgrounds:
            under = [test for block, test in tests if item.block.rule is None or item.block.rule == block.rule]
            self.background(plan, item, under)


def _json_list(text: str) -> list[str]:
    value = json.loads(text)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _merged(*lists: list[str]) -> list[str]:
    out: list[str] = []
    for values in lists:
        out += [v for v in values if v not in out]
    return out


def import_features(rt: Runtime, job: FeatureImport) -> Imported:
    """Import every file of ``job``, all in one transaction; ApiError 400 when no Test was imported."""
    out = Imported()
    writer = _Writer(rt, job, out)
    with rt.store.transaction():
        for file in job.files:
            try:
                plan = _plan(rt.store, rt.config, file)
            except _FileProblem as problem:
                out.errors.append((file.path, str(problem)))
                continue
            if plan is not None:
                writer.write(plan)
        if not out.tests:
            raise NothingImported(out.errors)
    return out
