"""The wire: the httpx client xray-tasks uses, one request attempt, and the rules on where secrets may go.

* :func:`make_http` builds the client: timeouts, TLS (``XRAY_CA_BUNDLE``, ``XRAY_VERIFY_TLS``), proxies
  (``XRAY_PROXY``, ``HTTPS_PROXY``/``NO_PROXY``) and no idle connections, so each request's
  :class:`~xray_tasks.deadline.Deadline` can cut its own socket.
* :func:`plain_http_refusal` is the one rule for plain ``http://``: allowed when the connection stays on
  this machine (every address the host resolves to is a loopback address, and no proxy is used for it),
  or with ``XRAY_ALLOW_HTTP=true``. A *name* is not trusted: ``xray.localhost`` counts only if it resolves
  to loopback.
* :func:`attempt` sends one request and reads its answer into an :class:`~xray_tasks.answers.Answer`, at
  most :data:`MAX_ANSWER_BYTES` of it: an endless body ends the request instead of filling memory. A
  download passes a ``sink`` file instead, which a successful answer's body is streamed into (the sink
  enforces its own size cap).
* :class:`UploadFile` streams a report from disk and tells whether it was read to its end (if not, the
  request never carried the whole report, and Xray cannot have imported it); each read is reported to an
  :data:`UploadMeter` when one is given, which is how a long upload shows its progress.
* ``trace``: with ``--verbose`` / ``XRAY_VERBOSE`` every attempt is one line on stderr — method, URL with
  its query, status (or the failure), time, bytes sent and received, and the start of an error answer's
  body. Headers are never shown (the Authorization header stays out), and the line is redacted.
"""

from __future__ import annotations

import io
import ipaddress
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol
from urllib.parse import urlsplit

import httpx

from xray_tasks import __version__
from xray_tasks.answers import Answer, DeadlineExpired
from xray_tasks.deadline import Deadline
from xray_tasks.errors import SettingsError, one_line
from xray_tasks.plan import Request
from xray_tasks.progress import size_text
from xray_tasks.settings import Settings

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

__all__ = ["MAX_ANSWER_BYTES", "DownloadFile", "DownloadTooLarge", "MeterFactory", "UploadFile", "UploadMeter",
           "attempt", "make_http", "plain_http_refusal", "stays_on_machine", "tls_warning", "trace_line"]

#: most bytes of any answer that are read (far beyond any real Xray answer)
MAX_ANSWER_BYTES = 8 * 1024 * 1024
UPLOAD_CHUNK = 1024 * 1024  # bytes read from a report per write to the socket
#: characters of an error answer's body a trace line shows
TRACE_BODY = 200


class UploadMeter(Protocol):
    """Told the bytes of each read of one upload, and when its request is over (from the sending thread)."""

    def sent(self, n: int) -> None: ...

    def closed(self) -> None: ...


#: makes the meter of one upload from the file's name and size
MeterFactory = Callable[[str, int], UploadMeter]


def stays_on_machine(host: str) -> bool:
    """Whether every address ``host`` resolves to is a loopback address (an IP literal is not resolved)."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addresses)


def plain_http_refusal(s: Settings) -> SettingsError | None:
    """The refusal to send credentials over plain http off this machine, or None when it is fine."""
    parts = urlsplit(s.base_url)
    if parts.scheme != "http" or s.allow_http or stays_on_machine(parts.hostname or ""):
        return None
    return SettingsError(f"refusing to send credentials over plain http to {parts.hostname}, which is not this "
                         "machine", "use https://, or set XRAY_ALLOW_HTTP=true for a trusted test server")


def tls_warning(s: Settings) -> str | None:
    """The warning for certificates that are not verified, or None."""
    if s.verify_tls or s.ca_bundle or not s.base_url.startswith("https://"):
        return None
    return ("TLS certificates are not verified (XRAY_VERIFY_TLS=false): anyone on the network path could read "
            "the credentials; for a private CA set XRAY_CA_BUNDLE instead")


def make_http(s: Settings) -> httpx.Client:
    """An httpx client for ``s``; refuses plain http off the machine (:func:`plain_http_refusal`).

    Plain http to this machine never goes through a proxy: a proxy elsewhere would see the credentials."""
    refusal = plain_http_refusal(s)
    if refusal:
        raise refusal
    verify: Any = True
    if s.base_url.startswith("http://"):
        # no TLS is spoken: skip loading the system's CA store (tens of ms); a context that trusts nothing
        # makes any https the client were ever sent to fail, never pass unverified
        verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    elif s.ca_bundle:
        try:
            verify = ssl.create_default_context(cafile=s.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise SettingsError(f"cannot load XRAY_CA_BUNDLE={s.ca_bundle}: {exc}",
                                "point it at a PEM file of CA certificates") from None
    elif not s.verify_tls:
        verify = False
    local_http = s.base_url.startswith("http://") and not s.allow_http
    timeout = httpx.Timeout(s.timeout, connect=s.connect_timeout, pool=s.connect_timeout)
    return httpx.Client(timeout=timeout, verify=verify, proxy=None if local_http else s.proxy or None,
                        trust_env=not local_http, limits=httpx.Limits(max_keepalive_connections=0),
                        headers={"User-Agent": f"xray-tasks/{__version__}"})


@dataclass(frozen=True)
class Sent:
    """How far an attempt got: its answer, or the exception, and whether the report went out whole."""

    answer: Answer | None
    error: Exception | None
    sent_whole: bool


def attempt(http: httpx.Client, request: Request, *, deadline: float, active: set[Deadline] | None = None,
            limit: int = MAX_ANSWER_BYTES, sink: BinaryIO | None = None, meter: MeterFactory | None = None,
            trace: Callable[[str], None] | None = None) -> Sent:
    """Send ``request`` once, within ``deadline`` seconds, and read at most ``limit`` bytes of the answer.

    With a ``sink``, a successful (2xx) answer's body is written there instead of kept (the answer's
    ``body`` is empty): the sink is rewound and emptied first, so a retried download starts over; an error
    answer is read as usual. The request's watchdog sits in ``active`` while it runs, so an interrupt can
    cut it. Each report file read is told to a meter from ``meter``; ``trace`` gets one line about the
    attempt. Never raises for what the network or server do: the exception comes back in :class:`Sent`;
    what the sink raises (a full disk, its cap) goes to the caller."""
    watchdog = Deadline(deadline)
    started = time.monotonic()
    http_request: httpx.Request | None = None
    with _payloads(request, meter) as (args, uploads), _watched(watchdog, active):
        try:
            with watchdog:
                http_request = http.build_request(request.method, request.url, headers=request.headers, **args,
                                                  extensions={"trace": watchdog.trace})
                response = http.send(http_request, stream=True)
                try:
                    answer = _read(response, request, limit, sink)
                finally:
                    response.close()
        except httpx.TransportError as exc:
            error: Exception = DeadlineExpired() if watchdog.expired else exc
            if trace is not None:
                trace(trace_line(request, http_request, uploads, None, error, time.monotonic() - started))
            return Sent(None, error, all(u.read_whole for u in uploads))
        if trace is not None:
            trace(trace_line(request, http_request, uploads, answer, None, time.monotonic() - started))
    return Sent(answer, None, True)


def trace_line(request: Request, sent: httpx.Request | None, uploads: list[UploadFile], answer: Answer | None,
               error: Exception | None, seconds: float) -> str:
    """``http: POST https://host/path?query → 400 in 0.12s (sent 1.2 KiB, got 87 B): {"error": …}``.

    The URL is the one sent (query included); no header is shown; sent bytes are the Content-Length (or
    what was read of the reports). The caller's output redacts the line."""
    url = str(sent.url) if sent is not None else request.url
    length = sent.headers.get("content-length") if sent is not None else None
    out = int(length) if length and length.isdigit() else sum(u.tell() for u in uploads)
    head = f"http: {request.method} {url}"
    if answer is None:
        name = "the deadline passed" if isinstance(error, DeadlineExpired) else type(error).__name__
        detail = f": {one_line(str(error))[:TRACE_BODY]}" if error is not None and str(error) else ""
        return f"{head} → no answer after {seconds:.2f}s ({name}{detail}; sent {size_text(out)})"
    got = f"{size_text(len(answer.body))}{'+' if answer.truncated else ''}"
    line = f"{head} → {answer.status} in {seconds:.2f}s (sent {size_text(out)}, got {got})"
    if answer.status >= 400 and answer.body:
        text = one_line(answer.body[: TRACE_BODY * 4].decode("utf-8", errors="replace"))
        line += f": {text[:TRACE_BODY]}{'…' if len(text) > TRACE_BODY else ''}"
    return line


@contextmanager
def _watched(watchdog: Deadline, active: set[Deadline] | None) -> Iterator[None]:
    if active is None:
        yield
        return
    active.add(watchdog)
    try:
        yield
    finally:
        active.discard(watchdog)


def _read(response: httpx.Response, request: Request, limit: int, sink: BinaryIO | None = None) -> Answer:
    """The answer, its body read up to ``limit`` (or, on success, streamed into ``sink``). An error status
    keeps the start of a long body (its text is enough); a success status with a body past the limit is
    flagged ``truncated``."""
    if sink is not None and 200 <= response.status_code < 300:
        sink.seek(0)
        sink.truncate()
        for chunk in response.iter_bytes():
            sink.write(chunk)
        sink.flush()
        return Answer(status=response.status_code, headers=dict(response.headers), body=b"",
                      method=request.method, url=request.url.split("?", 1)[0])
    chunks: list[bytes] = []
    size = 0
    truncated = False
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            truncated = True
            break
    body = b"".join(chunks)[:limit]
    return Answer(status=response.status_code, headers=dict(response.headers), body=body,
                  method=request.method, url=request.url.split("?", 1)[0], truncated=truncated)


@contextmanager
def _payloads(request: Request, meter: MeterFactory | None = None
              ) -> Iterator[tuple[dict[str, Any], list[UploadFile]]]:
    """httpx arguments for the body, with report files opened for this attempt and closed after it."""
    uploads: list[UploadFile] = []
    args: dict[str, Any] = {}
    try:
        if request.path is not None:
            uploads.append(UploadFile(request.path, meter))
            args["content"] = uploads[-1]
        elif request.content is not None:
            args["content"] = request.content
        elif request.json is not None:
            args["json"] = request.json
        if request.files:
            files: list[tuple[str, tuple[str, Any, str]]] = []
            for name, (filename, payload, content_type) in request.files:
                if isinstance(payload, str):
                    uploads.append(UploadFile(payload, meter))
                    files.append((name, (filename, uploads[-1], content_type)))
                else:
                    files.append((name, (filename, payload, content_type)))
            args["files"] = files
        yield args, uploads
    finally:
        for upload in uploads:
            upload.close()


class UploadFile(io.FileIO):
    """A report opened for upload, streamed from disk and never read whole.

    httpx sends a file object with a ``Content-Length`` from ``fstat`` and reads it 64 KiB per call;
    reading ``UPLOAD_CHUNK`` per call instead cuts the per-chunk overhead (h11 framing, one ``sendall``
    each) so a 200 MB upload costs about what curl's does, while memory stays at one chunk. A meter from
    ``meter`` is told the size of every chunk read (read means handed to the socket a moment later).
    """

    def __init__(self, path: str | os.PathLike[str], meter: MeterFactory | None = None) -> None:
        super().__init__(path, "rb")
        self.size = os.fstat(self.fileno()).st_size
        #: whether httpx has read it to the end; if not, the request never carried the whole report
        self.read_whole = self.size == 0
        self._meter = meter(os.path.basename(os.fsdecode(path)), self.size) if meter is not None else None

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(max(size, UPLOAD_CHUNK) if size is not None and size > 0 else size)
        if not data or self.tell() >= self.size:
            self.read_whole = True
        if data and self._meter is not None:
            self._meter.sent(len(data))
        return data or b""

    def close(self) -> None:
        """Close the file; the meter learns the request is over (answered or failed)."""
        meter = getattr(self, "_meter", None)
        if meter is not None and not self.closed:
            meter.closed()
        super().close()

class DownloadTooLarge(Exception):
    """A download grew past its :class:`DownloadFile`'s limit."""


class DownloadFile(io.FileIO):
    """The file a download is streamed into; a write that would take it past ``limit`` bytes raises
    :class:`DownloadTooLarge`. Rewinding it (each new attempt does) starts the count over."""

    def __init__(self, path: str | os.PathLike[str], limit: int) -> None:
        super().__init__(path, "w+b")
        self.limit = limit

    def write(self, data: ReadableBuffer) -> int:
        if self.tell() + len(memoryview(data)) > self.limit:
            raise DownloadTooLarge()
        return super().write(data)
