"""Keeping secrets out of everything xray-tasks writes: one registry, every form a secret can take.

A secret (client secret, Server/DC password or token, a Cloud token, a proxy's password) is registered
the moment it is read or received. :func:`redact` then replaces it in any text, and :func:`redact_data`
in any JSON-able value *before* it is serialised, in each form it can take in a message:

* as it is;
* escaped the way ``repr()`` and JSON escape it (``\\``, quotes, control characters);
* URL-encoded (``%2F`` / ``+`` for a space), as it appears in a query or in proxy userinfo;
* inside a Basic credential: ``base64(user:password)`` is registered when the header is built.

Output goes through these functions in one place each: error lines (``tasks``/``workflow``), the
summary object and CI files (``outputs``), the doctor's table and JSON, and the dry run.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["REDACTED", "redact", "redact_data", "register_basic", "register_secret"]

REDACTED = "<redacted>"
#: shorter values are too likely to occur by chance in ordinary text to be replaced
MIN_SECRET_LENGTH = 4

_lock = threading.Lock()
_forms: set[str] = set()
_ordered: tuple[str, ...] = ()


def _variants(secret: str) -> Iterable[str]:
    yield secret
    yield repr(secret)[1:-1]
    yield json.dumps(secret)[1:-1]
    yield json.dumps(secret, ensure_ascii=False)[1:-1]
    yield quote(secret, safe="")
    yield quote_plus(secret, safe="")


def register_secret(value: str | None) -> None:
    """Remember ``value`` (and its escaped and encoded forms) so that nothing printed shows it."""
    global _ordered
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        before = len(_forms)
        _forms.update(v for v in _variants(value) if len(v) >= MIN_SECRET_LENGTH)
        if len(_forms) != before:
            _ordered = tuple(sorted(_forms, key=len, reverse=True))


def register_basic(user: str, password: str) -> str:
    """Register a Basic credential's password and its ``base64(user:password)``; return the latter."""
    register_secret(password)
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    register_secret(encoded)
    return encoded


def redact(text: str) -> str:
    """``text`` with every registered secret, in every registered form, replaced by ``<redacted>``."""
    for form in _ordered:
        if form in text:
            text = text.replace(form, REDACTED)
    return text


def redact_data(value: Any) -> Any:
    """A copy of a JSON-able value with :func:`redact` applied to every string in it (keys too)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redact(str(k)): redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value
