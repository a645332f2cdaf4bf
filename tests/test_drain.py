"""Graceful drain: SIGTERM to a real server process while sends are in flight."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.client.errors import ServiceUnavailableError

from tests.support.process import ServerProcess
from tests.support.service import make_config
from tests.support.slow import SlowData
from tests.support.smtp import SmtpServer

IN_FLIGHT = 5


def wait_for_health(server: ServerProcess, status: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while server.health() != status:
        if time.monotonic() > deadline:
            raise AssertionError(f"health never became {status}")
        time.sleep(0.05)


def test_sigterm_drains_in_flight_sends(tmp_path: Path, smtp_server: SmtpServer) -> None:
    slow = SlowData(smtp_server, 2.0)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(make_config(smtp_server.port)))
    args = ("--config", str(config), "--grace-period", "15", "--workers", "8")
    with ServerProcess(tmp_path, *args) as server:
        assert server.health() == "SERVING"
        results: list[Any] = []
        errors: list[Exception] = []

        def send(index: int) -> None:
            with SmtpConnectorClient(server.address, timeout=20) as client:
                try:
                    results.append(
                        client.send_message(f"r{index}@example.com", "Generic", {"code": index})
                    )
                except Exception as exc:
                    errors.append(exc)

        senders = [threading.Thread(target=send, args=(i,)) for i in range(IN_FLIGHT)]
        for sender in senders:
            sender.start()
        slow.wait_for(IN_FLIGHT)
        server.signal(signal.SIGTERM)
        wait_for_health(server, "NOT_SERVING")
        # New work is refused while the accepted sends finish.
        with (
            SmtpConnectorClient(server.address, timeout=5) as client,
            pytest.raises(ServiceUnavailableError) as refused,
        ):
            client.send_message("late@example.com", "Generic", {"code": 0})
        assert refused.value.reason == "SERVER_DRAINING"
        for sender in senders:
            sender.join(20)
        assert server.wait(20) == 0
    # No accepted send was lost: every one was answered OK and every one arrived.
    assert errors == []
    assert len(results) == IN_FLIGHT
    delivered = sorted(r.rcpt_tos[0] for r in smtp_server.received)
    assert delivered == sorted(f"r{i}@example.com" for i in range(IN_FLIGHT))
    logs = server.logs()
    assert "received SIGTERM: draining" in logs
    assert "smtp-connector stopped" in logs


def test_a_send_longer_than_the_grace_period_is_cut_off(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    slow = SlowData(smtp_server, 4.0)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(make_config(smtp_server.port)))
    errors: list[Exception] = []
    with ServerProcess(tmp_path, "--config", str(config), "--grace-period", "0.5") as server:

        def send() -> None:
            with SmtpConnectorClient(server.address, timeout=20) as client:
                try:
                    client.send_message("a@example.com", "Generic", {"code": 1})
                except Exception as exc:
                    errors.append(exc)

        sender = threading.Thread(target=send)
        sender.start()
        slow.wait_for(1)
        started = time.monotonic()
        server.signal(signal.SIGTERM)
        assert server.wait(10) == 0
        # The grace period is kept: the process does not wait for the send to time out.
        assert time.monotonic() - started < 3
        sender.join(10)
        assert "1 sends were cut off by the grace period" in server.logs()
    # The caller learns the send did not finish; it is not reported as sent.
    assert len(errors) == 1
