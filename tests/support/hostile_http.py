"""A hostile HTTP peer on a loopback address of the test's choosing (127.0.0.2 is loopback
too on Linux): it records every request it gets and answers what the test says, be that
valid HTTP, a redirect, text that is not HTTP at all or a body that never ends."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

from tests.support.raw import RawServer

Answer = Callable[[socket.socket], None]


def http_answer(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
    """A plain HTTP/1.1 answer."""

    def answer(conn: socket.socket) -> None:
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    return answer


def not_http(conn: socket.socket) -> None:
    """What an SSH or Redis port would say: not HTTP."""
    conn.sendall(b"-ERR unknown command 'POST'\r\n")


def endless_body(conn: socket.socket) -> None:
    """A 200 whose body goes on (up to 64 MiB, so that the test stays bounded)."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
    chunk = b"a" * 65536
    with contextlib.suppress(OSError):
        for _ in range(1024):
            conn.sendall(chunk)


class HostileHttp(RawServer):
    """Listens on ``host``:free port; ``requests`` holds the raw bytes of each request."""

    def __init__(self, answer: Answer, host: str = "127.0.0.1") -> None:
        super().__init__(self._serve_one, host)
        self.host = host
        self.requests: list[bytes] = []
        self._answer = answer

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/token"

    def _serve_one(self, conn: socket.socket, stop: threading.Event) -> None:
        conn.settimeout(2)
        self.requests.append(_read_request(conn))
        self._answer(conn)

    def __enter__(self) -> HostileHttp:
        super().__enter__()
        return self


def _read_request(conn: socket.socket) -> bytes:
    """The request's head and as much of its body as its Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    while len(body) < length:
        chunk = conn.recv(4096)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body
