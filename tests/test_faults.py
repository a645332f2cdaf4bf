"""Every SMTP fault scenario, through a real gRPC server: the status and reason, the time the
call took, recovery on the next good send, and exactly how many messages were delivered."""

from __future__ import annotations

import datetime
import json
import ssl
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
import trustme
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.client.errors import SmtpConnectorError
from smtp_connector.server.deadline import Deadline
from smtp_connector.server.errors import DeliveryUnknown, SmtpRejected
from smtp_connector.server.transport import (
    ConnectionSettings,
    Envelope,
    Reply,
    SmtpSession,
    TlsMode,
    create_ssl_context,
    deliver,
)

from tests.support.faults import DATA, END_OF_DATA, MAIL, RCPT, Fault, FaultServer
from tests.support.service import ServerFactory, inline_on_loopback, make_config
from tests.support.smtp import free_port

PAYLOAD = {"code": "123456", "application": {"name": "Fault test"}}
# Timeouts of the SMTP conversation itself (milliseconds, as in Logto's JSON): short, so that
# the server's own timeouts fire well within the call's deadline.
FAST = {"connectionTimeout": 1000, "greetingTimeout": 1000, "socketTimeout": 1000}
CALL_TIMEOUT = 5.0


@pytest.fixture(params=[False, True], ids=["stepwise", "pipelined"])
def faulty(request: pytest.FixtureRequest) -> Iterator[FaultServer]:
    """A fault server on a free loopback port; well-behaved until a test sets a fault. Every
    scenario runs twice: the server offers PIPELINING (the client then writes MAIL FROM, RCPT
    TO and DATA at once) or it does not (a command at a time)."""
    with FaultServer(pipelining=request.param) as server:
        yield server


def connector(start_service: ServerFactory, port: int, **overrides: Any) -> SmtpConnectorClient:
    return start_service(make_config(port, **{**FAST, **overrides}))


def failed_send(
    client: SmtpConnectorClient, *, timeout: float = CALL_TIMEOUT, **kwargs: Any
) -> tuple[SmtpConnectorError, float]:
    """Send, expecting a failure; returns it with the seconds the call took."""
    started = time.monotonic()
    with pytest.raises(SmtpConnectorError) as caught:
        client.send_message("user@example.com", "Register", PAYLOAD, timeout=timeout, **kwargs)
    return caught.value, time.monotonic() - started


def good_send(client: SmtpConnectorClient, *, within: float) -> None:
    """Send, expecting the server's 250 within ``within`` seconds."""
    started = time.monotonic()
    response = client.send_message("user@example.com", "Register", PAYLOAD, timeout=CALL_TIMEOUT)
    assert response.smtp_code == 250
    assert time.monotonic() - started < within


def assert_error(
    error: SmtpConnectorError, code: grpc.StatusCode, reason: str, **metadata: str
) -> None:
    assert (error.code, error.reason) == (code, reason), str(error)
    for key, value in metadata.items():
        assert error.metadata.get(key) == value, (key, error.metadata)


def assert_recovers(client: SmtpConnectorClient, server: FaultServer) -> None:
    """With the fault gone, the next send succeeds and delivers exactly one message."""
    server.fault = Fault()
    before = len(server.delivered)
    good_send(client, within=CALL_TIMEOUT)
    assert len(server.delivered) == before + 1


def test_connection_refused(start_service: ServerFactory) -> None:
    port = free_port()  # nothing listens here
    client = connector(start_service, port)
    error, elapsed = failed_send(client)
    assert_error(error, grpc.StatusCode.UNAVAILABLE, "SMTP_CONNECT_FAILED", delivery="not_sent")
    assert elapsed < 2
    with FaultServer(port) as server:
        assert_recovers(client, server)
        assert len(server.delivered) == 1


def test_tarpit_never_greets(faulty: FaultServer, start_service: ServerFactory) -> None:
    faulty.fault = Fault(greeting=None)
    client = connector(start_service, faulty.port, greetingTimeout=500)
    error, elapsed = failed_send(client)
    assert_error(error, grpc.StatusCode.UNAVAILABLE, "SMTP_TIMEOUT", stage="greeting")
    assert 0.4 < elapsed < 2
    assert faulty.delivered == []
    assert_recovers(client, faulty)
    assert len(faulty.delivered) == 1


def test_tarpit_ends_at_the_call_deadline(
    faulty: FaultServer, start_service: ServerFactory
) -> None:
    faulty.fault = Fault(greeting=None)
    client = connector(start_service, faulty.port, greetingTimeout=30_000)
    error, elapsed = failed_send(client, timeout=1.0)
    assert error.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert elapsed < 1.5
    assert faulty.delivered == []
    assert_recovers(client, faulty)


def test_one_byte_at_a_time_still_delivers(
    faulty: FaultServer, start_service: ServerFactory
) -> None:
    faulty.fault = Fault(byte_delay=0.001)
    client = connector(start_service, faulty.port)
    good_send(client, within=CALL_TIMEOUT)
    assert len(faulty.delivered) == 1
    assert_recovers(client, faulty)
    assert len(faulty.delivered) == 2


def test_one_byte_at_a_time_cannot_outlast_the_deadline(
    faulty: FaultServer, start_service: ServerFactory
) -> None:
    # Each byte comes well within the socket timeout, so only the deadline can stop it; the
    # server must stop talking to the SMTP server once the deadline is gone, too.
    faulty.fault = Fault(byte_delay=0.05)
    client = connector(start_service, faulty.port)
    error, elapsed = failed_send(client, timeout=1.0)
    assert error.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert elapsed < 1.5
    time.sleep(0.5)
    assert faulty.open_connections == 0, "the server went on talking after the deadline"
    assert faulty.delivered == []
    assert_recovers(client, faulty)


def test_421_at_the_greeting(faulty: FaultServer, start_service: ServerFactory) -> None:
    faulty.fault = Fault(greeting="421 4.3.2 too busy, try later")
    client = connector(start_service, faulty.port)
    error, elapsed = failed_send(client)
    assert_error(
        error,
        grpc.StatusCode.UNAVAILABLE,
        "SMTP_TEMPORARY_FAILURE",
        stage="greeting",
        smtp_code="421",
        enhanced_status_code="4.3.2",
        delivery="not_sent",
    )
    assert elapsed < 2
    assert faulty.delivered == []
    assert_recovers(client, faulty)
    assert len(faulty.delivered) == 1


REPLY_FAULTS = [
    (MAIL, "451 4.3.0 try again later", grpc.StatusCode.UNAVAILABLE, "SMTP_TEMPORARY_FAILURE"),
    (MAIL, "550 5.7.1 sender refused", grpc.StatusCode.FAILED_PRECONDITION, "SMTP_REJECTED"),
    (RCPT, "450 4.2.1 mailbox busy", grpc.StatusCode.UNAVAILABLE, "SMTP_TEMPORARY_FAILURE"),
    (
        RCPT,
        "550 5.1.1 no such user",
        grpc.StatusCode.FAILED_PRECONDITION,
        "SMTP_RECIPIENT_REFUSED",
    ),
    (
        RCPT,
        "452 4.5.3 too many recipients",
        grpc.StatusCode.UNAVAILABLE,
        "SMTP_TEMPORARY_FAILURE",
    ),
    (DATA, "451 4.3.0 no queue space", grpc.StatusCode.UNAVAILABLE, "SMTP_TEMPORARY_FAILURE"),
    (DATA, "554 5.3.4 no data today", grpc.StatusCode.FAILED_PRECONDITION, "SMTP_REJECTED"),
    (END_OF_DATA, "452 4.3.1 disk full", grpc.StatusCode.UNAVAILABLE, "SMTP_TEMPORARY_FAILURE"),
    (END_OF_DATA, "554 5.6.0 spam", grpc.StatusCode.FAILED_PRECONDITION, "SMTP_REJECTED"),
]


@pytest.mark.parametrize("pooled", [False, True], ids=["new", "pooled"])
@pytest.mark.parametrize(("stage", "reply", "code", "reason"), REPLY_FAULTS)
def test_error_replies(
    faulty: FaultServer,
    start_service: ServerFactory,
    stage: str,
    reply: str,
    code: grpc.StatusCode,
    reason: str,
    pooled: bool,
) -> None:
    # On a new connection, or on one the pool kept from an earlier send.
    client = connector(start_service, faulty.port)
    if pooled:
        good_send(client, within=2)
    sent = len(faulty.delivered)
    faulty.fault = Fault(replies={stage: reply})
    error, elapsed = failed_send(client)
    assert_error(
        error,
        code,
        reason,
        stage="data" if stage == END_OF_DATA else stage.lower(),
        smtp_code=reply[:3],
        enhanced_status_code=reply.split()[1],
        delivery="not_sent",
    )
    assert elapsed < 2
    assert len(faulty.delivered) == sent
    assert_recovers(client, faulty)
    assert len(faulty.delivered) == sent + 1
    assert faulty.connections == 2  # a session that failed is never reused


def test_drop_in_the_middle_of_data(start_service: ServerFactory) -> None:
    # A message far larger than what the kernel buffers on a small window: the drop lands
    # while the message is still being written, so it certainly was not accepted.
    with FaultServer(receive_buffer=4096) as server:
        server.fault = Fault(drop_mid_data=True)
        client = start_service(make_config(server.port, **FAST), max_request_bytes=8 << 20)
        big = {**PAYLOAD, "code": "x" * 3_000_000}
        started = time.monotonic()
        with pytest.raises(SmtpConnectorError) as caught:
            client.send_message("user@example.com", "Register", big, timeout=CALL_TIMEOUT)
        assert_error(
            caught.value,
            grpc.StatusCode.UNAVAILABLE,
            "SMTP_CONNECTION_LOST",
            stage="data",
            delivery="not_sent",
        )
        assert time.monotonic() - started < 3
        assert server.delivered == []
        assert_recovers(client, server)
        assert len(server.delivered) == 1


@pytest.mark.parametrize("kept", [False, True], ids=["lost", "queued"])
def test_drop_after_the_end_of_data_is_an_unknown_outcome(
    faulty: FaultServer, start_service: ServerFactory, kept: bool
) -> None:
    # The server may or may not have queued the message before the connection died: the
    # answer says so (ABORTED, DELIVERY_STATE_UNKNOWN), never a plain retryable UNAVAILABLE.
    faulty.fault = Fault(drop_after_data=True, keep_dropped_message=kept)
    client = connector(start_service, faulty.port)
    error, elapsed = failed_send(client)
    assert_error(
        error,
        grpc.StatusCode.ABORTED,
        "DELIVERY_STATE_UNKNOWN",
        stage="data",
        delivery="unknown",
    )
    assert error.delivery == "unknown"
    assert "may or may not" in error.message
    assert elapsed < 2
    assert len(faulty.delivered) == int(kept)
    assert_recovers(client, faulty)
    assert len(faulty.delivered) == int(kept) + 1


def test_unknown_outcome_is_replayed_for_the_same_idempotency_key(
    faulty: FaultServer, start_service: ServerFactory
) -> None:
    # A retry with the same key never sends again: it gets the same unknown outcome.
    faulty.fault = Fault(drop_after_data=True, keep_dropped_message=True)
    client = connector(start_service, faulty.port)
    first, _ = failed_send(client, idempotency_key="unknown-1")
    faulty.fault = Fault()
    again, _ = failed_send(client, idempotency_key="unknown-1")
    for error in (first, again):
        assert_error(error, grpc.StatusCode.ABORTED, "DELIVERY_STATE_UNKNOWN", delivery="unknown")
    assert len(faulty.delivered) == 1
    assert faulty.connections == 1


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_server(cert: trustme.LeafCert) -> FaultServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return FaultServer(tls_context=context)


def tls_config(ca: trustme.CA, **overrides: Any) -> dict[str, Any]:
    return {"requireTLS": True, "tls": {"ca": ca.cert_pem.bytes().decode()}, **overrides}


def test_tls_handshake_fails(start_service: ServerFactory, ca: trustme.CA) -> None:
    with tls_server(ca.issue_cert("127.0.0.1")) as server:
        server.fault = Fault(tls_garbage=True)
        client = connector(start_service, server.port, **tls_config(ca))
        error, elapsed = failed_send(client)
        assert_error(
            error,
            grpc.StatusCode.FAILED_PRECONDITION,
            "SMTP_TLS_FAILED",
            stage="tls",
            delivery="not_sent",
        )
        assert elapsed < 2
        assert server.delivered == []
        assert_recovers(client, server)
        assert len(server.delivered) == 1


def test_expired_certificate(start_service: ServerFactory, ca: trustme.CA) -> None:
    now = datetime.datetime.now(datetime.UTC)
    expired = ca.issue_cert(
        "127.0.0.1",
        not_before=now - datetime.timedelta(days=30),
        not_after=now - datetime.timedelta(days=1),
    )
    with tls_server(expired) as server:
        client = connector(start_service, server.port, **tls_config(ca))
        error, elapsed = failed_send(client)
        assert_error(error, grpc.StatusCode.FAILED_PRECONDITION, "SMTP_TLS_FAILED", stage="tls")
        assert "expired" in error.message
        assert elapsed < 2
        assert server.delivered == []
    # Recovery: the provider renews its certificate.
    with tls_server(ca.issue_cert("127.0.0.1")) as renewed:
        good = connector(start_service, renewed.port, **tls_config(ca))
        assert_recovers(good, renewed)
        assert len(renewed.delivered) == 1


def test_self_signed_certificate(start_service: ServerFactory, ca: trustme.CA) -> None:
    stranger = trustme.CA()  # a certificate no trusted CA vouches for
    with tls_server(stranger.issue_cert("127.0.0.1")) as server:
        client = connector(start_service, server.port, **tls_config(ca))
        error, elapsed = failed_send(client)
        assert_error(error, grpc.StatusCode.FAILED_PRECONDITION, "SMTP_TLS_FAILED", stage="tls")
        assert "certificate" in error.message
        assert elapsed < 2
        assert server.delivered == []
        # Recovery: the operator trusts that certificate's issuer.
        trusting = connector(start_service, server.port, **tls_config(stranger))
        assert_recovers(trusting, server)
        assert len(server.delivered) == 1


def test_the_pool_reuses_connections(faulty: FaultServer, start_service: ServerFactory) -> None:
    # What makes the two scenarios below meaningful: sends share a pooled connection.
    client = connector(start_service, faulty.port)
    for _ in range(3):
        client.send_message("user@example.com", "Register", PAYLOAD)
    assert faulty.connections == 1
    assert len(faulty.delivered) == 3
    # The envelope goes in one write exactly when the server offers PIPELINING.
    assert faulty.pipelined_batches == (3 if faulty.pipelining else 0)


def test_a_config_can_turn_pipelining_off(start_service: ServerFactory) -> None:
    with FaultServer(pipelining=True) as server:
        client = connector(start_service, server.port, pipelining=False)
        for _ in range(2):
            good_send(client, within=2)
        assert len(server.delivered) == 2
        assert server.pipelined_batches == 0  # a command at a time, though it was offered


@pytest.mark.parametrize("farewell", [None, "421 4.4.2 fault.example timeout exceeded"])
def test_server_closes_idle_pooled_connections(
    faulty: FaultServer, start_service: ServerFactory, farewell: str | None
) -> None:
    # The server drops connections idle for 0.2 s (silently, or saying 421 as Postfix does)
    # while the pool would keep them 30 s: each next send finds its pooled connection dead
    # at MAIL FROM, replaces it and sends exactly once.
    faulty.fault = Fault(idle_close=0.2, idle_reply=farewell)
    client = connector(start_service, faulty.port)
    for sent in range(1, 4):
        good_send(client, within=2)
        assert len(faulty.delivered) == sent
        time.sleep(0.4)  # longer than the server keeps an idle connection
        assert faulty.open_connections == 0
    assert faulty.connections == 3
    assert_recovers(client, faulty)
    assert len(faulty.delivered) == 4


def test_server_restarts_while_the_pool_holds_connections(
    faulty: FaultServer, start_service: ServerFactory
) -> None:
    faulty.fault = Fault(data_delay=0.2)
    client = start_service(make_config(faulty.port, **FAST), workers=8)
    # Fill the pool with several connections (the server holds each DATA a moment).
    with ThreadPoolExecutor(5) as pool:
        list(
            pool.map(lambda _: client.send_message("u@example.com", "Register", PAYLOAD), range(5))
        )
    held = faulty.connections
    assert held >= 2
    faulty.restart()  # every connection the pool holds is gone
    faulty.fault = Fault()
    started = time.monotonic()
    with ThreadPoolExecutor(5) as pool:
        responses = list(
            pool.map(lambda _: client.send_message("u@example.com", "Register", PAYLOAD), range(10))
        )
    assert all(response.smtp_code == 250 for response in responses)
    assert time.monotonic() - started < 3
    assert len(faulty.delivered) == 15  # one per request, none twice
    assert faulty.connections > held  # the dead ones were replaced


def test_server_down_then_back(faulty: FaultServer, start_service: ServerFactory) -> None:
    client = connector(start_service, faulty.port)
    client.send_message("user@example.com", "Register", PAYLOAD)
    faulty.stop()
    error, elapsed = failed_send(client)
    assert_error(error, grpc.StatusCode.UNAVAILABLE, "SMTP_CONNECT_FAILED", delivery="not_sent")
    assert elapsed < 2
    faulty.start()
    assert_recovers(client, faulty)
    assert len(faulty.delivered) == 2


def test_config_json_inline_is_no_different(
    faulty: FaultServer, start_service: ServerFactory
) -> None:
    # The same fault through an inline config (no server config at all).
    faulty.fault = Fault(replies={RCPT: "550 5.1.1 no such user"})
    client = start_service(**inline_on_loopback(faulty.port))
    inline = json.dumps(make_config(faulty.port, **FAST))
    error, _ = failed_send(client, config_json=inline)
    assert_error(error, grpc.StatusCode.FAILED_PRECONDITION, "SMTP_RECIPIENT_REFUSED")
    faulty.fault = Fault()
    client.send_message("user@example.com", "Register", PAYLOAD, config_json=inline)
    assert len(faulty.delivered) == 1


def test_deadline_running_out_right_after_the_message_is_unknown(faulty: FaultServer) -> None:
    # The deadline runs out the moment the last byte of the message is written: waiting for
    # the reply is over, but the message is out, so the outcome is unknown, never "not sent".
    # (A real peer cannot time this exactly, hence the session whose clock jumps.)
    class LateSession(SmtpSession):
        def content(self, data: bytes) -> Reply:
            real_send = self._smtp.send

            def send_then_expire(payload: Any) -> None:
                real_send(payload)
                if isinstance(payload, bytes) and payload.endswith(b"\r\n.\r\n"):
                    self.deadline = Deadline(time.monotonic() - 1)  # the message is out

            self._smtp.send = send_then_expire  # type: ignore[method-assign,assignment]
            return super().content(data)

    with open_test_session(faulty, LateSession) as session, pytest.raises(DeliveryUnknown):
        deliver(session, Envelope("a@example.com", ("b@example.com",)), b"Subject: x\r\n\r\nx")


def open_test_session(server: FaultServer, kind: type[SmtpSession] = SmtpSession) -> SmtpSession:
    """A session with ``server``, greeted and past EHLO, ready for a transaction."""
    settings = ConnectionSettings("127.0.0.1", server.port, tls_mode=TlsMode.NONE)
    session = kind(settings, create_ssl_context(settings), Deadline.after(5))
    session.connect()
    session.greeting()
    session.ehlo()
    return session


def test_refused_recipients_are_left_out(faulty: FaultServer) -> None:
    faulty.fault = Fault(refused_recipients=("nobody@example.com",))
    recipients = ("a@example.com", "nobody@example.com", "b@example.com")
    with open_test_session(faulty) as session:
        receipt = deliver(session, Envelope("s@example.com", recipients), b"Subject: x\r\n\r\nx")
    assert receipt.accepted_recipients == ("a@example.com", "b@example.com")
    assert len(faulty.delivered) == 1
    assert faulty.pipelined_batches == int(faulty.pipelining)


def test_every_recipient_refused_names_them_all(faulty: FaultServer) -> None:
    refused = ("nobody@example.com", "ghost@example.com")
    faulty.fault = Fault(refused_recipients=refused)
    with open_test_session(faulty) as session, pytest.raises(SmtpRejected) as caught:
        deliver(session, Envelope("s@example.com", refused), b"Subject: x\r\n\r\nx")
    assert caught.value.stage == "rcpt"
    assert caught.value.metadata["refused_recipients"] == ",".join(refused)
    assert faulty.delivered == []
