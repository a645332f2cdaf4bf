"""A caller's code using the client as an installed, typed package; test_client_typing checks
it with ``mypy --strict`` and no project config, as a consumer's CI would."""

from __future__ import annotations

import asyncio

import grpc
from smtp_connector.client import (
    AsyncSmtpConnectorClient,
    InvalidRequestError,
    RetryPolicy,
    SmtpConnectorClient,
    SmtpConnectorError,
    SmtpUnavailableError,
    Tls,
)
from smtp_connector.v1 import smtp_connector_pb2 as pb


def send(client: SmtpConnectorClient) -> str:
    """The sync client's methods return the generated response messages."""
    try:
        response: pb.SendMessageResponse = client.send_message(
            "user@example.com", "SignIn", {"code": "123456"}, idempotency_key="k", timeout=5
        )
    except SmtpUnavailableError as exc:
        delay: float | None = exc.retry_delay
        code: int | None = exc.smtp_code
        return f"retry in {delay} ({code})"
    except InvalidRequestError as exc:
        return ", ".join(f"{v.field}: {v.description}" for v in exc.field_violations)
    recipients: list[str] = list(response.accepted_recipients)
    smtp_code: int = response.smtp_code
    return f"{response.message_id} {smtp_code} {recipients}"


async def check(client: AsyncSmtpConnectorClient) -> bool:
    """The async client has the same methods, awaited, with the same types."""
    validated: pb.ValidateConfigResponse = await client.validate_config("{}")
    tested: pb.TestConnectionResponse = await client.test_connection(timeout=3.0)
    steps: list[str] = [step.name for step in tested.steps]
    return validated.valid and tested.ok and bool(steps)


def describe(error: SmtpConnectorError) -> str:
    """Every error carries its gRPC code, reason and hints."""
    status: grpc.StatusCode = error.code
    retryable: bool = error.retryable
    return f"{status.name} {error.reason} {error.delivery} {error.stage} {retryable}"


def secure_client(ca: bytes, cert: bytes, key: bytes, token: str) -> SmtpConnectorClient:
    """Channel options: mutual TLS, a bearer token, a retry policy."""
    return SmtpConnectorClient(
        "smtp-connector.internal:443",
        tls=Tls(root_certificates=ca, certificate_chain=cert, private_key=key),
        token=token,
        retry=RetryPolicy(max_attempts=3),
        timeout=10,
    )


def run() -> bool:
    async def main() -> bool:
        async with AsyncSmtpConnectorClient("127.0.0.1:50051") as client:
            return await check(client)

    return asyncio.run(main())
