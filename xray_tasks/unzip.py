"""Extract a zip that came over the network — Xray's feature export — without trusting anything in it.

:func:`extract` looks at every entry before it writes one byte, and refuses the whole archive
(:class:`UnsafeZip`) when any entry could escape the target folder or is not plain data:

* paths: absolute (``/x``), a drive letter (``C:``), a backslash, a ``..`` part, a NUL or control
  character, a path that is both a file and a folder, the same path twice (also differing in case only,
  which one folder on macOS or Windows cannot hold);
* kinds: symbolic links and any other entry that is neither a regular file nor a folder (devices, FIFOs),
  and encrypted entries;
* size (zip bombs): more than ``max_entries`` entries, or declared sizes adding up to more than
  ``max_bytes``; while extracting, the bytes are counted again, and an entry that yields more than it
  declared, or a total past ``max_bytes``, stops the extraction. A corrupt entry (bad CRC, truncated
  data) is refused too.

Only entries ending in one of ``suffixes`` are written (folders are made as needed); the others are
named in :attr:`Extracted.skipped`. Files are created fresh (``O_EXCL``, not following links) in the
target folder, which should be new and empty (the caller moves the result into place afterwards); an
archive refused half-way — a corrupt or overgrown entry — has what was written removed again.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MAX_ENTRIES", "Extracted", "UnsafeZip", "extract"]

MAX_ENTRIES = 10_000
_CHUNK = 1024 * 1024
_CONTROL = {chr(c) for c in range(32)} | {"\x7f"}


class UnsafeZip(Exception):
    """The archive is refused; ``str()`` says why. ``too_large`` tells a size cap from a hostile entry."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.too_large = too_large


@dataclass(frozen=True)
class Extracted:
    """The files written (``/``-separated paths relative to the target), and the entries left out."""

    files: tuple[str, ...]
    skipped: tuple[str, ...]


def _safe_path(info: zipfile.ZipInfo) -> str:
    """The entry's path, normalised; UnsafeZip when it could point outside the target folder."""
    name = info.orig_filename
    shown = repr(name[:80])
    if "\\" in name:
        raise UnsafeZip(f"the entry {shown} holds a backslash (a Windows path that may climb out of the folder)")
    if any(c in _CONTROL for c in name):
        raise UnsafeZip(f"the entry {shown} holds a control character")
    if name.startswith("/"):
        raise UnsafeZip(f"the entry {shown} is an absolute path")
    parts = name.split("/")
    if len(parts[0]) >= 2 and parts[0][1] == ":":
        raise UnsafeZip(f"the entry {shown} starts with a drive letter")
    if ".." in parts:
        raise UnsafeZip(f"the entry {shown} climbs out of the folder with '..'")
    path = posixpath.normpath(name)
    if path in (".", ""):
        raise UnsafeZip(f"the entry {shown} has no name")
    return path


def _kind(info: zipfile.ZipInfo) -> str:
    """"file" or "folder"; UnsafeZip for links, devices, FIFOs and encrypted entries."""
    mode = info.external_attr >> 16
    shown = repr(info.orig_filename[:80])
    if info.flag_bits & 0x1:
        raise UnsafeZip(f"the entry {shown} is encrypted")
    if stat.S_ISLNK(mode):
        raise UnsafeZip(f"the entry {shown} is a symbolic link")
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):  # 0: no type recorded, plain data
        raise UnsafeZip(f"the entry {shown} is not a regular file (mode {stat.filemode(mode)})")
    return "folder" if info.is_dir() or stat.S_ISDIR(mode) else "file"


def _plan(archive: zipfile.ZipFile, suffixes: tuple[str, ...], max_entries: int,
          max_bytes: int) -> tuple[list[tuple[zipfile.ZipInfo, str]], list[str]]:
    """Every entry checked: (entry, path) to write and the names of those left out."""
    entries = archive.infolist()
    if len(entries) > max_entries:
        raise UnsafeZip(f"it has {len(entries):,} entries, more than {max_entries:,}", too_large=True)
    declared = sum(info.file_size for info in entries)
    if declared > max_bytes:
        raise UnsafeZip(f"it unpacks to {declared / 2**20:,.1f} MiB, more than {max_bytes / 2**20:g} MiB",
                        too_large=True)
    wanted: list[tuple[zipfile.ZipInfo, str]] = []
    skipped: list[str] = []
    seen: set[str] = set()
    folders: set[str] = set()
    for info in entries:
        path, kind = _safe_path(info), _kind(info)
        if kind == "folder":
            folders.add(path.lower())
            continue
        if path.lower() in seen:
            raise UnsafeZip(f"the path {path!r} appears twice")
        seen.add(path.lower())
        parent = posixpath.dirname(path)
        while parent:
            folders.add(parent.lower())
            parent = posixpath.dirname(parent)
        if path.lower().endswith(suffixes):
            wanted.append((info, path))
        else:
            skipped.append(path)
    clash = sorted(seen & folders)
    if clash:
        raise UnsafeZip(f"the path {clash[0]!r} is both a file and a folder")
    return wanted, skipped


def _write(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int, made: list[Path]) -> int:
    """Write one entry, counting its bytes (the new file goes into ``made`` at once); how many were written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    made.append(target)
    written = 0
    with os.fdopen(fd, "wb") as out, archive.open(info) as entry:
        while chunk := entry.read(_CHUNK):
            written += len(chunk)
            if written > info.file_size:
                raise UnsafeZip(f"the entry {info.orig_filename[:80]!r} unpacks to more than the "
                                f"{info.file_size:,} bytes it declares")
            if written > budget:
                raise UnsafeZip(f"it unpacks to more than {budget / 2**20:g} MiB", too_large=True)
            out.write(chunk)
    return written


def extract(zip_path: Path, target: Path, *, suffixes: tuple[str, ...], max_bytes: int,
            max_entries: int = MAX_ENTRIES) -> Extracted:
    """Check every entry of ``zip_path``, then write those ending in ``suffixes`` below ``target``.

    Raises UnsafeZip (see the module's docstring); OSError when the target cannot be written."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise UnsafeZip(f"it is not a readable zip file ({exc})") from None
    with archive:
        wanted, skipped = _plan(archive, suffixes, max_entries, max_bytes)
        budget = max_bytes
        written: list[Path] = []
        try:
            for info, path in wanted:
                try:
                    budget -= _write(archive, info, target.joinpath(*path.split("/")), budget, written)
                except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError, RuntimeError) as exc:
                    raise UnsafeZip(f"the entry {info.orig_filename[:80]!r} cannot be read ({exc})") from None
        except BaseException:
            _undo(written, target)
            raise
    return Extracted(tuple(path for _, path in wanted), tuple(skipped))


def _undo(written: list[Path], target: Path) -> None:
    """Remove what an extraction that failed half-way wrote: its files, then the folders it left empty."""
    for path in written:
        path.unlink(missing_ok=True)
    for folder, _, _ in sorted(os.walk(target), key=lambda w: -len(w[0])):
        if folder != str(target):
            with contextlib.suppress(OSError):
                os.rmdir(folder)
