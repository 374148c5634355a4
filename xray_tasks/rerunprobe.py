"""A quick look for reruns before the full scan: most imports have none, and need no rewrite at all.

Collapsing reruns (:mod:`xray_tasks.reruns`) needs every test's place in every report, which costs a
full parse — seconds on a large report. :func:`might_have_reruns` answers first, from the raw bytes of
JUnit XML (the format large reports come in), with flat memory:

* a Surefire/Gradle attempt element (``<flakyFailure>``, ``<rerunFailure>``, ``<flakyError>``,
  ``<rerunError>``) means reruns;
* so does the same ``classname`` + ``name`` twice within one ``<testsuite>`` (pytest-rerunfailures and
  retrying runners write each attempt as a testcase of its own);
* across several reports, the same test in two of them (a CI job retried into the same folder): their
  identities are compared as 8-byte digests.

At most :data:`MAX_IDENTITIES` digests are kept (in one suite, or from several reports); past that the
answer is "maybe", so memory stays bounded (about 16 MiB).

"Maybe" is as good as "yes": the full scan then decides. Only a "no" skips it, so the probe may be
wrong in one direction only: it never hides a rerun. Formats other than JUnit get "maybe".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

from xray_tasks.settings import Settings

__all__ = ["MAX_IDENTITIES", "might_have_reruns", "needs_rewrite"]

#: most test identities kept (as digests) to compare several reports; beyond, the full scan decides
MAX_IDENTITIES = 250_000
CHUNK = 1024 * 1024
_TAG = re.compile(rb"<testcase\b([^<>]*)>|<testsuite\b|<(?:rerun|flaky)(?:Failure|Error)\b")
_ATTR = re.compile(rb"""\b(classname|name)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def needs_rewrite(s: Settings, reports: Sequence[tuple[Path, str]]) -> bool:
    """Whether the import's reports go through :mod:`xray_tasks.rewrite` at all: a map or evidence asked
    for, or reruns to collapse. Most imports need none, and load none of its machinery."""
    if s.map or s.evidence:
        return True
    return s.reruns != "all" and might_have_reruns(reports)


def might_have_reruns(reports: Sequence[tuple[Path, str]]) -> bool:
    """Whether the reports (path, format) may hold several attempts of one test; False only when sure."""
    if any(fmt != "junit" for _, fmt in reports):
        return True
    across: set[bytes] | None = set() if len(reports) > 1 else None
    return any(_probe(path, across) for path, _ in reports)


def _probe(path: Path, across: set[bytes] | None) -> bool:
    """Scan one JUnit report; True at the first sign of a rerun. Its identities join ``across``."""
    suite: set[bytes] = set()
    mine: set[bytes] = set()
    with path.open("rb") as fh:
        carry = b""
        while True:
            chunk = fh.read(CHUNK)
            data = carry + chunk
            cut = len(data) if not chunk else data.rfind(b"<")  # a tag cut by the chunk waits for the next
            body, carry = (data, b"") if cut < 0 else (data[:cut], data[cut:])
            for match in _TAG.finditer(body):
                attrs = match.group(1)
                if attrs is None:
                    if match.group(0).startswith(b"<testsuite"):
                        suite.clear()
                        continue
                    return True  # a Surefire/Gradle attempt element
                identity = _identity(attrs)
                if identity in suite or len(suite) > MAX_IDENTITIES:
                    return True
                suite.add(identity)
                if across is not None:
                    if identity in across:  # seen in an earlier report: a CI job retried into the same folder
                        return True
                    mine.add(identity)
                    if len(across) + len(mine) > MAX_IDENTITIES:
                        return True
            if not chunk:
                break
    if across is not None:
        across |= mine
    return False


def _identity(attrs: bytes) -> bytes:
    values = {m.group(1): m.group(2) if m.group(2) is not None else m.group(3) for m in _ATTR.finditer(attrs)}
    key = values.get(b"classname", b"") + b"\0" + values.get(b"name", b"")
    return hashlib.blake2b(key, digest_size=8).digest()
