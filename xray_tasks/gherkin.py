"""Gherkin ``.feature`` files, read and written the way Xray's feature import and export need them.

One parser for the client (``import-features --dry-run`` shows what each scenario maps to) and for the
local Xray stand-in (which imports and exports features with it).

:func:`parse` reads a file into a :class:`Feature`: its name, description, tags and ``# language:``; its
Backgrounds (the Feature's and each Rule's) with the ``#@KEY`` comments under them; its Scenarios and
Scenario Outlines with their tags and bodies. A body is kept as text (steps, doc strings, data tables,
comments, Examples with their tags), dedented, because that text is what Xray stores as a Cucumber Test's
definition and writes back on export; step keywords are never interpreted, so only the header keywords
(Feature, Rule, Background, Scenario, Scenario Outline, Examples) of each supported language are known.

Problems are :class:`GherkinError` with the line number, in the spirit of the Gherkin parser's own
messages. A file with no Feature at all (empty, or only comments) parses to None: nothing to import.

:func:`render` writes a Feature back, in its language, with the layout of Xray's export (contract §14).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["LANGUAGES", "SCENARIO", "SCENARIO_OUTLINE", "Block", "Feature", "GherkinError", "Section", "parse",
           "render"]

#: header keywords per language (the first of each is the one :func:`render` writes), from the Gherkin
#: dialects; step keywords are not needed (bodies are kept as text)
LANGUAGES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {"feature": ("Feature", "Business Need", "Ability"), "rule": ("Rule",),
           "background": ("Background",), "scenario": ("Scenario", "Example"),
           "scenario_outline": ("Scenario Outline", "Scenario Template"), "examples": ("Examples", "Scenarios")},
    "de": {"feature": ("Funktionalität", "Funktion"), "rule": ("Regel", "Rule"),
           "background": ("Grundlage", "Hintergrund", "Voraussetzungen", "Vorbedingungen"),
           "scenario": ("Szenario", "Beispiel"), "scenario_outline": ("Szenariogrundriss", "Szenarien"),
           "examples": ("Beispiele",)},
    "fr": {"feature": ("Fonctionnalité",), "rule": ("Règle",), "background": ("Contexte",),
           "scenario": ("Scénario", "Exemple"), "scenario_outline": ("Plan du scénario", "Plan du Scénario"),
           "examples": ("Exemples",)},
    "es": {"feature": ("Característica", "Necesidad del negocio", "Requisito"), "rule": ("Regla", "Regla de negocio"),
           "background": ("Antecedentes",), "scenario": ("Escenario", "Ejemplo"),
           "scenario_outline": ("Esquema del escenario",), "examples": ("Ejemplos",)},
    "pt": {"feature": ("Funcionalidade", "Característica", "Caracteristica"), "rule": ("Regra",),
           "background": ("Contexto", "Cenário de Fundo", "Cenario de Fundo", "Fundo"),
           "scenario": ("Cenário", "Cenario", "Exemplo"),
           "scenario_outline": ("Esquema do Cenário", "Esquema do Cenario", "Delineação do Cenário",
                                "Delineacao do Cenario"), "examples": ("Exemplos", "Cenários", "Cenarios")},
    "it": {"feature": ("Funzionalità", "Esigenza di Business", "Abilità"), "rule": ("Regola",),
           "background": ("Contesto",), "scenario": ("Scenario", "Esempio"),
           "scenario_outline": ("Schema dello scenario",), "examples": ("Esempi",)},
    "nl": {"feature": ("Functionaliteit",), "rule": ("Regel",), "background": ("Achtergrond",),
           "scenario": ("Scenario", "Voorbeeld"), "scenario_outline": ("Abstract Scenario",),
           "examples": ("Voorbeelden",)},
}
#: Xray's names of the two scenario kinds (a Cucumber Test's "scenario type")
SCENARIO = "Scenario"
SCENARIO_OUTLINE = "Scenario Outline"

_LANGUAGE_RE = re.compile(r"#\s*language\s*:\s*(\S+)\s*$")
_DOC_STRING = ('"""', "```")
_INDENT = "  "


class GherkinError(ValueError):
    """A file that is not Gherkin; ``str()`` is ``line N: reason``."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Block:
    """A Background, Scenario or Scenario Outline."""

    #: "background", "scenario" or "scenario_outline" (a Scenario with Examples is an outline too)
    kind: str
    #: the keyword as written ("Scenario", "Szenario", "Example", ...)
    keyword: str
    name: str
    #: its tags, without the "@"
    tags: tuple[str, ...]
    #: steps, doc strings, tables, comments and Examples, dedented; for a Background without the
    #: ``#@KEY`` comments, which are in ``comment_tags``
    body: str
    line: int
    #: the Rule it is under, or None
    rule: str | None = None
    #: Background only: each ``#@TAG`` comment's tag (e.g. ``PRECOND_CALC-7``), in order
    comment_tags: tuple[str, ...] = ()

    @property
    def scenario_type(self) -> str:
        """Xray's scenario type: "Scenario" or "Scenario Outline"."""
        return SCENARIO_OUTLINE if self.kind == "scenario_outline" else SCENARIO


@dataclass(frozen=True)
class Feature:
    """A parsed file; a Background with a ``rule`` runs before that Rule's scenarios only."""

    name: str
    description: str
    tags: tuple[str, ...]
    language: str
    backgrounds: tuple[Block, ...]
    scenarios: tuple[Block, ...]


def _header(text: str, keywords: dict[str, tuple[str, ...]]) -> tuple[str, str, str] | None:
    """(kind, keyword, name) when ``text`` (stripped) is a header line like ``Scenario Outline: name``."""
    best: tuple[str, str, str] | None = None
    for kind, words in keywords.items():
        for word in words:
            if text.startswith(word) and text[len(word):].lstrip(" \t").startswith(":") \
                    and (best is None or len(word) > len(best[1])):
                best = (kind, word, text[len(word):].lstrip(" \t")[1:].strip())
    return best


def _tags(text: str, line: int) -> list[str]:
    content = re.split(r"\s#", text, maxsplit=1)[0]
    out = []
    for token in content.split():
        if not token.startswith("@") or len(token) == 1:
            raise GherkinError(line, f"a tag line holds {token!r}, which is not a tag (tags start with @)")
        out.append(token[1:])
    return out


def _text(lines: Sequence[str]) -> str:
    """Lines dedented together, without trailing spaces or leading/trailing blank lines."""
    return textwrap.dedent("\n".join(line.rstrip() for line in lines)).strip("\n")


class _Builder:
    """One pass over the lines; see :func:`parse`."""

    def __init__(self) -> None:
        self.keywords = LANGUAGES["en"]
        self.language = "en"
        self.feature: tuple[str, int] | None = None
        self.feature_tags: list[str] = []
        self.description: list[str] = []
        self.blocks: list[Block] = []
        self.rule: str | None = None
        # the block being read: (kind, keyword, name, tags, line, rule) and its body lines
        self.open: tuple[str, str, str, tuple[str, ...], int, str | None] | None = None
        self.body: list[str] = []
        # blank lines, comments and tag lines not yet known to belong to the open block or the next one
        self.pending: list[str] = []
        self.tags: list[str] = []
        self.tags_line = 0
        self.doc_string: str | None = None
        self.doc_string_line = 0
        self.seen_content = False

    def line(self, number: int, raw: str) -> None:
        text = raw.strip()
        if self.doc_string is not None:
            self.body.append(raw)
            if text.startswith(self.doc_string):
                self.doc_string = None
            return
        if not text or text.startswith("#"):
            if text.startswith("#") and not self.seen_content:
                found = _LANGUAGE_RE.fullmatch(text)
                if found:
                    self.set_language(found.group(1), number)
                    return
            self.pending.append(raw)
            return
        self.seen_content = True
        if text.startswith("@"):
            if not self.tags:
                self.tags_line = number
            self.tags += _tags(text, number)
            self.pending.append(raw)
            return
        header = _header(text, self.keywords)
        if header is None or (header[0] == "feature" and self.feature is not None):
            self.content(number, raw, text)  # as Cucumber's parser does: a second "Feature:" line is text
        else:
            self.start(number, raw, *header)

    def set_language(self, language: str, number: int) -> None:
        if language not in LANGUAGES:
            raise GherkinError(number, f"Language not supported: {language} (known here: "
                                       f"{', '.join(sorted(LANGUAGES))})")
        self.language, self.keywords = language, LANGUAGES[language]

    def content(self, number: int, raw: str, text: str) -> None:
        if self.tags:
            raise GherkinError(number, f"expected a Feature, Rule, Scenario or Examples line after the tags of "
                                       f"line {self.tags_line}, got {text[:40]!r}")
        if self.open is not None:
            self.body += self.pending
            self.pending = []
            self.body.append(raw)
            if text.startswith(_DOC_STRING):
                self.doc_string, self.doc_string_line = text[:3], number
        elif self.feature is None:
            raise GherkinError(number, f"expected a Feature line (e.g. 'Feature: name'), got {text[:40]!r}")
        elif not self.blocks and self.rule is None:
            self.description += [p for p in self.pending if not p.strip().startswith("#")]
            self.pending = []
            self.description.append(raw)
        else:
            self.pending = []  # a Rule's description

    def start(self, number: int, raw: str, kind: str, keyword: str, name: str) -> None:
        if kind == "examples":
            if self.open is None or self.open[0] == "background":
                raise GherkinError(number, f"'{keyword}:' outside a Scenario Outline")
            self.body += self.pending
            self.body.append(raw)
            self.pending, self.tags = [], []
            if self.open[0] == "scenario":
                self.open = ("scenario_outline", *self.open[1:])
            return
        tags, self.tags = tuple(self.tags), []
        self.close()
        if kind == "feature":
            self.feature, self.feature_tags = (name, number), list(tags)
            return
        if self.feature is None:
            raise GherkinError(number, f"expected a Feature line before '{keyword}:'")
        if kind == "rule":
            self.rule = name or f"rule at line {number}"
            return
        self.open = (kind, keyword, name, tags, number, self.rule)

    def close(self) -> None:
        """Finish the open block; a Background also takes the ``#@KEY`` comments still pending (a Background
        may hold nothing else)."""
        pending, self.pending = self.pending, []
        if self.open is None:
            return
        kind, keyword, name, tags, number, rule = self.open
        body, comment_tags = self.body, []
        if kind == "background":
            kept = []
            for raw in body + [p for p in pending if p.strip().startswith("#@")]:
                tag = re.fullmatch(r"#\s*@(\S+)\s*", raw.strip())
                if tag is None:
                    kept.append(raw)
                else:
                    comment_tags.append(tag.group(1))
            body = kept
        self.blocks.append(Block(kind=kind, keyword=keyword, name=name, tags=tags, body=_text(body), line=number,
                                 rule=rule, comment_tags=tuple(comment_tags)))
        self.open, self.body = None, []

    def finish(self) -> Feature | None:
        if self.doc_string is not None:
            raise GherkinError(self.doc_string_line, f"a doc string opened with {self.doc_string} is never closed")
        if self.tags:
            raise GherkinError(self.tags_line, "tags at the end of the file, with no Feature or Scenario after them")
        self.close()
        if self.feature is None:
            return None
        return Feature(name=self.feature[0], description=_text(self.description), tags=tuple(self.feature_tags),
                       language=self.language,
                       backgrounds=tuple(b for b in self.blocks if b.kind == "background"),
                       scenarios=tuple(b for b in self.blocks if b.kind != "background"))


def parse(text: str) -> Feature | None:
    """The Feature in ``text``; None when there is none (empty, or only comments); GherkinError otherwise."""
    builder = _Builder()
    for number, raw in enumerate(text.splitlines(), 1):
        builder.line(number, raw)
    return builder.finish()


# -- writing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """One Scenario (Outline) to write: its tags, the comment lines above them, and its text."""

    scenario_type: str
    name: str
    tags: tuple[str, ...]
    body: str
    comment: str = ""


def _indented(text: str, depth: int) -> list[str]:
    return [_INDENT * depth + line if line.strip() else "" for line in text.splitlines()]


def _comment(text: str, depth: int) -> list[str]:
    return [_INDENT * depth + "#" + line for line in text.splitlines()]


def _tag_line(tags: Iterable[str], depth: int) -> list[str]:
    listed = " ".join(f"@{t}" for t in tags)
    return [_INDENT * depth + listed] if listed else []


def render(*, name: str, language: str = "en", tags: Sequence[str] = (), description: str = "",
           background_name: str = "", background_comments: Sequence[str] = (), background: str = "",
           scenarios: Sequence[Section] = ()) -> str:
    """A ``.feature`` file laid out like Xray's export: ``# language:`` when not English, the Feature's tags,
    its description, one Background (its ``#@KEY`` comments first), then each scenario's description as
    ``#`` comments, its tags and its body."""
    words = LANGUAGES.get(language, LANGUAGES["en"])
    out = [f"# language: {language}"] if language != "en" else []
    out += _tag_line(tags, 0)
    out.append(f"{words['feature'][0]}: {name}".rstrip())
    out += _indented(description, 1)
    if background or background_comments:
        out += ["", f"{_INDENT}{words['background'][0]}: {background_name}".rstrip()]
        out += [f"{_INDENT * 2}#@{c}" for c in background_comments]
        out += _indented(background, 2)
    for section in scenarios:
        keyword = words["scenario_outline" if section.scenario_type == SCENARIO_OUTLINE else "scenario"][0]
        out.append("")
        out += _comment(section.comment, 1)
        out += _tag_line(section.tags, 1)
        out.append(f"{_INDENT}{keyword}: {section.name}".rstrip())
        out += _indented(section.body, 2)
    return "\n".join(out) + "\n"
