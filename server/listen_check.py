"""The check that nothing else listens on the server's address before it binds.

gRPC sets SO_REUSEPORT by default on Linux, and with it a second server on the same address
starts as if all were well while the kernel splits connections between the two: mail goes
out with whichever config the connection happened to land on. Only the ``--processes``
children of one supervisor may share a port (server/processes.py); every other server binds
without SO_REUSEPORT, after this check, so start-up fails plainly instead.
"""

from __future__ import annotations

import errno
import socket

from .settings import split_address


class AddressInUse(OSError):
    """Another process already listens on the address the server is to listen on."""

    def __init__(self, address: str) -> None:
        super().__init__(
            errno.EADDRINUSE,
            f"cannot listen on {address}: another process already listens there (another "
            "smtp-connector serve?). Stop it or choose another --address; only the server's "
            "own --processes share a port",
        )
        self.address = address


def refuse_shared_address(address: str) -> None:
    """Raise AddressInUse when any socket listens on one of the addresses ``address``
    resolves to (SO_REUSEPORT or not); port 0 is always free. Binding with SO_REUSEADDR and
    without SO_REUSEPORT fails exactly when a listener holds the address, and ignores the
    TIME_WAIT connections a server that just stopped leaves behind."""
    host, port = split_address(address)
    if port == 0:
        return
    try:
        resolved = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror:
        return  # gRPC's own bind then reports the name it cannot resolve
    for family, kind, proto, _name, sockaddr in resolved:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise AddressInUse(address) from None
                # Anything else (an address this host lacks): gRPC's bind decides.
