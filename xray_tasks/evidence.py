"""Evidence files (screenshots, logs, videos, traces) found on disk, matched to tests, and base64-encoded
into a report while it is written.

The matching rule: a file belongs to a test when its path below the ``--evidence`` folder (or below the
glob's fixed part) — folder names and file name together — contains the test's name, or the end of its
``classname.name``, as whole words. Both sides are *normalised* first: lower case, and every run of
characters that are not letters or digits becomes one ``-``. So the test ``test_adds_item`` owns
``screenshots/test_adds_item.png`` and Playwright's ``test-results/tests-test-cart-py-test-adds-item-chromium/
test-failed-1.png``, and Cypress's ``Cart -- adds item (failed).png`` belongs to the test named ``Cart adds
item``; ``test_add`` owns none of them (``add`` is not the word ``adds``). When several tests match one file,
the one that matches more words wins (``TestCart.test_x`` over ``test_x``, ``test_x[2]`` over ``test_x``);
two different tests matching equally is ambiguous and the file is attached to neither, with a note.

Files are streamed: :func:`write_base64` encodes a file in chunks straight into the report being
written, so memory stays flat whatever their size.
"""

from __future__ import annotations

import base64
import glob
import mimetypes
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from xray_tasks.errors import SettingsError

__all__ = ["EvidenceFile", "EvidenceIndex", "base64_size", "find_evidence", "normalise", "write_base64"]

#: files one --evidence pattern may name (a folder of a whole CI workspace is a mistake)
EVIDENCE_FILES_LIMIT = 10_000
#: words of a path that matching looks at (the file name and the folders nearest to it)
PATH_WORDS = 48
#: bytes read and encoded at a time (a multiple of 3, so the chunks join into one base64 text)
CHUNK = 3 * 256 * 1024

_NOT_WORD = re.compile(r"[^0-9a-z]+")


def normalise(text: str) -> str:
    """Lower case, runs of anything but letters and digits as one ``-``, none at the ends."""
    return _NOT_WORD.sub("-", text.lower()).strip("-")


@dataclass(frozen=True)
class EvidenceFile:
    """One file to attach: where it is, what matching sees of its path, its size and type."""

    path: Path
    shown: str  # the path below the evidence root, as matching sees it and notes name it
    size: int

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def content_type(self) -> str:
        return mimetypes.guess_type(self.path.name)[0] or "application/octet-stream"


def find_evidence(patterns: Sequence[str], named: Iterable[str] = ()) -> tuple[list[EvidenceFile], list[str]]:
    """The files ``--evidence`` patterns (folders, globs, files) and the map's ``evidence:`` entries name,
    each once, with notes for patterns that match nothing. An unreadable file is a SettingsError: the
    user asked for it and it cannot be sent."""
    found: dict[Path, EvidenceFile] = {}
    notes: list[str] = []
    for pattern, from_map in [*((p, False) for p in patterns), *((p, True) for p in named)]:
        what = "the map's evidence" if from_map else "--evidence"
        files = _expand(os.path.expanduser(pattern))
        if not files:
            notes.append(f"{what} {pattern!r} matches no file")
            continue
        if len(files) > EVIDENCE_FILES_LIMIT:
            raise SettingsError(f"{what} {pattern!r} names {len(files):,} files (more than {EVIDENCE_FILES_LIMIT:,})",
                                "point it at the folder the test run writes its screenshots and logs to")
        for path, root in files:
            real = path.resolve()
            if real not in found:
                found[real] = EvidenceFile(path, _below(path, root), _readable_size(path))
    return list(found.values()), notes


def _expand(pattern: str) -> list[tuple[Path, Path]]:
    """(file, the root its matching path is taken below) for a folder, a glob or a file."""
    if glob.has_magic(pattern):
        fixed: list[str] = []
        for part in Path(pattern).parts:
            if glob.has_magic(part):
                break
            fixed.append(part)
        root = Path(*fixed) if fixed else Path(os.curdir)
        return [(Path(m), root) for m in sorted(glob.glob(pattern, recursive=True)) if os.path.isfile(m)]
    path = Path(pattern)
    if path.is_dir():
        out: list[tuple[Path, Path]] = []
        for folder, dirs, names in os.walk(path):
            dirs.sort()
            out += [(Path(folder) / name, path) for name in sorted(names) if not name.startswith(".")]
            if len(out) > EVIDENCE_FILES_LIMIT:
                break
        return out
    return [(path, path.parent)] if path.exists() else []


def _below(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return path.name


def _readable_size(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            fh.read(1)
        return path.stat().st_size
    except OSError as exc:
        raise SettingsError(f"evidence file {path} cannot be read: {exc.strerror or exc}",
                            "check its permissions, or leave it out of --evidence") from None


class EvidenceIndex:
    """Every run of whole words of every file's path, to find the files a test name matches in O(1)."""

    def __init__(self, files: Sequence[EvidenceFile]) -> None:
        self.files = list(files)
        self._by_words: dict[str, list[int]] = {}
        for i, f in enumerate(self.files):
            words = normalise(f.shown).split("-")[-PATH_WORDS:]
            runs = {"-".join(words[a:b]) for a in range(len(words)) for b in range(a + 1, len(words) + 1)}
            for run in runs:
                self._by_words.setdefault(run, []).append(i)

    def __bool__(self) -> bool:
        return bool(self.files)

    def match(self, name: str, definition: str) -> list[tuple[int, int]]:
        """(file index, words matched) for each file whose path holds the test's name or a longer end of its
        ``classname.name``; the most words each file matched."""
        short = normalise(name)
        if not short or short not in self._by_words:
            return []
        best = {i: short.count("-") + 1 for i in self._by_words[short]}
        words = normalise(definition).split("-")
        # longer ends of the definition that still end with the name: more words, more specific
        tail = len(short.split("-"))
        for start in range(len(words) - tail - 1, -1, -1):
            run = "-".join(words[start:])
            hits = self._by_words.get(run)
            if not hits:
                break
            for i in hits:
                best[i] = len(words) - start
        return sorted(best.items())


def base64_size(size: int) -> int:
    """Characters of the base64 text of ``size`` bytes (with padding)."""
    return (size + 2) // 3 * 4


class _Sink(Protocol):
    def write(self, data: bytes) -> object: ...


def write_base64(out: _Sink, f: EvidenceFile) -> None:
    """Encode the file's first ``f.size`` bytes into ``out`` in chunks (the size found earlier is what the
    request size was computed from; a file that grew meanwhile is cut there, one that shrank is padded
    out by what is left)."""
    left = f.size
    try:
        with f.path.open("rb") as fh:
            while left > 0:
                chunk = fh.read(min(CHUNK, left))
                if not chunk:
                    break
                out.write(base64.b64encode(chunk))
                left -= len(chunk)
    except OSError as exc:
        raise SettingsError(f"evidence file {f.path} cannot be read: {exc.strerror or exc}",
                            "check that the test run is not still writing it") from None
    if left > 0:
        raise SettingsError(f"evidence file {f.path} shrank while it was being read",
                            "check that the test run is not still writing it")
