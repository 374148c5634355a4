"""Merging and splitting reports by byte ranges: what goes in comes out, in flat memory."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from xray_tasks import merge
from xray_tasks.errors import ReportError
from xray_tasks.formats import detect_format, iter_results, summarize


def junit(path: Path, suites: int, cases: int, *, wrapped: bool = True, decl: str = "UTF-8") -> Path:
    body = "".join(
        f'<testsuite name="S{s}" tests="{cases}">'
        + "".join(f'<testcase classname="m.S{s}" name="t{c}"/>' for c in range(cases)) + "</testsuite >\n"
        for s in range(suites))
    text = f"<testsuites>{body}</testsuites>" if wrapped else body
    path.write_text(f'<?xml version="1.0" encoding="{decl}"?>\n<!-- by a runner -->\n{text}\n', encoding="utf-8")
    return path


def test_merged_junit_holds_every_test_of_wrapped_and_bare_files(tmp_path: Path) -> None:
    """<testsuites> roots are unwrapped, a bare <testsuite> is kept; the result is one JUnit document."""
    a = junit(tmp_path / "a.xml", 2, 3)
    b = tmp_path / "b.xml"
    b.write_text('<testsuite name="B" tests="1"><testcase classname="b.B" name="x"><failure/></testcase></testsuite>')
    merged = merge.merge_to_file([a, b], "junit", merge.ScratchFolder(tmp_path))
    assert detect_format(merged) == "junit"
    summary = summarize(merged, "junit")
    assert summary.tests == 7
    assert summary.totals["failed"] == 1


def test_non_utf8_reports_are_not_merged_byte_for_byte(tmp_path: Path) -> None:
    """A report declared in another encoding is refused with the remedy rather than corrupted."""
    latin = junit(tmp_path / "l.xml", 1, 1, decl="ISO-8859-1")
    with pytest.raises(ReportError, match="ISO-8859-1"):
        merge.merge_to_file([latin, latin], "junit", merge.ScratchFolder(tmp_path))


def test_cucumber_arrays_are_spliced_and_empty_ones_skipped(tmp_path: Path) -> None:
    """[a] + [] + [b] → [a, b], still valid JSON."""
    files = []
    for i, features in enumerate([[{"id": "a"}], [], [{"id": "b"}, {"id": "c"}]]):
        files.append(tmp_path / f"{i}.json")
        files[-1].write_text(json.dumps(features, indent=2))
    merged = merge.merge_to_file(files, "cucumber", merge.ScratchFolder(tmp_path))
    assert [f["id"] for f in json.loads(merged.read_text())] == ["a", "b", "c"]


def xray_files(folder: Path, *reports: dict[str, object]) -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = []
    for i, report in enumerate(reports, 1):
        paths.append(folder / f"{i}.json")
        paths[-1].write_text(json.dumps(report))
    return paths


def test_xray_json_takes_the_info_any_file_gives_and_every_test(tmp_path: Path) -> None:
    """Xray JSON: the tests of all files; an info or testExecutionKey only some files give is kept, whichever
    file gives it (a later file's info is no longer dropped)."""
    files = xray_files(tmp_path, {"tests": [{"testKey": "D-1", "status": "PASSED"}]},
                       {"info": {"summary": "s"}, "tests": [{"testKey": "D-2", "status": "FAILED"}]},
                       {"testExecutionKey": "D-9", "info": {"summary": "s", "revision": "r1"}, "tests": []})
    data = json.loads(merge.merge_to_file(files, "xray", merge.ScratchFolder(tmp_path)).read_text())
    assert data == {"info": {"summary": "s", "revision": "r1"}, "testExecutionKey": "D-9",
                    "tests": [{"testKey": "D-1", "status": "PASSED"}, {"testKey": "D-2", "status": "FAILED"}]}


def test_xray_json_shards_get_the_earliest_start_and_the_latest_finish(tmp_path: Path) -> None:
    """pytest-jira-xray writes each shard's own start and finish: the merged info spans them all."""
    files = xray_files(
        tmp_path,
        {"info": {"startDate": "2026-01-01T10:00:05+0000", "finishDate": "2026-01-01T10:03:00+0000"}, "tests": []},
        {"info": {"startDate": "2026-01-01T11:00:00+0100", "finishDate": "2026-01-01T10:04:00+0000"}, "tests": []})
    data = json.loads(merge.merge_to_file(files, "xray", merge.ScratchFolder(tmp_path)).read_text())
    assert data["info"] == {"startDate": "2026-01-01T11:00:00+0100", "finishDate": "2026-01-01T10:04:00+0000"}


@pytest.mark.parametrize(("second", "differs"), [
    ({"testExecutionKey": "D-2"}, 'their testExecutionKey differs ("D-1" vs "D-2")'),
    ({"testExecutionKey": "D-1", "info": {"summary": "Nightly B"}}, 'their info.summary differs ("Nightly A" vs '
                                                                    '"Nightly B")'),
    ({"info": {"summary": "Nightly A", "startDate": "yesterday"}}, "their info.startDate differs"),
    ({"info": "not an object"}, "their info differs"),
], ids=["execution key", "summary", "unreadable date", "info shape"])
def test_xray_json_that_disagree_are_not_merged(tmp_path: Path, second: dict[str, object], differs: str) -> None:
    """Two Xray JSON reports naming different Test Executions or infos are refused, naming both files and the
    field, and no merged file is left behind."""
    first = {"testExecutionKey": "D-1", "info": {"summary": "Nightly A", "startDate": "2026-01-01T10:00:00Z"},
             "tests": [{"testKey": "D-1", "status": "PASSED"}]}
    one, two = xray_files(tmp_path / "in", first, {**second, "tests": [{"testKey": "D-2", "status": "PASSED"}]})
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with pytest.raises(ReportError) as info:
        merge.merge_to_file([one, two], "xray", merge.ScratchFolder(scratch))
    message = str(info.value)
    assert f"cannot merge the Xray JSON reports {one} and {two}: {differs}" in message
    assert "--separate" in message
    assert [p for p in scratch.rglob("*") if p.is_file()] == []
    with pytest.raises(ReportError, match="differs"):
        merge.xray_head([one, two])


@pytest.mark.parametrize("chunk", [7, 64, 4096], ids=["tiny chunks", "small chunks", "page chunks"])
def test_split_cuts_between_suites_whatever_the_chunk_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           chunk: int) -> None:
    """Every piece is under the limit, a valid report, and together they hold every test once."""
    monkeypatch.setattr(merge, "CHUNK", chunk)
    big = junit(tmp_path / "big.xml", 30, 10)
    parts = merge.split_junit(big, 2000, merge.ScratchFolder(tmp_path))
    assert len(parts) > 3
    assert all(p.stat().st_size <= 2000 for p in parts)
    names = [r.definition for p in parts for r in iter_results(p, "junit")]
    assert sorted(names) == sorted(r.definition for r in iter_results(big, "junit"))


def test_a_single_suite_larger_than_the_limit_cannot_be_split(tmp_path: Path) -> None:
    """One <testsuite> over the limit is refused with the remedy."""
    big = junit(tmp_path / "one.xml", 1, 200)
    with pytest.raises(ReportError, match="XRAY_MAX_REQUEST_MB"):
        merge.split_junit(big, 1000, merge.ScratchFolder(tmp_path))


def test_groups_stay_under_the_limit(tmp_path: Path) -> None:
    """Consecutive groups never exceed the limit unless one file alone does."""
    files = []
    for i, size in enumerate([400, 400, 400, 900, 100]):
        files.append(tmp_path / f"{i}")
        files[-1].write_bytes(b"x" * size)
    groups = merge.group_by_size(files, 1000)
    assert [[p.name for p in g] for g in groups] == [["0", "1"], ["2"], ["3", "4"]]


def test_the_scratch_folder_is_made_only_when_a_body_is_written_and_removed_after(tmp_path: Path) -> None:
    """Nothing is created until a merge needs it; leaving the block removes the folder and its files."""
    with merge.ScratchFolder(tmp_path) as scratch:
        assert not scratch.created and list(tmp_path.iterdir()) == []
        a, b = junit(tmp_path / "a.xml", 1, 1), junit(tmp_path / "b.xml", 1, 1)
        merged = merge.merge_to_file([a, b], "junit", scratch)
        assert scratch.created and merged.parent.parent == tmp_path
    assert not merged.parent.exists()


def test_a_scratch_folder_that_cannot_be_made_names_where_and_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    """A temporary folder that does not exist: one ReportError naming TMPDIR, the folder and the OS error."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    a = junit(tmp_path / "a.xml", 1, 1)
    with merge.ScratchFolder() as scratch, pytest.raises(ReportError) as info:
        merge.merge_to_file([a, a], "junit", scratch)
    assert str(info.value) == (f"cannot make a temporary folder for the merged report in {tmp_path / 'missing'} "
                               "(TMPDIR): No such file or directory — point TMPDIR at a folder you can write to")


WRITE_LIMITED = """
import resource, sys
from pathlib import Path
from xray_tasks import merge
from xray_tasks.errors import ReportError

resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))
folder, small, uneven = (Path(p) for p in sys.argv[1:])
scratch = merge.ScratchFolder(folder)
for job in (lambda: merge.merge_to_file([small, small], "junit", scratch),
            lambda: merge.split_junit(uneven, 3000, scratch)):
    try:
        job()
    except ReportError as exc:
        print(exc)
"""


def test_a_body_that_cannot_be_written_whole_is_removed(tmp_path: Path) -> None:
    """A full disk (here: a 2000-byte file-size limit, EFBIG) while merging or splitting: a ReportError each
    time, and no partial file — nor a part written before — stays behind."""
    small = junit(tmp_path / "small.xml", 1, 30)
    uneven = tmp_path / "uneven.xml"  # cut into a 15-case suite that fits the file-size limit and a 60-case one
    suites = [(name, cases, "".join(f'<testcase classname="m.{name}" name="t{c}"/>' for c in range(cases)))
              for name, cases in (("A", 15), ("B", 60))]
    uneven.write_text("<testsuites>" + "".join(f'<testsuite name="{n}" tests="{c}">{body}</testsuite>\n'
                                               for n, c, body in suites) + "</testsuites>\n")
    assert 1000 < small.stat().st_size < 2000
    assert [p.stat().st_size for p in merge.split_junit(uneven, 3000, merge.ScratchFolder(tmp_path))] == [670, 2382]
    folder = tmp_path / "scratch"
    folder.mkdir()
    proc = subprocess.run([sys.executable, "-c", WRITE_LIMITED, str(folder), str(small), str(uneven)],
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2, proc.stdout
    assert lines[0].startswith(f"cannot write the merged report to {folder}/")
    assert lines[1].startswith(f"cannot write the parts of uneven.xml to {folder}/")
    assert all("File too large — free space there or point TMPDIR at a larger folder" in line for line in lines)
    assert [p for p in folder.rglob("*") if p.is_file()] == []
