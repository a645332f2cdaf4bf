"""What the issue-14 attack tests share: the check that the server under attack still answers
a health check within a second and delivers a normal send, and the check that a secret
appears nowhere it could leak (the error, the response, the captured log)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from smtp_connector.client import SmtpConnectorClient

from tests.support.smtp import SmtpServer

# A health check must answer this fast, whatever the attack does to the workers.
HEALTH_WITHIN = 1.0


def health_status(address: str, timeout: float = HEALTH_WITHIN) -> str:
    """``Health/Check`` of the whole server, on a fresh channel."""
    with grpc.insecure_channel(address) as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)
        response = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def assert_responsive(address: str, client: SmtpConnectorClient, smtp: SmtpServer) -> None:
    """The server answers a health check within HEALTH_WITHIN seconds and delivers a normal
    send from its own config to ``smtp``."""
    started = time.monotonic()
    assert health_status(address) == "SERVING"
    assert time.monotonic() - started < HEALTH_WITHIN
    before = len(smtp.received)
    client.send_message(
        "user@example.com", "Register", {"code": "123456", "application": {"name": "A"}}
    )
    assert len(smtp.received) == before + 1


def assert_absent(secret: str, *places: str | bytes | Iterable[str]) -> None:
    """``secret`` (and its bytes) occurs in none of ``places``."""
    for place in places:
        text = place if isinstance(place, str | bytes) else "\n".join(place)
        haystack = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        assert secret not in haystack, f"{secret!r} leaked: ...{_around(haystack, secret)}..."


def _around(text: str, secret: str) -> str:
    at = text.find(secret)
    return text[max(0, at - 80) : at + len(secret) + 80]
