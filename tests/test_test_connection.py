"""TestConnection: a step-by-step report; SMTP failures are reports, not RPC errors."""

from __future__ import annotations

import json

import pytest
from smtp_connector.client import InvalidRequestError, SmtpConnectorClient

from tests.support.raw import closed_port
from tests.support.service import ServerFactory, inline_on_loopback, make_config
from tests.support.smtp import SmtpServer


def test_steps_without_recipient(smtp_server: SmtpServer, service: SmtpConnectorClient) -> None:
    response = service.test_connection()
    assert response.ok
    assert [s.name for s in response.steps] == [
        "resolve",
        "connect",
        "greeting",
        "ehlo",
        "tls",
        "auth",
        "quit",
    ]
    assert all(s.ok for s in response.steps)
    greeting = response.steps[2]
    assert greeting.smtp_code == 220
    assert response.steps[3].smtp_code == 250
    assert "SMTPUTF8" in response.steps[3].detail
    assert smtp_server.received == []


def test_with_recipient_sends_generic_with_code_000000(
    smtp_server: SmtpServer, service: SmtpConnectorClient
) -> None:
    response = service.test_connection(test_recipient="admin@example.org")
    assert response.ok
    names = [s.name for s in response.steps]
    assert names[-4:] == ["mail_from", "rcpt_to", "data", "quit"]
    [received] = smtp_server.received
    assert received.rcpt_tos == ["admin@example.org"]
    assert received.body() == "Code 000000"


def test_with_recipient_prefers_the_test_template(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    config = make_config(smtp_server.port)
    config["templates"].append(
        {
            "usageType": "Test",
            "contentType": "text/plain",
            "subject": "Test",
            "content": "It works: {{code}}",
        }
    )
    client = start_service(config)
    assert client.test_connection(test_recipient="admin@example.org").ok
    assert smtp_server.received[0].body() == "It works: 000000"


def test_failure_is_a_report_with_the_failing_step(start_service: ServerFactory) -> None:
    port = closed_port()
    client = start_service(None, **inline_on_loopback(port))
    config = json.dumps(make_config(port))
    response = client.test_connection(config)
    assert not response.ok
    [resolve, step] = response.steps
    assert resolve.ok
    assert (step.name, step.ok) == ("connect", False)
    assert "connection refused" in step.detail
    assert step.elapsed.ToNanoseconds() > 0


def test_refused_recipient_fails_at_rcpt_to(
    smtp_server: SmtpServer, service: SmtpConnectorClient
) -> None:
    smtp_server.handler.reply_for["RCPT"] = "550 5.1.1 unknown user"
    response = service.test_connection(test_recipient="nobody@example.org")
    assert not response.ok
    last = response.steps[-1]
    assert (last.name, last.ok, last.smtp_code) == ("rcpt_to", False, 550)


def test_bad_test_recipient_is_invalid_argument(service: SmtpConnectorClient) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        service.test_connection(test_recipient="nope")
    assert caught.value.field_violations[0].field == "test_recipient"
