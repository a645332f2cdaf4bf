"""What every attack test needs: the real server on 127.0.0.1:0 with inline configs allowed
on loopback, a recording SMTP server, and the check that the server is still responsive (a
health check answers within a second on a fresh channel, and a normal send is delivered)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.server.app import Service

from tests.support.service import in_process_service, inline_on_loopback, make_config
from tests.support.smtp import SmtpServer

# A health check must answer this fast, whatever the attack does to the workers.
HEALTH_WITHIN = 1.0


@dataclass
class Target:
    """The server under attack, a client on a real channel to it and the SMTP server its own
    config sends to."""

    service: Service
    client: SmtpConnectorClient
    smtp: SmtpServer

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.service.port}"

    def inline(self, **overrides: Any) -> str:
        """An inline config for the recording SMTP server, with ``overrides``."""
        return json.dumps(make_config(self.smtp.port, **overrides))


def health_status(address: str, timeout: float = HEALTH_WITHIN) -> str:
    """``Health/Check`` of the whole server on a fresh channel (a wedged channel of the
    attacker's cannot hide a wedged server)."""
    with grpc.insecure_channel(address) as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)  # the stubs lack its methods
        response = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def assert_responsive(target: Target, *, send: bool = True) -> None:
    """The server answers a health check within HEALTH_WITHIN seconds and delivers a normal
    send from its own config."""
    started = time.monotonic()
    assert health_status(target.address) == "SERVING"
    assert time.monotonic() - started < HEALTH_WITHIN
    if send:
        before = len(target.smtp.received)
        target.client.send_message(
            "user@example.com", "Register", {"code": "123456", "application": {"name": "A"}}
        )
        assert len(target.smtp.received) == before + 1


TargetFactory = Callable[..., Target]


@pytest.fixture
def start_target(tmp_path: Path) -> Iterator[TargetFactory]:
    """Starts the server with ``settings`` (inline configs allowed on loopback unless
    overridden) and its own config pointing at a recording SMTP server."""
    with ExitStack() as running:

        def start(**settings: Any) -> Target:
            smtp = running.enter_context(SmtpServer())
            options = {"workers": 4, **inline_on_loopback(), **settings}
            service = running.enter_context(
                in_process_service(tmp_path, make_config(smtp.port), **options)
            )
            client = running.enter_context(
                SmtpConnectorClient(f"127.0.0.1:{service.port}", timeout=10, retry=None)
            )
            return Target(service, client, smtp)

        yield start


@pytest.fixture
def target(start_target: TargetFactory) -> Target:
    """The server under attack, with default settings (and inline configs on loopback)."""
    return start_target()
