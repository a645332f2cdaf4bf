"""The retry policy, proven against a real gRPC server that answers UNAVAILABLE first and
counts the attempts that reach it: ValidateConfig and TestConnection are retried, SendMessage
only with an idempotency_key."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import grpc
import pytest
from google.rpc import code_pb2
from smtp_connector.client import (
    DEFAULT_TIMEOUT,
    AsyncSmtpConnectorClient,
    DeadlineExceededError,
    PermissionDeniedError,
    ResourceExhaustedError,
    RetryPolicy,
    ServiceUnavailableError,
    SmtpConnectorClient,
    SmtpConnectorError,
    SmtpUnavailableError,
    UnauthenticatedError,
)

from tests.support.flaky import FlakyServicer, failure, flaky_server
from tests.support.smtp import free_port

FAST = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.05)


@pytest.fixture
def flaky() -> Iterator[tuple[FlakyServicer, str]]:
    """A real gRPC server on 127.0.0.1:0 that fails each method once."""
    with flaky_server(failures=1) as started:
        yield started


def test_validate_and_test_connection_are_retried(flaky: tuple[FlakyServicer, str]) -> None:
    servicer, target = flaky
    with SmtpConnectorClient(target, timeout=10, retry=FAST) as client:
        assert client.validate_config("{}").valid
        assert client.test_connection().ok
    assert servicer.attempts == {"ValidateConfig": 2, "TestConnection": 2}


def test_send_with_idempotency_key_is_retried(flaky: tuple[FlakyServicer, str]) -> None:
    servicer, target = flaky
    with SmtpConnectorClient(target, timeout=10, retry=FAST) as client:
        response = client.send_message("a@example.com", "SignIn", idempotency_key="k-1")
    assert response.smtp_code == 250
    assert servicer.attempts["SendMessage"] == 2


def test_send_without_key_is_never_retried(flaky: tuple[FlakyServicer, str]) -> None:
    servicer, target = flaky
    with SmtpConnectorClient(target, timeout=10, retry=FAST) as client:
        with pytest.raises(SmtpUnavailableError) as caught:
            client.send_message("a@example.com", "SignIn")
        # The next call succeeds: the caller decides whether to send again.
        assert client.send_message("a@example.com", "SignIn").smtp_code == 250
    assert servicer.attempts["SendMessage"] == 2
    error = caught.value
    assert error.code == grpc.StatusCode.UNAVAILABLE and error.retryable
    assert error.reason == "SMTP_TEMPORARY_FAILURE"
    assert error.smtp_code == 421 and error.stage == "connect" and error.delivery == "not_sent"
    assert error.retry_delay == pytest.approx(1.0, abs=1e-6)


def test_no_retry_policy_means_one_attempt(flaky: tuple[FlakyServicer, str]) -> None:
    servicer, target = flaky
    with SmtpConnectorClient(target, timeout=10, retry=None) as client:
        with pytest.raises(SmtpUnavailableError):
            client.validate_config("{}")
        with pytest.raises(SmtpUnavailableError):
            client.send_message("a@example.com", "SignIn", idempotency_key="k-1")
    assert servicer.attempts == {"ValidateConfig": 1, "SendMessage": 1}


def test_attempts_are_bounded(flaky: tuple[FlakyServicer, str]) -> None:
    servicer, target = flaky
    servicer.failures = 100
    with (
        SmtpConnectorClient(target, timeout=10, retry=FAST) as client,
        pytest.raises(SmtpUnavailableError),
    ):
        client.validate_config("{}")
    assert servicer.attempts["ValidateConfig"] == FAST.max_attempts


def test_async_client_follows_the_same_rules(flaky: tuple[FlakyServicer, str]) -> None:
    servicer, target = flaky

    async def calls() -> None:
        async with AsyncSmtpConnectorClient(target, timeout=10, retry=FAST) as client:
            assert (await client.validate_config("{}")).valid
            assert (await client.test_connection()).ok
            with pytest.raises(SmtpUnavailableError) as caught:
                await client.send_message("a@example.com", "SignIn")
            assert caught.value.retry_delay == pytest.approx(1.0, abs=1e-6)
            sent = await client.send_message("a@example.com", "SignIn", idempotency_key="k")
            assert sent.smtp_code == 250

    asyncio.run(calls())
    # The failed unkeyed send was the first attempt; the keyed send then succeeded at once.
    assert servicer.attempts == {"ValidateConfig": 2, "TestConnection": 2, "SendMessage": 2}


def test_unreachable_service_is_service_unavailable() -> None:
    # Nothing listens there: gRPC itself answers UNAVAILABLE, with no ErrorInfo.
    with (
        SmtpConnectorClient(f"127.0.0.1:{free_port()}", timeout=2, retry=FAST) as client,
        pytest.raises(ServiceUnavailableError) as caught,
    ):
        client.validate_config("{}")
    assert caught.value.reason == "" and caught.value.retryable


def test_keyed_and_plain_sends_share_one_connection(flaky: tuple[FlakyServicer, str]) -> None:
    # The two channels differ only in their service config; gRPC pools the subchannel, so
    # the keyed channel costs no connection of its own.
    servicer, target = flaky
    servicer.failures = 0
    peers: list[str] = []
    servicer.on_attempt = lambda context: peers.append(context.peer())
    with SmtpConnectorClient(target, timeout=10) as client:
        client.validate_config("{}")
        client.send_message("a@example.com", "SignIn")
        client.send_message("a@example.com", "SignIn", idempotency_key="k-1")
    assert len(peers) == 3 and len(set(peers)) == 1


def test_every_call_has_a_deadline(flaky: tuple[FlakyServicer, str]) -> None:
    servicer, target = flaky
    servicer.failures = 0
    remaining: list[float] = []
    servicer.on_attempt = lambda context: remaining.append(context.time_remaining() or 0)
    with SmtpConnectorClient(target) as client:
        client.validate_config("{}")
        client.send_message("a@example.com", "SignIn", timeout=2.5)
    assert client.timeout == DEFAULT_TIMEOUT == 30
    # gRPC rounds the deadline it sends up a little.
    assert 25 < remaining[0] <= 30.1 and 0 < remaining[1] <= 2.6


def test_a_call_past_its_deadline(flaky: tuple[FlakyServicer, str]) -> None:
    servicer, target = flaky
    servicer.failures = 0
    servicer.on_attempt = lambda context: time.sleep(1)
    with SmtpConnectorClient(target, retry=FAST) as client:
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError) as caught:
            client.validate_config("{}", timeout=0.3)
    assert time.monotonic() - started < 0.9
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED and not caught.value.retryable


@pytest.mark.parametrize(
    ("code", "reason", "error_type", "delay"),
    [
        (code_pb2.UNAUTHENTICATED, "UNAUTHENTICATED", UnauthenticatedError, None),
        (code_pb2.PERMISSION_DENIED, "PERMISSION_DENIED", PermissionDeniedError, None),
        (code_pb2.RESOURCE_EXHAUSTED, "RATE_LIMITED", ResourceExhaustedError, 2.0),
    ],
)
def test_guard_statuses_are_typed_and_not_retried(
    flaky: tuple[FlakyServicer, str],
    code: int,
    reason: str,
    error_type: type[SmtpConnectorError],
    delay: float | None,
) -> None:
    # Reasons this client has no class for fall back to the class of their status code.
    servicer, target = flaky
    servicer.status = failure(code, reason, {}, delay=int(delay or 0))
    with (
        SmtpConnectorClient(target, timeout=10, retry=FAST) as client,
        pytest.raises(error_type) as caught,
    ):
        client.validate_config("{}")
    assert caught.value.reason == reason and caught.value.retry_delay == delay
    assert servicer.attempts["ValidateConfig"] == 1
