"""A real gRPC server for retry tests: it answers UNAVAILABLE (or another status) to the first
attempts of each method and counts every attempt that reaches it."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from smtp_connector.v1 import smtp_connector_pb2 as pb
from smtp_connector.v1 import smtp_connector_pb2_grpc as pb_grpc


def failure(code: int, reason: str, metadata: dict[str, str], delay: int = 0) -> grpc.Status:
    """A status as the service sends it: one ErrorInfo, and a RetryInfo when ``delay``."""
    info = any_pb2.Any()
    info.Pack(
        error_details_pb2.ErrorInfo(reason=reason, domain="smtp-connector", metadata=metadata)
    )
    details = [info]
    if delay:
        hint = any_pb2.Any()
        hint.Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=delay)))
        details.append(hint)
    converted: grpc.Status = rpc_status.to_status(
        status_pb2.Status(code=code, message=f"{reason} (test)", details=details)
    )
    return converted


# What the service answers for a 4xx from the SMTP server: UNAVAILABLE, with a hint.
UNAVAILABLE = failure(
    code_pb2.UNAVAILABLE,
    "SMTP_TEMPORARY_FAILURE",
    {"smtp_code": "421", "stage": "connect", "delivery": "not_sent"},
    delay=1,
)


class FlakyServicer(pb_grpc.SmtpConnectorServiceServicer):
    """Fails the first ``failures`` attempts of each method with UNAVAILABLE, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.status = UNAVAILABLE
        self.attempts: Counter[str] = Counter()
        self.on_attempt: Callable[[grpc.ServicerContext], None] = lambda context: None
        self._lock = threading.Lock()

    def _attempt(self, method: str, context: grpc.ServicerContext) -> None:
        self.on_attempt(context)
        with self._lock:
            self.attempts[method] += 1
            failing = self.attempts[method] <= self.failures
        if failing:
            context.abort_with_status(self.status)

    def SendMessage(
        self, request: pb.SendMessageRequest, context: grpc.ServicerContext
    ) -> pb.SendMessageResponse:
        self._attempt("SendMessage", context)
        return pb.SendMessageResponse(message_id="<1@test>", smtp_code=250, smtp_reply="ok")

    def ValidateConfig(
        self, request: pb.ValidateConfigRequest, context: grpc.ServicerContext
    ) -> pb.ValidateConfigResponse:
        self._attempt("ValidateConfig", context)
        return pb.ValidateConfigResponse(valid=True)

    def TestConnection(
        self, request: pb.TestConnectionRequest, context: grpc.ServicerContext
    ) -> pb.TestConnectionResponse:
        self._attempt("TestConnection", context)
        return pb.TestConnectionResponse(ok=True)

    def PreviewMessage(
        self, request: pb.PreviewMessageRequest, context: grpc.ServicerContext
    ) -> pb.PreviewMessageResponse:
        self._attempt("PreviewMessage", context)
        return pb.PreviewMessageResponse(subject="ok")


@contextmanager
def flaky_server(failures: int = 1) -> Iterator[tuple[FlakyServicer, str]]:
    """A FlakyServicer on 127.0.0.1:0; yields it with its address."""
    servicer = FlakyServicer(failures)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_SmtpConnectorServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield servicer, f"127.0.0.1:{port}"
    finally:
        server.stop(None)
