"""Logto's connectionTimeout, greetingTimeout and socketTimeout against servers that stall,
the caller's deadline winning when it is shorter, and the EHLO name."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from smtp_connector.client import DeadlineExceededError, DeliveryUnknownError, SmtpUnavailableError
from smtp_connector.server.transport import session as transport

from tests.support.service import ServerFactory, make_config
from tests.support.smtp import SmtpServer


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog does) and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


@pytest.fixture
def full_port() -> Iterator[int]:
    """A port whose accept queue is full: the kernel drops new SYNs, so connecting hangs."""
    with socket.socket() as listener, ExitStack() as fillers:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        for _ in range(8):
            filler = fillers.enter_context(socket.socket())
            filler.settimeout(0.2)
            try:
                filler.connect(("127.0.0.1", port))
            except TimeoutError:
                break
        else:
            pytest.fail("could not fill the accept queue")
        yield port


@pytest.mark.parametrize(
    ("peer", "key", "stage"),
    [("full_port", "connectionTimeout", "connect"), ("silent_port", "greetingTimeout", "greeting")],
)
def test_a_stalled_step_times_out(
    peer: str, key: str, stage: str, start_service: ServerFactory, request: pytest.FixtureRequest
) -> None:
    port = request.getfixturevalue(peer)
    client = start_service(make_config(port, **{key: 300}))
    started = time.monotonic()
    with pytest.raises(SmtpUnavailableError) as caught:
        client.send_message("user@example.com", "Generic", {"code": "1"})
    assert time.monotonic() - started < 3
    assert caught.value.reason == "SMTP_TIMEOUT"
    assert caught.value.metadata["stage"] == stage


def test_the_callers_deadline_wins_when_shorter(
    silent_port: int, start_service: ServerFactory
) -> None:
    client = start_service(make_config(silent_port, greetingTimeout=30_000))
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError):
        client.send_message("user@example.com", "Generic", {"code": "1"}, timeout=0.5)
    assert time.monotonic() - started < 3


def test_socket_timeout_after_data_reports_an_unknown_outcome(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    smtp_server.handler.on_data = lambda server: time.sleep(1)  # the reply comes too late
    client = start_service(make_config(smtp_server.port, socketTimeout=300))
    with pytest.raises(DeliveryUnknownError, match="may or may not") as caught:
        client.send_message("user@example.com", "Generic", {"code": "1"})
    assert caught.value.delivery == "unknown"


def test_the_ehlo_name_comes_from_the_config(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(make_config(smtp_server.port, name="mail.example.org"))
    client.send_message("user@example.com", "Generic", {"code": "1"})
    assert smtp_server.handler.ehlo_names == ["mail.example.org"]


def test_the_default_ehlo_name_is_computed_once(
    smtp_server: SmtpServer, start_service: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def getfqdn(name: str = "") -> str:
        # aiosmtpd asks too, for its own name: count only the service's calls.
        if sys._getframe(1).f_globals["__name__"] == transport.__name__:
            calls.append(1)
        return "host.example.test"

    monkeypatch.setattr(socket, "getfqdn", getfqdn)
    transport.default_local_hostname.cache_clear()
    try:
        client = start_service(make_config(smtp_server.port, pool=False))
        for _ in range(3):
            client.send_message("user@example.com", "Generic", {"code": "1"})
    finally:
        transport.default_local_hostname.cache_clear()
    assert smtp_server.handler.ehlo_names == ["host.example.test"] * 3
    assert len(calls) == 1
