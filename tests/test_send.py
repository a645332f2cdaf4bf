"""SendMessage end to end: a real gRPC channel, a real server, a real SMTP server; the
assertions are on the bytes the SMTP server received."""

from __future__ import annotations

import json
from email.header import decode_header, make_header

from smtp_connector.client import SmtpConnectorClient

from tests.support.service import CHINESE_SUBJECT, ServerFactory, inline_on_loopback, make_config
from tests.support.smtp import SmtpServer


def test_sends_register_template_with_chinese_subject(
    smtp_server: SmtpServer, service: SmtpConnectorClient
) -> None:
    response = service.send_message(
        "user@example.org", "Register", {"code": "123456", "application": {"name": "Acme"}}
    )

    assert response.smtp_code == 250
    assert "queued as TEST" in response.smtp_reply
    assert list(response.accepted_recipients) == ["user@example.org"]
    [received] = smtp_server.received
    assert received.mail_from == "noreply@example.com"
    assert received.rcpt_tos == ["user@example.org"]
    raw_headers = received.data.split(b"\r\n\r\n", 1)[0]
    assert raw_headers.isascii(), "non-ASCII header text must be RFC 2047 encoded"
    assert b"Subject: =?utf-8?" in raw_headers
    message = received.message
    assert str(make_header(decode_header(message["Subject"]))) == CHINESE_SUBJECT
    assert message["Message-ID"] == response.message_id
    assert message["From"] == "Logto <noreply@example.com>"
    assert message["To"] == "user@example.org"
    assert message["Date"]
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert received.body() == "Your code is 123456 for Acme."


def test_lines_end_in_crlf(smtp_server: SmtpServer, service: SmtpConnectorClient) -> None:
    service.send_message("user@example.org", "Register", {"code": 1, "application": {"name": "A"}})
    data = smtp_server.received[0].data
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_numeric_code_renders_without_decimal_point(
    smtp_server: SmtpServer, service: SmtpConnectorClient
) -> None:
    service.send_message(
        "user@example.org", "Register", {"code": 654321, "application": {"name": "Acme"}}
    )
    assert "654321 for" in smtp_server.received[0].body()
    assert "654321.0" not in smtp_server.received[0].body()


def test_html_template_escapes_variables(
    smtp_server: SmtpServer, service: SmtpConnectorClient
) -> None:
    service.send_message(
        "user@example.org", "SignIn", {"code": "<b>1</b>", "application": {"name": "A & B"}}
    )
    message = smtp_server.received[0].message
    assert message.get_content_type() == "text/html"
    body = smtp_server.received[0].body()
    assert "<b>&lt;b&gt;1&lt;/b&gt;</b>" in body
    assert "A &amp; B" in body
    # Subjects are plain text even for HTML templates: no escaping there.
    assert str(make_header(decode_header(message["Subject"]))) == "Sign in to A & B"


def test_text_template_does_not_escape_variables(
    smtp_server: SmtpServer, service: SmtpConnectorClient
) -> None:
    service.send_message(
        "user@example.org", "Register", {"code": "<1&2>", "application": {"name": "A & B"}}
    )
    assert smtp_server.received[0].body() == "Your code is <1&2> for A & B."


def test_unknown_usage_type_falls_back_to_generic(
    smtp_server: SmtpServer, service: SmtpConnectorClient
) -> None:
    service.send_message("user@example.org", "MfaVerification", {"code": "777777"})
    [received] = smtp_server.received
    assert received.message["Subject"] == "Your code"
    assert received.body() == "Code 777777"


def test_non_ascii_body_is_encoded_for_7bit_transport(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    config = make_config(smtp_server.port)
    config["templates"][2]["content"] = "验证码 {{code}}"
    client = start_service(config)
    client.send_message("user@example.org", "Generic", {"code": "123"})
    [received] = smtp_server.received
    assert received.data.isascii()
    assert received.body() == "验证码 123"


def test_reply_to_and_custom_headers(smtp_server: SmtpServer, start_service: ServerFactory) -> None:
    config = make_config(
        smtp_server.port,
        replyTo="Support 团队 <support@example.com>",
        customHeaders={"X-Campaign": "signup", "List-Unsubscribe": "<mailto:u@example.com>"},
    )
    client = start_service(config)
    client.send_message("user@example.org", "Generic", {"code": "1"})
    message = smtp_server.received[0].message
    assert message["Reply-To"] == "Support 团队 <support@example.com>"
    assert message["X-Campaign"] == "signup"
    assert message["List-Unsubscribe"] == "<mailto:u@example.com>"


def test_lines_starting_with_a_dot_survive(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    config = make_config(smtp_server.port)
    config["templates"][2]["content"] = "first\n.\n..two dots\n.{{code}}"
    client = start_service(config)
    client.send_message("user@example.org", "Generic", {"code": "x"})
    assert smtp_server.received[0].body() == "first\n.\n..two dots\n.x"


def test_idn_recipient_is_sent_as_punycode(
    smtp_server: SmtpServer, service: SmtpConnectorClient
) -> None:
    response = service.send_message("user@bücher.example", "Generic", {"code": "1"})
    assert list(response.accepted_recipients) == ["user@xn--bcher-kva.example"]
    assert smtp_server.received[0].rcpt_tos == ["user@xn--bcher-kva.example"]


def test_inline_config_overrides_server_config(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    # The server itself has no config.
    client = start_service(None, **inline_on_loopback(smtp_server.port))
    inline = make_config(smtp_server.port)
    inline["templates"][2]["subject"] = "Inline subject"
    client.send_message(
        "user@example.org", "Generic", {"code": "1"}, config_json=json.dumps(inline)
    )
    assert smtp_server.received[0].message["Subject"] == "Inline subject"


def test_seed_style_config_with_string_port(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    """The seed README types port as a string; Logto's first version accepted that."""
    client = start_service(make_config(smtp_server.port, port=str(smtp_server.port)))
    client.send_message("user@example.org", "Generic", {"code": "42"})
    assert smtp_server.received[0].body() == "Code 42"
