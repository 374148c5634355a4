"""Exporting Cucumber Tests as ``.feature`` files (contract §14), the same for both dialects.

Keys become Tests: a Test is itself; a Test Execution gives the Tests it has runs of (its key becomes a
Feature tag of their files), a Test Plan its Tests, a requirement (Story, Epic, ...) the Tests linked to it,
a Precondition the Tests that use it; a saved filter gives its keys. Other issue types are refused (400).
Only Cucumber Tests are written: a Test without Gherkin — a Generic Test made by a JUnit import, say — is
left out, as Xray leaves out what it cannot write as a scenario; when nothing is left the answer is a 400
naming what was left out.

Files: one per (requirement, Preconditions) pair, in the order the pairs first appear, requirement files
first; a Test linked to several requirements is in several files, a Test without one in a file of its own
pair. Each is named ``<n>[_<REQUIREMENT KEY>][_<PRECONDITION KEY>...].feature`` (``n`` counts from 1;
Cloud cuts the name before ``.feature`` at 50 characters) and laid out as Xray writes it: the Test
Execution key and ``@<requirement prefix><KEY>`` on the Feature, named after the requirement (or the first
Test); the Preconditions as the Background, each named by a ``#@<precondition prefix><KEY>`` comment; per
Test its description as ``#`` comments, ``@<test prefix><KEY>`` and its labels as tags, its scenario.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from xray_tasks.gherkin import Section, render
from xray_tasks.sandbox import errors
from xray_tasks.sandbox.config import Config, Runtime
from xray_tasks.sandbox.errors import ApiError
from xray_tasks.sandbox.store import REQUIREMENT_TYPES, Store

__all__ = ["CLOUD_NAME_LIMIT", "export_features", "split_keys"]

#: Cloud's longest file name before ``.feature``
CLOUD_NAME_LIMIT = 50


def split_keys(text: str | None) -> list[str]:
    """Issue keys separated by ``;`` (as documented) or ``,``."""
    return [k.strip() for k in (text or "").replace(",", ";").split(";") if k.strip()]


@dataclass
class _Test:
    issue: sqlite3.Row
    steps: sqlite3.Row
    labels: list[str]
    description: str
    requirements: list[sqlite3.Row]
    preconditions: list[sqlite3.Row]
    executions: list[str] = field(default_factory=list)


def _expand(store: Store, issue: sqlite3.Row) -> list[sqlite3.Row]:
    kind = issue["type"]
    if kind == "Test":
        return [issue]
    if kind == "Test Execution":
        return store.execution_tests(issue["id"])
    if kind == "Test Plan":
        return store.plan_tests(issue["id"])
    if kind == "Precondition":
        return store.linked(issue["id"], "precondition", reverse=True)
    if kind in REQUIREMENT_TYPES:
        return store.tests_covering(issue["key"])
    raise ApiError(400, errors.export_type_refused(issue["key"], kind))


def _tests(store: Store, keys: Sequence[str]) -> list[_Test]:
    issues = [(key, store.issue(key)) for key in keys]
    missing = [key for key, issue in issues if issue is None]
    if missing:
        raise ApiError(400, errors.export_issue_not_found(missing))
    found: dict[int, _Test] = {}
    skipped: list[str] = []
    for _, issue in issues:
        assert issue is not None
        for test in _expand(store, issue):
            if test["id"] not in found:
                steps, row = store.gherkin(test["id"]), store.test_row(test["id"])
                if steps is None or row is None or row["test_type"] != "Cucumber":
                    if test["key"] not in skipped:
                        skipped.append(test["key"])
                    continue
                found[test["id"]] = _Test(issue=test, steps=steps, labels=json.loads(row["labels"]),
                                          description=row["description"] or "",
                                          requirements=[r for k in store.requirements(test["id"])
                                                        if (r := store.issue(k)) is not None],
                                          preconditions=store.linked(test["id"], "precondition"))
            if issue["type"] == "Test Execution" and issue["key"] not in found[test["id"]].executions:
                found[test["id"]].executions.append(issue["key"])
    if not found:
        raise ApiError(400, errors.no_cucumber_tests(skipped))
    return list(found.values())


def _groups(tests: list[_Test]) -> list[tuple[sqlite3.Row | None, list[sqlite3.Row], list[_Test]]]:
    """(requirement, Preconditions, Tests) per file, requirement files first, each in first-seen order."""
    groups: dict[tuple[int | None, tuple[int, ...]], tuple[sqlite3.Row | None, list[sqlite3.Row], list[_Test]]] = {}
    for test in tests:
        pre = tuple(p["id"] for p in test.preconditions)
        requirements: list[sqlite3.Row | None] = [*test.requirements] or [None]
        for requirement in requirements:
            slot = (None if requirement is None else requirement["id"], pre)
            groups.setdefault(slot, (requirement, test.preconditions, []))[2].append(test)
    return sorted(groups.values(), key=lambda g: g[0] is None)


def _file(cfg: Config, store: Store, requirement: sqlite3.Row | None, preconditions: list[sqlite3.Row],
          tests: list[_Test]) -> str:
    executions = list(dict.fromkeys(e for t in tests for e in t.executions))
    background = [store.gherkin(p["id"]) for p in preconditions]
    return render(
        name=requirement["summary"] if requirement is not None else tests[0].issue["summary"],
        language=tests[0].steps["language"],
        tags=executions + ([cfg.requirement_prefix + requirement["key"]] if requirement is not None else []),
        background_name=preconditions[0]["summary"] if len(preconditions) == 1 else "",
        background_comments=[cfg.precondition_prefix + p["key"] for p in preconditions],
        background="\n".join(g["steps"] for g in background if g is not None and g["steps"]),
        scenarios=[Section(scenario_type=t.steps["scenario_type"], name=t.issue["summary"],
                           tags=(cfg.test_prefix + t.issue["key"], *t.labels), body=t.steps["steps"],
                           comment=t.description) for t in tests])


def export_features(rt: Runtime, keys: Sequence[str], filter_id: str | None, *,
                    cloud: bool) -> list[tuple[str, str]]:
    """``(file name, text)`` for every feature file the keys and the saved filter give."""
    store = rt.store
    wanted = list(keys)
    if filter_id is not None:
        saved = store.saved_filter(filter_id)
        if saved is None:
            raise ApiError(400, errors.FILTER_NOT_FOUND)
        wanted += [k for k in saved["keys"] if k not in wanted]
    if not wanted:
        raise ApiError(400, errors.EXPORT_NO_KEYS)
    files = []
    for n, (requirement, preconditions, tests) in enumerate(_groups(_tests(store, wanted)), 1):
        stem = "_".join([str(n), *([requirement["key"]] if requirement is not None else []),
                         *(p["key"] for p in preconditions)])
        files.append(((stem[:CLOUD_NAME_LIMIT] if cloud else stem) + ".feature",
                      _file(rt.config, store, requirement, preconditions, tests)))
    return files
