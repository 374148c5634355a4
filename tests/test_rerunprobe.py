"""The quick look for reruns: it may say "maybe" too often, never "no" when a report holds a rerun."""

from __future__ import annotations

from pathlib import Path

import pytest

from xray_tasks import rerunprobe
from xray_tasks.rerunprobe import might_have_reruns


def junit(path: Path, *suites: list[str], extra: str = "") -> Path:
    body = "".join(f'<testsuite name="s{n}">' + "".join(f'<testcase classname="c.C" name="{t}" time="0.1"/>'
                                                        for t in tests) + "</testsuite>"
                   for n, tests in enumerate(suites))
    path.write_text(f"<testsuites>{body}{extra}</testsuites>", encoding="utf-8")
    return path


def test_a_report_without_repeats_needs_no_scan(tmp_path: Path) -> None:
    """Distinct tests, and the same name in another suite: no rerun."""
    assert not might_have_reruns([(junit(tmp_path / "a.xml", ["t1", "t2"], ["t1"]), "junit")])


@pytest.mark.parametrize("extra", ['<testsuite name="x"><testcase classname="c" name="z"><flakyFailure message="m"/>'
                                   "</testcase></testsuite>",
                                   '<testsuite name="x"><testcase classname="c" name="z"><failure/><rerunFailure/>'
                                   "</testcase></testsuite>"], ids=["flakyFailure", "rerunFailure"])
def test_surefire_attempt_elements_mean_reruns(extra: str, tmp_path: Path) -> None:
    """Surefire's attempt elements inside a testcase are reruns."""
    assert might_have_reruns([(junit(tmp_path / "a.xml", ["t1"], extra=extra), "junit")])


def test_a_testcase_repeated_in_its_suite_is_a_rerun(tmp_path: Path) -> None:
    """pytest-rerunfailures writes each attempt as a testcase of the same suite."""
    assert might_have_reruns([(junit(tmp_path / "a.xml", ["t1", "t2", "t1"]), "junit")])


def test_the_same_test_in_two_reports_is_a_rerun(tmp_path: Path) -> None:
    """A job retried into the same folder; two reports of different tests are not."""
    first = junit(tmp_path / "a.xml", ["t1", "t2"])
    assert might_have_reruns([(first, "junit"), (junit(tmp_path / "b.xml", ["t2"]), "junit")])
    assert not might_have_reruns([(first, "junit"), (junit(tmp_path / "c.xml", ["t3"]), "junit")])


def test_a_tag_cut_between_two_chunks_is_still_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The report is read in chunks; a testcase tag across a chunk boundary is not lost."""
    monkeypatch.setattr(rerunprobe, "CHUNK", 7)
    assert might_have_reruns([(junit(tmp_path / "a.xml", ["alpha", "beta", "alpha"]), "junit")])
    assert not might_have_reruns([(junit(tmp_path / "b.xml", ["alpha", "beta"]), "junit")])


def test_other_formats_and_too_many_tests_are_a_maybe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only JUnit is probed; past the digest cap the answer is "maybe" (the full scan decides)."""
    path = junit(tmp_path / "a.xml", [f"t{n}" for n in range(20)])
    assert might_have_reruns([(path, "testng")])
    monkeypatch.setattr(rerunprobe, "MAX_IDENTITIES", 5)
    assert might_have_reruns([(path, "junit")])
