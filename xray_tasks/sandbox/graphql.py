"""A small GraphQL engine, enough for Xray Cloud's API: validate and execute one request (the syntax is
:mod:`xray_tasks.sandbox.graphql_syntax`).

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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from xray_tasks.sandbox.graphql_syntax import (
    Directive,
    Document,
    EnumValue,
    Field,
    FragmentSpread,
    GraphQLError,
    Loc,
    Operation,
    Selection,
    TypeRef,
    Variable,
    parse,
)

__all__ = ["EnumValue", "FieldDef", "FieldError", "GraphQLError", "Schema", "Variable", "execute", "parse"]


class FieldError(Exception):
    """Raised by a resolver: the field becomes null and the message goes to ``errors``."""


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
