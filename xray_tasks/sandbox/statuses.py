"""Test Run statuses as each dialect shows them: names, whether final, colours (contract §6, §16).

A run keeps the status name of the import that wrote it (``PASSED`` from Cloud, ``PASS`` from Server);
read-back answers show it in their own dialect's name.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CLOUD_NAMES", "SERVER_NAMES", "in_dialect", "status_object"]

#: Server name -> (Cloud name, final, colour, description)
_STATUSES: dict[str, tuple[str, bool, str, str]] = {
    "PASS": ("PASSED", True, "#95C160", "The test run has passed"),
    "FAIL": ("FAILED", True, "#D45D52", "The test run has failed"),
    "TODO": ("TODO", False, "#A2A6AE", "The test run has not started"),
    "EXECUTING": ("EXECUTING", False, "#F1E069", "The test run is currently being executed"),
    "ABORTED": ("ABORTED", True, "#111111", "The test run was aborted"),
}
SERVER_NAMES = tuple(_STATUSES)
CLOUD_NAMES = tuple(v[0] for v in _STATUSES.values())
_TO_SERVER = {cloud: server for server, (cloud, *_rest) in _STATUSES.items()}


def in_dialect(name: str, dialect: str) -> str:
    """A stored status name as ``dialect`` ("cloud" or "server") spells it; unknown names are kept."""
    if dialect == "cloud":
        return _STATUSES[name][0] if name in _STATUSES else name
    return _TO_SERVER.get(name, name)


def status_object(name: str, dialect: str) -> dict[str, Any]:
    """``{"name", "description", "final", "color", "coverageStatus"}`` for a stored status name."""
    server = _TO_SERVER.get(name, name)
    _cloud, final, color, description = _STATUSES.get(server, (name, False, "#A2A6AE", "A custom status"))
    return {"name": in_dialect(name, dialect), "description": description, "final": final, "color": color,
            "coverageStatus": {"PASS": "OK", "FAIL": "NOK"}.get(server, "NOTRUN")}
