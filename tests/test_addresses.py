"""Addresses on the wire: RFC 2047 display names, IDN domains as punycode, SMTPUTF8 for
non-ASCII local parts (and a clear INVALID_ARGUMENT without it), envelopeFrom, and refused
recipients named in the error."""

from __future__ import annotations

import pytest
from smtp_connector.client import InvalidRequestError, RecipientRefusedError
from smtp_connector.server.deadline import Deadline
from smtp_connector.server.transport import (
    ConnectionSettings,
    Envelope,
    SmtpTransport,
    TlsMode,
)

from tests.support.service import ServerFactory, make_config
from tests.support.smtp import SmtpServer


def test_display_names_are_rfc2047_encoded(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    config = make_config(
        smtp_server.port, fromEmail="张三 <noreply@example.com>", replyTo="客服 <help@example.com>"
    )
    start_service(config).send_message("user@example.com", "Generic", {"code": "1"})
    received = smtp_server.received[0]
    headers = received.data.split(b"\r\n\r\n", 1)[0]
    assert headers.isascii()
    assert b"From: =?utf-8?" in headers and b"Reply-To: =?utf-8?" in headers
    message = received.message
    assert message["From"].addresses[0].display_name == "张三"
    assert message["Reply-To"].addresses[0].display_name == "客服"


def test_idn_domains_travel_as_punycode(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    config = make_config(smtp_server.port, fromEmail="Shop <noreply@bücher.example>")
    start_service(config).send_message("kunde@müller.example", "Generic", {"code": "1"})
    received = smtp_server.received[0]
    assert received.mail_from == "noreply@xn--bcher-kva.example"
    assert received.rcpt_tos == ["kunde@xn--mller-kva.example"]
    assert "SMTPUTF8" not in received.mail_options
    assert received.message["To"].addresses[0].domain == "xn--mller-kva.example"


def test_a_non_ascii_local_part_uses_smtputf8(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    start_service(make_config(smtp_server.port)).send_message(
        "用户@example.com", "Generic", {"code": "1"}
    )
    received = smtp_server.received[0]
    assert "SMTPUTF8" in received.mail_options
    assert received.rcpt_tos == ["用户@example.com"]
    assert "用户@example.com".encode() in received.data


def test_without_smtputf8_a_non_ascii_local_part_is_invalid(
    start_service: ServerFactory,
) -> None:
    with SmtpServer(smtputf8=False) as server:
        client = start_service(make_config(server.port))
        with pytest.raises(InvalidRequestError) as caught:
            client.send_message("用户@example.com", "Generic", {"code": "1"})
        assert server.received == []
    assert caught.value.code.name == "INVALID_ARGUMENT"
    assert caught.value.field_violations[0].field == "to"
    assert "SMTPUTF8" in caught.value.message


def test_envelope_from_sets_mail_from_only(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    config = make_config(smtp_server.port, envelopeFrom="bounces@example.com")
    start_service(config).send_message("user@example.com", "Generic", {"code": "1"})
    received = smtp_server.received[0]
    assert received.mail_from == "bounces@example.com"
    assert received.message["From"].addresses[0].addr_spec == "noreply@example.com"


def test_a_refused_recipient_is_named(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    smtp_server.handler.reply_for["RCPT"] = "550 5.1.1 No such user"
    client = start_service(make_config(smtp_server.port))
    with pytest.raises(RecipientRefusedError) as caught:
        client.send_message("nobody@example.com", "Generic", {"code": "1"})
    error = caught.value
    assert error.reason == "SMTP_RECIPIENT_REFUSED"
    assert error.smtp_code == 550
    assert error.metadata["refused_recipients"] == "nobody@example.com"
    assert "nobody@example.com" in error.message
    assert error.metadata["enhanced_status_code"] == "5.1.1"


def test_a_partly_refused_envelope_is_sent_to_the_rest(smtp_server: SmtpServer) -> None:
    smtp_server.handler.refuse.add("gone@example.com")
    transport = SmtpTransport(
        ConnectionSettings(host="127.0.0.1", port=smtp_server.port, tls_mode=TlsMode.NONE)
    )
    envelope = Envelope("noreply@example.com", ("gone@example.com", "here@example.com"))
    receipt = transport.send(envelope, b"Subject: x\r\n\r\nbody\r\n", Deadline.after(5))
    assert receipt.accepted_recipients == ("here@example.com",)
    assert smtp_server.received[0].rcpt_tos == ["here@example.com"]
