"""What follows a successful import: the shard record (``--shard``) and the proof that it landed (``--verify``).

:func:`after_import` builds the step :func:`xray_tasks.workflow.perform_import` runs once the import has
landed and its key has been printed, before the summary is shown and written. It returns what it adds to
the summary (``"shard"``, ``"verification"``); when a check fails it raises
:class:`~xray_tasks.errors.CheckFailed`, which carries the outcome and those details so that ``--json`` and
``--summary-file`` still hold the key, what Xray recorded and the differences.

Each Test Execution of the run is read back and compared with the requests that went into it
(:func:`xray_tasks.verify.expected_of`). Runs of Tests that were not sent fail the check only in an
execution the import created; one imported into (``--test-exec``, a shard) may hold other runs. The
read-back uses a client of its own: its token comes from the token cache the import just filled (with
``XRAY_TOKEN_CACHE=off`` it authenticates once more).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from xray_tasks.console import Console, err
from xray_tasks.errors import CheckFailed, SettingsError, ShardRecordError, XrayTasksError
from xray_tasks.settings import Settings
from xray_tasks.shards import write_record
from xray_tasks.shardspec import Shard
from xray_tasks.verify import Expected, Verification, check, expected_of, failure

if TYPE_CHECKING:
    from xray_tasks.importer import ImportOutcome

__all__ = ["AfterImport", "after_import", "show"]

#: what runs after an import landed: the details it adds to the summary (raises CheckFailed)
AfterImport = Callable[["ImportOutcome", Console], dict[str, Any]]


def after_import(s: Settings, *, verify: bool, shard: Shard | None, separate: bool = False) -> AfterImport | None:
    """The checks that follow an import, or None when none was asked for."""
    if not verify and shard is None:
        return None
    if shard is not None and separate:
        raise SettingsError("--shard with --separate: a shard imports into one Test Execution and its record names it",
                            "drop --separate")

    def run(outcome: ImportOutcome, console: Console) -> dict[str, Any]:
        details: dict[str, Any] = {}
        expected: Expected | None = None  # each sent report is read once, for the record and the check
        if shard is not None:
            expected = expected_of(outcome)
            details["shard"] = _record(s, shard, outcome, expected, console, details)
        if verify:
            verifications = _verify(s, outcome, expected, details)
            details["verification"] = {"ok": all(v.ok for v in verifications),
                                       "executions": [v.as_dict() for v in verifications]}
            show(console, verifications)
            error = failure(verifications, again="xray-tasks verify --test-exec KEY --report …")
            if error is not None:
                raise CheckFailed(error, outcome, details)
        return details

    return run


def _record(s: Settings, shard: Shard, outcome: ImportOutcome, expected: Expected, console: Console,
            details: dict[str, Any]) -> dict[str, Any]:
    (key, (ref, expectation)), = expected.items()  # one execution: --separate is refused above
    files = list(dict.fromkeys(str(p) for plan, _ in outcome.results for p in plan.files))
    try:
        path = write_record(s.shard_dir, shard, ref, expectation, files)
    except OSError as exc:
        raise CheckFailed(ShardRecordError(
            f"the results landed in {key}, but the record of shard {shard.label} could not be written to "
            f"{s.shard_dir}: {exc.strerror or exc}", "make --shard-dir / XRAY_SHARD_DIR writable and import again "
            f"with --test-exec {key} (it replaces the same runs): finalize needs every shard's record"),
            outcome, details) from None
    console.say(f"shard {shard.label}: {len(expectation.tests)} Tests recorded in {path}")
    return {"shard": shard.label, "record": str(path), "tests": len(expectation.tests)}


def _verify(s: Settings, outcome: ImportOutcome, expected: Expected | None,
            details: dict[str, Any]) -> list[Verification]:
    from xray_tasks.client import XrayClient
    from xray_tasks.readback import find_execution

    verifications = []
    try:
        with XrayClient(s, log=err) as client:
            for key, (ref, expectation) in (expected if expected is not None else expected_of(outcome)).items():
                created = any(plan.creates_execution for plan, result in outcome.results if result.key == key)
                found = find_execution(client, key, ref.issue_id)
                verifications.append(check(client, found, expectation, extras_fail=created, wait=s.verify_wait))
    except XrayTasksError as exc:
        cause = type(exc)(f"the import landed in {', '.join(outcome.keys)}, but reading it back failed: "
                          f"{exc.message}", exc.hint)
        details["verification"] = {"ok": False, "error": str(cause), "executions": [v.as_dict() for v in verifications]}
        raise CheckFailed(cause, outcome, details) from None
    return verifications


def show(console: Console, verifications: list[Verification]) -> None:
    """The verification for people: one line each (``--quiet``), else with the table and the differences."""
    for v in verifications:
        console.result(v.summary_line())
        if not console.quiet:
            for line in (*v.table(), *v.problem_lines()):
                console.result(line)
