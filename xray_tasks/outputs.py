"""What an import leaves for machines: the summary object, the summary file, CI outputs.

The same dictionary is printed by ``--json``, written by ``--summary-file``, and condensed into
``GITHUB_OUTPUT`` (``test-exec-key=…``) and a Markdown table in ``GITHUB_STEP_SUMMARY`` when those are
set. It holds keys, URLs, files and counts — never a credential (it is redacted before it is written).

These files are written *after* the import landed and after its key was printed: a file that cannot be
written is a warning naming it (:func:`write_outputs` returns the warnings), never an error that would
hide the key and make a rerun create a duplicate Test Execution.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xray_tasks.formats import FORMAT_LABELS
from xray_tasks.redaction import redact_data
from xray_tasks.reports import SUMMARY_KIND  # marks a summary file: a later run never takes it for a report

if TYPE_CHECKING:
    from xray_tasks.importer import ImportOutcome

__all__ = ["SUMMARY_KIND", "summary", "write_outputs"]

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def summary(outcome: ImportOutcome, totals: Mapping[str, int] | None = None, *,
            tests_exit: int | None = None, error: str | None = None, exit_code: int | None = None,
            checks: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One JSON-able object describing the whole import; ``checks`` adds what the checks after it found
    (``"verification"``: recorded counts and differences, ``"shard"``: the shard record)."""
    first_plan, first = outcome.results[0] if outcome.results else (None, None)
    requests: list[dict[str, Any]] = [{
        "key": result.key, "endpoint": plan.endpoint, "format": plan.format, "status": result.status,
        "files": [str(p) for p in plan.files], "seconds": round(result.duration, 3), "attempts": result.attempts,
    } for plan, result in outcome.results]
    files = [{"file": f, "format": r["format"], "key": r["key"], "status": "imported"}
             for r in requests for f in r["files"]]
    data: dict[str, Any] = {
        "kind": SUMMARY_KIND,
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
    data.update(checks or {})
    if exit_code is not None:
        data["exit_code"] = exit_code
    return data


def write_outputs(data: Mapping[str, Any], summary_file: str | None = None,
                  environ: Mapping[str, str] | None = None) -> list[str]:
    """Write the summary file and the GitHub Actions files that apply; return a warning per file that
    could not be written."""
    environ = os.environ if environ is None else environ
    clean: Mapping[str, Any] = redact_data(data)
    warnings: list[str] = []
    writers = [(summary_file, "--summary-file", _summary_text(clean), "w"),
               (environ.get("GITHUB_OUTPUT"), "GITHUB_OUTPUT", _github_output(clean), "a"),
               (environ.get("GITHUB_STEP_SUMMARY"), "GITHUB_STEP_SUMMARY", _step_summary(clean), "a")]
    for path, name, text, mode in writers:
        if not path:
            continue
        try:
            target = Path(path)
            if mode == "w":
                target.parent.mkdir(parents=True, exist_ok=True)
            with target.open(mode, encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            warnings.append(f"could not write {name} {path}: {exc.strerror or exc}; the import itself succeeded")
    return warnings


def _summary_text(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _safe(value: Any) -> str:
    """A value for a ``name=value`` line: no line break or control character can add lines of its own."""
    return _UNSAFE.sub("", str(value or ""))


def _github_output(data: Mapping[str, Any]) -> str:
    return (f"test-exec-key={_safe(data.get('key'))}\n"
            f"test-exec-keys={_safe(','.join(data.get('keys') or []))}\n"
            f"test-exec-url={_safe(data.get('url'))}\n")


def _step_summary(data: Mapping[str, Any]) -> str:
    totals = data.get("totals") or {}
    lines = ["### Xray import", "", "| Test Execution | Format | Files | Passed | Failed | Skipped |",
             "| --- | --- | --- | --- | --- | --- |"]
    key = _safe(data.get("key")) or "—"
    link = f"[{key}]({_safe(data['url'])})" if data.get("url") else key
    label = FORMAT_LABELS.get(str(data.get("format")), _safe(data.get("format")) or "—")
    lines.append(f"| {link} | {label} | {len(data.get('files') or [])} | {totals.get('passed', '')} | "
                 f"{totals.get('failed', '')} | {totals.get('skipped', '')} |")
    verification = data.get("verification") or {}
    for checked in verification.get("executions") or []:
        recorded = checked.get("recorded") or {}
        lines += ["", f"Xray recorded {checked.get('runs', 0)} runs in {_safe(checked.get('key'))} for "
                      f"{checked.get('tests', 0)} Tests sent ({recorded.get('passed', 0)} passed, "
                      f"{recorded.get('failed', 0)} failed): {'verified' if checked.get('ok') else '**not verified**'}"]
    if data.get("error"):
        lines += ["", f"**Import failed:** {_safe(data['error'])}"]
    return "\n".join(lines) + "\n\n"
