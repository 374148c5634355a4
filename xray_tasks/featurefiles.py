"""The ``.feature`` files of one ``import-features`` run: found on disk, named relative to one root, and packed
into the single ``file`` part Xray's feature import takes (contract §13.1).

* :func:`find_features` expands files, folders (every ``.feature`` below, hidden ones included) and globs
  with the bounded walk reports use. Each file is named by its path relative to the run's *root*: a folder
  is its own root, a file's root is its folder, a glob's is the folder before its first wildcard, and
  several roots give their common folder. So ``--features features`` names ``features/core/a.feature``
  ``core/a.feature``, as xray-maven-plugin does. Xray matches Tests by that path (and Cloud's ``source``),
  so the same command gives the same names on every run.
* :func:`pack` sends one file at the root as it is (``text/plain``); anything else is zipped with the
  names above, only ``.feature`` files, each streamed from disk in chunks — into memory when the files are
  small, else into a :class:`~xray_tasks.merge.ScratchFolder` file, never the whole set in memory.
"""

from __future__ import annotations

import glob
import io
import os
import shutil
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from xray_tasks.errors import ReportError, SettingsError
from xray_tasks.merge import CHUNK, ScratchFolder
from xray_tasks.reports import walk_files

__all__ = ["IN_MEMORY", "SUFFIX", "FeatureFile", "FeatureSet", "Upload", "find_features", "pack"]

SUFFIX = ".feature"
#: feature files up to this many bytes in all are zipped in memory; more go to a temporary file
IN_MEMORY = 4 * 1024 * 1024
#: a fixed timestamp for zip entries, so the same files give the same bytes
_ZIP_TIME = (2000, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class FeatureFile:
    """A feature file on disk, and its name in the upload (``/``-separated, relative to the root)."""

    path: Path
    name: str


@dataclass(frozen=True)
class FeatureSet:
    """Every feature file of a run, in name order, and the folder their names are relative to."""

    root: Path
    files: tuple[FeatureFile, ...]

    @property
    def size(self) -> int:
        return sum(f.path.stat().st_size for f in self.files)


@dataclass(frozen=True)
class Upload:
    """The ``file`` part: its file name, content type, and bytes or the path of a file holding them."""

    filename: str
    content_type: str
    payload: bytes | str
    size: int

    @property
    def zipped(self) -> bool:
        return self.content_type == "application/zip"


def _root_of(pattern: str) -> str:
    """The folder a pattern's names are relative to."""
    if glob.has_magic(pattern):
        fixed: list[str] = []
        for part in pattern.split(os.sep):
            if glob.has_magic(part):
                break
            fixed.append(part)
        return os.path.abspath(os.sep.join(fixed) or os.curdir)
    if os.path.isdir(pattern):
        return os.path.abspath(pattern)
    return os.path.dirname(os.path.abspath(pattern))


def _matches(pattern: str) -> list[str]:
    """The feature files one pattern names; ReportError when it names none."""
    if glob.has_magic(pattern):
        found = walk_files(pattern, (SUFFIX,), "--features")
        features = [p for p in found if p.lower().endswith(SUFFIX)]
        if not features:
            what = f"only {len(found)} other file{'s' if len(found) > 1 else ''}" if found else "nothing"
            raise ReportError(f"--features {pattern!r} matches {what}, no {SUFFIX} file",
                              "check the pattern, e.g. 'features/**/*.feature'")
        return features
    if os.path.isdir(pattern):
        features = walk_files(pattern, (SUFFIX,), "--features")
        if not features:
            raise ReportError(f"the folder {pattern} holds no {SUFFIX} file",
                              "point --features at the folder of your .feature files (or at the files)")
        return features
    if not os.path.exists(pattern):
        raise ReportError(f"feature file {pattern} not found", "check the path given to --features")
    if not pattern.lower().endswith(SUFFIX):
        raise ReportError(f"{pattern} is not a {SUFFIX} file",
                          "Xray imports Gherkin .feature files; point --features at them or at their folder")
    return [pattern]


def find_features(patterns: Sequence[str]) -> FeatureSet:
    """Every feature file the patterns name (each once), with its name in the upload."""
    if not patterns or any(not p.strip() for p in patterns):
        raise SettingsError("no feature files given" if not patterns else "--features was given an empty path",
                            "pass --features PATH, a folder or a glob (repeatable)")
    expanded = [os.path.expanduser(p) for p in patterns]
    found: dict[str, str] = {}  # real path -> absolute path as named
    for pattern in expanded:
        for match in _matches(pattern):
            found.setdefault(os.path.realpath(match), os.path.abspath(match))
    root = os.path.commonpath([_root_of(p) for p in expanded])
    files = sorted((FeatureFile(Path(path), os.path.relpath(path, root).replace(os.sep, "/"))
                    for path in found.values()), key=lambda f: f.name)
    return FeatureSet(Path(root), tuple(files))


def pack(features: FeatureSet, scratch: ScratchFolder, limit: int) -> Upload:
    """The ``file`` part for ``features``: one root-level file as it is, else a zip of them all (refused
    over ``limit`` bytes, XRAY_MAX_REQUEST_MB)."""
    files = features.files
    if len(files) == 1 and "/" not in files[0].name:
        size = files[0].path.stat().st_size
        _check_size(size, limit, files[0].name)
        return Upload(files[0].name, "text/plain", str(files[0].path), size)
    if features.size <= IN_MEMORY:
        buffer = io.BytesIO()
        _write_zip(buffer, files)
        _check_size(len(buffer.getvalue()), limit, "the zip of the feature files")
        return Upload("features.zip", "application/zip", buffer.getvalue(), len(buffer.getvalue()))
    with scratch.new_file("zip of the feature files", "features-", ".zip") as (path, sink):
        _write_zip(cast(IO[bytes], sink), files)
    size = path.stat().st_size
    _check_size(size, limit, "the zip of the feature files")
    return Upload("features.zip", "application/zip", str(path), size)


def _write_zip(target: IO[bytes], files: Sequence[FeatureFile]) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for f in files:
            info = zipfile.ZipInfo(f.name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            try:
                info.file_size = f.path.stat().st_size  # lets zipfile decide on zip64 for a stream
                with f.path.open("rb") as source, archive.open(info, "w") as entry:
                    shutil.copyfileobj(source, entry, CHUNK)
            except OSError as exc:
                raise ReportError(f"feature file {f.path} cannot be read: {exc.strerror or exc}",
                                  "check that the file exists and is readable") from None


def _check_size(size: int, limit: int, what: str) -> None:
    if size > limit:
        raise ReportError(f"{what} is {size / 2**20:.1f} MiB, over the {limit / 2**20:g} MiB request limit",
                          "import the features in several runs (several --features), or raise XRAY_MAX_REQUEST_MB")
