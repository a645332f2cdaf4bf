"""Finding 1: Health/Watch streams opened and cancelled in a burst, with no credential, must
not wedge the server (the stock grpc_health servicer sent while holding the lock its close
callback takes)."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from smtp_connector.server.rpc.health import DEFAULT_MAX_WATCHERS

from tests.adversarial.conftest import Target, assert_responsive, health_status

STREAMS = 1000
BURST_SECONDS = 8.0


def _watch_and_cancel(address: str, streams: int, seconds: float) -> int:
    """Open up to ``streams`` Watch streams on one channel while another thread cancels each
    as soon as it is open; how many were opened."""
    opened: queue.Queue[Any] = queue.Queue()

    def cancel_each() -> None:
        while (call := opened.get()) is not None:
            call.cancel()

    canceller = threading.Thread(target=cancel_each, daemon=True)
    canceller.start()
    count = 0
    ends = time.monotonic() + seconds
    with grpc.insecure_channel(address) as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)  # the stubs lack its methods
        request = health_pb2.HealthCheckRequest(service="")
        while count < streams and time.monotonic() < ends:
            opened.put(stub.Watch(request, timeout=5))
            count += 1
        opened.put(None)
        canceller.join(timeout=10)
    return count


def test_a_burst_of_cancelled_watch_streams_leaves_the_server_serving(target: Target) -> None:
    assert _watch_and_cancel(target.address, STREAMS, BURST_SECONDS) > 0
    # The wedge showed within seconds; health must still answer and mail still go out.
    for _ in range(3):
        assert_responsive(target)
        time.sleep(0.3)


def test_watch_still_reports_the_status_and_its_change(target: Target) -> None:
    with grpc.insecure_channel(target.address) as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)
        stream = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=5)
        first = next(stream)
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        target.service.health.drain()
        second = next(stream)
        assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING
        stream.cancel()
    assert health_status(target.address) == "NOT_SERVING"


def test_watch_streams_held_open_are_capped_and_never_starve_check(target: Target) -> None:
    # Streams that stay open must not use up the RPCs gRPC takes beyond the service's limit.
    cap = DEFAULT_MAX_WATCHERS
    with grpc.insecure_channel(target.address) as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)  # the stubs lack its methods
        request = health_pb2.HealthCheckRequest(service="")
        streams = [stub.Watch(request, timeout=10) for _ in range(cap)]
        for stream in streams:
            assert next(stream).status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as refused:
            next(stub.Watch(request, timeout=5))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert_responsive(target)
        for stream in streams:
            stream.cancel()
    # A cancelled stream's place is freed.
    deadline = time.monotonic() + 5
    while target.service.health.servicer.watching() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert target.service.health.servicer.watching() == 0
