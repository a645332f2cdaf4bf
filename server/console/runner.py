"""Running the console: uvicorn serving the web application in a thread of the server's
process, started after the gRPC server and stopped before it drains."""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable

import uvicorn

from ..domain.profiles import Profiles
from ..settings import Settings, split_address
from .mailbox import Mailbox
from .web import ConsoleBackend, TokenCheck, create_app

log = logging.getLogger(__name__)

_START_TIMEOUT = 10.0
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class ConsoleServer:
    """The console's HTTP server in a daemon thread."""

    def __init__(self, server: uvicorn.Server, backend: ConsoleBackend) -> None:
        self._server = server
        self._backend = backend
        self._thread = threading.Thread(target=server.run, name="console", daemon=True)
        self.url = ""

    def start(self) -> None:
        """Start serving; returns once the socket listens (OSError if it cannot)."""
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OSError("the web console could not start (is its port in use?)")
            time.sleep(0.02)
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}/"

    def stop(self) -> None:
        """Stop serving: open event streams end, then the server."""
        self._backend.stopping.set()
        self._server.should_exit = True
        self._thread.join(timeout=5)


def is_loopback(host: str) -> bool:
    """Whether a listening host is this machine only."""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def grpc_target(settings: Settings, port: int) -> str:
    """Where the console reaches the gRPC service: on loopback when it listens there or on
    every address."""
    host = settings.address.rpartition(":")[0].strip("[]")
    if host in ("", "0.0.0.0", "localhost") or (is_loopback(host) and ":" not in host):  # noqa: S104
        return f"127.0.0.1:{port}"
    if host in ("::", "::1"):
        return f"[::1]:{port}"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def build_console(
    settings: Settings,
    *,
    port: int,
    profiles: Callable[[], Profiles | None],
    tokens: TokenCheck | None,
) -> ConsoleServer:
    """The console of the service listening on ``port`` (its configs read through
    ``profiles``, its bearer tokens checked by ``tokens``, None when it has none), as the
    settings say; ValueError when it would be exposed unguarded or cannot call the service."""
    host, console_port = split_address(settings.console_address)
    if settings.tls_cert_file is not None:
        raise ValueError(
            "the web console calls the service over plaintext loopback: turn it off "
            "(console=false) when the gRPC listener uses TLS"
        )
    if not is_loopback(host) and tokens is None:
        raise ValueError(
            f"the web console would listen on {host}, beyond this machine, without a bearer "
            "token: set auth_tokens (or auth_tokens_file) or keep it on 127.0.0.1"
        )
    mailbox = Mailbox(settings.dev_mailbox) if settings.dev_mailbox is not None else None
    backend = ConsoleBackend(
        mailbox=mailbox,
        profiles=profiles,
        target=grpc_target(settings, port),
        tokens=tokens,
    )
    # A page from another site cannot reach a loopback console through DNS rebinding: the
    # Host it sends names that site.
    hosts = ["*"] if not is_loopback(host) else [*_LOOPBACK_NAMES, host]
    config = uvicorn.Config(
        create_app(backend, allowed_hosts=hosts),
        host=host,
        port=console_port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    return ConsoleServer(uvicorn.Server(config), backend)
