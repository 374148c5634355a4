"""Recording what an import says beyond statuses: Test labels and requirement links, run comments,
evidence, defects, custom fields, times, iterations and examples (the contract's §17).

Rules (the sandbox's, where Xray's are not documented):

* A Test, new or existing, gets the report's labels (JUnit ``tags``, TestNG ``labels``, Xray JSON
  ``testInfo.labels``, Robot tags that are not issue keys) and requirement links (JUnit
  ``requirements``, TestNG ``requirement``, NUnit ``Requirement``, Xray JSON
  ``testInfo.requirementKeys``, Robot tags naming a requirement); labels and links it has stay.
  Requirement keys in properties and Xray JSON are recorded as given (not looked up). Summary and
  description (JUnit ``test_summary`` / ``test_description``, TestNG ``summary`` / ``description``) are
  used only when the import creates the Test (on Cloud too, though Xray may ignore them there, §7.1).
* Robot Framework: the first tag that is the key of an existing Test names the Test; tags naming a
  requirement (an issue other than a Test, Test Execution or Test Plan, e.g. a Story made with Jira's
  create) are links; without a Test, a key tag naming nothing is refused as an unknown Test.
  Tags that are not keys become labels.
* Several results for one Test in one import make one run: worst status (see
  :mod:`~xray_tasks.sandbox.imports`), comments and failure messages joined by a blank line, evidence,
  defects, iterations
  and examples concatenated, custom fields merged (later wins), the earliest start and latest finish.
* A run without times in the report finishes at the import and starts ``duration`` earlier.
* A later import into the same execution replaces the run of that Test with everything it holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from xray_tasks.formats.enriched import TestDetails, robot_keys
from xray_tasks.sandbox import errors
from xray_tasks.sandbox.errors import ApiError
from xray_tasks.sandbox.store import Store

__all__ = ["check_statuses", "merge", "record_run", "robot_identity", "update_test"]

_XRAY_TYPES = ("Test", "Test Execution", "Test Plan")


def merge(a: TestDetails, b: TestDetails) -> TestDetails:
    """The details of one run made of two results of the same Test (``a`` came first)."""
    comments = [c for c in (a.comment, b.comment) if c]
    return TestDetails(
        test_id=a.test_id or b.test_id, summary=a.summary or b.summary, description=a.description or b.description,
        labels=list(dict.fromkeys(a.labels + b.labels)),
        requirements=list(dict.fromkeys(a.requirements + b.requirements)), tags=list(dict.fromkeys(a.tags + b.tags)),
        comment="\n\n".join(dict.fromkeys(comments)) or None, evidence=a.evidence + b.evidence,
        defects=list(dict.fromkeys(a.defects + b.defects)), custom_fields={**a.custom_fields, **b.custom_fields},
        started=min((t for t in (a.started, b.started) if t), default=None, key=datetime.fromisoformat),
        finished=max((t for t in (a.finished, b.finished) if t), default=None, key=datetime.fromisoformat),
        executed_by=b.executed_by or a.executed_by, assignee=b.assignee or a.assignee,
        iterations=a.iterations + b.iterations, examples=a.examples + b.examples,
        failure="\n\n".join(dict.fromkeys(f for f in (a.failure, b.failure) if f)) or None)


def check_statuses(details: TestDetails, allowed: Sequence[str]) -> None:
    """Xray JSON iteration and example statuses must be the dialect's own, like the run's (400 otherwise)."""
    for iteration in details.iterations:
        if iteration.get("status") not in allowed:
            raise ApiError(400, errors.invalid_status(iteration.get("status"), allowed))
    for example in details.examples:
        status = example.get("status") if isinstance(example, dict) else example
        if status not in allowed:
            raise ApiError(400, errors.invalid_status(status, allowed))


def robot_identity(store: Store, details: TestDetails) -> tuple[str | None, list[str], list[str]]:
    """(Test key, requirement keys, labels) from a Robot test's tags.

    The key is the first tag naming an existing Test; without one, the first tag that looks like a key
    and names no requirement (so the import refuses it as Xray would: no such Test).
    """
    key, unresolved, requirements = None, [], []
    for tag in robot_keys(details.tags):
        issue = store.issue(tag)
        if issue is not None and issue["type"] not in _XRAY_TYPES:
            requirements.append(tag)
        elif issue is not None and issue["type"] == "Test" and key is None:
            key = tag
        else:
            unresolved.append(tag)
    keys = set(robot_keys(details.tags))
    labels = [t for t in details.tags if t not in keys and not any(c.isspace() for c in t)]
    return key or (unresolved[0] if unresolved else None), requirements, labels


def update_test(store: Store, test_id: int, details: TestDetails) -> None:
    """Add the report's labels and requirement links to a Test."""
    if details.labels:
        store.add_test_labels(test_id, details.labels)
    if details.requirements:
        store.add_requirements(test_id, details.requirements)


def record_run(store: Store, run_id: int, details: TestDetails, duration: float | None, now: str) -> None:
    """Store the run's details, giving it times when the report has none."""
    started, finished = details.started, details.finished
    if finished is None:
        finished = _shift(started, duration) if started and duration is not None else now.replace("Z", "+00:00")
    if started is None:
        started = _shift(finished, -(duration or 0.0))
    store.save_run_details(run_id, replace(details, started=started, finished=finished), now=now)


def _shift(moment: str, seconds: float | None) -> str:
    return (datetime.fromisoformat(moment) + timedelta(seconds=seconds or 0.0)).isoformat(timespec="milliseconds")
