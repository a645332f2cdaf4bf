"""Channels to the service: TLS, mTLS, the bearer token, and the retry policy as service config.

gRPC retry policies are chosen per method by the channel's service config, never per call.
``SendMessage`` may be retried only when it carries an ``idempotency_key`` (a blind retry could
email a user twice), so a client keeps two channels to the same target: the *plain* one retries
``ValidateConfig``, ``TestConnection`` and ``PreviewMessage`` only; the *keyed* one also
retries ``SendMessage`` and carries keyed sends alone. Both retry ``UNAVAILABLE`` and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

SERVICE = "smtp_connector.v1.SmtpConnectorService"
# Safe to repeat: they change nothing anywhere.
ALWAYS_RETRIED = ("ValidateConfig", "TestConnection", "PreviewMessage")
# Retried only on the keyed channel, for calls carrying an idempotency_key.
RETRIED_WITH_KEY = ("SendMessage",)

ChannelOption = tuple[str, Any]


@dataclass(frozen=True)
class Tls:
    """TLS to the service: the CA certificates to trust (the system's when None) and, for
    mutual TLS, the client's certificate chain and private key (PEM bytes)."""

    root_certificates: bytes | None = None
    certificate_chain: bytes | None = None
    private_key: bytes | None = field(default=None, repr=False)
    # The name the server's certificate must carry, when it differs from the target's host.
    server_name: str | None = None

    @classmethod
    def from_files(
        cls,
        ca: str | Path | None = None,
        cert: str | Path | None = None,
        key: str | Path | None = None,
        *,
        server_name: str | None = None,
    ) -> Tls:
        """TLS settings read from PEM files; give ``cert`` and ``key`` together for mTLS."""
        return cls(
            root_certificates=Path(ca).read_bytes() if ca else None,
            certificate_chain=Path(cert).read_bytes() if cert else None,
            private_key=Path(key).read_bytes() if key else None,
            server_name=server_name,
        )

    def credentials(self) -> grpc.ChannelCredentials:
        """The channel credentials for these settings."""
        if (self.certificate_chain is None) != (self.private_key is None):
            raise ValueError("mutual TLS needs both a certificate chain and a private key")
        return grpc.ssl_channel_credentials(
            root_certificates=self.root_certificates,
            private_key=self.private_key,
            certificate_chain=self.certificate_chain,
        )


@dataclass(frozen=True)
class RetryPolicy:
    """How gRPC retries a call that failed with ``UNAVAILABLE``: at most ``max_attempts``
    attempts in all, waiting a random time up to ``initial_backoff`` seconds before the
    second, growing by ``backoff_multiplier`` up to ``max_backoff``. The call's deadline
    covers every attempt."""

    max_attempts: int = 4
    initial_backoff: float = 0.2
    max_backoff: float = 5.0
    backoff_multiplier: float = 2.0

    def as_json(self) -> dict[str, Any]:
        """The policy in the service config's JSON form."""
        return {
            "maxAttempts": self.max_attempts,
            "initialBackoff": f"{self.initial_backoff}s",
            "maxBackoff": f"{self.max_backoff}s",
            "backoffMultiplier": self.backoff_multiplier,
            "retryableStatusCodes": ["UNAVAILABLE"],
        }


def service_config(retry: RetryPolicy | None, *, retry_sends: bool) -> str:
    """The service config JSON: ``retry`` for the always-safe methods, and for SendMessage
    too when ``retry_sends``."""
    if retry is None:
        return json.dumps({"methodConfig": []})
    methods = ALWAYS_RETRIED + (RETRIED_WITH_KEY if retry_sends else ())
    return json.dumps(
        {
            "methodConfig": [
                {
                    "name": [{"service": SERVICE, "method": method} for method in methods],
                    "retryPolicy": retry.as_json(),
                }
            ]
        }
    )


@dataclass(frozen=True)
class ChannelSettings:
    """Everything a channel to the service is made from.

    A ``token`` travels as ``authorization: Bearer <token>`` on every call. gRPC sends it only
    over TLS or, without TLS, to a loopback address (its local credentials refuse any other
    peer), so a token never crosses a network in clear text.
    """

    target: str
    tls: Tls | None = None
    token: str | None = field(default=None, repr=False)
    retry: RetryPolicy | None = RetryPolicy()
    options: Sequence[ChannelOption] = ()

    def credentials(self) -> grpc.ChannelCredentials | None:
        """The channel's credentials; None for a plaintext channel without a token."""
        if self.tls is not None:
            credentials = self.tls.credentials()
        elif self.token is not None:
            credentials = grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP)
        else:
            return None
        if self.token is not None:
            credentials = grpc.composite_channel_credentials(
                credentials, grpc.access_token_call_credentials(self.token)
            )
        return credentials

    def channel_options(self, *, retry_sends: bool) -> list[ChannelOption]:
        """The channel arguments: the service config, the TLS name override, the caller's."""
        options: list[ChannelOption] = [
            ("grpc.enable_retries", 1),
            ("grpc.service_config", service_config(self.retry, retry_sends=retry_sends)),
        ]
        if self.tls is not None and self.tls.server_name:
            options.append(("grpc.ssl_target_name_override", self.tls.server_name))
        options.extend(self.options)
        return options


def open_channel(settings: ChannelSettings, *, retry_sends: bool) -> grpc.Channel:
    """A synchronous channel to the service."""
    options = settings.channel_options(retry_sends=retry_sends)
    credentials = settings.credentials()
    if credentials is None:
        return grpc.insecure_channel(settings.target, options=options)
    return grpc.secure_channel(settings.target, credentials, options=options)


def open_aio_channel(settings: ChannelSettings, *, retry_sends: bool) -> grpc.aio.Channel:
    """An asyncio channel to the service."""
    options = settings.channel_options(retry_sends=retry_sends)
    credentials = settings.credentials()
    if credentials is None:
        return grpc.aio.insecure_channel(settings.target, options=options)
    return grpc.aio.secure_channel(settings.target, credentials, options=options)
