"""A bounded soak: many sends from many concurrent callers to a real `smtp-connector serve`
process and a real SMTP server. Zero errors, as many messages delivered as OK answers, and
the server's resident memory growing less than a bound; then every message under its own
idempotency key, sent twice, delivered once.

`make test` runs modest counts; the README's figures come from longer runs:

    SOAK_MESSAGES=30000 .venv/bin/python -m pytest tests/test_soak.py -s --timeout 900
    SOAK_KEYED_MESSAGES=10000 .venv/bin/python -m pytest tests/test_soak.py --timeout 900
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiosmtpd.controller import Controller
from smtp_connector.client import SmtpConnectorClient

from tests.support.service import ServerFactory, make_config
from tests.support.smtp import SmtpServer, free_port

MESSAGES = int(os.environ.get("SOAK_MESSAGES", "2000"))
CALLERS = int(os.environ.get("SOAK_CALLERS", "32"))
WARM_UP = 500
# Resident memory may grow this much once warm, whatever the count (documented in the README).
RSS_GROWTH_BOUND_MB = 30.0
TIME_BOUND = float(os.environ.get("SOAK_SECONDS", "300"))


class CountingHandler:
    """Accepts every message and counts it (keeping no copy, so the counter costs nothing),
    and counts the connections too."""

    def __init__(self) -> None:
        self.delivered = 0
        self.connections = 0
        self._lock = threading.Lock()

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        with self._lock:
            self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.delivered += 1
        return "250 2.0.0 OK"


def rss_mb(pid: int) -> float:
    """The resident set size of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def counting_smtp() -> Iterator[tuple[CountingHandler, int]]:
    handler = CountingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture
def served(tmp_path: Path, counting_smtp: tuple[CountingHandler, int]) -> Iterator[tuple[int, str]]:
    """`smtp-connector serve` in its own process, so its memory is measured alone."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps(make_config(counting_smtp[1])), encoding="utf-8")
    address = f"127.0.0.1:{free_port()}"
    binary = Path(sys.executable).with_name("smtp-connector")
    env = {**os.environ, "SMTP_CONNECTOR_WORKERS": str(CALLERS)}
    command = [str(binary), "serve", "--config", str(config), "--address", address]
    process = subprocess.Popen(
        [*command, "--log-level", "WARNING"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with grpc.insecure_channel(address) as channel:
            grpc.channel_ready_future(channel).result(timeout=15)
        yield process.pid, address
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=30)
        assert process.returncode == 0, errors.decode()


def test_soak(served: tuple[int, str], counting_smtp: tuple[CountingHandler, int]) -> None:
    pid, address = served
    handler, _ = counting_smtp
    payload = {"code": "123456", "application": {"name": "Soak"}}
    errors: list[str] = []
    started = time.monotonic()

    with SmtpConnectorClient(address, timeout=30) as client:

        def send(index: int) -> bool:
            if time.monotonic() - started > TIME_BOUND:
                return False
            try:
                client.send_message(f"user{index}@example.com", "Register", payload)
            except Exception as exc:
                errors.append(f"{index}: {exc}")
                return False
            return True

        with ThreadPoolExecutor(CALLERS) as pool:
            warm = sum(pool.map(send, range(WARM_UP)))
            rss_before = rss_mb(pid)
            soak_started = time.monotonic()
            ok = warm + sum(pool.map(send, range(WARM_UP, WARM_UP + MESSAGES)))
            elapsed = time.monotonic() - soak_started
        time.sleep(0.2)  # the SMTP server's last counts
        rss_after = rss_mb(pid)

    growth = rss_after - rss_before
    print(
        f"\nsoak: {MESSAGES} messages (+{WARM_UP} warm-up) from {CALLERS} callers in "
        f"{elapsed:.1f} s ({MESSAGES / elapsed:.0f}/s); errors {len(errors)}; OK {ok}; "
        f"delivered {handler.delivered} over {handler.connections} SMTP connections; "
        f"server RSS {rss_before:.1f} -> {rss_after:.1f} MiB "
        f"(+{growth:.1f})"
    )
    assert errors == [], errors[:5]
    assert ok == WARM_UP + MESSAGES, "the soak ran out of time"
    assert handler.delivered == ok
    assert growth < RSS_GROWTH_BOUND_MB


KEYED = int(os.environ.get("SOAK_KEYED_MESSAGES", "1000"))


def test_soak_with_every_key_sent_twice(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    # Every message goes out under its own idempotency key, and every key is sent twice by
    # different callers at about the same time: each message is delivered exactly once.
    client = start_service(make_config(smtp_server.port), workers=CALLERS)
    calls = [index % KEYED for index in range(2 * KEYED)]
    random.Random(8).shuffle(calls)
    payload = {"code": "654321", "application": {"name": "Soak"}}

    def send(index: int) -> tuple[int, str]:
        response = client.send_message(
            f"user{index}@example.com", "Register", payload, idempotency_key=f"soak-{index}"
        )
        return index, response.message_id

    with ThreadPoolExecutor(CALLERS) as pool:
        answers = list(pool.map(send, calls))
    ids: dict[int, set[str]] = {}
    for index, message_id in answers:
        ids.setdefault(index, set()).add(message_id)
    assert all(len(found) == 1 for found in ids.values())
    delivered = [received.message["Message-ID"] for received in smtp_server.received]
    assert len(delivered) == KEYED
    assert set(delivered) == {found.pop() for found in ids.values()}
