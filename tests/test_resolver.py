"""A stuck name lookup cannot hold a call past its timeout or deadline. (No real resolver on
loopback hangs on demand, so getaddrinfo is replaced by one that does: a fault a real peer
cannot produce here.)"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from smtp_connector.server.deadline import Deadline
from smtp_connector.server.errors import DeadlineExceeded, SmtpUnavailable
from smtp_connector.server.transport import ConnectionSettings, Envelope, SmtpTransport, resolver

from tests.support.smtp import SmtpServer

_real_getaddrinfo = socket.getaddrinfo


@pytest.fixture
def stuck_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Names ending in .stuck hang until the test ends; other names resolve as usual."""
    release = threading.Event()

    def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> Any:
        if str(host).endswith(".stuck"):
            release.wait(30)
            raise socket.gaierror("released")
        return _real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield
    release.set()


def test_a_lookup_gives_up_after_its_timeout(stuck_dns: None) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        resolver.resolve("mail.stuck", 25, 0.3)
    assert time.monotonic() - started < 2


def test_literals_and_names_still_resolve(stuck_dns: None) -> None:
    assert resolver.resolve("127.0.0.1", 25, 1)[0][4][0] == "127.0.0.1"
    assert any(info[4][0] == "127.0.0.1" for info in resolver.resolve("localhost", 25, 5))


def test_a_send_to_a_stuck_name_ends_with_its_connect_timeout(stuck_dns: None) -> None:
    transport = SmtpTransport(ConnectionSettings("mail.stuck", 25, connect_timeout=0.3))
    started = time.monotonic()
    with pytest.raises(SmtpUnavailable) as caught:
        transport.send(Envelope("a@example.org", ("b@example.org",)), b"x\r\n", Deadline.after(10))
    assert time.monotonic() - started < 2
    assert caught.value.reason.value == "SMTP_TIMEOUT"
    assert caught.value.stage == "connect"


def test_a_send_to_a_stuck_name_ends_at_the_deadline(stuck_dns: None) -> None:
    transport = SmtpTransport(ConnectionSettings("mail.stuck", 25, connect_timeout=60))
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        transport.send(Envelope("a@example.org", ("b@example.org",)), b"x\r\n", Deadline.after(0.3))
    assert time.monotonic() - started < 2


def test_the_connect_tries_every_address(stuck_dns: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Like socket.create_connection: a dead first address does not hide a live second one."""
    with SmtpServer() as smtp:
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))
        dead_port = dead.getsockname()[1]
        dead.close()
        infos = [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", dead_port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", smtp.port)),
        ]
        monkeypatch.setattr(resolver, "resolve", lambda host, port, timeout: infos)
        with resolver.connect("two.example", smtp.port, 2) as sock:
            assert sock.getpeername()[1] == smtp.port
