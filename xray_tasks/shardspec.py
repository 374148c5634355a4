"""Which shard of a sharded CI job this is, and what that means for its import's settings.

``--shard I/N`` (or GitLab's ``CI_NODE_INDEX``/``CI_NODE_TOTAL``) names the shard. A shard imports into
the Test Execution made up front, without Test Environments (an import that carries them replaces the
execution's), and never Cucumber/Behave reports (Xray cannot import those into an existing one). The
shard record and ``finalize`` are in :mod:`xray_tasks.shards`; this module loads nothing of theirs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from xray_tasks.errors import ReportError, SettingsError
from xray_tasks.formats import FORMAT_LABELS
from xray_tasks.reports import detect, find_reports, own_output
from xray_tasks.runrecord import RunRecord
from xray_tasks.settings import MAX_SHARDS, Settings

__all__ = ["Shard", "current_shard", "refuse_gherkin", "shard_settings"]


@dataclass(frozen=True, order=True)
class Shard:
    """Shard ``index`` of ``total`` (1-based)."""

    index: int
    total: int

    @property
    def label(self) -> str:
        return f"{self.index}/{self.total}"

    @property
    def filename(self) -> str:
        return f"xray-shard-{self.index}.json"


def current_shard(s: Settings, environ: Mapping[str, str] | None = None) -> Shard | None:
    """This job's shard: ``XRAY_SHARD`` / ``--shard``, else GitLab's ``CI_NODE_INDEX`` of ``CI_NODE_TOTAL``."""
    if s.shard:
        index, _, total = s.shard.partition("/")
        return Shard(int(index), int(total))
    environ = os.environ if environ is None else environ
    index, total = environ.get("CI_NODE_INDEX", "").strip(), environ.get("CI_NODE_TOTAL", "").strip()
    if not index or not total:
        return None
    if not (index.isdigit() and total.isdigit() and 1 <= int(index) <= int(total) <= MAX_SHARDS):
        raise SettingsError(f"CI_NODE_INDEX={index[:20]!r} and CI_NODE_TOTAL={total[:20]!r} are not a shard I of N",
                            "GitLab sets them for parallel jobs; or pass --shard I/N")
    return Shard(int(index), int(total))


def shard_settings(s: Settings, shard: Shard | None) -> Settings:
    """The settings a shard imports with: into an existing execution, without Test Environments (an import
    that carries them replaces the execution's: shards with different ones would overwrite each other)."""
    if shard is None or not s.test_exec_key or not s.test_environments:
        return s
    note = (f"shard {shard.label}: Test Environments ({';'.join(s.test_environments)}) are not sent — an import "
            f"replaces the environments of {s.test_exec_key}; give them to create-execution instead")
    return replace(s, test_environments=(), notes=(*s.notes, note))


def refuse_gherkin(s: Settings, shard: Shard | None, record: RunRecord | None) -> None:
    """A shard with Cucumber or Behave reports cannot import into the shared execution: say what works."""
    if shard is None or not s.test_exec_key:
        return
    patterns = s.report or (record.report_patterns if record else ())
    if not patterns:
        return
    for path in find_reports(patterns):
        if own_output(path) is not None:
            continue
        try:
            fmt, _ = detect(path, s.report_format)
        except ReportError:
            continue  # the import itself says what is wrong with it
        if fmt in ("cucumber", "behave"):
            raise SettingsError(
                f"shard {shard.label}: {path} is {FORMAT_LABELS[fmt]}, which Xray cannot import into an existing Test "
                f"Execution ({s.test_exec_key}): its endpoints take no Test Execution key, and multipart always "
                "creates a new one",
                "give each shard its own Test Execution in one Test Plan: run the shards without --test-exec and "
                "with --test-plan PLAN, then finalize --test-plan PLAN (README, \"Sharded CI\")")
