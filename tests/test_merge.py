"""Merging and splitting reports by byte ranges: what goes in comes out, in flat memory."""

from __future__ import annotations

import json
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
    merged = merge.merge_to_file([a, b], "junit", tmp_path)
    assert detect_format(merged) == "junit"
    summary = summarize(merged, "junit")
    assert summary.tests == 7
    assert summary.totals["failed"] == 1


def test_non_utf8_reports_are_not_merged_byte_for_byte(tmp_path: Path) -> None:
    """A report declared in another encoding is refused with the remedy rather than corrupted."""
    latin = junit(tmp_path / "l.xml", 1, 1, decl="ISO-8859-1")
    with pytest.raises(ReportError, match="ISO-8859-1"):
        merge.merge_to_file([latin, latin], "junit", tmp_path)


def test_cucumber_arrays_are_spliced_and_empty_ones_skipped(tmp_path: Path) -> None:
    """[a] + [] + [b] → [a, b], still valid JSON."""
    files = []
    for i, features in enumerate([[{"id": "a"}], [], [{"id": "b"}, {"id": "c"}]]):
        files.append(tmp_path / f"{i}.json")
        files[-1].write_text(json.dumps(features, indent=2))
    merged = merge.merge_to_file(files, "cucumber", tmp_path)
    assert [f["id"] for f in json.loads(merged.read_text())] == ["a", "b", "c"]


def test_xray_json_keeps_the_first_info_and_every_test(tmp_path: Path) -> None:
    """Xray JSON: info of the first file, tests of all."""
    one, two = tmp_path / "1.json", tmp_path / "2.json"
    one.write_text(json.dumps({"info": {"summary": "s"}, "tests": [{"testKey": "D-1", "status": "PASSED"}]}))
    two.write_text(json.dumps({"tests": [{"testKey": "D-2", "status": "FAILED"}]}))
    data = json.loads(merge.merge_to_file([one, two], "xray", tmp_path).read_text())
    assert data == {"info": {"summary": "s"}, "tests": [{"testKey": "D-1", "status": "PASSED"},
                                                        {"testKey": "D-2", "status": "FAILED"}]}


@pytest.mark.parametrize("chunk", [7, 64, 4096], ids=["tiny chunks", "small chunks", "page chunks"])
def test_split_cuts_between_suites_whatever_the_chunk_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           chunk: int) -> None:
    """Every piece is under the limit, a valid report, and together they hold every test once."""
    monkeypatch.setattr(merge, "CHUNK", chunk)
    big = junit(tmp_path / "big.xml", 30, 10)
    parts = merge.split_junit(big, 2000, tmp_path)
    assert len(parts) > 3
    assert all(p.stat().st_size <= 2000 for p in parts)
    names = [r.definition for p in parts for r in iter_results(p, "junit")]
    assert sorted(names) == sorted(r.definition for r in iter_results(big, "junit"))


def test_a_single_suite_larger_than_the_limit_cannot_be_split(tmp_path: Path) -> None:
    """One <testsuite> over the limit is refused with the remedy."""
    big = junit(tmp_path / "one.xml", 1, 200)
    with pytest.raises(ReportError, match="XRAY_MAX_REQUEST_MB"):
        merge.split_junit(big, 1000, tmp_path)


def test_groups_stay_under_the_limit(tmp_path: Path) -> None:
    """Consecutive groups never exceed the limit unless one file alone does."""
    files = []
    for i, size in enumerate([400, 400, 400, 900, 100]):
        files.append(tmp_path / f"{i}")
        files[-1].write_bytes(b"x" * size)
    groups = merge.group_by_size(files, 1000)
    assert [[p.name for p in g] for g in groups] == [["0", "1"], ["2"], ["3", "4"]]
