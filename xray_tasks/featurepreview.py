"""What ``import-features --dry-run`` shows for each file: which Test each scenario updates and which
Precondition each Background becomes, read the way Xray reads them (contract §13.2), with the prefixes of
``XRAY_CUCUMBER_TEST_PREFIX`` / ``XRAY_CUCUMBER_PRECONDITION_PREFIX``.

* A scenario tagged ``@<test prefix><KEY>`` updates that Test; without one it becomes a new Test, unless
  Xray finds one by the file's path and the scenario's name (or its ``@id:`` tag) — a re-import updates
  what the last one created.
* A Background with one ``#@<precondition prefix><KEY>`` comment updates that Precondition; with several
  it is linked to them; without one it becomes a new Precondition (matched like a scenario).
* What makes Xray refuse the file or misread a tag is said per file: two Test keys on one scenario, a
  scenario without a name, a bare key tag while a prefix is configured (Xray takes it as a label), a file
  that is not Gherkin as far as :mod:`xray_tasks.gherkin` reads it (Xray has the last word there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from xray_tasks.featurefiles import FeatureSet
from xray_tasks.formats import key_in_tag
from xray_tasks.gherkin import Block, GherkinError, parse

__all__ = ["FilePreview", "Mapped", "preview"]

NEW_TEST = "new Test"
NEW_PRECONDITION = "new Precondition"
#: a tag that is only an issue key (no prefix): ``@CALC-12``
_BARE_KEY = re.compile(r"[A-Z][A-Z0-9]*-[0-9]+")


@dataclass(frozen=True)
class Mapped:
    """A Background or scenario and what the import makes of it."""

    keyword: str  # as written: "Background", "Scenario", "Scenario Outline", "Szenario", ...
    name: str
    line: int
    #: the issue keys it updates or links to; empty: ``new`` applies
    keys: tuple[str, ...]
    new: str

    @property
    def label(self) -> str:
        return f'{self.keyword} "{self.name}"'

    @property
    def target(self) -> str:
        if not self.keys:
            return self.new
        return ", ".join(self.keys) + (" (linked)" if len(self.keys) > 1 else "")

    def to_dict(self) -> dict[str, Any]:
        return {"keyword": self.keyword, "name": self.name, "line": self.line, "keys": list(self.keys),
                "target": self.target}


@dataclass(frozen=True)
class FilePreview:
    """One file's Backgrounds and scenarios in order, and what Xray will refuse or misread in it."""

    name: str
    items: tuple[Mapped, ...]
    problems: tuple[str, ...]

    def lines(self) -> list[str]:
        width = max((len(m.label) for m in self.items), default=0)
        out = [self.name]
        out += [f"  {m.label:<{width}} → {m.target}" for m in self.items]
        out += [f"  ! {p}" for p in self.problems]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "items": [m.to_dict() for m in self.items], "problems": list(self.problems)}


def _scenario(block: Block, test_prefix: str, problems: list[str]) -> Mapped:
    keys = tuple(k for t in block.tags if (k := key_in_tag(t, test_prefix)) is not None)
    if len(keys) > 1:
        problems.append(f"line {block.line}: {block.keyword} {block.name!r} has {len(keys)} Test keys "
                        f"({', '.join(keys)}): Xray refuses the file")
    if not block.name:
        problems.append(f"line {block.line}: a {block.keyword} without a name: Xray refuses the file")
    if test_prefix:
        bare = [t for t in block.tags if _BARE_KEY.fullmatch(t)]
        if bare and not keys:
            problems.append(f"line {block.line}: @{bare[0]} looks like a Test key without the prefix "
                            f"{test_prefix} (XRAY_CUCUMBER_TEST_PREFIX): Xray takes it as a label")
    return Mapped(block.keyword, block.name, block.line, keys, NEW_TEST)


def _background(block: Block, precondition_prefix: str) -> Mapped | None:
    keys = tuple(k for t in block.comment_tags if (k := key_in_tag(t, precondition_prefix)) is not None)
    if not block.body and not keys:
        return None  # an empty Background: nothing to import
    return Mapped(block.keyword, block.name, block.line, keys, NEW_PRECONDITION)


def preview(features: FeatureSet, test_prefix: str, precondition_prefix: str) -> list[FilePreview]:
    """Every file's Backgrounds and scenarios with what each becomes (see the module's docstring)."""
    out = []
    for f in features.files:
        problems: list[str] = []
        items: list[Mapped] = []
        try:
            feature = parse(f.path.read_bytes().decode("utf-8-sig"))
        except UnicodeDecodeError:
            feature, problems = None, ["not UTF-8 text: Xray refuses the file"]
        except OSError as exc:
            feature, problems = None, [f"cannot be read: {exc.strerror or exc}"]
        except GherkinError as exc:
            feature, problems = None, [f"not read here ({exc}); Xray's own parser decides"]
        if feature is not None:
            blocks = sorted([*feature.backgrounds, *feature.scenarios], key=lambda b: b.line)
            for block in blocks:
                if block.kind == "background":
                    mapped = _background(block, precondition_prefix)
                    if mapped is not None:
                        items.append(mapped)
                else:
                    items.append(_scenario(block, test_prefix, problems))
            if not feature.scenarios:
                problems.append("no Scenario: nothing to import from this file")
        elif not problems:
            problems.append("no Feature (empty, or only comments): nothing to import from this file")
        out.append(FilePreview(f.name, tuple(items), tuple(problems)))
    return out
