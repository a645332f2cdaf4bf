"""Several server processes on one port (``processes`` setting): one Python process is held
to about one core by the GIL, so N processes each run the whole server (own thread pool, own
SMTP connections, own health service) and the kernel spreads incoming connections over them
with SO_REUSEPORT. A supervisor starts them, forwards SIGTERM/SIGINT so they drain together
(and SIGHUP so they reload together), and stops them all if one dies. Process i serves its
metrics on the metrics port + i: like replicas, each reports its own counters.

Connections, not calls, are spread: a client with one channel talks to one process. Callers
that want every core should open several channels (or connections through a proxy)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import FrameType

from .listen_check import refuse_shared_address
from .settings import Settings, split_address

log = logging.getLogger(__name__)

ServeFunction = Callable[..., None]
# How long the supervisor waits for every process to listen.
_START_TIMEOUT = 60.0
_PARENT_CHECK_INTERVAL = 1.0


def reserve_port(address: str) -> tuple[socket.socket, str]:
    """A socket bound with SO_REUSEPORT to ``address`` (port 0 picks one), so every process
    binds the same port; returns it (to close once they listen) and the concrete address."""
    host, port = split_address(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    return sock, f"[{host}]:{bound}" if family == socket.AF_INET6 else f"{host}:{bound}"


def serve_processes(
    settings: Settings, serve: ServeFunction, *, check: Callable[[Settings], object]
) -> None:
    """Run ``settings.processes`` copies of ``serve`` on one address until SIGTERM/SIGINT
    (forwarded to all, so they drain together) or until one of them exits. ``check`` runs
    first, here, so a bad config fails once and plainly (as with one process)."""
    if settings.dev_mailbox is not None:
        raise SystemExit("the development mailbox runs with one server process only")
    check(settings)
    refuse_shared_address(settings.address)  # only these children may share the port
    reserved, address = reserve_port(settings.address)
    child_settings = [
        settings.model_copy(
            update={
                "address": address,
                "processes": 1,
                "metrics_address": _nth_address(settings.metrics_address, index),
            }
        )
        for index in range(settings.processes)
    ]
    context = multiprocessing.get_context("spawn")  # no gRPC state copied by fork
    children: list[BaseProcess] = []
    ready_reader, ready_writer = context.Pipe(duplex=False)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("received %s: stopping %d processes", signal.Signals(signum).name, len(children))
        stop.set()

    def forward_reload(signum: int, frame: FrameType | None) -> None:
        _signal_all(children, signal.SIGHUP)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGHUP, forward_reload)
    try:
        for index in range(settings.processes):
            child = context.Process(
                target=_child,
                args=(child_settings[index], serve, ready_writer, os.getpid()),
                name=f"smtp-connector-{index}",
            )
            child.start()
            children.append(child)
        _wait_ready(ready_reader, children, stop)
        reserved.close()
        if not stop.is_set():
            log.info("smtp-connector: %d processes listening on %s", len(children), address)
        while not stop.wait(0.5):
            if any(not child.is_alive() for child in children):
                log.error("a server process exited: stopping the others")
                break
    finally:
        reserved.close()
        _stop_all(children, settings.grace_period)
    failed = [child.name for child in children if child.exitcode not in (0, -signal.SIGTERM)]
    if failed and not stop.is_set():
        raise SystemExit(f"server processes failed: {', '.join(failed)}")


def _nth_address(address: str | None, index: int) -> str | None:
    """``host:port`` with the port moved up by ``index`` (port 0 stays 0: each picks one)."""
    if address is None or index == 0:
        return address
    host, port = split_address(address)
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port + index if port else 0}"


def _signal_all(children: list[BaseProcess], signum: signal.Signals) -> None:
    for child in children:
        if child.is_alive() and child.pid is not None:
            os.kill(child.pid, signum)


def _wait_ready(reader: Connection, children: list[BaseProcess], stop: threading.Event) -> None:
    waiting, until = len(children), time.monotonic() + _START_TIMEOUT
    while waiting and not stop.is_set():
        if any(not child.is_alive() for child in children):
            raise SystemExit("a server process failed to start (its log says why)")
        if time.monotonic() > until:
            raise SystemExit(f"server processes did not listen within {_START_TIMEOUT:.0f}s")
        if reader.poll(0.1):
            reader.recv()
            waiting -= 1


def _stop_all(children: list[BaseProcess], grace_period: float) -> None:
    """SIGTERM to every process at once (so all drain together), then wait for them."""
    _signal_all(children, signal.SIGTERM)
    deadline = time.monotonic() + grace_period + 5
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
        if child.is_alive():
            log.warning("%s did not stop in time: killing it", child.name)
            child.kill()
            child.join()


def _child(settings: Settings, serve: ServeFunction, ready: Connection, parent: int) -> None:
    """One server process: serves until SIGTERM, or until its supervisor is gone."""
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    serve(settings, on_started=lambda port: ready.send(port), share_port=True)


def _watch_parent(parent: int) -> None:
    """Drain and stop when the supervisor died without stopping us (e.g. SIGKILL)."""
    while os.getppid() == parent:
        time.sleep(_PARENT_CHECK_INTERVAL)
    os.kill(os.getpid(), signal.SIGTERM)
