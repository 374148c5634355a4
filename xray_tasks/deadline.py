"""A deadline for one HTTP request, whatever the server does.

httpx's timeouts bound each connect, read and write on its own: a server that trickles a byte now and
then, always inside the read timeout, can hold a request open for as long as it likes. A
:class:`Deadline` ends it: the request's ``trace`` extension hands over every socket httpcore opens for
it, and a timer shuts those sockets down when the time is up, so the blocked read or write fails at
once and httpx raises a transport error.

This only works on connections the request opens itself, so the client keeps no idle connections
(:func:`xray_tasks.client.make_http`); a CI step sends a handful of requests, and each pays one
connection set-up.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from typing import Any

__all__ = ["Deadline", "leave_signals_to_the_main_thread"]

_OPENED = (".connect_tcp.complete", ".start_tls.complete")


def leave_signals_to_the_main_thread() -> None:
    """Block SIGINT and SIGTERM in the calling (helper) thread.

    The kernel hands a process's signal to any thread that does not block it. Python only acts on it in
    the main thread, and the main thread's blocking read is interrupted only when the signal lands there:
    a Ctrl-C taken by a timer or worker thread would leave the main thread waiting on the network."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


class _Watchdog(threading.Timer):
    def run(self) -> None:
        leave_signals_to_the_main_thread()
        super().run()


class Deadline:
    """``with Deadline(s) as d: client.request(..., extensions={"trace": d.trace})``; ``d.expired`` tells
    whether the watchdog cut the request. ``seconds <= 0`` means no deadline."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace callback: keep each socket it opens for this request."""
        if not event.endswith(_OPENED):
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def cut(self) -> None:
        """End the request now (the watchdog's own action, and an interrupt's)."""
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def __enter__(self) -> Deadline:
        if self.seconds > 0:
            self._timer = _Watchdog(self.seconds, self.cut)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    # socket.socket.shutdown, not SSLSocket.shutdown: the latter drops the TLS object another thread is
    # reading with; shutting the descriptor down is what wakes that thread.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
