"""What an import leaves for people and machines: the summary object, the summary file, CI outputs.

The same dictionary is printed by ``--json``, written by ``--summary-file``, and condensed into
``GITHUB_OUTPUT`` (``test-exec-key=…``) and a Markdown table in ``GITHUB_STEP_SUMMARY`` when those
are set. It holds keys, URLs, files and counts — never a credential.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xray_tasks.formats import FORMAT_LABELS

if TYPE_CHECKING:
    from xray_tasks.importer import ImportOutcome

__all__ = ["summary", "write_ci_outputs", "write_summary_file"]


def summary(outcome: ImportOutcome, totals: Mapping[str, int] | None = None, *,
            tests_exit: int | None = None, error: str | None = None) -> dict[str, Any]:
    """One JSON-able object describing the whole import."""
    first_plan, first = outcome.results[0] if outcome.results else (None, None)
    requests = [{
        "key": result.key, "endpoint": plan.endpoint, "format": plan.format, "status": result.status,
        "files": [str(p) for p in plan.files], "seconds": round(result.duration, 3), "attempts": result.attempts,
    } for plan, result in outcome.results]
    files = [{"file": f, "format": r["format"], "key": r["key"], "status": "imported"}
             for r in requests for f in r["files"]]
    return {
        "key": first.key if first else None,
        "keys": outcome.keys,
        "id": first.id if first else None,
        "url": first.url if first else None,
        "format": first_plan.format if first_plan else None,
        "endpoint": first_plan.endpoint if first_plan else None,
        "file": str(first_plan.files[0]) if first_plan else None,
        "files": files,
        "requests": requests,
        "totals": dict(totals or {}),
        "duration": round(outcome.duration, 3),
        "tests_exit_code": tests_exit,
        "error": error,
    }


def write_summary_file(path: str, data: Mapping[str, Any]) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_ci_outputs(data: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> None:
    """GitHub Actions: step outputs and a job-summary table, when the runner provides the files."""
    environ = os.environ if environ is None else environ
    if environ.get("GITHUB_OUTPUT"):
        with open(environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as fh:
            fh.write(f"test-exec-key={data.get('key') or ''}\n")
            fh.write(f"test-exec-keys={','.join(data.get('keys') or [])}\n")
            fh.write(f"test-exec-url={data.get('url') or ''}\n")
    if environ.get("GITHUB_STEP_SUMMARY"):
        totals = data.get("totals") or {}
        lines = ["### Xray import", "", "| Test Execution | Format | Files | Passed | Failed | Skipped |",
                 "| --- | --- | --- | --- | --- | --- |"]
        key = data.get("key") or "—"
        link = f"[{key}]({data['url']})" if data.get("url") else key
        label = FORMAT_LABELS.get(str(data.get("format")), str(data.get("format")))
        lines.append(f"| {link} | {label} | {len(data.get('files') or [])} | {totals.get('passed', '')} | "
                     f"{totals.get('failed', '')} | {totals.get('skipped', '')} |")
        if data.get("error"):
            lines += ["", f"**Import failed:** {data['error']}"]
        with open(environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n\n")
