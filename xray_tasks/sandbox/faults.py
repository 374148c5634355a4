"""Fault injection: switches that make the sandbox misbehave the way a real Xray sometimes does.

Set them in Python (``sandbox.faults.status_429 = 2``), from the constructor (``Sandbox(faults=Faults(...))``)
or over HTTP (``POST /sandbox/faults`` with a JSON object of the fields below; ``GET`` shows them,
``DELETE`` clears them).

=========================  =========================================================================
field                      effect
=========================  =========================================================================
``status_429: int``        the next N import/authenticate requests answer 429 with ``Retry-After``
``retry_after: int``       seconds sent in ``Retry-After`` with each 429 (default 1)
``status_503: int``        the next N import/authenticate requests answer 503
``latency_ms: int``        added before answering every Xray/Jira API request (not ``/sandbox/*``)
``drop_after_body: int``   the next N imports: read the whole body, then close the connection without
                           answering
``process_before_drop``    with ``drop_after_body``: import the results before dropping (default true —
                           the case a client must not blindly retry), or drop without importing
``expire_tokens: bool``    every Cloud token issued so far is refused with 401 (newer ones work); the
                           switch resets itself once applied
``region_mismatch: bool``  Cloud data calls (imports) answer 401 "Xray data is in another region…"
``accept_without_parsing`` imports answer with a new Test Execution key as soon as the body has been
                           read to the end (1 MiB at a time, never kept) — for upload benchmarks
``drop_runs: int``         imports succeed but do not record the next N Test Runs (the Tests are still
                           created and listed in the answer) — what a client's read-back must catch
``drop_runs_of: [str]``    runs of these Tests are never recorded (a Test key, a test name or a
                           definition such as ``calc.Calc.adds``) until the switch is cleared
=========================  =========================================================================
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["Faults"]


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


@dataclass
class Faults:
    """Mutable fault switches; the ``take_*`` methods consume one-shot faults atomically."""

    status_429: int = 0
    retry_after: int = 1
    status_503: int = 0
    latency_ms: int = 0
    drop_after_body: int = 0
    process_before_drop: bool = True
    expire_tokens: bool = False
    region_mismatch: bool = False
    accept_without_parsing: bool = False
    drop_runs: int = 0
    drop_runs_of: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """The switches as JSON-ready data."""
        with self._lock:
            return {f.name: _copy(getattr(self, f.name)) for f in fields(self) if not f.name.startswith("_")}

    def update(self, changes: dict[str, Any]) -> None:
        """Set the given switches; raises ValueError (and changes nothing) on an unknown name or bad type."""
        known = {f.name: f for f in fields(self) if not f.name.startswith("_")}
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(unknown)}; known: {', '.join(known)}")
        clean: dict[str, Any] = {}
        for name, value in changes.items():
            if known[name].type in ("list[str]", list[str]):
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ValueError(f"fault {name} takes a list of strings, not {value!r}")
                clean[name] = list(value)
                continue
            want_bool = known[name].type in ("bool", bool)
            if want_bool and not isinstance(value, bool):
                raise ValueError(f"fault {name} takes true or false, not {value!r}")
            if not want_bool and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"fault {name} takes a whole number >= 0, not {value!r}")
            clean[name] = value
        with self._lock:
            for name, value in clean.items():
                setattr(self, name, value)

    def clear(self) -> None:
        """Every switch back to off."""
        defaults = Faults()
        with self._lock:
            for f in fields(self):
                if not f.name.startswith("_"):
                    setattr(self, f.name, getattr(defaults, f.name))

    def take_run_drop(self, *names: str | None) -> bool:
        """Whether the run of the Test known by ``names`` (key, name, definition) must not be recorded."""
        with self._lock:
            if any(name in self.drop_runs_of for name in names if name):
                return True
            if self.drop_runs > 0:
                self.drop_runs -= 1
                return True
            return False

    def _take(self, name: str) -> bool:
        with self._lock:
            left = getattr(self, name)
            if left > 0:
                setattr(self, name, left - 1)
                return True
            return False

    def take_429(self) -> int | None:
        """The Retry-After seconds when this request must answer 429, else None."""
        with self._lock:
            if self.status_429 > 0:
                self.status_429 -= 1
                return self.retry_after
            return None

    def take_503(self) -> bool:
        return self._take("status_503")

    def take_drop(self) -> tuple[bool, bool]:
        """(drop this import?, process it before dropping?)."""
        with self._lock:
            if self.drop_after_body > 0:
                self.drop_after_body -= 1
                return True, self.process_before_drop
            return False, False

    def take_expire_tokens(self) -> bool:
        with self._lock:
            fired, self.expire_tokens = self.expire_tokens, False
            return fired

    def latency(self) -> float:
        """Seconds to wait before answering."""
        with self._lock:
            return self.latency_ms / 1000.0
