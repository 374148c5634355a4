"""One request and its answer, as the dialect modules see them (no sockets here)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from email.message import Message
from typing import IO, Any

from xray_tasks.sandbox import errors
from xray_tasks.sandbox.bodies import Body, BodyError
from xray_tasks.sandbox.errors import ApiError
from xray_tasks.sandbox.multipart import MultipartError, Part, boundary_of, parse_multipart

__all__ = ["Request", "Response"]

_MAX_JSON = 1 << 20


@dataclass
class Response:
    """Status, a JSON-able body and extra headers; ``drop`` closes the connection without answering.

    A ``bytes`` body is sent as it is, with ``content_type`` (a file: an exported zip or feature)."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    content_type: str = "application/json"


@dataclass
class Request:
    """A parsed request line and headers; the body is read on demand."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: Message
    body: Body
    #: extra request-log columns filled in while handling (dialect, auth, parts, execution, note)
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def raw_content_type(self) -> str:
        return str(self.headers.get("Content-Type") or "")

    @property
    def content_type(self) -> str:
        """The media type, lower-case, without parameters ('' when absent)."""
        return self.raw_content_type.split(";", 1)[0].strip().lower()

    def param(self, name: str) -> str | None:
        """The first value of query parameter ``name`` (exact case); None when absent or empty."""
        for key, value in self.query:
            if key == name:
                return value.strip() or None
        return None

    def auth(self) -> tuple[str, str] | None:
        """``("basic", "user:password")`` or ``("bearer", token)`` from the Authorization header."""
        header = str(self.headers.get("Authorization") or "").strip()
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and value:
            return "bearer", value
        if scheme.lower() == "basic" and value:
            try:
                return "basic", base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return "basic", ""
        return ("other", header) if header else None

    def json_body(self) -> Any:
        """The body as JSON (at most 1 MiB); ApiError 400 when it is not."""
        data = bytearray()
        for chunk in self.body.chunks():
            data += chunk
            if len(data) > _MAX_JSON:
                raise ApiError(400, errors.BODY_MALFORMED.format(reason="a JSON body larger than 1 MiB"))
        try:
            return json.loads(bytes(data).decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ApiError(400, errors.BODY_MALFORMED.format(reason=f"not valid JSON ({exc})")) from None

    def parts(self, spool: IO[bytes], allowed: tuple[str, ...], described: str) -> dict[str, Part]:
        """The multipart parts of the spooled body by name; 400 on a malformed body or a foreign part name."""
        if self.content_type != "multipart/form-data":
            raise ApiError(400, errors.wrong_content_type(self.raw_content_type,
                                                          f"multipart/form-data with {described}"))
        boundary = boundary_of(self.raw_content_type)
        if not boundary:
            raise ApiError(400, errors.multipart_malformed("the Content-Type has no boundary"))
        try:
            parts = parse_multipart(spool, boundary)
        except MultipartError as exc:
            raise ApiError(400, errors.multipart_malformed(str(exc))) from None
        except BodyError:
            raise
        self.record["parts"] = [p.name for p in parts]
        by_name: dict[str, Part] = {}
        for part in parts:
            if part.name in by_name:
                raise ApiError(400, errors.multipart_malformed(f"the part '{part.name}' appears twice"))
            by_name[part.name] = part
        unexpected = [name for name in by_name if name not in allowed]
        if unexpected:
            raise ApiError(400, errors.unexpected_parts(unexpected, described))
        return by_name
