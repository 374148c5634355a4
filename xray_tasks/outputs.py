"""What an import leaves for machines: the summary object, the summary file, CI outputs.

The same dictionary is printed by ``--json``, written by ``--summary-file``, and condensed into

* ``GITHUB_OUTPUT`` (``test-exec-key``, ``test-exec-keys``, ``test-exec-url``, ``count``, ``passed``,
  ``failed``, ``skipped``) and a Markdown table with a row per Test Execution in ``GITHUB_STEP_SUMMARY``,
  when those are set (GitHub Actions);
* ``--dotenv-file`` / ``XRAY_DOTENV_FILE``: ``NAME=value`` lines for GitLab's ``artifacts:reports:dotenv``
  (:data:`DOTENV_NAMES`; GitLab takes no quotes, comments, blank lines or multi-line values, so values are
  single-line and unquoted);
* ``--properties-file`` / ``XRAY_PROPERTIES_FILE``: the same names as a Java ``.properties`` file for
  Jenkins' ``readProperties`` (escaped as ``java.util.Properties`` reads them).

It holds keys, URLs, files and counts — never a credential (it is redacted before it is written), and no
value can add a line of its own to any of these files.

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
from xray_tasks.reports import SUMMARY_KIND, ReportInfo  # marks a summary file: a later run never takes it for a report

if TYPE_CHECKING:
    from xray_tasks.importer import ImportOutcome

__all__ = ["DOTENV_NAMES", "SUMMARY_KIND", "count_results", "shows_counts", "summary", "write_outputs"]

#: control characters and the Unicode line and paragraph separators: nothing that may start a new line
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: the variables --dotenv-file and --properties-file write, in this order
DOTENV_NAMES = ("XRAY_TEST_EXEC_KEY", "XRAY_TEST_EXEC_KEYS", "XRAY_TEST_EXEC_URL", "XRAY_TESTS_TOTAL",
                "XRAY_TESTS_PASSED", "XRAY_TESTS_FAILED", "XRAY_TESTS_SKIPPED", "XRAY_IMPORT_OK")
#: longest value written to a dotenv file (GitLab refuses a dotenv report over 5 KB as a whole)
DOTENV_VALUE_LIMIT = 2048


def count_results(outcome: ImportOutcome) -> dict[str, dict[str, int]]:
    """Per-status counts of what each Test Execution received, by key: a rewritten report as it was sent
    (reruns collapsed), any other as it is (this parses it); a report split over several requests counts
    once."""
    sent = outcome.enrichment.totals if outcome.enrichment is not None else {}
    by_key: dict[str, dict[str, int]] = {}
    seen: set[tuple[str, str]] = set()
    for plan, result in outcome.results:
        counts = by_key.setdefault(result.key, {})
        for path in plan.files:
            if (result.key, str(path)) in seen:
                continue
            seen.add((result.key, str(path)))
            totals = sent.get(str(path)) or ReportInfo([(path, plan.format)]).totals
            for status, n in totals.items():
                counts[status] = counts.get(status, 0) + n
    return by_key


def shows_counts(summary_file: str | None, dotenv_file: str | None = None, properties_file: str | None = None,
                 environ: Mapping[str, str] | None = None) -> bool:
    """Whether an output file will show per-status counts (worth a parse of the reports)."""
    environ = os.environ if environ is None else environ
    return bool(summary_file or dotenv_file or properties_file or environ.get("GITHUB_STEP_SUMMARY")
                or environ.get("GITHUB_OUTPUT"))


def _added(counts: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for one in counts.values():
        for status, n in one.items():
            out[status] = out.get(status, 0) + n
    return out


def summary(outcome: ImportOutcome, totals: Mapping[str, int] | None = None, *,
            tests_exit: int | None = None, error: str | None = None, exit_code: int | None = None,
            counts: Mapping[str, Mapping[str, int]] | None = None,
            checks: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One JSON-able object describing the whole import; ``counts`` (from :func:`count_results`) adds each
    Test Execution's per-status counts and, unless ``totals`` is given, makes the totals; ``checks`` adds
    what the checks after it found (``"verification"``: recorded counts and differences, ``"shard"``: the
    shard record)."""
    if totals is None and counts is not None:
        totals = _added(counts)
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
        "flaky": outcome.flaky,
        "duration": round(outcome.duration, 3),
        "tests_exit_code": tests_exit,
        "error": error,
    }
    if counts is not None:
        data["executions"] = _executions(outcome, counts)
    data.update(checks or {})
    if exit_code is not None:
        data["exit_code"] = exit_code
    return data


def _executions(outcome: ImportOutcome, counts: Mapping[str, Mapping[str, int]]) -> list[dict[str, Any]]:
    """A row per Test Execution: key, link, formats, files and the per-status counts it received."""
    rows: dict[str, dict[str, Any]] = {}
    for plan, result in outcome.results:
        row = rows.setdefault(result.key, {"key": result.key, "url": result.url, "formats": [], "files": [],
                                           "totals": dict(counts.get(result.key, {}))})
        row["formats"] = list(dict.fromkeys([*row["formats"], plan.format]))
        row["files"] += [str(p) for p in plan.files]
    return list(rows.values())


def write_outputs(data: Mapping[str, Any], summary_file: str | None = None,
                  environ: Mapping[str, str] | None = None, *, dotenv_file: str | None = None,
                  properties_file: str | None = None) -> list[str]:
    """Write the summary file, the dotenv and properties files and the GitHub Actions files that apply;
    return a warning per file that could not be written (or was written shortened)."""
    environ = os.environ if environ is None else environ
    clean: Mapping[str, Any] = redact_data(data)
    warnings: list[str] = []
    variables = _variables(clean, warnings if dotenv_file else [])
    writers = [(summary_file, "--summary-file", _summary_text(clean), "w"),
               (dotenv_file, "--dotenv-file", _dotenv(variables), "w"),
               (properties_file, "--properties-file", _properties(variables), "w"),
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


def _count(totals: Mapping[str, Any], status: str) -> str:
    value = totals.get(status)
    return str(value) if isinstance(value, int) else ""


def _github_output(data: Mapping[str, Any]) -> str:
    totals = data.get("totals") or {}
    count = sum(v for v in totals.values() if isinstance(v, int)) if totals else ""
    return (f"test-exec-key={_safe(data.get('key'))}\n"
            f"test-exec-keys={_safe(','.join(data.get('keys') or []))}\n"
            f"test-exec-url={_safe(data.get('url'))}\n"
            f"count={count}\npassed={_count(totals, 'passed')}\nfailed={_count(totals, 'failed')}\n"
            f"skipped={_count(totals, 'skipped')}\n")


def _cell(value: Any) -> str:
    """A value for a Markdown table cell: one line, ``|`` escaped, no HTML of its own."""
    text = _safe(value).replace("\\", "\\\\").replace("|", "\\|")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _step_summary(data: Mapping[str, Any]) -> str:
    rows = data.get("executions")
    if rows is None:  # no counts were made: one row from the key alone
        rows = [{"key": data.get("key"), "url": data.get("url"), "formats": [data.get("format")],
                 "files": [f["file"] for f in data.get("files") or []], "totals": data.get("totals") or {}}]
    rows = [row for row in rows if row.get("key")]
    lines = ["### Xray import", ""]
    if rows:
        lines += ["| Test Execution | Format | Files | Passed | Failed | Skipped |",
                  "| --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        key, url = _cell(row["key"]), _safe(row.get("url"))
        link = f"[{key}]({url.replace(')', '%29').replace(' ', '%20')})" if url else key
        label = " + ".join(FORMAT_LABELS.get(str(f), str(f)) for f in row.get("formats") or [] if f)
        totals = row.get("totals") or {}
        lines.append(f"| {link} | {_cell(label)} | {len(row.get('files') or [])} | {_count(totals, 'passed')} | "
                     f"{_count(totals, 'failed')} | {_count(totals, 'skipped')} |")
    if len(rows) > 1 and data.get("totals"):
        totals = data["totals"]
        lines.append(f"| **all** | | {len(data.get('files') or [])} | {_count(totals, 'passed')} | "
                     f"{_count(totals, 'failed')} | {_count(totals, 'skipped')} |")
    verification = data.get("verification") or {}
    for checked in verification.get("executions") or []:
        recorded = checked.get("recorded") or {}
        lines += ["", f"Xray recorded {checked.get('runs', 0)} runs in {_safe(checked.get('key'))} for "
                      f"{checked.get('tests', 0)} Tests sent ({recorded.get('passed', 0)} passed, "
                      f"{recorded.get('failed', 0)} failed): {'verified' if checked.get('ok') else '**not verified**'}"]
    if data.get("error"):
        lines += ["", f"**Import failed:** {_cell(data['error'])}"]
    return "\n".join(lines) + "\n\n"


def _variables(data: Mapping[str, Any], warnings: list[str]) -> dict[str, str]:
    """The values of :data:`DOTENV_NAMES`: one line each, no longer than :data:`DOTENV_VALUE_LIMIT`."""
    totals = data.get("totals") or {}
    keys = [_safe(k).strip() for k in data.get("keys") or []]
    listed = ",".join(keys)
    if len(listed) > DOTENV_VALUE_LIMIT:
        shown = listed[:DOTENV_VALUE_LIMIT].rsplit(",", 1)[0]
        warnings.append(f"XRAY_TEST_EXEC_KEYS in --dotenv-file lists the first {shown.count(',') + 1} of "
                        f"{len(keys)} keys (GitLab refuses a dotenv report over 5 KB); the summary file "
                        "(--summary-file) lists them all")
        listed = shown
    values = {
        "XRAY_TEST_EXEC_KEY": _safe(data.get("key")).strip(),
        "XRAY_TEST_EXEC_KEYS": listed,
        "XRAY_TEST_EXEC_URL": _safe(data.get("url")).strip()[:DOTENV_VALUE_LIMIT],
        "XRAY_TESTS_TOTAL": str(sum(v for v in totals.values() if isinstance(v, int))) if totals else "",
        "XRAY_TESTS_PASSED": _count(totals, "passed"),
        "XRAY_TESTS_FAILED": _count(totals, "failed"),
        "XRAY_TESTS_SKIPPED": _count(totals, "skipped"),
        "XRAY_IMPORT_OK": "false" if data.get("error") else "true",
    }
    return {name: values[name] for name in DOTENV_NAMES}


def _dotenv(variables: Mapping[str, str]) -> str:
    """``NAME=value`` lines as GitLab's dotenv report reads them: unquoted (GitLab keeps quotes as part of
    the value), no blank line or comment, surrounding blanks dropped (GitLab drops them too)."""
    return "".join(f"{name}={value.strip()}\n" for name, value in variables.items())


_PROPERTY_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f", "=": "\\=",
                     ":": "\\:", "#": "\\#", "!": "\\!"}


def _property_value(value: str) -> str:
    """``value`` as ``java.util.Properties.load`` reads it back: separators, comment marks and backslashes
    escaped, a leading space kept, anything outside printable ASCII as ``\\uXXXX``."""
    out = []
    for i, ch in enumerate(value):
        if ch in _PROPERTY_ESCAPES:
            out.append(_PROPERTY_ESCAPES[ch])
        elif ch == " " and i == 0:
            out.append("\\ ")
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.extend(f"\\u{unit:04x}" for unit in _utf16(ch))
    return "".join(out)


def _utf16(ch: str) -> list[int]:
    data = ch.encode("utf-16-be")
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


def _properties(variables: Mapping[str, str]) -> str:
    """The same variables as a Java ``.properties`` file (Jenkins' ``readProperties``)."""
    return "".join(f"{name}={_property_value(value)}\n" for name, value in variables.items())
