"""A small GraphQL engine, enough for Xray Cloud's API: parse, validate and execute one request.

The language: queries and mutations (named or anonymous, several per document with ``operationName``),
variables with types and defaults (``$jql: String!``, ``$ids: [String] = []``), arguments of every literal
kind (string and block string, int, float, boolean, null, enum, list, object) and variables inside them,
aliases, nested selection sets, named and inline fragments, ``@include`` / ``@skip``, ``__typename``.
Not supported: subscriptions, introspection (``__schema``), custom directives.

Errors follow the GraphQL convention and graphql-js's wording, which Xray's answers use: a syntax or
validation error (unknown field or argument, a required argument missing, a value of the wrong type, an
undefined or unused variable) answers ``{"data": null, "errors": [...]}`` without running anything; an
error raised by a resolver (:class:`FieldError`) makes that field null, adds ``{"message", "locations",
"path"}`` to ``errors`` and lets the rest of the query run. Every output type is nullable.

A schema (:class:`Schema`) maps object type names to their fields (:class:`FieldDef`: output type as
written in SDL, argument types, resolver). ``FieldDef.paged`` fields take a ``limit`` argument; the
product of nested limits may not exceed ``Schema.max_items`` (Xray: 10,000 items per request).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

__all__ = ["EnumValue", "FieldDef", "FieldError", "GraphQLError", "Schema", "Variable", "execute", "parse"]

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


class FieldError(Exception):
    """Raised by a resolver: the field becomes null and the message goes to ``errors``."""


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


# -- schema -------------------------------------------------------------------------------------------

Resolver: TypeAlias = Callable[[Any, Any, dict[str, Any]], Any]
SCALARS = ("String", "Int", "Float", "Boolean", "ID", "JSON")


@dataclass(frozen=True)
class FieldDef:
    """One field of an object type: its output type (SDL), argument types (SDL) and resolver.

    Without a resolver the value is ``parent[name]`` (parents are dicts then).
    """

    type: str
    args: Mapping[str, str] = field(default_factory=dict)
    resolve: Resolver | None = None
    paged: bool = False


@dataclass
class Schema:
    objects: dict[str, dict[str, FieldDef]]
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)
    query: str = "Query"
    mutation: str | None = "Mutation"
    max_items: int = 10_000


# -- values -------------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    if isinstance(value, EnumValue):
        return value.name
    if isinstance(value, Variable):
        return f"${value.name}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


class _Coercer:
    """Input values (literals or JSON variable values) checked against input types."""

    def __init__(self, schema: Schema, variables: Mapping[str, Any] | None) -> None:
        self.schema = schema
        self.variables = variables  # None: literal checking only (variables are checked separately)

    def coerce(self, value: Any, ref: TypeRef, *, literal: bool) -> Any:
        if isinstance(value, Variable):
            if self.variables is None:
                return value
            if value.name not in self.variables:
                if ref.non_null:
                    raise GraphQLError(f'Argument of non-null type "{ref}" must not be null.', value.loc)
                return None
            return self.variables[value.name]
        if value is None:
            if ref.non_null:
                raise GraphQLError(f'Expected value of type "{ref}", found null.')
            return None
        if ref.of is not None:
            items = value if isinstance(value, list) else [value]
            return [self.coerce(item, ref.of, literal=literal) for item in items]
        name = ref.named
        if name in self.schema.inputs:
            return self._input_object(value, name, literal=literal)
        return _scalar(value, name, literal=literal)

    def _input_object(self, value: Any, name: str, *, literal: bool) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise GraphQLError(f'Expected value of type "{name}", found {_show(value)}.')
        fields_ = self.schema.inputs[name]
        for key in value:
            if key not in fields_:
                raise GraphQLError(f'Field "{key}" is not defined by type "{name}".')
        out = {}
        for key, type_text in fields_.items():
            ref = TypeRef.parse(type_text)
            if key not in value:
                if ref.non_null:
                    raise GraphQLError(f'Field "{name}.{key}" of required type "{ref}" was not provided.')
                continue
            out[key] = self.coerce(value[key], ref, literal=literal)
        return out


def _scalar(value: Any, name: str, *, literal: bool) -> Any:
    if name == "JSON":
        return _plain(value)
    shown = _show(value)
    if name in ("String", "ID"):
        if isinstance(value, str) or (name == "ID" and isinstance(value, int) and not isinstance(value, bool)):
            return str(value)
        raise GraphQLError(f"{name} cannot represent a non string value: {shown}")
    if name == "Int":
        if isinstance(value, int) and not isinstance(value, bool) and -2**31 <= value < 2**31:
            return value
        if not literal and isinstance(value, float) and value.is_integer():
            return int(value)
        raise GraphQLError(f"Int cannot represent non-integer value: {shown}")
    if name == "Float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise GraphQLError(f"Float cannot represent non numeric value: {shown}")
    if name == "Boolean":
        if isinstance(value, bool):
            return value
        raise GraphQLError(f"Boolean cannot represent a non boolean value: {shown}")
    raise GraphQLError(f'Unknown type "{name}".')


def _plain(value: Any) -> Any:
    """A JSON literal as plain data (enum names become strings)."""
    if isinstance(value, EnumValue):
        return value.name
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _substitute(value: Any, variables: Mapping[str, Any]) -> Any:
    """A literal with its variables replaced by their values (for JSON and nested values)."""
    if isinstance(value, Variable):
        return variables.get(value.name)
    if isinstance(value, list):
        return [_substitute(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, variables) for k, v in value.items()}
    return value


def _variables_in(value: Any) -> Iterator[Variable]:
    if isinstance(value, Variable):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _variables_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _variables_in(v)


def _fits(var: TypeRef, position: TypeRef, has_default: bool) -> bool:
    """Whether a variable of type ``var`` may be used where ``position`` is expected (graphql-js's rule)."""
    if position.non_null and not var.non_null:
        return has_default and _fits(var, position.nullable(), False)
    var = var.nullable() if var.non_null else var
    position = position.nullable() if position.non_null else position
    if position.of is not None:
        return var.of is not None and _fits(var.of, position.of, False)
    return var.of is None and var.name == position.name


# -- validation and execution -------------------------------------------------------------------------


class _Run:
    def __init__(self, schema: Schema, doc: Document, op: Operation, context: Any) -> None:
        self.schema = schema
        self.doc = doc
        self.op = op
        self.context = context
        self.errors: list[GraphQLError] = []
        self.variables: dict[str, Any] = {}
        self.used_variables: set[str] = set()
        self.used_fragments: set[str] = set()

    # variables

    def coerce_variables(self, given: Mapping[str, Any]) -> None:
        coercer = _Coercer(self.schema, None)
        for var in self.op.variables:
            if var.type.named not in SCALARS and var.type.named not in self.schema.inputs:
                self.errors.append(GraphQLError(
                    f'Variable "${var.name}" cannot be non-input type "{var.type}".', var.loc))
                continue
            if var.name in given:
                try:
                    self.variables[var.name] = coercer.coerce(given[var.name], var.type, literal=False)
                except GraphQLError as exc:
                    self.errors.append(GraphQLError(
                        f'Variable "${var.name}" got invalid value {_show(given[var.name])}; {exc.message}',
                        var.loc))
            elif var.has_default:
                try:
                    self.variables[var.name] = coercer.coerce(var.default, var.type, literal=True)
                except GraphQLError as exc:
                    self.errors.append(GraphQLError(exc.message, var.loc))
            elif var.type.non_null:
                self.errors.append(GraphQLError(
                    f'Variable "${var.name}" of required type "{var.type}" was not provided.', var.loc))

    # selections

    def collect(self, type_name: str, selections: list[Selection], *, check: bool) -> dict[str, list[Field]]:
        """Fields by response key, fragments and @include/@skip applied (in order)."""
        out: dict[str, list[Field]] = {}
        for sel in selections:
            if not self._included(sel.directives, check=check):
                continue
            if isinstance(sel, Field):
                out.setdefault(sel.key, []).append(sel)
                continue
            if isinstance(sel, FragmentSpread):
                fragment = self.doc.fragments.get(sel.name)
                if fragment is None:
                    if check:
                        self.errors.append(GraphQLError(f'Unknown fragment "{sel.name}".', sel.loc))
                    continue
                self.used_fragments.add(sel.name)
                on, inner, loc = fragment.on, fragment.selections, fragment.loc
            else:
                on, inner, loc = sel.on or type_name, sel.selections, sel.loc
            if on not in self.schema.objects:
                if check:
                    self.errors.append(GraphQLError(f'Unknown type "{on}".', loc))
                continue
            if on != type_name:
                if check:
                    self.errors.append(GraphQLError(
                        f'Fragment cannot be spread here as objects of type "{type_name}" can never be of type '
                        f'"{on}".', loc))
                continue
            for key, found in self.collect(type_name, inner, check=check).items():
                out.setdefault(key, []).extend(found)
        return out

    def _included(self, directives: list[Directive], *, check: bool) -> bool:
        for d in directives:
            if d.name not in ("include", "skip"):
                if check:
                    self.errors.append(GraphQLError(f'Unknown directive "@{d.name}".', d.loc))
                continue
            if set(d.args) != {"if"}:
                if check:
                    self.errors.append(GraphQLError(
                        f'Directive "@{d.name}" argument "if" of type "Boolean!" is required, but it was not '
                        "provided.", d.loc))
                continue
            value = d.args["if"]
            for var in _variables_in(value):
                self.used_variables.add(var.name)
            value = _substitute(value, self.variables)
            if not isinstance(value, bool):
                if check:
                    self.errors.append(GraphQLError(
                        f"Boolean cannot represent a non boolean value: {_show(value)}", d.loc))
                continue
            if value == (d.name == "skip"):
                return False
        return True

    def validate(self, type_name: str, selections: list[Selection], items: int) -> None:
        for key, fields_ in self.collect(type_name, selections, check=True).items():
            first = fields_[0]
            for other in fields_[1:]:
                if other.name != first.name or _show(other.args) != _show(first.args):
                    self.errors.append(GraphQLError(
                        f'Fields "{key}" conflict because they have differing names or arguments. Use different '
                        "aliases on the fields to fetch both if this was intentional.", other.loc))
            for f in fields_:
                self._validate_field(type_name, f, items)

    def _validate_field(self, type_name: str, f: Field, items: int) -> None:
        if f.name == "__typename":
            if f.args or f.selections:
                self.errors.append(GraphQLError('Field "__typename" takes no arguments or selections.', f.loc))
            return
        spec = self.schema.objects[type_name].get(f.name)
        if spec is None:
            self.errors.append(GraphQLError(f'Cannot query field "{f.name}" on type "{type_name}".', f.loc))
            return
        for name, value in f.args.items():
            if name not in spec.args:
                self.errors.append(GraphQLError(f'Unknown argument "{name}" on field "{type_name}.{f.name}".', f.loc))
                continue
            self._validate_value(value, TypeRef.parse(spec.args[name]), f.loc)
        for name, type_text in spec.args.items():
            if type_text.endswith("!") and name not in f.args:
                self.errors.append(GraphQLError(
                    f'Field "{f.name}" argument "{name}" of type "{type_text}" is required, but it was not provided.',
                    f.loc))
        out = TypeRef.parse(spec.type)
        leaf = out.named in SCALARS
        if leaf and f.selections is not None:
            self.errors.append(GraphQLError(
                f'Field "{f.name}" must not have a selection since type "{out}" has no subfields.', f.loc))
        elif not leaf and f.selections is None:
            self.errors.append(GraphQLError(
                f'Field "{f.name}" of type "{out}" must have a selection of subfields. Did you mean '
                f'"{f.name} {{ ... }}"?', f.loc))
        elif not leaf and f.selections is not None:
            if spec.paged:
                limit = _substitute(f.args.get("limit"), self.variables)
                items *= limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else 1
                if items > self.schema.max_items:
                    self.errors.append(GraphQLError(
                        f"The query requests up to {items} items (the product of nested limits); at most "
                        f"{self.schema.max_items} are allowed in one request.", f.loc))
                    return
            self.validate(out.named, f.selections, items)

    def _validate_value(self, value: Any, ref: TypeRef, loc: Loc) -> None:
        used = list(_variables_in(value))
        for var in used:
            self.used_variables.add(var.name)
            definition = next((v for v in self.op.variables if v.name == var.name), None)
            if definition is None:
                where = f' by operation "{self.op.name}"' if self.op.name else ""
                self.errors.append(GraphQLError(f'Variable "${var.name}" is not defined{where}.', var.loc))
        if isinstance(value, Variable):
            definition = next((v for v in self.op.variables if v.name == value.name), None)
            if definition is not None and not _fits(definition.type, ref, definition.has_default):
                self.errors.append(GraphQLError(
                    f'Variable "${value.name}" of type "{definition.type}" used in position expecting type '
                    f'"{ref}".', value.loc))
            return
        if ref.named == "JSON" or used:  # nested variables: checked when substituted at run time
            return
        try:
            _Coercer(self.schema, None).coerce(value, ref, literal=True)
        except GraphQLError as exc:
            self.errors.append(GraphQLError(exc.message, exc.loc or loc))

    def check_unused(self) -> None:
        for var in self.op.variables:
            if var.name not in self.used_variables:
                where = f' in operation "{self.op.name}"' if self.op.name else ""
                self.errors.append(GraphQLError(f'Variable "${var.name}" is never used{where}.', var.loc))
        for name, fragment in self.doc.fragments.items():
            if name not in self.used_fragments:
                self.errors.append(GraphQLError(f'Fragment "{name}" is never used.', fragment.loc))

    # execution

    def args_of(self, spec: FieldDef, f: Field) -> dict[str, Any]:
        out: dict[str, Any] = {}
        coercer = _Coercer(self.schema, self.variables)
        for name, type_text in spec.args.items():
            if name not in f.args:
                continue
            value = f.args[name]
            if isinstance(value, Variable) and value.name not in self.variables:
                continue  # an omitted nullable variable: as if the argument were not given
            ref = TypeRef.parse(type_text)
            if ref.named == "JSON":
                out[name] = _plain(_substitute(value, self.variables))
            else:
                out[name] = coercer.coerce(_substitute(value, self.variables) if not isinstance(value, Variable)
                                           else value, ref, literal=not isinstance(value, Variable))
        return out

    def execute(self, type_name: str, selections: list[Selection], parent: Any, path: list[str | int]) -> dict[
            str, Any]:
        out: dict[str, Any] = {}
        for key, fields_ in self.collect(type_name, selections, check=False).items():
            f = fields_[0]
            if f.name == "__typename":
                out[key] = type_name
                continue
            spec = self.schema.objects[type_name][f.name]
            here = [*path, key]
            try:
                args = self.args_of(spec, f)
                value = spec.resolve(self.context, parent, args) if spec.resolve else parent.get(f.name)
            except FieldError as exc:
                self.errors.append(GraphQLError(str(exc), f.loc, here))
                out[key] = None
                continue
            except GraphQLError as exc:
                self.errors.append(GraphQLError(exc.message, f.loc, here))
                out[key] = None
                continue
            selections_ = [s for g in fields_ for s in (g.selections or [])]
            out[key] = self.complete(TypeRef.parse(spec.type), value, selections_, here)
        return out

    def complete(self, ref: TypeRef, value: Any, selections: list[Selection], path: list[str | int]) -> Any:
        if value is None:
            return None
        if ref.of is not None:
            return [self.complete(ref.of, item, selections, [*path, n]) for n, item in enumerate(value)]
        if ref.named in SCALARS:
            return value
        return self.execute(ref.named, selections, value, path)


def execute(schema: Schema, source: str, variables: Mapping[str, Any] | None = None,
            operation_name: str | None = None, context: Any = None) -> dict[str, Any]:
    """The response body of one GraphQL request: ``{"data": ...}`` plus ``"errors"`` when there are any."""
    try:
        doc = parse(source)
    except GraphQLError as exc:
        return {"data": None, "errors": [exc.as_dict()]}
    if operation_name:
        op = next((o for o in doc.operations if o.name == operation_name), None)
        if op is None:
            return {"data": None, "errors": [{"message": f'Unknown operation named "{operation_name}".'}]}
    elif len(doc.operations) != 1:
        message = ("Must provide an operation." if not doc.operations
                   else "Must provide operation name if query contains multiple operations.")
        return {"data": None, "errors": [{"message": message}]}
    else:
        op = doc.operations[0]
    root = schema.query if op.kind == "query" else schema.mutation if op.kind == "mutation" else None
    if root is None:
        return {"data": None, "errors": [GraphQLError(f"Schema is not configured to execute {op.kind} operation.",
                                                      op.loc).as_dict()]}
    run = _Run(schema, doc, op, context)
    run.coerce_variables(variables or {})
    run.validate(root, op.selections, 1)
    run.check_unused()
    if run.errors:
        return {"data": None, "errors": [e.as_dict() for e in run.errors]}
    data = run.execute(root, op.selections, None, [])
    body: dict[str, Any] = {"data": data}
    if run.errors:
        body["errors"] = [e.as_dict() for e in run.errors]
    return body
