"""A line reader for smtplib that never waits past the request's deadline.

smtplib reads replies through ``sock.makefile()``, where the socket timeout bounds each
``recv`` alone: a server that answers one byte at a time, each within the timeout, could keep
a send going long after its deadline. This reader re-checks the deadline before every
``recv``; when it has run out it raises ``TimeoutError``, which the transport's single
translation point turns into DEADLINE_EXCEEDED (or, at the end of DATA, an unknown outcome).

It also bounds what one reply may cost. smtplib appends the lines of a multi-line reply
until one without a ``-`` after its code, so a hostile server answering ``250-...`` forever
would fill the memory. A reply of more than MAX_REPLY_LINES lines or MAX_REPLY_BYTES bytes,
or a line of more than MAX_REPLY_LINE_BYTES, raises ReplyTooLarge at the first byte over
the budget, before it is buffered: the transport drops the connection, as after any
failure. Honest replies are far below: Gmail's EHLO is 9 lines and about 200 bytes.
"""

from __future__ import annotations

import errno
import socket

from ..deadline import Deadline

_CHUNK = 65536
# The budgets of one reply (docs/security.md). RFC 5321 4.5.3.1.5 allows 512 octets a line;
# smtplib's own line limit (8192) is kept, since some servers write longer ones.
MAX_REPLY_LINE_BYTES = 8192
MAX_REPLY_LINES = 512
MAX_REPLY_BYTES = 64 * 1024


class ReplyTooLarge(ConnectionError):
    """The server's reply went over a budget; the connection is no longer usable."""

    def __init__(self, what: str) -> None:
        super().__init__(errno.EMSGSIZE, f"its reply was {what}: a server never sends that")
        self.what = what


class DeadlineReader:
    """What smtplib needs of ``SMTP.file`` (``readline``, ``close``), bounded by a deadline
    that the session may replace between steps."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self.sock = sock
        self.deadline = deadline
        self._buffer = b""
        # The lines and bytes of the reply being read so far.
        self._reply_lines = 0
        self._reply_bytes = 0

    def readline(self, limit: int = -1) -> bytes:
        """One line with its newline (or up to ``limit`` bytes); empty at end of stream.
        Raises ReplyTooLarge when the line or its reply goes over a budget."""
        while b"\n" not in self._buffer and not 0 <= limit <= len(self._buffer):
            if len(self._buffer) > MAX_REPLY_LINE_BYTES:
                raise ReplyTooLarge(f"a line longer than {MAX_REPLY_LINE_BYTES} bytes")
            chunk = self._recv()
            if not chunk:
                break
            self._buffer += chunk
        end = self._buffer.find(b"\n")
        size = len(self._buffer) if end < 0 else end + 1
        if limit >= 0:
            size = min(size, limit)
        line, self._buffer = self._buffer[:size], self._buffer[size:]
        self._count(line)
        return line

    def _count(self, line: bytes) -> None:
        """Add ``line`` to its reply's budget; a line without ``-`` after the code ends the
        reply (as smtplib reads it)."""
        if len(line) > MAX_REPLY_LINE_BYTES:
            raise ReplyTooLarge(f"a line longer than {MAX_REPLY_LINE_BYTES} bytes")
        self._reply_lines += 1
        self._reply_bytes += len(line)
        if self._reply_bytes > MAX_REPLY_BYTES:
            raise ReplyTooLarge(f"longer than {MAX_REPLY_BYTES} bytes")
        if self._reply_lines > MAX_REPLY_LINES:
            raise ReplyTooLarge(f"longer than {MAX_REPLY_LINES} lines")
        if line[3:4] != b"-":
            self._reply_lines = self._reply_bytes = 0

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
        self._reply_lines = self._reply_bytes = 0
