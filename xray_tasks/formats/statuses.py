"""The fixed set of normalised statuses, and every runner's values mapped onto it.

Every :class:`~xray_tasks.formats.TestResult` has one of :data:`STATUSES`, so report totals (and the
``report.totals`` template variable) always have exactly these keys, whatever the runner wrote. A value
no table knows — a custom Xray status, a status a newer runner invents — counts as
:data:`UNKNOWN_STATUS` (``todo``: "no verdict we can read"), which is also what Xray records for it.
The full table, with what Xray Cloud and Server/DC record for each, is ``docs/statuses.md``.
"""

from __future__ import annotations

__all__ = ["STATUSES", "UNKNOWN_STATUS", "gherkin_status", "nunit2_status", "nunit3_status", "runner_status",
           "xray_json_status"]

#: the normalised statuses, in the order totals list them
STATUSES: tuple[str, ...] = ("passed", "failed", "skipped", "todo", "aborted")
#: the bucket of a value no table knows
UNKNOWN_STATUS = "todo"

#: TestNG (``status``), Robot Framework (``<status status>``) and xUnit.net (``result``) write the same
#: words; Robot writes NOT RUN for tests of a stopped run, xUnit.net v3 NotRun for explicit tests, TestNG
#: SUCCESS_PERCENTAGE_FAILURE for a test that met its ``successPercentage``
_RUNNER = {"PASS": "passed", "FAIL": "failed", "SKIP": "skipped", "NOT RUN": "skipped", "NOT_RUN": "skipped",
           "NOTRUN": "skipped", "SUCCESS_PERCENTAGE_FAILURE": "passed"}
#: Xray JSON: Cloud and Server built-ins; a custom status falls to UNKNOWN_STATUS
_XRAY = {"PASSED": "passed", "PASS": "passed", "FAILED": "failed", "FAIL": "failed", "TODO": "todo",
         "EXECUTING": "todo", "ABORTED": "aborted", "SKIPPED": "skipped", "SKIP": "skipped"}
#: NUnit 3 ``result`` (``label`` only refines Failed: Error and Invalid stay failed, Cancelled aborts)
_NUNIT3 = {"PASSED": "passed", "FAILED": "failed", "SKIPPED": "skipped", "INCONCLUSIVE": "todo",
           "WARNING": "passed", "FAILED:CANCELLED": "aborted"}
#: NUnit 2.x ``result`` (the ResultState names of NUnit 2.5-2.6)
_NUNIT2 = {"SUCCESS": "passed", "FAILURE": "failed", "ERROR": "failed", "NOTRUNNABLE": "failed",
           "IGNORED": "skipped", "SKIPPED": "skipped", "NOTRUN": "skipped", "INCONCLUSIVE": "todo",
           "CANCELLED": "aborted"}
#: Cucumber/Behave step (and hook) statuses that fail a scenario: behave writes "error" for exceptions
#: other than assertion failures and "hook_error" for failing hooks, cucumber "ambiguous" for two
#: matching step definitions
_GHERKIN_FAILING = frozenset({"failed", "error", "hook_error", "ambiguous"})


def _lookup(raw: str | None, table: dict[str, str], missing: str) -> str:
    if raw is None or not raw.strip():
        return missing
    return table.get(raw.strip().upper(), UNKNOWN_STATUS)


def runner_status(raw: str | None) -> str:
    """TestNG, Robot Framework and xUnit.net; a missing value is ``todo``."""
    return _lookup(raw, _RUNNER, UNKNOWN_STATUS)


def xray_json_status(raw: str | None) -> str:
    """An Xray JSON run status, Cloud's or Server's spelling."""
    return _lookup(raw, _XRAY, UNKNOWN_STATUS)


def nunit3_status(result: str | None, label: str | None) -> str:
    """NUnit 3 ``result`` with its ``label``; a missing result is ``todo``."""
    if result and label:
        refined = _NUNIT3.get(f"{result.strip()}:{label.strip()}".upper())
        if refined is not None:
            return refined
    return _lookup(result, _NUNIT3, UNKNOWN_STATUS)


def nunit2_status(result: str | None, executed: bool) -> str:
    """NUnit 2.x ``result``; without one (NUnit 2.0-2.4), ``executed`` tells passed from skipped."""
    return _lookup(result, _NUNIT2, "passed" if executed else "skipped")


def gherkin_status(step_statuses: list[str], own: str | None) -> str:
    """A Cucumber/Behave scenario's status from its step and hook statuses (lower case) and its own.

    Cucumber's rule, "the worst step wins": failed if any step or hook failed (or errored, or was
    ambiguous), or the scenario itself has Behave's ``hook_error``; passed if every step passed (a
    scenario without steps or hooks takes its own status, passed when it has none); otherwise skipped —
    steps that are undefined, pending, skipped, untested or have no result leave the scenario unfinished.
    """
    if any(s in _GHERKIN_FAILING for s in step_statuses) or own == "hook_error":
        return "failed"
    if not step_statuses:
        return "passed" if own in (None, "passed") else "failed" if own in _GHERKIN_FAILING else "skipped"
    return "passed" if all(s == "passed" for s in step_statuses) else "skipped"
