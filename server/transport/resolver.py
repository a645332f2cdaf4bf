"""Name resolution and TCP connects bounded by a timeout (getaddrinfo has none of its own)."""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

AddressInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]

# Lookups run here so a caller can stop waiting; a few threads are plenty for the rare names
# that miss the system's cache, and a stuck resolver cannot take more than these.
_LOOKUPS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="resolve")


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def resolve(host: str, port: int, timeout: float) -> Sequence[AddressInfo]:
    """``getaddrinfo`` for a TCP connection, giving up after ``timeout`` seconds with
    TimeoutError; socket.gaierror when the name does not resolve."""
    if _is_literal(host):  # no lookup, no thread hop
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    lookup = _LOOKUPS.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        return lookup.result(timeout)
    except FutureTimeout:
        lookup.cancel()  # still queued: drop it; already running: it ends on its own
        raise TimeoutError(f"looking up '{host}' took longer than {timeout:.1f} s") from None


def addresses(host: str, port: int, timeout: float) -> tuple[str, ...]:
    """``host``'s distinct addresses in the resolver's order (``resolve``'s errors)."""
    return tuple(dict.fromkeys(str(info[4][0]) for info in resolve(host, port, timeout)))


def connect(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to the first of ``host``'s addresses that answers, as
    ``socket.create_connection`` does, with the name lookup bounded by ``timeout`` too."""
    error: OSError | None = None
    for family, kind, proto, _, address in resolve(host, port, timeout):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        # SMTP is a dialogue of small writes: without this, a write after a TLS handshake or
        # a message sent in pieces waits for the peer's delayed ACK (Nagle), a round trip.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise error or OSError(f"'{host}' has no address")


# struct tcp_info (linux/tcp.h), 32-bit fields at these offsets: tcpi_rtt (the smoothed
# round-trip time) and tcpi_min_rtt (the least seen lately, Linux 4.6+), in microseconds.
_U32 = struct.Struct("=I")
_TCP_INFO_RTT, _TCP_INFO_MIN_RTT, _TCP_INFO_SIZE = 68, 148, 152


def round_trip_time(sock: socket.socket) -> float:
    """The path's round-trip time of a TCP socket in seconds, as the kernel measured it: the
    least seen lately where it tells (a peer slow to acknowledge, as a busy machine's is,
    raises the smoothed figure but not that), else the smoothed one; 0.0 where the platform
    has no TCP_INFO or the socket is closed."""
    option = getattr(socket, "TCP_INFO", None)
    if option is None:
        return 0.0
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, option, _TCP_INFO_SIZE)
    except OSError:
        return 0.0
    for offset in (_TCP_INFO_MIN_RTT, _TCP_INFO_RTT):
        if len(info) >= offset + 4:
            micros = int(_U32.unpack_from(info, offset)[0])
            if micros:
                return micros / 1e6
    return 0.0
