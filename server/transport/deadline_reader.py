"""A line reader for smtplib that never waits past the request's deadline.

smtplib reads replies through ``sock.makefile()``, where the socket timeout bounds each
``recv`` alone: a server that answers one byte at a time, each within the timeout, could keep
a send going long after its deadline. This reader re-checks the deadline before every
``recv``; when it has run out it raises ``TimeoutError``, which the transport's single
translation point turns into DEADLINE_EXCEEDED (or, at the end of DATA, an unknown outcome).
"""

from __future__ import annotations

import socket

from ..deadline import Deadline

_CHUNK = 65536


class DeadlineReader:
    """What smtplib needs of ``SMTP.file`` (``readline``, ``close``), bounded by a deadline
    that the session may replace between steps."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self.sock = sock
        self.deadline = deadline
        self._buffer = b""

    def readline(self, limit: int = -1) -> bytes:
        """One line with its newline (or up to ``limit`` bytes); empty at end of stream."""
        while b"\n" not in self._buffer and not 0 <= limit <= len(self._buffer):
            chunk = self._recv()
            if not chunk:
                break
            self._buffer += chunk
        end = self._buffer.find(b"\n")
        size = len(self._buffer) if end < 0 else end + 1
        if limit >= 0:
            size = min(size, limit)
        line, self._buffer = self._buffer[:size], self._buffer[size:]
        return line

    def _recv(self) -> bytes:
        left = self.deadline.remaining()
        if left is not None:
            if left <= 0:
                raise TimeoutError("the request's deadline ran out")
            current = self.sock.gettimeout()
            if current is None or left < current:
                self.sock.settimeout(left)
        return self.sock.recv(_CHUNK)

    def close(self) -> None:
        """Forget buffered bytes; smtplib closes the socket itself."""
        self._buffer = b""
