"""Misbehaving peers for connection tests (with ``raw``): a listener whose connections time
out, and a server presenting a self-signed certificate."""

from __future__ import annotations

import socket
import ssl

import trustme


def self_signed_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server TLS context presenting a self-signed certificate (``ca``'s own)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with ca.cert_pem.tempfile() as cert, ca.private_key_pem.tempfile() as key:
        context.load_cert_chain(cert, key)
    return context


class FullBacklogListener:
    """A listener whose accept queue is full: new connections time out, as behind a
    firewall that drops packets."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(0)
        self.port: int = self._sock.getsockname()[1]
        self._fillers: list[socket.socket] = []

    def __enter__(self) -> FullBacklogListener:
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", self.port))
            self._fillers.append(filler)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for filler in self._fillers:
            filler.close()
        self._sock.close()
