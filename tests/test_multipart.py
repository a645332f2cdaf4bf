"""Multipart templates: a plain-text and an HTML body sent together as multipart/alternative,
checked by parsing the MIME tree the SMTP server received."""

from __future__ import annotations

import json
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

import pytest
from smtp_connector.server.domain.config import ContentType
from smtp_connector.server.domain.message import MessageHeaders, build_message
from smtp_connector.server.domain.templates import RenderedTemplate

from tests.support.issues import errors
from tests.support.service import ServerFactory, make_config
from tests.support.smtp import SmtpServer, parse_message

PAYLOAD = {"code": "123456", "application": {"name": "Acme & <Co>"}}


def multipart_template(**fields: Any) -> dict[str, Any]:
    template = {
        "usageType": "SignIn",
        "subject": "Sign in to {{application.name}}",
        "content": "Your code is {{code}} for {{application.name}}.",
        "htmlContent": "<p>Your code is <b>{{code}}</b> for {{application.name}}.</p>",
    }
    template.update(fields)
    return template


def alternatives(message: EmailMessage) -> list[tuple[str, str]]:
    """The (content type, decoded text) of each part of a multipart/alternative message."""
    assert message.get_content_type() == "multipart/alternative"
    parts = []
    for part in message.iter_parts():
        assert isinstance(part, EmailMessage)
        content = part.get_content()
        assert isinstance(content, str)
        parts.append((part.get_content_type(), content.replace("\r\n", "\n")))
    return parts


@pytest.mark.parametrize(
    "extra",
    [{}, {"contentType": "text/plain"}, {"contentType": "multipart/alternative"}],
    ids=["no-content-type", "text-plain", "multipart-alternative"],
)
def test_text_and_html_arrive_as_multipart_alternative(
    smtp_server: SmtpServer, start_service: ServerFactory, extra: dict[str, str]
) -> None:
    client = start_service(make_config(smtp_server.port, templates=[multipart_template(**extra)]))

    client.send_message("user@example.com", "SignIn", PAYLOAD)

    [received] = smtp_server.received
    assert b"Content-Type: multipart/alternative;" in received.data
    message = received.message
    assert message["Subject"] == "Sign in to Acme & <Co>"
    assert alternatives(message) == [
        ("text/plain", "Your code is 123456 for Acme & <Co>.\n"),
        ("text/html", "<p>Your code is <b>123456</b> for Acme &amp; &lt;Co&gt;.</p>\n"),
    ]
    assert message.get_body(("html",)) is message.get_payload()[1]  # type: ignore[index]
    # Every part says its charset; receivers must not guess.
    assert all(part.get_content_charset() == "utf-8" for part in message.iter_parts())


def test_logto_single_part_templates_are_unchanged(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(make_config(smtp_server.port))

    client.send_message("user@example.com", "SignIn", PAYLOAD)
    client.send_message("user@example.com", "Register", PAYLOAD)

    html, text = (r.message for r in smtp_server.received)
    assert not html.is_multipart() and html.get_content_type() == "text/html"
    assert html.get_content().rstrip() == "<p>Code: <b>123456</b> for Acme &amp; &lt;Co&gt;</p>"
    assert not text.is_multipart() and text.get_content_type() == "text/plain"


def test_non_ascii_parts_survive_the_round_trip(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    template = multipart_template(content="验证码 {{code}}", htmlContent="<p>验证码 {{code}}</p>")
    client = start_service(make_config(smtp_server.port, templates=[template]))

    client.send_message("user@example.com", "SignIn", PAYLOAD)

    [received] = smtp_server.received
    assert alternatives(received.message) == [
        ("text/plain", "验证码 123456\n"),
        ("text/html", "<p>验证码 123456</p>\n"),
    ]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            {"contentType": "multipart/alternative", "htmlContent": None},
            "needs htmlContent",
        ),
        ({"contentType": "text/html"}, "content is the plain-text part"),
        (
            {"htmlContent": "<p>{{ code }</p>", "templateEngine": "jinja2"},
            "template syntax error",
        ),
    ],
    ids=["multipart-without-html", "html-with-html-content", "html-syntax-error"],
)
def test_inconsistent_multipart_templates_are_config_errors(
    start_service: ServerFactory, fields: dict[str, Any], problem: str
) -> None:
    template = {k: v for k, v in multipart_template(**fields).items() if v is not None}
    config = make_config(2, templates=[template])
    response = start_service().validate_config(json.dumps(config))

    assert not response.valid
    [issue] = errors(response.issues)
    assert issue.field_path.startswith("templates[0]")
    assert problem in issue.message


def test_build_message_headers_stay_on_the_multipart_root() -> None:
    rendered = RenderedTemplate(
        "SignIn", "Hi", "text", ContentType.MULTIPART, html_body="<p>html</p>"
    )
    headers = MessageHeaders(
        sender=Address("Acme", "noreply", "example.com"),
        reply_to=(Address("", "help", "example.com"),),
        custom=(("X-Campaign", "signin"),),
    )

    built = build_message(rendered, headers=headers, recipient=Address("", "u", "example.com"))

    assert b"\r\n" in built.data and b"\n" not in built.data.replace(b"\r\n", b"")
    message = parse_message(built.data)
    assert message["From"] == "Acme <noreply@example.com>"
    assert message["Reply-To"] == "help@example.com"
    assert message["X-Campaign"] == "signin"
    assert message["Message-ID"] == built.message_id
    assert message["MIME-Version"] == "1.0"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert all(p["From"] is None for p in message.iter_parts())
