"""Typed errors by ErrorInfo reason, from the real service, through both clients."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from smtp_connector.client import (
    AsyncSmtpConnectorClient,
    ConfigNotLoadedError,
    InvalidRequestError,
    RecipientRefusedError,
    SmtpConnectorClient,
    SmtpRejectedError,
    TemplateVariableMissingError,
)

from tests.support.service import ServerFactory, make_config, running_service
from tests.support.smtp import SmtpServer


def test_missing_variable(smtp_server: SmtpServer, start_service: ServerFactory) -> None:
    # Jinja2's strict variables (Logto's rules would send `{{code}}` as written).
    service = start_service(make_config(smtp_server.port, templateEngine="jinja2"))
    with pytest.raises(TemplateVariableMissingError) as caught:
        service.send_message("a@example.com", "Register", {"application": {"name": "A"}})
    error = caught.value
    assert isinstance(error, InvalidRequestError)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and not error.retryable
    assert error.reason == "TEMPLATE_VARIABLE_MISSING" and error.delivery == "not_sent"
    assert [(v.field, v.description) for v in error.field_violations] == [
        ("payload.code", "missing")
    ]
    assert error.smtp_code is None and error.retry_delay is None


def test_refused_recipient_carries_the_smtp_code(
    service: SmtpConnectorClient, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.reply_for["RCPT"] = "550 5.1.1 no such user"
    with pytest.raises(RecipientRefusedError) as caught:
        service.send_message(
            "nobody@example.com", "SignIn", {"code": "1", "application": {"name": "A"}}
        )
    error = caught.value
    assert isinstance(error, SmtpRejectedError)
    assert error.smtp_code == 550 and error.stage == "rcpt"
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION


def test_no_config(start_service: ServerFactory) -> None:
    client = start_service(None)
    with pytest.raises(ConfigNotLoadedError) as caught:
        client.test_connection()
    assert caught.value.reason == "CONFIG_NOT_LOADED"


def test_async_client_raises_the_same_types(smtp_server: SmtpServer, tmp_path: Path) -> None:
    smtp_server.handler.reply_for["RCPT"] = "550 5.1.1 no such user"

    async def calls(target: str) -> None:
        async with AsyncSmtpConnectorClient(target, timeout=10) as client:
            with pytest.raises(TemplateVariableMissingError):
                await client.send_message("a@example.com", "Register", {})
            with pytest.raises(RecipientRefusedError) as caught:
                await client.send_message(
                    "nobody@example.com", "SignIn", {"code": "1", "application": {"name": "A"}}
                )
            assert caught.value.smtp_code == 550
            assert (await client.test_connection()).ok

    config = make_config(smtp_server.port, templateEngine="jinja2")
    with running_service(config, tmp_path) as target:
        asyncio.run(calls(target))
