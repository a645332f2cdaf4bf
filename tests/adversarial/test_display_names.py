"""Findings 13 and 21: a payload value in a templated display name became one header line
of any length (100,001 characters were sent), and U+2028, refused in a Subject, passed in a
display name. Real sends through the real server to a real SMTP server."""

from __future__ import annotations

from typing import Any

import pytest
from smtp_connector.client.errors import SmtpConnectorError

from tests.adversarial.conftest import Target, assert_responsive

LONG_NAME = "x" * 100_000
TEMPLATES: dict[str, dict[str, Any]] = {
    "sendFrom": {"sendFrom": "{{ application.name }} <noreply@example.com>"},
    "replyTo": {"replyTo": "{{ application.name }} <help@example.com>"},
    "multipart": {
        "sendFrom": "{{ application.name }} <noreply@example.com>",
        "replyTo": "{{ application.name }} <help@example.com>",
        "htmlContent": "<p>{{ code }}</p>",
    },
}


def _send(target: Target, template: dict[str, Any], name: str) -> None:
    config = target.inline(
        templates=[
            {
                "usageType": "Generic",
                "subject": "s",
                "content": "{{ code }}",
                "contentType": "text/plain",
                **template,
            }
        ]
    )
    payload = {"code": "123456", "application": {"name": name}}
    target.client.send_message("user@example.com", "Register", payload, config_json=config)


@pytest.mark.parametrize("template", list(TEMPLATES.values()), ids=list(TEMPLATES))
def test_a_long_display_name_is_encoded_within_998_octets(
    target: Target, template: dict[str, Any]
) -> None:
    _send(target, template, LONG_NAME)
    received = target.smtp.received[-1]
    longest = max(len(line) for line in received.data.split(b"\r\n"))
    assert longest <= 998, longest
    message = received.message
    for header in ("From", "Reply-To"):
        if header.lower() in {key.lower() for key in template}:
            assert message[header].addresses[0].display_name == LONG_NAME
    assert_responsive(target)


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x1c"])
@pytest.mark.parametrize("field", ["sendFrom", "replyTo"])
def test_a_line_separator_in_a_display_name_is_header_injection(
    target: Target, separator: str, field: str
) -> None:
    with pytest.raises(SmtpConnectorError) as caught:
        _send(target, TEMPLATES[field], f"Name{separator}Bcc: victim@example.com")
    assert caught.value.reason == "HEADER_INJECTION", str(caught.value)
    assert not target.smtp.received
    assert_responsive(target)
