"""Finding 8: a call without a gRPC deadline was bounded only by the config's timeouts,
which had no upper limit (``greetingTimeout: 1e9``), so a silent SMTP peer held a worker for
good. Every call now ends by ``max_call_seconds``, whatever its deadline and the config say."""

from __future__ import annotations

import concurrent.futures
import json
import time

import grpc
from google.protobuf import struct_pb2
from smtp_connector.v1 import smtp_connector_pb2 as pb
from smtp_connector.v1 import smtp_connector_pb2_grpc as pb_grpc

from tests.adversarial.conftest import TargetFactory, assert_responsive
from tests.support.raw import RawServer, never_greets
from tests.support.service import make_config

MAX_CALL = 2.0
HUGE_MS = 1_000_000_000  # about 11.6 days


def test_a_call_without_deadline_to_a_silent_peer_ends_by_max_call_seconds(
    start_target: TargetFactory,
) -> None:
    target = start_target(workers=2, max_call_seconds=MAX_CALL)
    with RawServer(never_greets) as tarpit:
        request = _send_to(tarpit.port, connectionTimeout=HUGE_MS)
        with (
            grpc.insecure_channel(target.address) as channel,
            concurrent.futures.ThreadPoolExecutor(2) as pool,
        ):
            stub = pb_grpc.SmtpConnectorServiceStub(channel)
            started = time.monotonic()
            # As many calls as workers, none with a deadline of its own.
            calls = [pool.submit(_code_of, stub, request) for _ in range(2)]
            codes = [call.result(timeout=MAX_CALL + 8) for call in calls]
            elapsed = time.monotonic() - started
    assert set(codes) <= {"DEADLINE_EXCEEDED", "UNAVAILABLE"}, codes
    assert elapsed < MAX_CALL + 3, elapsed
    assert_responsive(target)  # both workers are free again


def _send_to(port: int, **timeouts: int) -> pb.SendMessageRequest:
    """A send with an inline config for ``port`` whose greeting and socket timeouts (and
    ``timeouts``) are about 11.6 days."""
    config = make_config(port, greetingTimeout=HUGE_MS, socketTimeout=HUGE_MS, **timeouts)
    payload = struct_pb2.Struct()
    payload.update({"code": "1", "application": {"name": "A"}})
    return pb.SendMessageRequest(
        to="user@example.com",
        usage_type="Register",
        payload=payload,
        config_json=json.dumps(config),
    )


def _code_of(stub: pb_grpc.SmtpConnectorServiceStub, request: pb.SendMessageRequest) -> str:
    try:
        stub.SendMessage(request)  # no timeout: no deadline at all
    except grpc.RpcError as exc:
        return str(exc.code().name)
    return "OK"


def test_cancelled_calls_free_their_workers_at_once(start_target: TargetFactory) -> None:
    # max_call_seconds is far away: only the cancellations can free the workers in time.
    target = start_target(workers=2, max_call_seconds=60)
    with RawServer(never_greets) as tarpit:
        request = _send_to(tarpit.port)
        with grpc.insecure_channel(target.address) as channel:
            stub = pb_grpc.SmtpConnectorServiceStub(channel)
            calls = [stub.SendMessage.future(request) for _ in range(4)]  # no deadline
            time.sleep(0.5)  # both workers now wait for a greeting that never comes
            for call in calls:
                call.cancel()
            started = time.monotonic()
            assert_responsive(target)  # a worker was free for this send
            assert time.monotonic() - started < 3
