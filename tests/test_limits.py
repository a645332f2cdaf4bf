"""Limits and backpressure on a real gRPC server: request, template and payload size,
concurrent RPCs and the per-caller rate limit."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.client._requests import to_struct
from smtp_connector.client.errors import (
    InvalidRequestError,
    ResourceExhaustedError,
    SmtpConnectorError,
)
from smtp_connector.server.app import create_server
from smtp_connector.server.errors import InvalidRequest
from smtp_connector.server.rpc.limits import RateLimiter, payload_depth
from smtp_connector.server.settings import Settings

from tests.support.service import ServerFactory, in_process_service, make_config
from tests.support.slow import SlowData
from tests.support.smtp import SmtpServer


def test_requests_over_the_size_limit_are_refused(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(make_config(smtp_server.port), max_request_bytes=2048)
    with pytest.raises(ResourceExhaustedError) as raised:
        client.send_message("a@example.com", "Generic", {"code": "x" * 4096})
    assert raised.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert smtp_server.received == []


def test_payloads_nested_too_deep_are_refused(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(make_config(smtp_server.port), max_payload_depth=3)
    client.send_message("a@example.com", "Generic", {"code": 1, "a": {"b": {"c": 1}}})
    with pytest.raises(InvalidRequestError) as raised:
        client.send_message("a@example.com", "Generic", {"code": 1, "a": {"b": {"c": [1]}}})
    assert raised.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.reason == "LIMIT_EXCEEDED"
    assert raised.value.field_violations[0].field == "payload"
    assert len(smtp_server.received) == 1


def test_payload_depth() -> None:
    assert payload_depth(to_struct({})) == 1
    assert payload_depth(to_struct({"a": 1, "b": [1, 2]})) == 2
    assert payload_depth(to_struct({"a": {"b": [{"c": 1}]}})) == 4


def test_a_server_config_with_a_template_over_the_limit_is_refused(tmp_path: Path) -> None:
    config = make_config(
        2525,
        templates=[
            {
                "usageType": "Generic",
                "contentType": "text/plain",
                "subject": "s",
                "content": "x" * 99,
            }
        ],
    )
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    with pytest.raises(InvalidRequest) as raised:
        create_server(Settings(address="127.0.0.1:0", config=path, max_template_bytes=64))
    assert raised.value.violations[0].field == "templates[0]"


def test_rpcs_beyond_the_concurrency_limit_are_refused_at_once(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    slow = SlowData(smtp_server, 1.0)
    results: list[Any] = []
    config = make_config(smtp_server.port)
    with (
        in_process_service(tmp_path, config, max_concurrent_rpcs=1) as service,
        SmtpConnectorClient(f"127.0.0.1:{service.port}", timeout=10) as client,
    ):
        sender = threading.Thread(
            target=lambda: results.append(
                client.send_message("a@example.com", "Generic", {"code": 1})
            )
        )
        sender.start()
        slow.wait_for(1)
        with pytest.raises(ResourceExhaustedError) as raised:
            client.send_message("b@example.com", "Generic", {"code": 2})
        assert raised.value.reason == "TOO_MANY_REQUESTS"
        # Health checks are not counted: probes still get an answer.
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub: Any = health_pb2_grpc.HealthStub(channel)
            assert stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status == 1
        sender.join(10)
        assert results[0].smtp_code == 250
        # The slot is free again.
        client.send_message("c@example.com", "Generic", {"code": 3})
    assert [r.rcpt_tos for r in smtp_server.received] == [["a@example.com"], ["c@example.com"]]


def _wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_calls_wait_for_a_worker_up_to_the_limit_and_health_checks_still_answer(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    slow = SlowData(smtp_server, 1.0)
    results: list[Any] = []
    config = make_config(smtp_server.port)
    with (
        in_process_service(tmp_path, config, workers=1, max_concurrent_rpcs=3) as service,
        SmtpConnectorClient(f"127.0.0.1:{service.port}", timeout=20) as client,
    ):
        senders = [
            threading.Thread(
                target=lambda to=to: results.append(client.send_message(to, "Generic", {"code": 1}))
            )
            for to in ("a@example.com", "b@example.com", "c@example.com")
        ]
        for sender in senders:
            sender.start()
        slow.wait_for(1)
        # One call sends on the only worker, two wait for it: the limit is reached.
        _wait_until(lambda: service.admission.in_flight == 3)
        started = time.monotonic()
        with pytest.raises(ResourceExhaustedError) as raised:
            client.send_message("d@example.com", "Generic", {"code": 2})
        assert raised.value.reason == "TOO_MANY_REQUESTS"
        # Health checks run on threads of their own: no queue of sends delays them.
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub: Any = health_pb2_grpc.HealthStub(channel)
            assert stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status == 1
        assert time.monotonic() - started < 0.9, "the refusal and the check did not wait"
        for sender in senders:
            sender.join(20)
        assert sorted(r.smtp_code for r in results) == [250, 250, 250]
    assert service.admission.in_flight == 0
    assert len(smtp_server.received) == 3


def test_a_call_cancelled_while_it_waits_frees_its_place(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    slow = SlowData(smtp_server, 1.0)
    config = make_config(smtp_server.port)
    with (
        in_process_service(tmp_path, config, workers=1, max_concurrent_rpcs=2) as service,
        SmtpConnectorClient(f"127.0.0.1:{service.port}", timeout=20) as client,
    ):
        sender = threading.Thread(
            target=lambda: client.send_message("a@example.com", "Generic", {"code": 1})
        )
        sender.start()
        slow.wait_for(1)
        with (
            SmtpConnectorClient(f"127.0.0.1:{service.port}", timeout=0.3) as impatient,
            pytest.raises(SmtpConnectorError) as raised,
        ):
            impatient.send_message("b@example.com", "Generic", {"code": 2})
        assert raised.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
        sender.join(20)
        # The cancelled call never ran, and its place is free again.
        _wait_until(lambda: service.admission.in_flight == 0)
        client.send_message("c@example.com", "Generic", {"code": 3})
    assert [r.rcpt_tos for r in smtp_server.received] == [["a@example.com"], ["c@example.com"]]


def test_the_rate_limit_answers_with_retry_info(start_service: ServerFactory) -> None:
    client = start_service(rate_limit=0.5, rate_limit_burst=2)
    client.validate_config("{}")
    client.validate_config("{}")
    with pytest.raises(ResourceExhaustedError) as raised:
        client.validate_config("{}")
    assert raised.value.reason == "RATE_LIMITED"
    assert raised.value.retry_delay is not None
    assert 0 < raised.value.retry_delay <= 2.0


def test_token_buckets_are_per_caller_and_refill() -> None:
    limiter = RateLimiter(rate=10, burst=1)
    assert limiter.take("a") == 0
    wait = limiter.take("a")
    assert 0 < wait <= 0.1
    assert limiter.take("b") == 0
    threading.Event().wait(wait + 0.01)
    assert limiter.take("a") == 0
