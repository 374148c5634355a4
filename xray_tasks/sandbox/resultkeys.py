"""The Test key of each scenario in a Cucumber or Behave JSON report, read with the instance's tag prefix.

:func:`xray_tasks.formats.iter_results` knows only the default ``@TEST_`` prefix; an instance may be set
up with another (contract §13.2), so the sandbox reads the scenarios' tags itself, in the same order as
the formats module yields results: every element of every feature except Backgrounds. A scenario's key is
its first tag ``<prefix><KEY>``, else its first bare ``<KEY>`` tag (Xray accepts both, §7.5). Tags the
scenario shares with its feature are left out: cucumber-js repeats the feature's tags (``@REQ_...``, an
exported Test Execution's key) on every scenario, and they name no Test.
"""

from __future__ import annotations

import json
from typing import IO, Any

from xray_tasks.formats import key_in_tag

__all__ = ["scenario_keys"]


def _tags(node: dict[str, Any]) -> list[str]:
    tags = node.get("tags")
    names = (t.get("name") if isinstance(t, dict) else t for t in (tags if isinstance(tags, list) else ()))
    return [n.strip().lstrip("@") for n in names if isinstance(n, str)]


def scenario_keys(report: IO[bytes], prefix: str) -> list[str | None]:
    """One key (or None) per scenario of the report, which the formats module has already checked."""
    report.seek(0)
    raw = report.read()
    data = json.loads(raw.decode(json.detect_encoding(raw)).lstrip("\ufeff"))
    keys: list[str | None] = []
    for feature in data if isinstance(data, list) else ():
        if not isinstance(feature, dict):
            continue
        shared = set(_tags(feature))
        elements = feature.get("elements")
        for element in elements if isinstance(elements, list) else ():
            if not isinstance(element, dict) or str(element.get("type", "")).lower() == "background":
                continue
            own = [t for t in _tags(element) if t not in shared]
            keys.append(next((k for t in own if (k := key_in_tag(t, prefix))), None)
                        or next((k for t in own if (k := key_in_tag(t, ""))), None))
    return keys
