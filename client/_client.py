"""The synchronous client: one method per RPC, a default deadline, typed exceptions."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import grpc
from google.protobuf import struct_pb2
from smtp_connector.v1 import smtp_connector_pb2 as pb
from smtp_connector.v1 import smtp_connector_pb2_grpc as pb_grpc

from .errors import from_rpc_error

DEFAULT_TIMEOUT = 30.0


def to_struct(payload: Mapping[str, Any] | None) -> struct_pb2.Struct:
    """A payload mapping as a protobuf Struct."""
    struct = struct_pb2.Struct()
    if payload:
        struct.update(payload)
    return struct


class SmtpConnectorClient:
    """A client of SmtpConnectorService.

    Use it as a context manager, or call ``close()``. Every call has a deadline (``timeout``
    seconds, 30 by default) and raises a subclass of ``SmtpConnectorError`` on failure.
    """

    def __init__(
        self,
        target: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        credentials: grpc.ChannelCredentials | None = None,
        channel: grpc.Channel | None = None,
    ) -> None:
        if channel is None:
            channel = (
                grpc.secure_channel(target, credentials)
                if credentials is not None
                else grpc.insecure_channel(target)
            )
        self.target = target
        self._channel = channel
        self._stub = pb_grpc.SmtpConnectorServiceStub(channel)
        self.timeout = timeout

    def send_message(
        self,
        to: str,
        usage_type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        config_json: str = "",
        idempotency_key: str = "",
        profile: str = "",
        timeout: float | None = None,
    ) -> pb.SendMessageResponse:
        """Send the template for ``usage_type`` to ``to`` (with the server's ``profile``, the
        default one when empty); returns once the SMTP server accepted the message."""
        request = pb.SendMessageRequest(
            to=to,
            usage_type=usage_type,
            payload=to_struct(payload),
            config_json=config_json,
            idempotency_key=idempotency_key,
            profile=profile,
        )
        try:
            response: pb.SendMessageResponse = self._stub.SendMessage(
                request, timeout=timeout or self.timeout
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        return response

    def validate_config(
        self,
        config_json: str,
        *,
        resolve: pb.TemplateLookup | None = None,
        timeout: float | None = None,
    ) -> pb.ValidateConfigResponse:
        """Check a config; an invalid one is a response with ``valid`` false, not an error.
        With ``resolve``, the response's ``resolution`` shows that send's template lookup."""
        request = pb.ValidateConfigRequest(config_json=config_json, resolve=resolve)
        try:
            response: pb.ValidateConfigResponse = self._stub.ValidateConfig(
                request, timeout=timeout or self.timeout
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        return response

    def test_connection(
        self,
        config_json: str = "",
        test_recipient: str = "",
        *,
        profile: str = "",
        timeout: float | None = None,
    ) -> pb.TestConnectionResponse:
        """Try a config (the server's own ``profile`` when empty) against its SMTP server."""
        request = pb.TestConnectionRequest(
            config_json=config_json, test_recipient=test_recipient, profile=profile
        )
        try:
            response: pb.TestConnectionResponse = self._stub.TestConnection(
                request, timeout=timeout or self.timeout
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        return response

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def __enter__(self) -> SmtpConnectorClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
