"""Every error row of the contract: its gRPC code, its ErrorInfo reason and its details,
read back by the client through a real channel."""

from __future__ import annotations

import json
import time

import grpc
import pytest
from smtp_connector.client import (
    ConfigNotLoadedError,
    DeadlineExceededError,
    InternalError,
    InvalidRequestError,
    RecipientRefusedError,
    SmtpAuthError,
    SmtpConnectorClient,
    SmtpConnectorError,
    SmtpRejectedError,
    SmtpUnavailableError,
    TemplateNotFoundError,
    TemplateVariableMissingError,
)
from smtp_connector.server.deadline import Deadline
from smtp_connector.server.domain.mailer import Mailer
from smtp_connector.server.errors import DeadlineExceeded
from smtp_connector.server.transport import (
    ConnectionSettings,
    Envelope,
    SendReceipt,
    SmtpTransport,
)

from tests.support.raw import RawServer, closed_port, hangs_up_after_ehlo, never_greets
from tests.support.service import ServerFactory, inline_on_loopback, make_config
from tests.support.smtp import SmtpServer

PAYLOAD = {"code": "123456", "application": {"name": "Acme"}}


def check(exc: SmtpConnectorError, code: grpc.StatusCode, reason: str) -> None:
    assert exc.code == code
    assert exc.reason == reason
    assert exc.delivery == "not_sent"
    assert "Traceback" not in exc.message


# -- INVALID_ARGUMENT ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "field"),
    [("not-an-address", "to"), ("", "to"), ("a@example.org\r\nBcc: x@example.org", "to")],
)
def test_bad_recipient(
    service: SmtpConnectorClient, smtp_server: SmtpServer, to: str, field: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        service.send_message(to, "Register", PAYLOAD)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.reason in ("INVALID_RECIPIENT", "INVALID_REQUEST")
    assert [v.field for v in caught.value.field_violations] == [field]
    assert smtp_server.received == []


def test_missing_usage_type(service: SmtpConnectorClient) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        service.send_message("user@example.org", "", PAYLOAD)
    check(caught.value, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST")
    assert caught.value.field_violations[0].field == "usage_type"


def test_payload_cannot_inject_a_header(
    service: SmtpConnectorClient, smtp_server: SmtpServer
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        service.send_message(
            "user@example.org",
            "SignIn",
            {"code": "1", "application": {"name": "x\r\nBcc: evil@example.org"}},
        )
    check(caught.value, grpc.StatusCode.INVALID_ARGUMENT, "HEADER_INJECTION")
    assert smtp_server.received == []


@pytest.fixture
def jinja2_service(smtp_server: SmtpServer, start_service: ServerFactory) -> SmtpConnectorClient:
    """The service with Jinja2's strict variables (Logto's rules never miss a variable)."""
    return start_service(make_config(smtp_server.port, templateEngine="jinja2"))


def test_missing_template_variable_is_named(jinja2_service: SmtpConnectorClient) -> None:
    service = jinja2_service
    with pytest.raises(TemplateVariableMissingError) as caught:
        service.send_message("user@example.org", "Register", {"code": "1", "application": {}})
    check(caught.value, grpc.StatusCode.INVALID_ARGUMENT, "TEMPLATE_VARIABLE_MISSING")
    assert caught.value.metadata["variable"] == "application.name"
    assert caught.value.field_violations[0].field == "payload.application.name"


def test_missing_top_level_variable_is_named(jinja2_service: SmtpConnectorClient) -> None:
    with pytest.raises(TemplateVariableMissingError) as caught:
        jinja2_service.send_message("user@example.org", "Generic", {})
    assert caught.value.metadata["variable"] == "code"


def test_invalid_inline_config_names_fields(start_service: ServerFactory) -> None:
    client = start_service(None, **inline_on_loopback())
    config = make_config(closed_port(), port=70000)
    config["templates"][1]["contentType"] = "text/markdown"
    with pytest.raises(InvalidRequestError) as caught:
        client.send_message("user@example.org", "Generic", PAYLOAD, config_json=json.dumps(config))
    check(caught.value, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_CONFIG")
    fields = {v.field for v in caught.value.field_violations}
    assert fields == {"port", "templates[1].contentType"}


def test_inline_config_that_is_not_json(start_service: ServerFactory) -> None:
    client = start_service(None, **inline_on_loopback())
    with pytest.raises(InvalidRequestError) as caught:
        client.send_message("user@example.org", "Generic", PAYLOAD, config_json="{host: 1")
    check(caught.value, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_CONFIG")
    assert "line 1 column 2" in caught.value.message


# -- FAILED_PRECONDITION ------------------------------------------------------------------


def test_no_config_anywhere(start_service: ServerFactory) -> None:
    client = start_service(None)
    with pytest.raises(ConfigNotLoadedError) as caught:
        client.send_message("user@example.org", "Generic", PAYLOAD)
    check(caught.value, grpc.StatusCode.FAILED_PRECONDITION, "CONFIG_NOT_LOADED")


def test_template_not_found(smtp_server: SmtpServer, start_service: ServerFactory) -> None:
    config = make_config(smtp_server.port)
    config["templates"] = [t for t in config["templates"] if t["usageType"] != "Generic"]
    client = start_service(config)
    with pytest.raises(TemplateNotFoundError) as caught:
        client.send_message("user@example.org", "ForgotPassword", PAYLOAD)
    check(caught.value, grpc.StatusCode.FAILED_PRECONDITION, "TEMPLATE_NOT_FOUND")
    assert caught.value.metadata["usage_type"] == "ForgotPassword"


def test_recipient_refused_5xx(smtp_server: SmtpServer, service: SmtpConnectorClient) -> None:
    smtp_server.handler.reply_for["RCPT"] = "550 5.1.1 No such user"
    with pytest.raises(RecipientRefusedError) as caught:
        service.send_message("user@example.org", "Register", PAYLOAD)
    check(caught.value, grpc.StatusCode.FAILED_PRECONDITION, "SMTP_RECIPIENT_REFUSED")
    assert caught.value.smtp_code == 550
    assert caught.value.metadata["enhanced_status_code"] == "5.1.1"
    assert caught.value.metadata["stage"] == "rcpt"
    assert "not sent" in caught.value.message


def test_data_rejected_5xx(smtp_server: SmtpServer, service: SmtpConnectorClient) -> None:
    smtp_server.handler.reply_for["DATA"] = "554 5.7.1 Spam detected"
    with pytest.raises(SmtpRejectedError) as caught:
        service.send_message("user@example.org", "Register", PAYLOAD)
    check(caught.value, grpc.StatusCode.FAILED_PRECONDITION, "SMTP_REJECTED")
    assert caught.value.smtp_code == 554


def test_credentials_rejected(start_service: ServerFactory) -> None:
    with SmtpServer(users={"alice": "right-password"}) as smtp:
        client = start_service(make_config(smtp.port, username="alice", password="wrong-s3cret"))
        with pytest.raises(SmtpAuthError) as caught:
            client.send_message("user@example.org", "Register", PAYLOAD)
        check(caught.value, grpc.StatusCode.FAILED_PRECONDITION, "SMTP_AUTH_FAILED")
        assert caught.value.smtp_code == 535
        assert "wrong-s3cret" not in str(caught.value) + repr(caught.value.metadata)
        assert smtp.received == []


def test_credentials_accepted(start_service: ServerFactory) -> None:
    with SmtpServer(users={"alice": "right-password"}) as smtp:
        config = make_config(
            smtp.port, auth={"type": "login", "user": "alice", "pass": "right-password"}
        )
        client = start_service(config)
        client.send_message("user@example.org", "Register", PAYLOAD)
        assert len(smtp.received) == 1


# -- UNAVAILABLE --------------------------------------------------------------------------


def test_cannot_connect(start_service: ServerFactory) -> None:
    client = start_service(make_config(closed_port()))
    with pytest.raises(SmtpUnavailableError) as caught:
        client.send_message("user@example.org", "Register", PAYLOAD)
    check(caught.value, grpc.StatusCode.UNAVAILABLE, "SMTP_CONNECT_FAILED")
    assert "connection refused" in caught.value.message


def test_greeting_timeout(start_service: ServerFactory) -> None:
    with RawServer(never_greets) as tarpit:
        client = start_service(make_config(tarpit.port, greetingTimeout=300))
        started = time.monotonic()
        with pytest.raises(SmtpUnavailableError) as caught:
            client.send_message("user@example.org", "Register", PAYLOAD)
        assert time.monotonic() - started < 5
    check(caught.value, grpc.StatusCode.UNAVAILABLE, "SMTP_TIMEOUT")
    assert caught.value.metadata["stage"] == "greeting"


def test_temporary_failure_4xx(smtp_server: SmtpServer, service: SmtpConnectorClient) -> None:
    smtp_server.handler.reply_for["DATA"] = "451 4.3.0 Try again later"
    with pytest.raises(SmtpUnavailableError) as caught:
        service.send_message("user@example.org", "Register", PAYLOAD)
    check(caught.value, grpc.StatusCode.UNAVAILABLE, "SMTP_TEMPORARY_FAILURE")
    assert caught.value.smtp_code == 451


def test_dropped_connection(start_service: ServerFactory) -> None:
    with RawServer(hangs_up_after_ehlo) as dropper:
        client = start_service(make_config(dropper.port))
        with pytest.raises(SmtpUnavailableError) as caught:
            client.send_message("user@example.org", "Register", PAYLOAD)
    check(caught.value, grpc.StatusCode.UNAVAILABLE, "SMTP_CONNECTION_LOST")


# -- DEADLINE_EXCEEDED --------------------------------------------------------------------


def test_rpc_deadline_bounds_smtp_work(start_service: ServerFactory) -> None:
    with RawServer(never_greets) as tarpit:
        client = start_service(make_config(tarpit.port, greetingTimeout=60_000))
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError) as caught:
            client.send_message("user@example.org", "Register", PAYLOAD, timeout=0.5)
        assert time.monotonic() - started < 3
        assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_transport_reports_deadline_not_timeout() -> None:
    """The server side of the row above: the transport stops at the deadline and says so."""
    with RawServer(never_greets) as tarpit:
        transport = SmtpTransport(ConnectionSettings("127.0.0.1", tarpit.port, greeting_timeout=60))
        envelope = Envelope("a@example.org", ("b@example.org",))
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded) as caught:
            transport.send(envelope, b"Subject: x\r\n\r\nx\r\n", Deadline.after(0.3))
        assert time.monotonic() - started < 2
    assert caught.value.reason.value == "DEADLINE_EXCEEDED"


# -- INTERNAL -----------------------------------------------------------------------------


class _BuggyTransport:
    """A transport with a bug: a fault no real peer can produce."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings

    def send(self, envelope: Envelope, data: bytes, deadline: Deadline) -> SendReceipt:
        raise RuntimeError("bug holding a secret: hunter2")

    def close(self) -> None:
        pass


def test_our_own_bug_is_internal_without_details(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(make_config(smtp_server.port), mailer=Mailer(_BuggyTransport))
    with pytest.raises(InternalError) as caught:
        client.send_message("user@example.org", "Register", PAYLOAD)
    check(caught.value, grpc.StatusCode.INTERNAL, "INTERNAL")
    assert "hunter2" not in caught.value.message
    assert "RuntimeError" not in caught.value.message
