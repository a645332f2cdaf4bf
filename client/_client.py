"""The synchronous client: one method per RPC, a default deadline, typed exceptions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import grpc
from smtp_connector.v1 import smtp_connector_pb2 as pb
from smtp_connector.v1 import smtp_connector_pb2_grpc as pb_grpc

from ._channel import ChannelOption, ChannelSettings, RetryPolicy, Tls, open_channel
from ._requests import (
    DEFAULT_TIMEOUT,
    connection_test_request,
    preview_request,
    send_request,
    validate_request,
)
from .errors import from_rpc_error

__all__ = ["DEFAULT_TIMEOUT", "SmtpConnectorClient"]


class SmtpConnectorClient:
    """A client of SmtpConnectorService.

    Use it as a context manager, or call ``close()``. Every call has a deadline (``timeout``
    seconds, 30 by default, covering any retries) and raises a subclass of
    ``SmtpConnectorError`` on failure. ``tls`` turns on TLS (mTLS with a client certificate),
    ``token`` sends ``authorization: Bearer <token>``, ``retry`` is the policy for
    ``UNAVAILABLE`` (None: never retry): ValidateConfig and TestConnection are retried, and
    SendMessage only when it carries an ``idempotency_key``. A ``channel`` of your own
    replaces all of these: it then carries every call, with whatever retry policy it has.
    """

    def __init__(
        self,
        target: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        tls: Tls | None = None,
        token: str | None = None,
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 (frozen, so shared safely)
        options: Sequence[ChannelOption] = (),
        channel: grpc.Channel | None = None,
    ) -> None:
        settings = ChannelSettings(target, tls=tls, token=token, retry=retry, options=options)
        self.target = target
        self._channel = channel or open_channel(settings, retry_sends=False)
        # gRPC pools connections by address and credentials, not service config: the keyed
        # channel shares the plain one's connection.
        self._keyed_channel = None if channel else open_channel(settings, retry_sends=True)
        self._stub = pb_grpc.SmtpConnectorServiceStub(self._channel)
        self._keyed_stub = pb_grpc.SmtpConnectorServiceStub(self._keyed_channel or self._channel)
        self.timeout = timeout

    def _deadline(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else timeout

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
        default one when empty); returns once the SMTP server accepted the message.
        Retried on ``UNAVAILABLE`` only with an ``idempotency_key``."""
        stub = self._keyed_stub if idempotency_key else self._stub
        request = send_request(to, usage_type, payload, config_json, idempotency_key, profile)
        try:
            return stub.SendMessage(request, timeout=self._deadline(timeout))
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    def preview_message(
        self,
        to: str,
        usage_type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        config_json: str = "",
        profile: str = "",
        include_raw_message: bool = False,
        timeout: float | None = None,
    ) -> pb.PreviewMessageResponse:
        """What ``send_message`` with the same arguments would send, built by the same code
        and sent nowhere: the template chosen, subject, bodies, headers, size and warnings
        (with ``include_raw_message``, the RFC 5322 bytes too). Raises what ``send_message``
        would raise for the same bad input."""
        request = preview_request(
            to, usage_type, payload, config_json, profile, include_raw_message
        )
        try:
            return self._stub.PreviewMessage(request, timeout=self._deadline(timeout))
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    def validate_config(
        self,
        config_json: str,
        *,
        resolve: pb.TemplateLookup | None = None,
        timeout: float | None = None,
    ) -> pb.ValidateConfigResponse:
        """Check a config; an invalid one is a response with ``valid`` false, not an error.
        With ``resolve``, the response's ``resolution`` shows that send's template lookup."""
        try:
            return self._stub.ValidateConfig(
                validate_request(config_json, resolve), timeout=self._deadline(timeout)
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    def test_connection(
        self,
        config_json: str = "",
        test_recipient: str = "",
        *,
        profile: str = "",
        probe: bool = False,
        timeout: float | None = None,
    ) -> pb.TestConnectionResponse:
        """Try a config (the server's own ``profile`` when empty) against its SMTP server;
        with ``probe``, also try the other common port and TLS combinations."""
        try:
            return self._stub.TestConnection(
                connection_test_request(config_json, test_recipient, profile, probe),
                timeout=self._deadline(timeout),
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    def close(self) -> None:
        """Close the channels."""
        self._channel.close()
        if self._keyed_channel is not None:
            self._keyed_channel.close()

    def __enter__(self) -> SmtpConnectorClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
