"""Cucumber/Behave results reach Xray only through a Test key tag on each scenario (contract §7.5): a
report whose scenarios carry none is rejected or its results ignored. This check names such scenarios
before anything is sent — a note, or with ``--strict-tags`` a refusal.

A scenario's key is an own tag ``<XRAY_CUCUMBER_TEST_PREFIX><KEY>`` (``@TEST_CALC-12`` by default) or a bare
``<KEY>`` tag (Xray takes both). Tags a scenario shares with its feature do not count: cucumber-js repeats
the feature's tags (``@REQ_…``, an exported Test Execution's key) on every scenario, and they name no Test.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from xray_tasks import formats
from xray_tasks.errors import ReportError
from xray_tasks.formats import scenario_key
from xray_tasks.settings import Settings

__all__ = ["SHOWN", "check_scenario_tags", "untagged_scenarios"]

#: scenarios named in the note before "and N more"
SHOWN = 3


def untagged_scenarios(path: Path, fmt: str, prefix: str) -> list[str]:
    """``feature: scenario`` of every scenario in the Cucumber/Behave report without a Test key tag."""
    return [r.definition for r in formats.iter_results(path, fmt)
            if scenario_key(r.tags, prefix) is None]


def check_scenario_tags(s: Settings, reports: Sequence[tuple[Path, str, bool]], *, strict: bool) -> tuple[str, ...]:
    """A note naming the scenarios without a Test key in the Cucumber/Behave ``reports`` (``(path, format,
    detected)``), or none; with ``strict`` such scenarios are a ReportError instead."""
    untagged: list[tuple[Path, str]] = []
    for path, fmt, _ in reports:
        if fmt in ("cucumber", "behave"):
            untagged += [(path, name) for name in untagged_scenarios(path, fmt, s.cucumber_test_prefix)]
    if not untagged:
        return ()
    names = ", ".join(repr(name) for _, name in untagged[:SHOWN])
    more = f" and {len(untagged) - SHOWN} more" if len(untagged) > SHOWN else ""
    files = ", ".join(dict.fromkeys(str(p) for p, _ in untagged))
    tag = f"@{s.cucumber_test_prefix}<KEY>" if s.cucumber_test_prefix else "@<KEY>"
    what = (f"{len(untagged)} scenario{'s' if len(untagged) > 1 else ''} in {files} carr"
            f"{'y' if len(untagged) > 1 else 'ies'} no Test key tag ({tag}): {names}{more}")
    fix = ("run the features exported from Xray (xray-tasks export-features), whose scenarios carry their keys, "
           "or tag each scenario with its Test's key (XRAY_CUCUMBER_TEST_PREFIX is the prefix)")
    if strict:
        raise ReportError(f"--strict-tags: {what}; Xray rejects or ignores such results", fix)
    return (f"{what} — Xray rejects or ignores such results; {fix}",)
