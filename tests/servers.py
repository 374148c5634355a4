"""Small raw servers for drills the sandbox cannot play: a server that never finishes its answer, one that
resets uploads mid-body, and a CONNECT proxy."""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import select
import socket
import ssl
import struct
import threading
from pathlib import Path

__all__ = ["ConnectProxy", "LoopbackServer", "ResetMidBodyServer", "TricklingServer"]


def read_request(conn: socket.socket, limit: int | None = None) -> bytes | None:
    """Read one request's headers and its body (only ``limit`` bytes of it, when given); None if the
    client went away first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < (length if limit is None else min(limit, length)):
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return body


class LoopbackServer:
    """Listens on a free loopback port and hands each connection, numbered from 1, to ``handle`` in a
    thread of its own; ``connections`` counts them."""

    scheme = "http"

    def __init__(self) -> None:
        self.connections = 0
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"{self.scheme}://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.handle, args=(conn, self.connections), daemon=True).start()

    def handle(self, conn: socket.socket, number: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


class TricklingServer(LoopbackServer):
    """A raw HTTP(S) server that reads each request whole, then answers one byte of a status line every
    ``interval`` seconds and never finishes: always inside the read timeout, never done."""

    def __init__(self, interval: float = 0.3, tls: ssl.SSLContext | None = None) -> None:
        self.interval = interval
        self.tls = tls
        self.scheme = "https" if tls is not None else "http"
        super().__init__()

    def handle(self, conn: socket.socket, number: int) -> None:
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:
                return
        with conn:
            if read_request(conn) is None:
                return
            for byte in itertools.cycle(b"HTTP/1.1 200 OK\r\nX-Slow: "):
                if self.stop.wait(self.interval):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return


class ConnectProxy(LoopbackServer):
    """An HTTP CONNECT proxy on loopback that tunnels bytes and records each CONNECT target."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self.requests: list[str] = []  # every request line, CONNECT or a plain-http one sent through the proxy
        super().__init__()

    def handle(self, client: socket.socket, number: int) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            method, target = head.split(b" ")[:2]
            self.requests.append(f"{method.decode()} {target.decode()}")
            if method != b"CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            self.targets.append(target.decode())
            host, port = target.decode().rsplit(":", 1)
            with socket.create_connection((host, int(port))) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                while True:
                    ready, _, _ = select.select([client, upstream], [], [], 10)
                    if not ready:
                        return
                    for src in ready:
                        data = src.recv(65536)
                        if not data:
                            return
                        (upstream if src is client else client).sendall(data)


class ResetMidBodyServer(LoopbackServer):
    """A raw HTTP server whose first ``resets`` connections are reset (RST) after ``cut`` bytes of the
    body, the way a proxy or load balancer drops a large upload; later requests are read whole and answered
    like Xray Server/DC. ``whole_bodies`` counts the requests that arrived complete."""

    #: the receive buffer of its connections, fixed so the kernel cannot take in a whole upload for it
    RCVBUF = 64 * 1024

    def __init__(self, resets: int = 1, cut: int = 256 * 1024) -> None:
        self.resets = resets
        self.cut = cut
        self.whole_bodies = 0
        super().__init__()
        # set before any connection exists: accepted sockets inherit it, and a fixed size turns autotuning off
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.RCVBUF)

    def unsendable_size(self) -> int:
        """A body size that cannot fit in flight when the reset comes, whatever the load: more than twice
        what the server reads, its receive buffer, the sender's largest send buffer (from the kernel's
        limits) and one upload chunk of the client, together."""
        limits = [4 * 1024 * 1024]
        for name in ("/proc/sys/net/ipv4/tcp_wmem", "/proc/sys/net/core/wmem_max"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                limits.append(int(Path(name).read_text().split()[-1]))
        in_flight = self.cut + 2 * self.RCVBUF + 2 * max(limits) + 1024 * 1024
        return 2 * in_flight

    def handle(self, conn: socket.socket, number: int) -> None:
        reset = number <= self.resets
        with conn:
            if read_request(conn, self.cut if reset else None) is None:
                return
            if reset:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return  # closing with linger 0 sends RST
            self.whole_bodies += 1
            answer = json.dumps({"testExecIssue": {"id": "10001", "key": "DEMO-7",
                                                   "self": f"{self.url}/rest/api/2/issue/10001"}}).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                         b"Content-Length: " + str(len(answer)).encode() + b"\r\n\r\n" + answer)


class EndlessBodyServer(LoopbackServer):
    """Answers every request with ``status`` and a body that does not end (no length, the connection
    held open); it stops writing when the client goes away or after ``most`` bytes, so the test ends
    whatever the client does. ``sent`` counts the body bytes written."""

    def __init__(self, status: int = 200, most: int = 256 * 1024 * 1024) -> None:
        self.status = status
        self.most = most
        self.sent = 0
        super().__init__()

    def handle(self, conn: socket.socket, number: int) -> None:
        with conn:
            if read_request(conn) is None:
                return
            conn.sendall(f"HTTP/1.1 {self.status} OK\r\nContent-Type: application/json\r\n"
                         "Connection: close\r\n\r\n".encode() + b'{"key": "')
            chunk = b"x" * 65536
            try:
                while self.sent < self.most and not self.stop.is_set():
                    conn.sendall(chunk)
                    self.sent += len(chunk)
            except OSError:
                return
