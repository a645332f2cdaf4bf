"""The pool's connections per destination against a real aiosmtpd peer: slow start while sends
queue, the config's maxConnections as a hard cap, a lower cap learned from a provider that
refuses connections beyond a limit, shrinking when idle, the warm connection (kept with
NOOP, re-opened in the background, silent while the provider is down), TCP_NODELAY, and the
CPU slots that sends waiting on the network give back."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from smtp_connector.server.deadline import Deadline
from smtp_connector.server.transport import ConnectionSettings, Envelope, TlsMode, concurrency
from smtp_connector.server.transport import pool as pool_module
from smtp_connector.server.transport.concurrency import INITIAL
from smtp_connector.server.transport.pool import PooledTransport, PoolLimits
from smtp_connector.server.transport.slots import CpuSlots, waiting_on_the_network

from tests.support.limited_smtp import LimitedSmtpServer
from tests.support.smtp import free_port

ENVELOPE = Envelope("noreply@example.com", ("user@example.com",))
MESSAGE = b"From: noreply@example.com\r\nTo: user@example.com\r\nSubject: hi\r\n\r\nbody\r\n"


def settings_for(port: int, **overrides: Any) -> ConnectionSettings:
    return ConnectionSettings(host="127.0.0.1", port=port, tls_mode=TlsMode.NONE, **overrides)


def send(transport: PooledTransport) -> None:
    transport.send(ENVELOPE, MESSAGE, Deadline.after(20))


def burst(transport: PooledTransport, threads: int, each: int) -> list[BaseException]:
    """``threads`` callers sending ``each`` messages at once; the errors they met."""
    errors: list[BaseException] = []

    def caller() -> None:
        try:
            for _ in range(each):
                send(transport)
        except BaseException as exc:
            errors.append(exc)

    running = [threading.Thread(target=caller) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(30)
    return errors


def wait_for(condition: Any, timeout: float = 5) -> None:
    until = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < until, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def slow_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LimitedSmtpServer]:
    """A provider 20 ms away that takes 40 ms over each message: sends queue behind few
    connections. The distance is what the kernel's TCP_INFO would report for it (the delay
    line of bench/ makes a real one; tests/test_delayline.py measures it)."""
    pretend_distant(monkeypatch)
    with LimitedSmtpServer(delay=0.04) as server:
        yield server


def pretend_distant(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel reports 20 ms of RTT, and the process has CPU to spare (this test process
    also runs the server and the callers, whose CPU must not stop the pool growing)."""
    monkeypatch.setattr(pool_module, "_session_rtt", lambda session: 0.02)
    monkeypatch.setattr(concurrency.PROCESS_CPU, "busy", lambda: 0.0)


SMTP_SINK = Path("/usr/sbin/smtp-sink")


@pytest.mark.skipif(not SMTP_SINK.exists(), reason="Postfix's smtp-sink is not installed")
def test_a_nearby_relay_keeps_few_connections() -> None:
    # Postfix's smtp-sink, in a process of its own, answers at once: the kernel's round-trip
    # time stays in microseconds. (An in-process aiosmtpd would share this process's GIL
    # and answer late, which TCP rightly sees as a distant server.)
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    sink = subprocess.Popen([str(SMTP_SINK), *user, f"127.0.0.1:{port}", "64"])
    try:
        wait_for(lambda: _listening(port))
        transport = PooledTransport(settings_for(port), PoolLimits(max_connections=10))
        try:
            assert burst(transport, threads=12, each=10) == []
            # A pool that grew on queued sends alone would reach the cap of 10.
            assert transport.opened <= INITIAL + 1
            assert not transport.waits_long()
        finally:
            transport.close()
    finally:
        sink.terminate()
        sink.wait(5)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
    except OSError:
        return False
    return True


def test_the_pool_grows_while_sends_queue_and_stays_within_the_cap(
    slow_server: LimitedSmtpServer,
) -> None:
    transport = PooledTransport(settings_for(slow_server.port), PoolLimits(max_connections=6))
    try:
        assert burst(transport, threads=12, each=6) == []
        assert slow_server.received == 72
        assert INITIAL < slow_server.peak <= 6  # it grew, never beyond the cap
        assert transport.stats().limit <= 6
        assert transport.stats().learned_cap == 0
    finally:
        transport.close()


def test_a_configs_max_connections_is_a_hard_cap(slow_server: LimitedSmtpServer) -> None:
    settings = settings_for(slow_server.port, max_connections=2)
    transport = PooledTransport(settings, PoolLimits(max_connections=20))
    try:
        assert burst(transport, threads=8, each=3) == []
        assert slow_server.peak <= 2
    finally:
        transport.close()


def test_a_provider_refusing_connections_teaches_a_lower_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pretend_distant(monkeypatch)
    with LimitedSmtpServer(limit=3, delay=0.04) as server:
        transport = PooledTransport(settings_for(server.port), PoolLimits(max_connections=10))
        try:
            assert burst(transport, threads=10, each=6) == []  # no caller saw the refusals
            assert server.received == 60
            assert server.refused >= 1
            assert server.peak <= 3
            stats = transport.stats()
            assert 1 <= stats.learned_cap <= 3
            assert stats.limit <= stats.learned_cap
            refused = server.refused
            assert burst(transport, threads=10, each=3) == []
            assert server.refused == refused  # remembered: it no longer tries for more
        finally:
            transport.close()


def test_the_pool_shrinks_when_idle(slow_server: LimitedSmtpServer) -> None:
    limits = PoolLimits(max_connections=6, idle_timeout=0.3)
    transport = PooledTransport(settings_for(slow_server.port), limits)
    try:
        assert burst(transport, threads=8, each=4) == []
        assert transport.stats().limit > INITIAL
        wait_for(lambda: transport.stats().established == 0)
        assert transport.stats().limit == INITIAL
        assert slow_server.live == 0
    finally:
        transport.close()


def test_the_warm_connection_is_kept_with_noop() -> None:
    with LimitedSmtpServer() as server:
        limits = PoolLimits(idle_timeout=0.2, keep_warm=True, noop_interval=0.1)
        transport = PooledTransport(settings_for(server.port), limits)
        try:
            send(transport)
            time.sleep(0.8)  # four idle timeouts: the reaper keeps the warm one
            assert server.noops >= 2
            assert transport.stats().established == 1
            send(transport)
            assert server.accepted == 1  # the same connection carried both
        finally:
            transport.close()


def test_the_warm_connection_is_reopened_in_the_background_after_a_server_close() -> None:
    with LimitedSmtpServer() as server:
        limits = PoolLimits(keep_warm=True, noop_interval=0.1)
        transport = PooledTransport(settings_for(server.port), limits)
        try:
            wait_for(lambda: transport.stats().established == 1)  # opened before any send
            server.drop_all()
            wait_for(lambda: server.accepted == 2 and transport.stats().established == 1)
            send(transport)
            assert server.accepted == 2
            assert server.received == 1
        finally:
            transport.close()


def test_no_traffic_while_the_provider_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_module, "_BACKOFF_FIRST", 0.05)
    attempts: list[int] = []
    with socket.socket() as listener:  # accepts and hangs up at once: a provider that is down
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(0.1)
        limits = PoolLimits(keep_warm=True, noop_interval=0.05)
        transport = PooledTransport(settings_for(listener.getsockname()[1]), limits)
        try:
            until = time.monotonic() + 1.5
            while time.monotonic() < until:
                try:
                    connection, _ = listener.accept()
                except TimeoutError:
                    continue
                attempts.append(1)
                connection.close()
        finally:
            transport.close()
    assert 1 <= len(attempts) <= pool_module._KEEPER_ATTEMPTS


def test_smtp_sockets_have_tcp_nodelay(slow_server: LimitedSmtpServer) -> None:
    transport = PooledTransport(settings_for(slow_server.port))
    try:
        send(transport)
        assert transport._idle[0].session.nodelay()
    finally:
        transport.close()


def test_a_thread_waiting_on_the_network_lends_its_cpu_slot() -> None:
    lent: list[int] = []
    slots = CpuSlots(1, lend=lambda: lent.append(1), reclaim=lambda: lent.append(-1))
    slots.acquire()
    other_ran = threading.Event()

    def other() -> None:
        slots.acquire()  # only possible while the first thread waits on the network
        other_ran.set()
        slots.release()

    thread = threading.Thread(target=other)
    with waiting_on_the_network(long=True):
        thread.start()
        assert other_ran.wait(5)
    thread.join(5)
    assert lent == [1, -1]
    with waiting_on_the_network(long=False):  # a short wait keeps the slot
        assert not slots._semaphore.acquire(blocking=False)
    slots.release()
