"""Hostile SMTP peers on raw sockets (issue 14): servers that answer with what no honest
server sends — an endless multi-line reply, a reply that echoes the client's AUTH line
back, a reply of any size — counting what they sent and what they were told."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.support.raw import RawServer

GREETING = b"220 hostile.test ESMTP\r\n"


@dataclass
class Tally:
    """What a hostile peer sent and heard, across its connections."""

    sent: int = 0  # bytes sent in the hostile reply
    heard: list[bytes] = field(default_factory=list)  # the client's lines
    closed_early: int = 0  # hostile replies the client hung up on before their end
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_sent(self, count: int) -> None:
        with self.lock:
            self.sent += count


def read_line(conn: socket.socket, buffer: bytearray, stop: threading.Event) -> bytes | None:
    """The client's next line (without CRLF); None when it hung up or the test ended."""
    conn.settimeout(0.2)
    while b"\n" not in buffer:
        if stop.is_set():
            return None
        try:
            chunk = conn.recv(4096)
        except TimeoutError:
            continue
        if not chunk:
            return None
        buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line.rstrip(b"\r")


def endless_ehlo(tally: Tally, *, line: bytes, limit: int) -> Callable[..., None]:
    """Greets, then answers EHLO with ``250-`` lines of ``line`` until ``limit`` bytes are
    out (a bound for the test, not for the client) or the client hangs up."""

    def behave(conn: socket.socket, stop: threading.Event) -> None:
        buffer = bytearray()
        conn.sendall(GREETING)
        heard = read_line(conn, buffer, stop)
        if heard is None:
            return
        tally.heard.append(heard)
        chunk = (b"250-" + line + b"\r\n") * max(1, 65536 // (len(line) + 6))
        conn.settimeout(5)
        try:
            while tally.sent < limit and not stop.is_set():
                conn.sendall(chunk)
                tally.add_sent(len(chunk))
        except OSError:
            with tally.lock:
                tally.closed_early += 1
            return
        conn.sendall(b"250 SIZE 1000000\r\n")
        _serve_rest(conn, buffer, stop, tally)

    return behave


def replies_with(
    tally: Tally, reply_for: Callable[[bytes], bytes | None], *, auth_ok: bool = False
) -> Callable[..., None]:
    """A server that speaks enough SMTP to be sent to, and answers each command the client
    sends with ``reply_for(line)`` when that gives a reply (bytes with CRLF), or with the
    honest answer otherwise."""

    def behave(conn: socket.socket, stop: threading.Event) -> None:
        buffer = bytearray()
        conn.sendall(GREETING)
        while (heard := read_line(conn, buffer, stop)) is not None:
            tally.heard.append(heard)
            reply = reply_for(heard)
            if reply is None:
                reply = _honest(heard, conn, buffer, stop)
            conn.sendall(reply)
            tally.add_sent(len(reply))
            if heard.upper().startswith(b"QUIT"):
                return

    return behave


def _serve_rest(
    conn: socket.socket, buffer: bytearray, stop: threading.Event, tally: Tally
) -> None:
    while (heard := read_line(conn, buffer, stop)) is not None:
        tally.heard.append(heard)
        conn.sendall(_honest(heard, conn, buffer, stop))
        if heard.upper().startswith(b"QUIT"):
            return


def _honest(heard: bytes, conn: socket.socket, buffer: bytearray, stop: threading.Event) -> bytes:
    verb = heard.split(b" ", 1)[0].upper()
    if verb == b"EHLO":
        return b"250-hostile.test\r\n250-AUTH PLAIN LOGIN XOAUTH2\r\n250 8BITMIME\r\n"
    if verb == b"AUTH":
        return b"235 2.7.0 accepted\r\n"
    if verb == b"DATA":
        conn.sendall(b"354 go ahead\r\n")
        while (line := read_line(conn, buffer, stop)) is not None and line != b".":
            pass
        return b"250 2.0.0 queued\r\n"
    if verb == b"QUIT":
        return b"221 bye\r\n"
    return b"250 ok\r\n"


def hostile_server(behaviour: Callable[..., None]) -> RawServer:
    """A raw-socket server on 127.0.0.1 running ``behaviour`` for each connection."""
    return RawServer(behaviour)
