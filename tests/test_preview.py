"""PreviewMessage against SendMessage: for the same request, the preview's bytes are the bytes
a real SMTP server (aiosmtpd on loopback) receives from a send, Message-ID and Date aside; and
the same bad input gets the same error."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from smtp_connector.client import (
    AsyncSmtpConnectorClient,
    SmtpConnectorClient,
    SmtpConnectorError,
)
from smtp_connector.server.domain.config import TemplateConfig
from smtp_connector.server.domain.preview import unfilled_placeholders

from tests.support.flaky import flaky_server
from tests.support.service import CHINESE_SUBJECT, ServerFactory, inline_on_loopback, make_config
from tests.support.smtp import SmtpServer

# The two header fields a send makes anew each time (folded continuation lines included).
_VARYING = re.compile(rb"^(Message-ID|Date): [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*", re.M | re.I)
_LONG_LINE = "This line is deliberately longer than seventy-eight characters, so it gets encoded."


def without_varying_headers(data: bytes) -> bytes:
    """The message with its Message-ID and Date fields cut out of the header."""
    head, sep, body = data.partition(b"\r\n\r\n")
    return _VARYING.sub(b"", head + b"\r\n") + sep[2:] + body


def rich_config(port: int) -> dict[str, Any]:
    """make_config plus templates that exercise every part of the message builder."""
    config = make_config(
        port,
        replyTo="Support <support@example.com>",
        customHeaders={"X-Campaign": "welcome", "X-Priority": "3"},
    )
    config["templates"] += [
        {
            "usageType": "OrganizationInvitation",
            "contentType": "multipart/alternative",
            "subject": "Join {{ organization.name }} — ça va?",
            "content": "Hello,\n" + _LONG_LINE + "\nLink: {{link}}\n",
            "htmlContent": "<p>Join <b>{{ organization.name }}</b></p><p>{{link}}</p>",
            "sendFrom": "{{ organization.name }} <invites@example.com>",
            "replyTo": "owner@example.com",
        },
        {
            "usageType": "SignIn",
            "locale": "zh-CN",
            "contentType": "text/plain",
            "subject": "登录验证码",
            "content": "您的验证码是 {{code}}。",
        },
    ]
    return config


CASES = [
    pytest.param(
        "Register", {"code": "123456", "application": {"name": "Acme"}}, id="utf8-subject"
    ),
    pytest.param("SignIn", {"code": "42", "application": {"name": "<Acme & Co>"}}, id="html"),
    pytest.param(
        "OrganizationInvitation",
        {"organization": {"name": "Ünïcode Org"}, "link": "https://example.com/i/1"},
        id="multipart-sendfrom",
    ),
    pytest.param("SignIn", {"code": "7", "locale": "zh-CN"}, id="locale"),
    pytest.param("BindMfa", {"code": "9"}, id="generic-fallback"),
]


@pytest.mark.parametrize(("usage_type", "payload"), CASES)
def test_preview_is_what_a_send_delivers(
    smtp_server: SmtpServer, start_service: ServerFactory, usage_type: str, payload: dict[str, Any]
) -> None:
    client = start_service(rich_config(smtp_server.port))
    preview = client.preview_message(
        "user@example.org", usage_type, payload, include_raw_message=True
    )
    assert smtp_server.received == [], "a preview must not send"
    client.send_message("user@example.org", usage_type, payload)

    [received] = smtp_server.received
    assert without_varying_headers(preview.raw_message) == without_varying_headers(received.data)
    assert preview.size_bytes == len(preview.raw_message)
    assert preview.envelope_from == received.mail_from
    assert list(preview.envelope_recipients) == received.rcpt_tos
    message = received.message
    assert preview.subject == str(message["Subject"])
    headers = {header.name: header.value for header in preview.headers}
    for name in ("From", "To", "Subject", "Reply-To", "X-Campaign"):
        assert headers.get(name) == (str(message[name]) if message[name] else None), name
    for subtype, body in (("plain", preview.text_body), ("html", preview.html_body)):
        part = message.get_body((subtype,))
        delivered = part.get_content().replace("\r\n", "\n") if part is not None else ""
        assert body.rstrip("\n") == delivered.rstrip("\n"), subtype


def test_preview_of_an_inline_config_to_a_utf8_address_is_its_send(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(None, **inline_on_loopback(smtp_server.port))
    inline = json.dumps(rich_config(smtp_server.port))
    payload = {"code": "55", "application": {"name": "Acme"}}
    preview = client.preview_message(
        "用户@example.org", "Register", payload, config_json=inline, include_raw_message=True
    )
    client.send_message("用户@example.org", "Register", payload, config_json=inline)
    [received] = smtp_server.received
    assert "SMTPUTF8" in received.mail_options
    assert without_varying_headers(preview.raw_message) == without_varying_headers(received.data)
    assert list(preview.envelope_recipients) == received.rcpt_tos == ["用户@example.org"]


def test_preview_names_the_template_and_its_lookup(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(rich_config(smtp_server.port))
    app = {"name": "Acme"}
    preview = client.preview_message(
        "u@example.org", "SignIn", {"code": "1", "locale": "zh-TW", "application": app}
    )
    assert preview.template.template_path == "templates[1]", "zh-TW falls back to no locale"
    steps = [(c.usage_type, c.locale, c.template_path) for c in preview.template.candidates]
    assert steps[:3] == [
        ("SignIn", "zh-tw", ""),
        ("SignIn", "zh", ""),
        ("SignIn", "", "templates[1]"),
    ]
    assert preview.usage_type == "SignIn"
    assert preview.raw_message == b"", "raw bytes only when asked for"
    exact = client.preview_message(
        "u@example.org", "SignIn", {"code": "1", "locale": "zh-CN", "application": app}
    )
    assert (exact.template.template_path, exact.locale) == ("templates[4]", "zh-cn")
    fallback = client.preview_message("u@example.org", "BindMfa", {"code": "1"})
    assert (fallback.usage_type, fallback.template.template_path) == ("Generic", "templates[2]")


def test_preview_warns_of_encoded_lines_and_headers(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(rich_config(smtp_server.port))
    preview = client.preview_message(
        "u@example.org",
        "OrganizationInvitation",
        {"organization": {"name": "Org"}, "link": "https://example.com/x"},
    )
    warnings = {(w.code, w.field_path): w.message for w in preview.warnings}
    assert ("HEADER_ENCODED", "templates[3].subject") in warnings
    lines = warnings[("LINES_ENCODED", "templates[3].content")]
    assert "quoted-printable" in lines and "line 2" in lines
    plain = client.preview_message("u@example.org", "Generic", {"code": "1"})
    assert list(plain.warnings) == [], "a short ASCII message has nothing to warn of"


def test_preview_warns_of_unfilled_placeholders(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    config = make_config(smtp_server.port)
    config["templates"] = [
        {
            "usageType": "Generic",
            "contentType": "text/plain",
            "subject": "Hi {{ user.name | default('there') }}",
            "content": "{% for item in items %}{{ item }} {% endfor %}{{ code }} {{ link }}",
        }
    ]
    client = start_service(config)
    try:
        preview = client.preview_message("u@example.org", "Generic", {"code": "1", "items": []})
    except SmtpConnectorError as exc:
        # An engine that refuses a missing value refuses it in a preview as in a send.
        assert exc.reason == "TEMPLATE_VARIABLE_MISSING"
        with pytest.raises(SmtpConnectorError) as sent:
            client.send_message("u@example.org", "Generic", {"code": "1", "items": []})
        assert sent.value.reason == exc.reason
        return
    unfilled = [w for w in preview.warnings if w.code == "UNFILLED_PLACEHOLDER"]
    assert [(w.field_path, "link" in w.message) for w in unfilled] == [
        ("templates[0].content", True)
    ]


BAD_REQUESTS = [
    pytest.param({"to": "", "usage_type": "Generic"}, id="no-recipient"),
    pytest.param({"to": "not an address", "usage_type": "Generic"}, id="bad-recipient"),
    pytest.param({"to": "u@example.org", "usage_type": ""}, id="no-usage-type"),
    pytest.param(
        {
            "to": "u@example.org",
            "usage_type": "Register",
            "payload": {"code": "1"},
            "config_json": json.dumps(make_config(25, templateEngine="jinja2")),
        },
        id="missing-variable-jinja2",
    ),
    pytest.param(
        {
            "to": "u@example.org",
            "usage_type": "SignIn",
            "payload": {"code": "1", "application": {"name": "A\r\nBcc: x@example.org"}},
        },
        id="header-injection",
    ),
    pytest.param(
        {"to": "u@example.org", "usage_type": "Generic", "profile": "nope"}, id="unknown-profile"
    ),
    pytest.param(
        {"to": "u@example.org", "usage_type": "Generic", "config_json": "{"},
        id="inline-config-broken",
    ),
    pytest.param(
        {
            "to": "u@example.org",
            "usage_type": "Generic",
            "payload": {"code": "1"},
            "config_json": json.dumps(make_config(25, fromEmail="{{ oops }}")),
        },
        id="inline-bad-sender",
    ),
]


@pytest.mark.parametrize("request_fields", BAD_REQUESTS)
def test_same_errors_as_send_message(
    smtp_server: SmtpServer, start_service: ServerFactory, request_fields: dict[str, Any]
) -> None:
    client = start_service(make_config(smtp_server.port), **inline_on_loopback())
    fields = {"payload": {}, **request_fields}
    to, usage_type, payload = fields.pop("to"), fields.pop("usage_type"), fields.pop("payload")
    with pytest.raises(SmtpConnectorError) as sent:
        client.send_message(to, usage_type, payload, **fields)
    with pytest.raises(SmtpConnectorError) as previewed:
        client.preview_message(to, usage_type, payload, **fields)
    assert type(previewed.value) is type(sent.value)
    assert (previewed.value.code, previewed.value.reason) == (sent.value.code, sent.value.reason)
    assert previewed.value.field_violations == sent.value.field_violations
    assert smtp_server.received == []


def test_asyncio_client_previews(smtp_server: SmtpServer, start_service: ServerFactory) -> None:
    sync_client = start_service(make_config(smtp_server.port))

    async def preview() -> Any:
        async with AsyncSmtpConnectorClient(sync_client.target, timeout=10) as client:
            return await client.preview_message(
                "u@example.org", "Register", {"code": "5", "application": {"name": "A"}}
            )

    response = asyncio.run(preview())
    assert response.subject == CHINESE_SUBJECT
    assert response.text_body.startswith("Your code is 5 for A.")
    assert smtp_server.received == []


def test_preview_never_connects(start_service: ServerFactory) -> None:
    # Nothing listens on this config's port: a send fails, a preview does not notice.
    client: SmtpConnectorClient = start_service(make_config(1))
    response = client.preview_message("u@example.org", "Generic", {"code": "3"})
    assert response.text_body.startswith("Code 3")
    with pytest.raises(SmtpConnectorError):
        client.send_message("u@example.org", "Generic", {"code": "3"})


def test_unfilled_placeholders_are_named_whatever_the_engine() -> None:
    template = TemplateConfig.model_validate(
        {
            "usageType": "Generic",
            "contentType": "text/plain",
            "subject": "{{ code }} for {{ user.name | default('you') }}",
            "content": "{% for item in items %}{{ item.title }}{% endfor %}"
            "{{ application.name }} {{link}} {{ link }}",
            "sendFrom": "{{ sender }} <a@example.com>",
        }
    )
    payload = {"code": 1, "application": {"logo": "x"}, "items": []}
    found = [(w.field_path, w.message) for w in unfilled_placeholders(template, payload, "t[0]")]
    assert [path for path, _ in found] == ["t[0].content", "t[0].content", "t[0].sendFrom"]
    assert "{{ application.name }}" in found[0][1] and "{{ link }}" in found[1][1]
    assert "{{ sender }}" in found[2][1]


def test_preview_is_retried_like_validate_config() -> None:
    # It sends nothing, so retrying UNAVAILABLE is always safe (no idempotency key needed).
    with flaky_server(failures=1) as (servicer, target), SmtpConnectorClient(target) as client:
        assert client.preview_message("u@example.org", "Generic").subject == "ok"
    assert servicer.attempts["PreviewMessage"] == 2
