"""The small part of Jira's JQL that clients use to find Xray issues: ``key = CALC-1``,
``key in (CALC-1, CALC-2)``, ``project = CALC``, ``issuetype = "Test Execution"``, ``id = 10005``,
joined by ``AND``, optionally ending in ``ORDER BY …`` (results are always oldest first).

Field and keyword names are case-insensitive (``issuekey`` and ``type`` are aliases); values may be bare or
quoted with ``"`` or ``'``. Anything else is refused with Jira's kind of message: an unknown field
("Field 'x' does not exist or you do not have permission to view it."), a key or project that does not
exist (as Jira does), or a syntax error naming the character where it happened.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from xray_tasks.sandbox.store import Store

__all__ = ["JqlError", "JqlQuery", "parse", "search"]

_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(?P<op>!=|=|\(|\)|,)'
                    r'|(?P<word>[^\s=!(),"\']+))')
_FIELDS = {"key": "key", "issuekey": "key", "id": "id", "project": "project", "issuetype": "type",
           "type": "type"}


class JqlError(Exception):
    """A query Jira would refuse; the message is Jira's kind of text."""


@dataclass
class JqlQuery:
    """What a query asks for: every list given must match (None: not restricted)."""

    values: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class _Token:
    kind: str
    text: str
    at: int


def _tokens(text: str) -> list[_Token]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            if text[pos:].strip():
                raise JqlError(f"Error in the JQL Query: The character '{text[pos:].strip()[0]}' is a reserved JQL "
                               f"character. You must enclose it in a string or use the escape '\\u0022' instead. "
                               f"(line 1, character {pos + 1})")
            break
        kind = m.lastgroup or "word"
        value = m.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append(_Token(kind, value, m.start(kind) + 1))
        pos = m.end()
    return out


def _expected(what: str, token: _Token | None, text: str) -> JqlError:
    got = f"'{token.text}'" if token is not None else "the end of the query"
    at = token.at if token is not None else len(text) + 1
    return JqlError(f"Error in the JQL Query: Expecting {what} but got {got}. (line 1, character {at})")


def parse(text: str) -> JqlQuery:
    """The query, or JqlError."""
    tokens = _tokens(text)
    query = JqlQuery()
    i = 0

    def peek() -> _Token | None:
        return tokens[i] if i < len(tokens) else None

    if not tokens:
        return query
    while True:
        token = peek()
        if token is None or token.kind == "op":
            raise _expected("a field name", token, text)
        if token.kind == "word" and token.text.lower() == "order":
            break
        name = _FIELDS.get(token.text.lower())
        if name is None:
            raise JqlError(f"Field '{token.text}' does not exist or you do not have permission to view it.")
        i += 1
        op = peek()
        if op is not None and op.kind == "word" and op.text.lower() == "in":
            i += 1
            values = _list(tokens, i, text)
            i += 2 * max(len(values), 1) + 1
        elif op is not None and op.text == "=" and op.kind == "op":
            i += 1
            value = peek()
            if value is None or value.kind == "op":
                raise _expected("either a value, list or function", value, text)
            values = [value.text]
            i += 1
        else:
            raise _expected("operator", op, text)
        have = query.values.get(name)
        query.values[name] = values if have is None else [v for v in have if v in values]
        token = peek()
        if token is None:
            return query
        if token.kind == "word" and token.text.lower() == "and":
            i += 1
            continue
        if token.kind == "word" and token.text.lower() == "order":
            break
        raise _expected("'AND' or 'ORDER BY'", token, text)
    rest = tokens[i:]
    if len(rest) < 3 or rest[1].text.lower() != "by" or rest[2].kind != "word":
        raise _expected("'BY' and a field name", rest[1] if len(rest) > 1 else None, text)
    if len(rest) > 4 or (len(rest) == 4 and rest[3].text.lower() not in ("asc", "desc")):
        raise _expected("'ASC', 'DESC' or the end of the query", rest[3 if len(rest) == 4 else 4], text)
    return query


def _list(tokens: list[_Token], i: int, text: str) -> list[str]:
    def at(n: int) -> _Token | None:
        return tokens[n] if n < len(tokens) else None

    opening = at(i)
    if opening is None or opening.text != "(" or opening.kind != "op":
        raise _expected("'('", opening, text)
    values, n = [], i + 1
    while True:
        value = at(n)
        if value is None or value.kind == "op":
            raise _expected("a value", value, text)
        values.append(value.text)
        sep = at(n + 1)
        if sep is not None and sep.kind == "op" and sep.text == ")":
            return values
        if sep is None or sep.kind != "op" or sep.text != ",":
            raise _expected("',' or ')'", sep, text)
        n += 2


def search(store: Store, text: str, types: Sequence[str], *, project_id: str | None = None) -> list[sqlite3.Row]:
    """The issues of ``types`` the query matches, oldest first; JqlError as Jira would refuse it."""
    query = parse(text)
    keys = [k.upper() for k in query.values["key"]] if "key" in query.values else None
    for key in keys or ():
        if store.issue(key) is None or not re.fullmatch(r"[A-Z][A-Z0-9_]*-\d+", key):
            raise JqlError(f"An issue with key '{key}' does not exist for field 'key'.")
    projects = query.values.get("project")
    if projects is not None:
        found = []
        for ref in projects:
            row = store.project(ref) or store.project(ref.upper())
            if row is None:
                raise JqlError(f"The value '{ref}' does not exist for the field 'project'.")
            found.append(row["key"])
        projects = found
    if project_id is not None:
        row = store.project(project_id)
        named = row["key"] if row is not None else None
        projects = [named] if named is not None and (projects is None or named in projects) else []
    ids = query.values.get("id")
    wanted = [t for t in types if "type" not in query.values
              or t.lower() in (v.lower() for v in query.values["type"])]
    if not wanted:
        return []
    return store.find_issues(wanted, keys=keys, ids=None if ids is None else [int(v) for v in ids if v.isdigit()],
                             projects=projects)
