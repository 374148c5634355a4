"""``export-features``: fetch Cucumber Tests from Xray as ``.feature`` files (contract §14) and put them in a
folder, safely and all or nothing.

The request: Cloud ``GET /api/v2/export/cucumber?keys=K1;K2`` (or ``filter=ID``), Server/DC
``GET /rest/raven/2.0/export/test?keys=K1;K2&fz=true`` (``fz=true`` makes it a zip even for one file).
Keys may be Tests, Test Sets, Test Executions, Test Plans or requirements; they are joined with ``;`` as
documented.

The answer is streamed to a file in a temporary folder made inside ``--out``'s parent (never into memory,
at most ``XRAY_MAX_EXPORT_MB``) and recognised by its bytes, whatever its content type: a zip is unpacked
by :func:`xray_tasks.unzip.extract` into that temporary folder — every entry checked first, sizes counted
again while unpacking — and one plain ``.feature`` (Server/DC's answer without ``fz``) is taken as it is.
Only then is ``--out`` touched: with ``--clean`` the ``.feature`` files directly in it (an earlier export)
are removed, so Tests deleted in Xray do not linger; the new files are moved in (each with an atomic
rename, the whole folder at once when ``--out`` did not exist). A refused answer leaves ``--out`` as it
was. ``--clean`` refuses ``--out`` being the working directory, the home folder, or a parent of either.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from xray_tasks.answers import Answer, export_content, feature_export_refusal
from xray_tasks.console import Console, err
from xray_tasks.errors import SettingsError, XrayRejectedError, XrayTasksError
from xray_tasks.featurefiles import SUFFIX
from xray_tasks.gherkin import GherkinError, parse
from xray_tasks.reports import protected_folder
from xray_tasks.settings import ISSUE_KEY, Settings
from xray_tasks.unzip import UnsafeZip, extract

__all__ = ["DEFAULT_OUT", "ExportRequest", "Exported", "export_before_tests", "export_features", "show_exported",
           "split_keys"]

DEFAULT_OUT = "features/xray"
ACTION = "export features"
_FILTER_ID = re.compile(r"[0-9]{1,18}")
#: bytes of the answer read to tell a zip from a plain feature
_HEAD = 4096
#: what a download may hold beyond XRAY_MAX_EXPORT_MB (the zip's own headers around the files)
_ZIP_SLACK = 1024 * 1024


def split_keys(values: Sequence[str], flag: str) -> tuple[str, ...]:
    """Issue keys from ``--keys K1,K2`` (``,`` or ``;``; repeatable), each checked; SettingsError otherwise."""
    keys = [k.strip() for v in values for k in re.split(r"[;,]", v) if k.strip()]
    bad = [k for k in keys if not ISSUE_KEY.fullmatch(k)]
    if bad:
        upper = f" (Jira keys are upper case: {bad[0].upper()})" if ISSUE_KEY.fullmatch(bad[0].upper()) else ""
        raise SettingsError(f"{flag}: {bad[0][:40]!r} is not a Jira issue key{upper}",
                            f"write e.g. {flag} CALC-15,CALC-20 (Tests, Test Executions, Test Plans or requirements)")
    return tuple(dict.fromkeys(keys))


@dataclass(frozen=True)
class ExportRequest:
    """What to export (keys or a saved filter's id) and where to put it."""

    keys: tuple[str, ...]
    filter_id: str | None
    out: Path
    clean: bool = False

    def query(self, cloud: bool) -> dict[str, str]:
        query = {"keys": ";".join(self.keys)} if self.keys else {"filter": str(self.filter_id)}
        return query if cloud else {**query, "fz": "true"}


@dataclass(frozen=True)
class Exported:
    """The files written into ``out`` (paths relative to it), the earlier ones removed, entries left out."""

    out: Path
    files: tuple[str, ...]
    removed: tuple[str, ...]
    skipped: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "files": list(self.files), "removed": list(self.removed),
                "skipped": list(self.skipped)}


def _check(request: ExportRequest) -> None:
    if bool(request.keys) == bool(request.filter_id):
        raise SettingsError("export-features needs --keys or --filter" if not request.keys
                            else "--keys and --filter cannot be used together",
                            "pass --keys CALC-15,CALC-20 (Tests, Test Executions, Test Plans or requirements) or "
                            "--filter <id of a saved Jira filter>")
    if request.filter_id is not None and not _FILTER_ID.fullmatch(request.filter_id):
        raise SettingsError(f"--filter {request.filter_id[:40]!r} is not a filter id",
                            "a saved filter's id is a number, e.g. --filter 10000")
    if request.clean:
        _check_clean_target(request.out)


def _check_clean_target(out: Path) -> None:
    """--clean never empties a folder that holds more than an export: the working directory, the home
    folder, or a parent of either."""
    if what := protected_folder(out):
        raise SettingsError(f"--clean: refusing to remove the .feature files in {out}: it is {what}",
                            f"export into a folder of its own, e.g. --out {DEFAULT_OUT}")


def _single_name(answer: Answer) -> str:
    """A plain feature's file name, from Content-Disposition when it is a plain ``*.feature`` name."""
    found = re.search(r'filename="?([^";/\\]+)"?', str(answer.headers.get("content-disposition", "")))
    name = found.group(1).strip() if found else ""
    return name if re.fullmatch(r"[\w .()@-]{1,200}\.feature", name) else "1.feature"


def _unpack(download: Path, answer: Answer, staged: Path, max_bytes: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The answer's feature files written below ``staged``: (names, entries left out)."""
    with download.open("rb") as fh:
        head = fh.read(_HEAD)
    if export_content(head, answer, ACTION) == "feature":
        try:
            feature = parse(download.read_bytes().decode("utf-8-sig"))
        except (UnicodeDecodeError, GherkinError) as exc:
            raise XrayRejectedError(f"{ACTION}: Xray answered {answer.status} with text that is not a feature "
                                    f"file ({exc})", "check XRAY_BASE_URL and XRAY_DEPLOYMENT") from None
        if feature is None:
            raise XrayRejectedError(f"{ACTION}: Xray answered {answer.status} without a Feature",
                                    "check the keys: they reach no Cucumber Test")
        name = _single_name(answer)
        staged.mkdir()
        os.replace(download, staged / name)  # the same folder of ours: a rename, not a second read
        return (name,), ()
    try:
        done = extract(download, staged, suffixes=(SUFFIX,), max_bytes=max_bytes)
    except UnsafeZip as exc:
        if exc.too_large:
            raise XrayRejectedError(f"{ACTION}: the export is too large: {exc}; nothing was written",
                                    "export fewer keys at a time, or raise XRAY_MAX_EXPORT_MB") from None
        raise XrayRejectedError(f"{ACTION}: the zip in Xray's answer is refused: {exc}; nothing was written",
                                "an export from Xray never holds such entries: check XRAY_BASE_URL and any proxy "
                                "in between") from None
    if not done.files:
        raise XrayRejectedError(f"{ACTION}: Xray's answer holds no {SUFFIX} file"
                                + (f" (only {', '.join(done.skipped[:3])})" if done.skipped else ""),
                                "check the keys: they must reach Cucumber Tests")
    return done.files, done.skipped


def _place(staged: Path, files: Sequence[str], out: Path, clean: bool) -> tuple[str, ...]:
    """Move the staged files into ``out`` (after removing the earlier export's with ``clean``); the names
    removed. Every target is checked before anything is moved or removed."""
    blocked = [name for name in files if (out / name).is_dir()]
    if out.exists() and not out.is_dir():
        raise SettingsError(f"--out {out} is a file, not a folder", "point --out at a folder (made if missing)")
    if blocked:
        raise SettingsError(f"cannot write {out / blocked[0]}: a folder of that name is in the way; nothing was "
                            "written", "remove or rename that folder, or choose another --out")
    removed: list[str] = []
    if clean and out.is_dir():
        for entry in sorted(out.iterdir()):
            if entry.name.lower().endswith(SUFFIX) and (entry.is_file() or entry.is_symlink()):
                entry.unlink()
                removed.append(entry.name)
    if not out.exists():
        os.replace(staged, out)
        return tuple(removed)
    for name in files:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged / name, target)
    return tuple(removed)


def export_features(s: Settings, request: ExportRequest) -> Exported:
    """Download the features the keys (or filter) give and put them in ``request.out``; raise our error,
    leaving ``out`` untouched, when anything is wrong with the request or the answer."""
    from xray_tasks.client import XrayClient

    _check(request)
    out = request.out.expanduser()
    endpoint = f"{s.api_path}/export/cucumber" if s.is_cloud else f"{s.api_path}/export/test"
    url = f"{s.base_url}{endpoint}?{urlencode(request.query(s.is_cloud))}"
    max_bytes = int(s.max_export_mb * 2**20)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".xray-export-", dir=out.parent))
    except OSError as exc:
        raise SettingsError(f"cannot make a folder beside {out} for the export: {exc.strerror or exc}",
                            "choose an --out in a folder you can write to") from None
    try:
        with XrayClient(s, log=err) as client:
            try:
                answer = client.download(url, work / "export.download", action=ACTION, limit=max_bytes + _ZIP_SLACK,
                                         limit_hint="export fewer keys at a time, or raise XRAY_MAX_EXPORT_MB")
            except XrayTasksError as exc:
                raise feature_export_refusal(exc) from None
        files, skipped = _unpack(work / "export.download", answer, work / "files", max_bytes)
        removed = _place(work / "files", files, out, request.clean)
    except OSError as exc:
        raise SettingsError(f"cannot write the exported features into {out}: {exc.strerror or exc}",
                            "free space there, or choose another --out") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Exported(out, files, removed, skipped)


def show_exported(console: Console, done: Exported, *, brief: bool = False) -> None:
    """The files written, one per line (``brief``: one progress line, as ``ci`` says it)."""
    n = len(done.files)
    head = f"Exported {n} feature file{'s' if n != 1 else ''} from Xray into {done.out}"
    removed = (f" (removed {len(done.removed)} .feature file{'s' if len(done.removed) != 1 else ''} of an earlier "
               "export)") if done.removed else ""
    if brief:
        console.say(head + removed)
    else:
        console.result(head + removed + ":")
        for name in done.files:
            console.result(f"  {done.out / name}")
    if done.skipped:
        console.say(f"note: left out {len(done.skipped)} entr{'ies' if len(done.skipped) != 1 else 'y'} that "
                    f"{'are' if len(done.skipped) != 1 else 'is'} not {SUFFIX} files: {', '.join(done.skipped[:3])}")


def export_before_tests(s: Settings, keys: str, folder: str | None, clean: bool, console: Console) -> Exported:
    """``ci --features-from KEYS [--features-dir DIR]``: export the features the tests will run (``--clean``
    also removes the earlier export's), saying so in one line."""
    done = export_features(s, ExportRequest(split_keys([keys], "--features-from"), None,
                                            Path(folder or DEFAULT_OUT), clean))
    show_exported(console, done, brief=True)
    return done
