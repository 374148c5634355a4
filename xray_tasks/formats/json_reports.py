"""The JSON formats (Xray JSON, Cucumber, Behave): read whole up to :data:`JSON_LIMIT` and walked
into :class:`TestResult` items."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from xray_tasks.errors import ReportError
from xray_tasks.formats.base import (
    _GHERKIN_KEY_RE,
    FORMAT_LABELS,
    HEAD_BYTES,
    JSON_LIMIT,
    TestResult,
    _between,
    _parse_json,
)
from xray_tasks.formats.detect import _decode_head, _not_a_report, _Shape, sniff_format
from xray_tasks.formats.statuses import gherkin_status, xray_json_status


def _load_json(stream: BinaryIO, size: int | None, label: str, fmt: str) -> Any:
    limit = f"{JSON_LIMIT // (1024 * 1024)} MiB"
    hint = "split the test run into several reports, or use an XML format, which is streamed"
    if size is not None and size > JSON_LIMIT:
        raise ReportError(f"{label} is too large for a JSON report ({size / (1 << 20):.0f} MiB, the limit is "
                          f"{limit})", hint)
    try:
        raw = stream.read(JSON_LIMIT + 1)
    except OSError as exc:
        raise ReportError(f"report {label} cannot be read: {exc.strerror or exc}",
                          "check that the file is complete and the disk is reachable") from None
    if len(raw) > JSON_LIMIT:
        raise ReportError(f"{label} is too large for a JSON report (over {limit})", hint)
    if not raw:
        raise ReportError(f"report {label} is empty (0 bytes)",
                          "the test run may have crashed before writing results; run the tests again")
    text = _decode_head(raw[:HEAD_BYTES])
    if text is None:
        raise ReportError(f"{label} is binary data, not {FORMAT_LABELS[fmt]}",
                          "point --report at the JSON report the test run writes")
    stripped = text.lstrip()
    if stripped.startswith("<"):
        seen = sniff_format(raw[:HEAD_BYTES])
        if seen:
            raise ReportError(f"{label} looks like {FORMAT_LABELS[seen]}, not {FORMAT_LABELS[fmt]}",
                              f"pass --format {seen} (or auto), or point --report at the {fmt} report")
        raise ReportError(f"{label} is XML, not {FORMAT_LABELS[fmt]}",
                          f"point --report at the {FORMAT_LABELS[fmt]} report")
    return _parse_json(raw, label)


def _iter_xray(data: Any, label: str) -> Iterator[TestResult]:
    if not isinstance(data, dict) or _Shape.of_data(data).classify() != "xray":
        raise _not_a_report(label, data, "xray")
    tests = data.get("tests", [])
    if not isinstance(tests, list):
        raise ReportError(f"{label}: \"tests\" is a {type(tests).__name__}, not a list",
                          "Xray JSON holds its results in a list: \"tests\": [{...}, ...]")
    for i, test in enumerate(tests):
        if not isinstance(test, dict):
            raise ReportError(f"{label}: tests[{i}] is a {type(test).__name__}, not an object",
                              "each entry of \"tests\" is an object with at least a status")
        status = test.get("status")
        if not isinstance(status, str) or not status.strip():
            raise ReportError(f"{label}: tests[{i}] has no status",
                              "Xray requires a status on every test (PASSED, FAILED, TODO, EXECUTING, ...)")
        key, info = test.get("testKey"), test.get("testInfo")
        key = key if isinstance(key, str) else None
        info = info if isinstance(info, dict) else {}
        summary, definition = info.get("summary"), info.get("definition")
        summary = summary if isinstance(summary, str) else None
        definition = definition if isinstance(definition, str) else None
        name = key or summary or definition or f"tests[{i}]"
        yield TestResult(name=name, definition=definition or key or summary or name,
                         status=xray_json_status(status), key=key or None,
                         duration=_between(test.get("start"), test.get("finish")))


def _tag_names(tags: Any) -> list[str]:
    names: list[str] = []
    for tag in tags if isinstance(tags, list) else ():
        name = tag.get("name") if isinstance(tag, dict) else tag
        if isinstance(name, str):
            names.append(name.strip().lstrip("@"))
    return names


def _scenario_status(element: dict[str, Any]) -> str:
    """The status of a scenario from its steps and hooks (see :func:`gherkin_status`); behave writes no
    result for untested steps, which count as "untested"."""
    statuses: list[str] = []
    for part in ("before", "steps", "after"):
        items = element.get(part)
        for item in items if isinstance(items, list) else ():
            result = item.get("result") if isinstance(item, dict) else None
            status = result.get("status") if isinstance(result, dict) else None
            if part == "steps" or status is not None:
                statuses.append(status.lower() if isinstance(status, str) else "untested")
    own = element.get("status")
    return gherkin_status(statuses, own.lower() if isinstance(own, str) else None)


def _iter_gherkin(data: Any, label: str, fmt: str) -> Iterator[TestResult]:
    if data == []:  # a run that found no features writes an empty list: a report without tests
        return
    kind = _Shape.of_data(data).classify()
    if kind not in (fmt, "features"):
        raise _not_a_report(label, data, fmt)
    ns_per_unit = 1e-9 if fmt == "cucumber" else 1.0  # cucumber: nanoseconds; behave: seconds
    for f, feature in enumerate(data):
        if not isinstance(feature, dict):
            raise ReportError(f"{label}: feature #{f + 1} is a {type(feature).__name__}, not an object",
                              f"{FORMAT_LABELS[fmt]} is a list of feature objects; regenerate the report")
        feature_name = str(feature.get("name") or "").strip()
        feature_tags = set(_tag_names(feature.get("tags")))
        elements = feature.get("elements") or []
        if not isinstance(elements, list):
            raise ReportError(f"{label}: the \"elements\" of feature #{f + 1} is not a list",
                              f"regenerate the report; {FORMAT_LABELS[fmt]} lists scenarios under elements")
        for element in elements:
            if not isinstance(element, dict):
                raise ReportError(f"{label}: feature #{f + 1} has an element that is not an object",
                                  "regenerate the report with the test runner")
            if str(element.get("type", "")).lower() == "background":
                continue
            name = str(element.get("name") or "").strip()
            # cucumber repeats the feature's tags on every scenario: those name requirements, not Tests
            tags = [t for t in _tag_names(element.get("tags")) if t not in feature_tags]
            key = next((m.group(1) for t in tags if (m := _GHERKIN_KEY_RE.fullmatch(t))), None)
            durations = [item["result"].get("duration") for item in element.get("steps") or ()
                         if isinstance(item, dict) and isinstance(item.get("result"), dict)]
            numbers = [d for d in durations if isinstance(d, (int, float)) and not isinstance(d, bool)]
            yield TestResult(name=name, definition=f"{feature_name}: {name}",
                             status=_scenario_status(element), key=key,
                             duration=sum(numbers) * ns_per_unit if numbers else None, tags=tuple(tags))


def read_xray_document(path: Path) -> dict[str, Any]:
    """An Xray JSON report as a dict, for code that rewrites it (options, keys, evidence): read whole."""
    try:
        with path.open("rb") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: cannot read the Xray JSON: {exc}", "fix the report") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path} is not an Xray JSON object", "pass --format to say what it is")
    return data
