"""Finding 7: a hostile SMTP peer answered EHLO with an endless ``250-`` reply, and smtplib
buffered all of it (3.9 GB RSS for a 1 GB reply). A reply is now read within budgets of
size, line count and line length (docs/security.md), and the session ends at the first byte
over them. The peers here would send 64 MB; the client must hang up long before."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.client.errors import SmtpConnectorError

from tests.support.attack import assert_responsive
from tests.support.hostile import Tally, endless_ehlo, hostile_server
from tests.support.service import in_process_service, inline_on_loopback, make_config
from tests.support.smtp import SmtpServer

# What the peer would send if never stopped (a bound for the test, not for the server).
PEER_LIMIT = 64 * 1024 * 1024
# What the peer may get out before the server hangs up: the budget (64 KiB) plus what the
# two sockets' kernel buffers on loopback hold.
MAY_SEND = 16 * 1024 * 1024
ANSWER_WITHIN = 5.0


@pytest.fixture
def target(smtp_server: SmtpServer, tmp_path: Path) -> Iterator[SmtpConnectorClient]:
    config, settings = make_config(smtp_server.port), inline_on_loopback()
    with (
        in_process_service(tmp_path, config, **settings) as service,
        SmtpConnectorClient(f"127.0.0.1:{service.port}", timeout=20, retry=None) as client,
    ):
        yield client


def attack(client: SmtpConnectorClient, port: int) -> tuple[SmtpConnectorError, float]:
    """A send with an inline config for the hostile peer; its error and how long it took."""
    config = json.dumps(make_config(port))
    started = time.monotonic()
    with pytest.raises(SmtpConnectorError) as raised:
        client.send_message("user@example.com", "Generic", {"code": "1"}, config_json=config)
    return raised.value, time.monotonic() - started


@pytest.mark.parametrize(
    "line",
    [b"X" * 1000, b"Y" * 5],  # the size budget, then the line-count budget, runs out first
    ids=["long-lines", "many-short-lines"],
)
def test_an_endless_multiline_reply_ends_the_session_at_the_budget(
    target: SmtpConnectorClient, smtp_server: SmtpServer, line: bytes
) -> None:
    tally = Tally()
    with hostile_server(endless_ehlo(tally, line=line, limit=PEER_LIMIT)) as peer:
        errors: list[tuple[SmtpConnectorError, float]] = []
        attackers = [
            threading.Thread(target=lambda: errors.append(attack(target, peer.port)))
            for _ in range(2)
        ]
        for thread in attackers:
            thread.start()
        assert_responsive(target.target, target, smtp_server)  # while under attack
        for thread in attackers:
            thread.join(timeout=30)
    assert len(errors) == 2
    for error, elapsed in errors:
        assert error.stage == "ehlo", error
        assert "sent a reply at ehlo that was longer than" in error.message, error.message
        assert elapsed < ANSWER_WITHIN
    assert tally.sent < 2 * MAY_SEND, f"the peer got {tally.sent} bytes out"
    assert tally.closed_early == 2
    assert_responsive(target.target, target, smtp_server)


def test_a_reply_line_without_end_ends_the_session(
    target: SmtpConnectorClient, smtp_server: SmtpServer
) -> None:
    """One line that never ends: smtplib's own 8 KB line limit said "500 Line too long", a
    reply code the peer never sent; the budget names what happened instead."""
    tally = Tally()
    # A 250- line of PEER_LIMIT bytes: its first chunk has no line end in sight.
    with hostile_server(endless_ehlo(tally, line=b"Z" * (1 << 20), limit=PEER_LIMIT)) as peer:
        error, elapsed = attack(target, peer.port)
    assert error.stage == "ehlo"
    assert error.smtp_code is None  # no code the peer did not send
    assert "line" in error.message and "longer than" in error.message, error.message
    assert elapsed < ANSWER_WITHIN
    assert tally.sent < MAY_SEND
    assert_responsive(target.target, target, smtp_server)
