"""CI shards: many jobs import into one Test Execution created up front, and ``finalize`` checks the whole.

A shard is ``--shard I/N`` (``XRAY_SHARD``), or in a GitLab ``parallel:`` job ``CI_NODE_INDEX`` of
``CI_NODE_TOTAL``. Its import leaves a **shard record** ``xray-shard-<I>.json`` in ``--shard-dir`` (the
working folder by default): ``"kind": "xray-tasks/shard"`` (so a later run never takes it for a report),
the Test Execution's key, the report files and their totals, and every Test sent with the statuses Xray
may record for it. ``finalize`` reads the records, checks that shards 1…N are all there and name the
execution, and verifies it against their combined Tests (:mod:`xray_tasks.verify`).

What concurrent shards rely on (README, "Sharded CI"):

* **one authentication per machine**: processes sharing a token cache take its lock
  (:meth:`xray_tasks.auth.TokenCache.lock`) and the first one's token serves the rest;
* **retries cannot duplicate**: an import into an existing execution is idempotent per Test — a later
  import replaces that Test's run — so the client retries it even after a timeout (``Kind.UPDATE``);
* **environments are set once**, by ``create-execution``: an import that carries Test Environments
  *replaces* the execution's (contract §15.1), so a shard drops them with a note
  (:func:`xray_tasks.shardspec.shard_settings`);
* **Cucumber and Behave cannot import into an existing execution** (§15.4): a shard with such reports
  and a Test Execution key is refused; each shard then imports into its own execution linked to one Test
  Plan (``--test-plan PLAN``), and ``finalize --test-plan PLAN`` verifies each execution against its
  shard's record and checks that it is linked to the plan.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xray_tasks.answers import ISSUE_KEY
from xray_tasks.atomic import replace_json
from xray_tasks.errors import SettingsError, ShardRecordError, VerificationError, one_line
from xray_tasks.formats import STATUSES
from xray_tasks.readback import ExecutionRef, find_execution, plan_executions
from xray_tasks.reports import SHARD_KIND
from xray_tasks.settings import MAX_SHARDS
from xray_tasks.shardspec import Shard
from xray_tasks.verify import Expectation, SentTest, Verification, check, failure

if TYPE_CHECKING:
    from xray_tasks.client import XrayClient

__all__ = ["RECORD_VERSION", "Finalized", "ShardRecord", "finalize", "read_records", "write_record"]

RECORD_VERSION = 1
_RECORD_NAME = re.compile(r"xray-shard-([0-9]{1,4})\.json")
#: the largest shard record read (a record lists its Tests: 100 000 of them take about 15 MB)
MAX_RECORD_BYTES = 256 * 1024 * 1024


# -- records --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardRecord:
    """What one shard imported, as its record says."""

    shard: Shard
    key: str
    issue_id: str | None
    files: tuple[str, ...]
    totals: dict[str, int]
    tests: tuple[SentTest, ...]
    path: Path = field(compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"shard": self.shard.label, "key": self.key, "files": len(self.files), "tests": len(self.tests),
                "totals": dict(self.totals)}


def write_record(folder: str | Path, shard: Shard, ref: ExecutionRef, expectation: Expectation,
                 files: Sequence[str]) -> Path:
    """Write the shard's record atomically (a reader never sees half of it); its path."""
    target = Path(folder) / shard.filename
    data = {"kind": SHARD_KIND, "version": RECORD_VERSION, "shard": shard.index, "shards": shard.total,
            "key": ref.key, "id": ref.issue_id, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "files": list(files), "totals": dict(expectation.reports),
            "tests": [t.as_dict() for t in expectation.tests]}
    target.parent.mkdir(parents=True, exist_ok=True)
    replace_json(target, data, prefix=".xray-shard-", ensure_ascii=False)
    return target


def _bad(path: Path, problem: str) -> ShardRecordError:
    return ShardRecordError(f"{path} is not a usable shard record: {problem}",
                            "it is written by import-results --shard; run that shard again (do not edit records)")


def _load(path: Path) -> ShardRecord:
    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            raise _bad(path, f"it is over {MAX_RECORD_BYTES // 2**20} MiB")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _bad(path, one_line(str(exc))[:120]) from None
    if not isinstance(data, dict) or data.get("kind") != SHARD_KIND:
        raise _bad(path, f'its "kind" is not "{SHARD_KIND}"')
    if data.get("version") != RECORD_VERSION:
        raise _bad(path, f"version {str(data.get('version'))[:20]!r}, not {RECORD_VERSION}")
    index, total, key = data.get("shard"), data.get("shards"), data.get("key")
    if not (isinstance(index, int) and isinstance(total, int) and 1 <= index <= total <= MAX_SHARDS):
        raise _bad(path, "its shard number is not I of N")
    match = _RECORD_NAME.fullmatch(path.name)
    if match is None:
        raise _bad(path, "its name is not xray-shard-<I>.json")
    if int(match.group(1)) != index:
        raise _bad(path, f"it is the record of shard {index}/{total}, under another shard's name")
    if not isinstance(key, str) or not ISSUE_KEY.fullmatch(key):
        raise _bad(path, "it names no Test Execution key")
    files, totals, tests, issue_id = data.get("files"), data.get("totals"), data.get("tests"), data.get("id")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files) or not isinstance(tests, list) \
            or not isinstance(totals, dict) or not all(isinstance(totals.get(s, 0), int) for s in STATUSES):
        raise _bad(path, "its files, totals or tests are missing or not lists")
    try:
        sent = tuple(SentTest.from_dict(t) for t in tests if isinstance(t, dict))
    except ValueError as exc:
        raise _bad(path, str(exc)) from None
    if len(sent) != len(tests):
        raise _bad(path, "a test in it is not an object")
    return ShardRecord(Shard(index, total), key, issue_id if isinstance(issue_id, str) else None,
                       tuple(files), {s: int(totals.get(s, 0)) for s in STATUSES}, sent, path)


def read_records(folder: str | Path) -> list[ShardRecord]:
    """Every shard record in ``folder`` (``xray-shard-<I>.json``), by shard number."""
    where = Path(folder)
    if not where.is_dir():
        raise ShardRecordError(f"the shard folder {where} does not exist",
                               "pass --shard-dir with the folder the shard jobs' records were collected in")
    return sorted((_load(p) for p in where.iterdir() if p.name.startswith("xray-shard-") and p.suffix == ".json"),
                  key=lambda r: r.shard)


def _check_set(records: list[ShardRecord], folder: Path, expect: int | None) -> int:
    """N, once every record agrees on it and shards 1…N are all there."""
    if not records:
        raise ShardRecordError(f"no shard record (xray-shard-<I>.json) in {folder}",
                               "the shard jobs write them (import-results --shard I/N); collect them into this "
                               "folder (CI artifacts) or pass --shard-dir")
    totals = {r.shard.total for r in records}
    if len(totals) > 1 or (expect is not None and totals != {expect}):
        said = ", ".join(f"{r.path.name}: {r.shard.label}" for r in records)
        wanted = f"--expect-shards {expect}" if expect is not None else "one another"
        raise ShardRecordError(f"the shard records disagree with {wanted} on the number of shards ({said})",
                               "remove records left by an earlier pipeline, or fix --expect-shards / --shard")
    total = expect if expect is not None else totals.pop()
    missing = sorted(set(range(1, total + 1)) - {r.shard.index for r in records})
    if missing:
        names = ", ".join(Shard(i, total).filename for i in missing[:10]) + (" …" if len(missing) > 10 else "")
        raise ShardRecordError(f"{len(missing)} of {total} shard records missing in {folder}: {names}",
                               "check that those shard jobs ran their import with --shard and that their records "
                               "reached this job (CI artifacts)")
    return total


# -- finalize -------------------------------------------------------------------------------------------------


@dataclass
class Finalized:
    """What ``finalize`` found: the records and each execution's verification."""

    records: list[ShardRecord]
    verifications: list[Verification]
    test_plan: str | None = None
    unlinked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verifications) and not self.unlinked

    def error(self) -> VerificationError | None:
        """Why the pipeline's results are not all in Xray, naming Tests and their shards; None when they are."""
        if self.ok:
            return None
        shard_of = {t.identity: r.shard.label for r in self.records for t in r.tests}
        error = failure(self.verifications, again="finalize",
                        origin=lambda t: f" from shard {shard_of.get(t.identity, '?')}")
        parts = [error.message] if error else []
        if self.unlinked:
            parts.append(f"not linked to the Test Plan {self.test_plan}: {', '.join(self.unlinked)}")
        return VerificationError("; ".join(parts), error.hint if error else
                                 f"link them to {self.test_plan} in Jira, or import those shards with --test-plan")

    def table(self) -> list[str]:
        """One row per shard and one for all, then each execution's verification."""
        head = f"  {'shard':<9} {'execution':<12} {'files':>5} {'tests':>6} " + " ".join(f"{s:>7}" for s in STATUSES)
        lines = [head]
        for r in self.records:
            lines.append(f"  {r.shard.label:<9} {r.key:<12} {len(r.files):>5} {len(r.tests):>6} "
                         + " ".join(f"{r.totals[s]:>7}" for s in STATUSES))
        every = {s: sum(r.totals[s] for r in self.records) for s in STATUSES}
        tests = sum(len(v.sent) for v in self.verifications)
        lines.append(f"  {'all':<9} {'':<12} {sum(len(r.files) for r in self.records):>5} {tests:>6} "
                     + " ".join(f"{every[s]:>7}" for s in STATUSES))
        for v in self.verifications:
            lines += ["", v.summary_line() if v.ok else f"Verification failed: {v.summary_line()}", *v.table(),
                      *v.problem_lines()]
        if self.unlinked:
            lines.append(f"not linked to the Test Plan {self.test_plan}: {', '.join(self.unlinked)}")
        return lines

    def as_dict(self) -> dict[str, Any]:
        keys = list(dict.fromkeys(r.key for r in self.records))
        totals = {s: sum(r.totals[s] for r in self.records) for s in STATUSES}
        return {"kind": "xray-tasks/finalize", "key": keys[0] if len(keys) == 1 else None, "keys": keys,
                "test_plan": self.test_plan, "shards": [r.as_dict() for r in self.records], "totals": totals,
                "verification": {"ok": self.ok, "executions": [v.as_dict() for v in self.verifications],
                                 "unlinked": self.unlinked}}


def finalize(client: XrayClient, folder: str | Path, *, key: str | None, plan: str | None,
             expect: int | None) -> Finalized:
    """Read the shard records in ``folder``, check them, and verify every execution they name against
    their combined Tests. ``key``: the one execution every record must name; without it (Cucumber/Behave
    shards) each shard has its own, and each must be linked to the Test Plan ``plan``."""
    if key is None and plan is None:
        raise SettingsError("finalize: no Test Execution key and no Test Plan",
                            "pass --test-exec KEY (one execution for all shards) or --test-plan PLAN (one per shard)")
    records = read_records(folder)
    _check_set(records, Path(folder), expect)
    keys = list(dict.fromkeys(r.key for r in records))
    if key is not None:
        others = [r for r in records if r.key != key]
        if others:
            named = ", ".join(f"{r.path.name} names {r.key}" for r in others[:5])
            raise ShardRecordError(f"shard records of another Test Execution than {key}: {named}",
                                   "remove records left by an earlier pipeline (or another job) from the folder")
    verifications = []
    for execution in keys:
        own = [r for r in records if r.key == execution]
        expectation = Expectation()
        for r in own:
            expectation.add_tests(r.tests)
            expectation.add_totals(r.totals)
        ref = find_execution(client, execution, next((r.issue_id for r in own if r.issue_id), None))
        verifications.append(check(client, ref, expectation, extras_fail=True, wait=client.settings.verify_wait))
    unlinked = sorted(set(keys) - plan_executions(client, plan)) if plan else []
    return Finalized(records, verifications, plan, unlinked)
