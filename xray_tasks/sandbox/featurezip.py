"""The ``file`` of a feature import — one ``.feature`` or a zip of them — and the zip an export answers with.

An upload is a zip when its bytes start like one (``PK``), whatever its name or part type; otherwise it is
one feature file named by the part's filename. In a zip, every ``.feature`` entry is read with its path
(sub-folders kept: the path is part of how Xray matches Tests, contract §13.2); other entries, folders
and macOS ``__MACOSX/`` copies are skipped. The sandbox guards itself, answering 400 instead of reading
on: at most :data:`MAX_ENTRIES` entries, :data:`MAX_FILE_BYTES` per feature and :data:`MAX_TOTAL_BYTES`
in all (counted while decompressing, so a zip bomb stops early), and no path tricks (absolute paths,
drive letters, ``..``, symbolic links, encrypted entries, the same path twice).
"""

from __future__ import annotations

import io
import posixpath
import stat
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from xray_tasks.sandbox import errors
from xray_tasks.sandbox.errors import ApiError

__all__ = ["MAX_ENTRIES", "MAX_FILE_BYTES", "MAX_TOTAL_BYTES", "FeatureFile", "build_zip", "read_upload"]

MAX_ENTRIES = 2000
MAX_FILE_BYTES = 4 << 20
MAX_TOTAL_BYTES = 64 << 20
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
#: a fixed timestamp, so the same export gives the same bytes
_ZIP_TIME = (2000, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class FeatureFile:
    """One uploaded feature: its path relative to the zip's root (or its file name) and its bytes."""

    path: str
    data: bytes


def _safe_path(name: str) -> str:
    """The entry's path with ``/`` separators; 400 when it could point outside the upload."""
    path = name.replace("\\", "/")
    parts = path.split("/")
    if path.startswith("/") or (len(parts[0]) == 2 and parts[0][1] == ":") or ".." in parts or "\x00" in path:
        raise ApiError(400, errors.zip_refused(f"the entry '{name}' has an unsafe path"))
    return posixpath.normpath(path)


def _read_zip(stream: IO[bytes], label: str) -> list[FeatureFile]:
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ApiError(400, errors.zip_refused(f"{label} is not a readable zip file ({exc})")) from None
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise ApiError(400, errors.zip_refused(f"{label} has {len(entries)} entries, more than {MAX_ENTRIES}"))
        out: list[FeatureFile] = []
        seen: set[str] = set()
        total = 0
        for info in entries:
            path = _safe_path(info.filename)
            if info.is_dir() or not path.lower().endswith(".feature") or path.startswith("__MACOSX/"):
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                raise ApiError(400, errors.zip_refused(f"the entry '{info.filename}' is a symbolic link"))
            if info.flag_bits & 0x1:
                raise ApiError(400, errors.zip_refused(f"the entry '{info.filename}' is encrypted"))
            if path in seen:
                raise ApiError(400, errors.zip_refused(f"'{path}' appears twice"))
            seen.add(path)
            try:
                with archive.open(info) as fh:
                    data = fh.read(MAX_FILE_BYTES + 1)
            except (zipfile.BadZipFile, NotImplementedError, zlib.error, EOFError, OSError, ValueError) as exc:
                raise ApiError(400, errors.zip_refused(f"the entry '{info.filename}' cannot be read ({exc})")) from None
            if len(data) > MAX_FILE_BYTES:
                raise ApiError(400, errors.zip_refused(
                    f"'{path}' is larger than {MAX_FILE_BYTES >> 20} MiB uncompressed"))
            total += len(data)
            if total > MAX_TOTAL_BYTES:
                raise ApiError(400, errors.zip_refused(
                    f"its features are larger than {MAX_TOTAL_BYTES >> 20} MiB uncompressed"))
            out.append(FeatureFile(path, data))
        return out


def read_upload(stream: IO[bytes], filename: str | None) -> list[FeatureFile]:
    """The features of an uploaded ``file`` part, in upload order."""
    stream.seek(0)
    head = stream.read(4)
    stream.seek(0)
    label = filename or "the 'file' part"
    if head in _ZIP_MAGIC:
        return _read_zip(stream, label)
    if filename and filename.lower().endswith(".zip"):
        raise ApiError(400, errors.zip_refused(f"{label} is not a zip file"))
    data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ApiError(400, errors.zip_refused(f"{label} is larger than {MAX_FILE_BYTES >> 20} MiB"))
    name = posixpath.basename((filename or "").replace("\\", "/")) or "feature.feature"
    return [FeatureFile(name, data)]


def build_zip(files: Sequence[tuple[str, str]]) -> bytes:
    """A zip of ``(name, text)`` files (UTF-8), the same bytes for the same files."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in files:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, text.encode("utf-8"))
    return out.getvalue()
