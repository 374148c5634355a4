"""The steps behind ``create-execution``, ``verify`` and ``finalize``: a sharded pipeline's first and last
jobs, and checking an execution on its own.

Plain functions over :class:`~xray_tasks.settings.Settings`, like :mod:`xray_tasks.workflow`: they print
through a :class:`~xray_tasks.console.Console`, write ``--summary-file`` and the CI files through
:func:`xray_tasks.workflow.write_results`, and raise :class:`~xray_tasks.errors.XrayTasksError` — after the
result is shown and written, so a failed check still leaves its key and its findings behind.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from xray_tasks.afterimport import show
from xray_tasks.console import Console, err
from xray_tasks.errors import SettingsError
from xray_tasks.formats import STATUSES
from xray_tasks.runrecord import RunRecord
from xray_tasks.settings import Settings
from xray_tasks.verify import failure, recorded_bucket
from xray_tasks.workflow import write_results

__all__ = ["create_step", "finalize_step", "verify_step"]


def _need_key(s: Settings, task: str) -> str:
    if not s.test_exec_key:
        raise SettingsError(f"{task}: no Test Execution key", "pass --test-exec KEY or set XRAY_TEST_EXEC_KEY")
    return s.test_exec_key


def create_step(s: Settings, console: Console, *, info_template: str | None, record: RunRecord | None) -> None:
    """Create an empty Test Execution: its key alone on stdout (``--json``: the object), the link on stderr,
    GITHUB_OUTPUT ``test-exec-key``; a link to the Test Plan that failed is raised after all that."""
    from xray_tasks.client import XrayClient
    from xray_tasks.execution import create_execution, rendered_info

    for note in s.notes:
        console.say(f"note: {note}")
    info = rendered_info(s, info_template, record)
    with XrayClient(s, log=err) as client:
        created = create_execution(client, info)
    data = created.as_dict()
    if console.as_json:
        console.data(data)
    else:
        print(created.key, flush=True)
        for note in created.notes:
            console.say(f"note: {note}")
        where = f": {created.url}" if created.url else ""
        plan = f", in the Test Plan {created.test_plan}" if created.test_plan and not created.problem else ""
        console.say(f"created Test Execution {created.key}{where}{plan}")
    write_results(s, console, data, None, step_summary=False)
    if created.problem is not None:
        raise created.problem


def verify_step(s: Settings, console: Console, summary_file: str | None) -> None:
    """Check an existing Test Execution against ``s.report`` — or, without reports, show its runs per status."""
    from xray_tasks.client import XrayClient
    from xray_tasks.readback import find_execution, read_runs
    from xray_tasks.reports import check_reports, find_reports
    from xray_tasks.verify import Expectation, check

    key = _need_key(s, "verify")
    expectation = None
    if s.report:
        checked = check_reports(find_reports(s.report), s.report_format, None, allow_stale=True)
        for note in checked.notes:
            console.say(f"note: {note}")
        expectation = Expectation()
        expectation.add_unknown([(p, fmt) for p, fmt, _ in checked.reports])
    with XrayClient(s, log=err) as client:
        ref = find_execution(client, key)
        if expectation is None:
            recorded = read_runs(client, ref)
            names = Counter(r.status for r in recorded.runs)
            buckets = Counter(recorded_bucket(r.status) for r in recorded.runs)
            data = {"kind": "xray-tasks/verify", "key": key, "keys": [key], "runs": len(recorded.runs),
                    "statuses": dict(sorted(names.items())), "recorded": {b: buckets[b] for b in STATUSES}}
            if console.as_json:
                console.data(data)
            else:
                console.result(f"{key}: {len(recorded.runs)} runs")
                for name, count in sorted(names.items(), key=lambda kv: (-kv[1], kv[0])):
                    console.result(f"  {name:<12} {count:>7}")
            write_results(s, console, data, summary_file, step_summary=False)
            return
        verification = check(client, ref, expectation, extras_fail=False, wait=s.verify_wait)
    data = {"kind": "xray-tasks/verify", "key": key, "keys": [key],
            "verification": {"ok": verification.ok, "executions": [verification.as_dict()]}}
    error = failure([verification], again="it")
    if error is not None:
        data.update(error=str(error), exit_code=error.exit_code)
    if console.as_json:
        console.data(data)
    else:
        show(console, [verification])
    write_results(s, console, data, summary_file, step_summary=False)
    if error is not None:
        raise error


def finalize_step(s: Settings, console: Console, *, expect: int | None, summary_file: str | None) -> None:
    """Check that every shard's record is there and names the execution, then verify the execution against
    all of them; one table for the whole pipeline."""
    from xray_tasks.client import XrayClient
    from xray_tasks.shards import finalize

    with XrayClient(s, log=err) as client:
        done = finalize(client, Path(s.shard_dir), key=s.test_exec_key, plan=s.test_plan_key, expect=expect)
    data = done.as_dict()
    error = done.error()
    if error is not None:
        data.update(error=str(error), exit_code=error.exit_code)
    if console.as_json:
        console.data(data)
    elif console.quiet:
        for verification in done.verifications:
            console.result(verification.summary_line())
    else:
        console.result(f"{len(done.records)} shard record(s) in {s.shard_dir}, "
                       f"{len({r.key for r in done.records})} Test Execution(s):")
        for line in done.table():
            console.result(line)
    write_results(s, console, data, summary_file)
    if error is not None:
        raise error
