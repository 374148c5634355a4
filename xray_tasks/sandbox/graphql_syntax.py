"""GraphQL's syntax: the tree of a request document, and the lexer and parser that build it.

Queries, mutations (and subscriptions, which the engine refuses), variables with types and defaults,
arguments of every literal kind (string and block string, int, float, boolean, null, enum, list,
object), aliases, selection sets, named and inline fragments, directives. Syntax errors are
:class:`GraphQLError` with graphql-js's wording and the line and column where they happened.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, TypeAlias

__all__ = ["Directive", "Document", "EnumValue", "Field", "Fragment", "FragmentSpread", "GraphQLError",
           "InlineFragment", "Loc", "Operation", "Selection", "TypeRef", "Variable", "VariableDef", "parse"]

Loc: TypeAlias = tuple[int, int]


class GraphQLError(Exception):
    """One entry of the response's ``errors``."""

    def __init__(self, message: str, loc: Loc | None = None, path: list[str | int] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.path = path

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.loc is not None:
            out["locations"] = [{"line": self.loc[0], "column": self.loc[1]}]
        if self.path is not None:
            out["path"] = self.path
        return out


# -- syntax tree --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variable:
    name: str
    loc: Loc


@dataclass(frozen=True)
class EnumValue:
    name: str


@dataclass(frozen=True)
class TypeRef:
    """A type as written: ``String``, ``[String]!``…"""

    name: str | None  # None for a list
    of: TypeRef | None = None
    non_null: bool = False

    def __str__(self) -> str:
        inner = self.name if self.of is None else f"[{self.of}]"
        return f"{inner}!" if self.non_null else str(inner)

    def nullable(self) -> TypeRef:
        return TypeRef(self.name, self.of, False)

    @property
    def named(self) -> str:
        return self.name if self.of is None else self.of.named  # type: ignore[return-value]

    @staticmethod
    def parse(text: str) -> TypeRef:
        text = text.strip()
        if text.endswith("!"):
            inner = TypeRef.parse(text[:-1])
            return TypeRef(inner.name, inner.of, True)
        if text.startswith("["):
            return TypeRef(None, TypeRef.parse(text[1:-1]))
        return TypeRef(text)


@dataclass
class Directive:
    name: str
    args: dict[str, Any]
    loc: Loc


@dataclass
class Field:
    alias: str | None
    name: str
    args: dict[str, Any]
    directives: list[Directive]
    selections: list[Selection] | None
    loc: Loc

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass
class FragmentSpread:
    name: str
    directives: list[Directive]
    loc: Loc


@dataclass
class InlineFragment:
    on: str | None
    directives: list[Directive]
    selections: list[Selection]
    loc: Loc


Selection: TypeAlias = Field | FragmentSpread | InlineFragment


@dataclass
class VariableDef:
    name: str
    type: TypeRef
    default: Any
    has_default: bool
    loc: Loc


@dataclass
class Operation:
    kind: str
    name: str | None
    variables: list[VariableDef]
    selections: list[Selection]
    loc: Loc


@dataclass
class Fragment:
    name: str
    on: str
    selections: list[Selection]
    loc: Loc


@dataclass
class Document:
    operations: list[Operation] = field(default_factory=list)
    fragments: dict[str, Fragment] = field(default_factory=dict)


# -- lexer --------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<skip>[\s,\ufeff]+|\#[^\n\r]*)
  | (?P<spread>\.\.\.)
  | (?P<punct>[!$&()\:=@\[\]{|}])
  | (?P<block>\"\"\"(?:\\\"\"\"|(?!\"\"\").)*\"\"\")
  | (?P<string>"(?:[^"\\\n\r]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*")
  | (?P<float>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+))
  | (?P<int>-?(?:0|[1-9][0-9]*))
  | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
""", re.X | re.S)


@dataclass
class _Token:
    kind: str
    text: str
    loc: Loc

    def shown(self) -> str:
        if self.kind == "eof":
            return "<EOF>"
        if self.kind == "name":
            return f'Name "{self.text}"'
        if self.kind in ("int", "float"):
            return f'{"Int" if self.kind == "int" else "Float"} "{self.text}"'
        if self.kind in ("string", "block"):
            return f'String "{self.text}"'
        return f'"{self.text}"'


def _lex(source: str) -> list[_Token]:
    tokens, pos, line, line_start = [], 0, 1, 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        loc = (line, pos - line_start + 1)
        if m is None:
            char = source[pos]
            if char == '"':
                raise GraphQLError("Syntax Error: Unterminated string.", loc)
            raise GraphQLError(f'Syntax Error: Unexpected character: "{char}".', loc)
        kind = m.lastgroup or "skip"
        text = m.group(kind)
        if kind != "skip":
            tokens.append(_Token(kind, text, loc))
        for newline in re.finditer(r"\r\n|\n|\r", text):
            line += 1
            line_start = pos + newline.end()
        pos = m.end()
    tokens.append(_Token("eof", "", (line, pos - line_start + 1)))
    return tokens


def _string_value(token: _Token) -> str:
    if token.kind == "block":
        lines = token.text[3:-3].replace('\\"""', '"""').splitlines()
        indent = min((len(ln) - len(ln.lstrip(" \t")) for ln in lines[1:] if ln.strip()), default=0)
        body = [lines[0], *(ln[indent:] for ln in lines[1:])] if lines else []
        while body and not body[0].strip():
            body.pop(0)
        while body and not body[-1].strip():
            body.pop()
        return "\n".join(body)
    value: str = json.loads(token.text)
    return value


# -- parser -------------------------------------------------------------------------------------------

_CONSTANTS: dict[str, Any] = {"true": True, "false": False, "null": None}


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _lex(source)
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def _peek(self, text: str, kind: str = "punct") -> bool:
        return self.tok.kind == kind and self.tok.text == text

    def _skip(self, text: str, kind: str = "punct") -> bool:
        if self._peek(text, kind):
            self.i += 1
            return True
        return False

    def _expect(self, text: str, kind: str = "punct") -> _Token:
        if not self._peek(text, kind):
            raise GraphQLError(f'Syntax Error: Expected "{text}", found {self.tok.shown()}.', self.tok.loc)
        token = self.tok
        self.i += 1
        return token

    def _name(self) -> _Token:
        if self.tok.kind != "name":
            raise GraphQLError(f"Syntax Error: Expected Name, found {self.tok.shown()}.", self.tok.loc)
        token = self.tok
        self.i += 1
        return token

    def _unexpected(self) -> GraphQLError:
        return GraphQLError(f"Syntax Error: Unexpected {self.tok.shown()}.", self.tok.loc)

    def document(self) -> Document:
        doc = Document()
        if self.tok.kind == "eof":
            raise GraphQLError("Syntax Error: Unexpected <EOF>.", self.tok.loc)
        while self.tok.kind != "eof":
            if self._peek("{"):
                loc = self.tok.loc
                doc.operations.append(Operation("query", None, [], self.selection_set(), loc))
            elif self.tok.kind == "name" and self.tok.text in ("query", "mutation", "subscription"):
                doc.operations.append(self.operation())
            elif self.tok.kind == "name" and self.tok.text == "fragment":
                fragment = self.fragment()
                if fragment.name in doc.fragments:
                    raise GraphQLError(f'There can be only one fragment named "{fragment.name}".', fragment.loc)
                doc.fragments[fragment.name] = fragment
            else:
                raise self._unexpected()
        return doc

    def operation(self) -> Operation:
        start = self._name()
        name = self._name().text if self.tok.kind == "name" else None
        variables = []
        if self._skip("("):
            while not self._skip(")"):
                loc = self._expect("$").loc
                var = self._name().text
                self._expect(":")
                type_ref = self.type_ref()
                has_default = self._skip("=")
                default = self.value(const=True) if has_default else None
                self.directives()
                variables.append(VariableDef(var, type_ref, default, has_default, loc))
            if not variables:
                raise GraphQLError("Syntax Error: Expected \"$\", found \")\".", self.tokens[self.i - 1].loc)
        self.directives()
        return Operation(start.text, name, variables, self.selection_set(), start.loc)

    def fragment(self) -> Fragment:
        start = self._name()
        name = self._name()
        if name.text == "on":
            raise GraphQLError('Syntax Error: Unexpected Name "on".', name.loc)
        self._expect("on", "name")
        on = self._name().text
        self.directives()
        return Fragment(name.text, on, self.selection_set(), start.loc)

    def type_ref(self) -> TypeRef:
        if self._skip("["):
            inner = self.type_ref()
            self._expect("]")
            ref = TypeRef(None, inner)
        else:
            ref = TypeRef(self._name().text)
        return TypeRef(ref.name, ref.of, True) if self._skip("!") else ref

    def selection_set(self) -> list[Selection]:
        self._expect("{")
        out: list[Selection] = []
        while not self._skip("}"):
            out.append(self.selection())
        if not out:
            raise GraphQLError('Syntax Error: Expected Name, found "}".', self.tokens[self.i - 1].loc)
        return out

    def selection(self) -> Selection:
        if self._peek("...", "spread"):
            loc = self.tok.loc
            self.i += 1
            if self.tok.kind == "name" and self.tok.text != "on":
                spread = self._name().text
                return FragmentSpread(spread, self.directives(), loc)
            on = None
            if self._skip("on", "name"):
                on = self._name().text
            directives = self.directives()
            return InlineFragment(on, directives, self.selection_set(), loc)
        first = self._name()
        alias: str | None = None
        name = first
        if self._skip(":"):
            alias, name = first.text, self._name()
        args = self.arguments()
        directives = self.directives()
        selections = self.selection_set() if self._peek("{") else None
        return Field(alias, name.text, args, directives, selections, first.loc)

    def arguments(self, const: bool = False) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self._skip("("):
            while not self._skip(")"):
                name = self._name()
                if name.text in args:
                    raise GraphQLError(f'There can be only one argument named "{name.text}".', name.loc)
                self._expect(":")
                args[name.text] = self.value(const)
            if not args:
                raise GraphQLError('Syntax Error: Expected Name, found ")".', self.tokens[self.i - 1].loc)
        return args

    def directives(self) -> list[Directive]:
        out = []
        while self._peek("@"):
            loc = self.tok.loc
            self.i += 1
            out.append(Directive(self._name().text, self.arguments(), loc))
        return out

    def value(self, const: bool = False) -> Any:
        tok = self.tok
        if tok.kind == "punct" and tok.text == "$":
            if const:
                raise self._unexpected()
            self.i += 1
            return Variable(self._name().text, tok.loc)
        if tok.kind in ("int", "float", "string", "block", "name"):
            self.i += 1
            if tok.kind == "int":
                return int(tok.text)
            if tok.kind == "float":
                return float(tok.text)
            if tok.kind in ("string", "block"):
                return _string_value(tok)
            if tok.text in _CONSTANTS:
                return _CONSTANTS[tok.text]
            return EnumValue(tok.text)
        if self._skip("["):
            items = []
            while not self._skip("]"):
                items.append(self.value(const))
            return items
        if self._skip("{"):
            obj: dict[str, Any] = {}
            while not self._skip("}"):
                name = self._name().text
                self._expect(":")
                obj[name] = self.value(const)
            return obj
        raise self._unexpected()


def parse(source: str) -> Document:
    """The document, or GraphQLError (a syntax error with its location)."""
    return _Parser(source).document()
