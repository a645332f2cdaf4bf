"""The connection pool against a real aiosmtpd server: reuse, limits, idle close, no RSET
between messages, discarding failed sessions, replacing sessions the server closed, never
retrying after DATA."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.client.errors import DeliveryUnknownError
from smtp_connector.server.deadline import Deadline
from smtp_connector.server.errors import (
    DeadlineExceeded,
    DeliveryUnknown,
    SmtpRejected,
    SmtpUnavailable,
)
from smtp_connector.server.transport import ConnectionSettings, Envelope, TlsMode
from smtp_connector.server.transport.pool import PooledTransport, PoolLimits

from tests.support.service import ServerFactory, make_config
from tests.support.smtp import SmtpServer

ENVELOPE = Envelope("noreply@example.com", ("user@example.com",))
MESSAGE = b"From: noreply@example.com\r\nTo: user@example.com\r\nSubject: hi\r\n\r\nbody\r\n"


def settings_for(server: SmtpServer, **overrides: Any) -> ConnectionSettings:
    return ConnectionSettings(
        host="127.0.0.1", port=server.port, tls_mode=TlsMode.NONE, **overrides
    )


@pytest.fixture
def pool(smtp_server: SmtpServer) -> Iterator[PooledTransport]:
    transport = PooledTransport(settings_for(smtp_server), PoolLimits(max_connections=2))
    yield transport
    transport.close()


def send(transport: PooledTransport, deadline: float = 10) -> None:
    transport.send(ENVELOPE, MESSAGE, Deadline.after(deadline))


def wait_for(condition: Any, timeout: float = 5) -> None:
    until = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < until, "condition not met in time"
        time.sleep(0.02)


def test_sends_through_the_service_reuse_one_connection(
    smtp_server: SmtpServer, service: SmtpConnectorClient
) -> None:
    for code in ("111111", "222222", "333333"):
        service.send_message("user@example.com", "Generic", {"code": code})
    assert len(smtp_server.received) == 3
    assert smtp_server.connections == 1
    # A clean transaction leaves nothing behind: a reuse starts with MAIL FROM, no RSET.
    assert smtp_server.handler.rsets == 0


def test_the_pool_can_be_turned_off_by_setting(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(make_config(smtp_server.port), pool=False)
    for _ in range(3):
        client.send_message("user@example.com", "Generic", {"code": "1"})
    assert smtp_server.connections == 3
    assert smtp_server.handler.quits == 3


def test_a_config_can_turn_the_pool_off(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(make_config(smtp_server.port, pool=False))
    for _ in range(2):
        client.send_message("user@example.com", "Generic", {"code": "1"})
    assert smtp_server.connections == 2


def test_max_messages_renews_the_connection(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(make_config(smtp_server.port, maxMessages=2))
    for _ in range(5):
        client.send_message("user@example.com", "Generic", {"code": "1"})
    assert len(smtp_server.received) == 5
    assert smtp_server.connections == 3
    wait_for(lambda: smtp_server.handler.quits == 2)  # retired connections said QUIT


def test_concurrent_sends_stay_within_max_connections(
    smtp_server: SmtpServer, pool: PooledTransport
) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                send(pool)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(smtp_server.received) == 30
    assert 1 <= smtp_server.connections <= 2
    assert pool.opened == smtp_server.connections


def test_a_full_pool_waits_no_longer_than_the_acquire_timeout(smtp_server: SmtpServer) -> None:
    release = threading.Event()

    def hold(server: Any) -> None:
        release.wait(5)  # keeps the only connection busy (and aiosmtpd's loop with it)

    smtp_server.handler.on_data = hold
    transport = PooledTransport(
        settings_for(smtp_server), PoolLimits(max_connections=1, acquire_timeout=0.3)
    )
    busy = threading.Thread(target=send, args=(transport,))
    busy.start()
    try:
        wait_for(lambda: transport.opened == 1)
        started = time.monotonic()
        with pytest.raises(SmtpUnavailable, match="busy"):
            send(transport)
        assert time.monotonic() - started < 2
    finally:
        release.set()
        busy.join(10)
        transport.close()
    assert len(smtp_server.received) == 1


def test_idle_connections_close_after_the_idle_timeout(smtp_server: SmtpServer) -> None:
    transport = PooledTransport(settings_for(smtp_server), PoolLimits(idle_timeout=0.2))
    try:
        send(transport)
        wait_for(lambda: smtp_server.handler.quits == 1)  # closed by the reaper, politely
        send(transport)
        assert smtp_server.connections == 2
    finally:
        transport.close()


def test_a_connection_the_server_closed_while_idle_is_replaced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="smtp_connector.server.transport.pool")
    with SmtpServer(idle_timeout=0.3) as server:
        transport = PooledTransport(settings_for(server))
        try:
            send(transport)
            time.sleep(0.8)  # aiosmtpd drops the idle connection meanwhile
            send(transport)
        finally:
            transport.close()
        assert len(server.received) == 2
        assert server.connections == 2
    assert "closed by the server while idle" in caplog.text


def test_a_failed_connection_is_discarded(smtp_server: SmtpServer, pool: PooledTransport) -> None:
    send(pool)
    smtp_server.handler.reply_for["DATA"] = "554 5.6.0 rejected"
    with pytest.raises(SmtpRejected, match="554"):
        send(pool)
    del smtp_server.handler.reply_for["DATA"]
    send(pool)
    assert smtp_server.connections == 2
    assert len(smtp_server.received) == 2


def test_no_retry_once_data_began(smtp_server: SmtpServer, pool: PooledTransport) -> None:
    send(pool)
    data_commands: list[int] = []

    def drop(server: Any) -> None:
        data_commands.append(1)
        server.transport.close()  # the whole message arrived; the reply never leaves

    smtp_server.handler.on_data = drop
    with pytest.raises(DeliveryUnknown):
        send(pool)
    assert len(data_commands) == 1  # the pool did not send it again
    smtp_server.handler.on_data = None
    send(pool)  # the dead connection was discarded; a fresh one works
    assert smtp_server.connections == 2


def test_delivery_unknown_reaches_the_client(
    smtp_server: SmtpServer, service: SmtpConnectorClient
) -> None:
    service.send_message("user@example.com", "Generic", {"code": "1"})
    calls: list[int] = []

    def drop(server: Any) -> None:
        calls.append(1)
        server.transport.close()

    smtp_server.handler.on_data = drop
    with pytest.raises(DeliveryUnknownError) as caught:
        service.send_message("user@example.com", "Generic", {"code": "2"})
    assert caught.value.delivery == "unknown"
    assert len(calls) == 1


def test_closing_the_pool_says_quit(smtp_server: SmtpServer) -> None:
    transport = PooledTransport(settings_for(smtp_server))
    send(transport)
    transport.close()
    wait_for(lambda: smtp_server.handler.quits == 1)
    with pytest.raises(SmtpUnavailable, match="closed"):
        send(transport)


def test_the_reaper_thread_ends_when_the_pool_is_empty(smtp_server: SmtpServer) -> None:
    transport = PooledTransport(settings_for(smtp_server), PoolLimits(idle_timeout=0.1))
    name = f"smtp-pool-reaper 127.0.0.1:{smtp_server.port}"

    def reaping() -> bool:
        return any(thread.name == name for thread in threading.enumerate())

    try:
        send(transport)
        assert reaping()
        wait_for(lambda: smtp_server.handler.quits == 1)
        wait_for(lambda: not reaping())
        send(transport)  # a new session starts it again
        assert reaping()
    finally:
        transport.close()


def test_an_expired_deadline_spends_no_session(
    smtp_server: SmtpServer, pool: PooledTransport
) -> None:
    send(pool)
    with pytest.raises(DeadlineExceeded):
        pool.send(ENVELOPE, MESSAGE, Deadline.after(-1))
    send(pool)
    assert smtp_server.connections == 1
