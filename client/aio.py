"""The asyncio client (``grpc.aio``): the synchronous client's methods and types, awaited."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import grpc
import grpc.aio
from smtp_connector.v1 import smtp_connector_pb2 as pb
from smtp_connector.v1 import smtp_connector_pb2_grpc as pb_grpc

from ._channel import ChannelOption, ChannelSettings, RetryPolicy, Tls, open_aio_channel
from ._requests import (
    DEFAULT_TIMEOUT,
    connection_test_request,
    preview_request,
    send_request,
    validate_request,
)
from .errors import from_rpc_error

__all__ = ["AsyncSmtpConnectorClient"]


class AsyncSmtpConnectorClient:
    """An asyncio client of SmtpConnectorService; make it inside a running event loop.

    Use it with ``async with``, or await ``close()``. The arguments, deadlines, retry rules
    and exceptions are those of ``SmtpConnectorClient``, which this class mirrors method for
    method (a test compares their signatures).
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
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        settings = ChannelSettings(target, tls=tls, token=token, retry=retry, options=options)
        self.target = target
        self._channel = channel or open_aio_channel(settings, retry_sends=False)
        self._keyed_channel = None if channel else open_aio_channel(settings, retry_sends=True)
        self._stub = pb_grpc.SmtpConnectorServiceStub(self._channel)
        self._keyed_stub = pb_grpc.SmtpConnectorServiceStub(self._keyed_channel or self._channel)
        self.timeout = timeout

    def _deadline(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else timeout

    async def send_message(
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
            return await stub.SendMessage(request, timeout=self._deadline(timeout))
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    async def preview_message(
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
            return await self._stub.PreviewMessage(request, timeout=self._deadline(timeout))
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    async def validate_config(
        self,
        config_json: str,
        *,
        resolve: pb.TemplateLookup | None = None,
        timeout: float | None = None,
    ) -> pb.ValidateConfigResponse:
        """Check a config; an invalid one is a response with ``valid`` false, not an error.
        With ``resolve``, the response's ``resolution`` shows that send's template lookup."""
        try:
            return await self._stub.ValidateConfig(
                validate_request(config_json, resolve), timeout=self._deadline(timeout)
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    async def test_connection(
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
            return await self._stub.TestConnection(
                connection_test_request(config_json, test_recipient, profile, probe),
                timeout=self._deadline(timeout),
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    async def close(self) -> None:
        """Close the channels."""
        await self._channel.close()
        if self._keyed_channel is not None:
            await self._keyed_channel.close()

    async def __aenter__(self) -> AsyncSmtpConnectorClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
