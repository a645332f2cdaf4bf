"""A raw TCP peer on 127.0.0.1 for faults a real SMTP server does not produce on demand:
a listener that never greets, one that hangs up mid-session."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

Behaviour = Callable[[socket.socket, threading.Event], None]


class RawServer:
    """Accepts connections in a thread and hands each to ``behaviour``."""

    def __init__(self, behaviour: Behaviour, host: str = "127.0.0.1") -> None:
        self._behaviour = behaviour
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept_thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            self._behaviour(conn, self._stop)

    def __enter__(self) -> RawServer:
        self._accept_thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._accept_thread.join()
        for thread in self._threads:
            thread.join(timeout=2)
        self._listener.close()


def never_greets(conn: socket.socket, stop: threading.Event) -> None:
    """Accept, then say nothing until the test ends (a tarpit)."""
    stop.wait(30)


def hangs_up_after_ehlo(conn: socket.socket, stop: threading.Event) -> None:
    """Greet, read EHLO, then close the connection without a word."""
    conn.sendall(b"220 raw.test ESMTP\r\n")
    conn.recv(1024)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
