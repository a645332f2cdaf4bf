"""Finding 15: ``max_template_bytes`` counted only subject + content, so a 900 KB
``htmlContent`` or ``sendFrom`` was sent. Every text of a template counts now."""

from __future__ import annotations

from typing import Any

import pytest
from smtp_connector.client.errors import SmtpConnectorError

from tests.adversarial.conftest import Target, assert_responsive

PAYLOAD = {"code": "123456", "application": {"name": "A"}}
BIG = 900_000
TEMPLATES: dict[str, dict[str, Any]] = {
    "htmlContent": {
        "htmlContent": "<p>" + "x" * BIG + "</p>",
    },
    "sendFrom": {"sendFrom": "{{ application.name }}" + "x" * BIG + " <a@example.com>"},
    "replyTo": {"replyTo": "{{ application.name }}" + "x" * BIG + " <a@example.com>"},
}


@pytest.mark.parametrize("extra", list(TEMPLATES.values()), ids=list(TEMPLATES))
def test_every_text_of_a_template_counts_against_its_size(
    target: Target, extra: dict[str, Any]
) -> None:
    template = {
        "usageType": "Generic",
        "subject": "s",
        "content": "c",
        "contentType": "text/plain",
        **extra,
    }
    config = target.inline(templates=[template])
    with pytest.raises(SmtpConnectorError) as caught:
        target.client.send_message("user@example.com", "Register", PAYLOAD, config_json=config)
    assert caught.value.reason == "LIMIT_EXCEEDED", str(caught.value)
    assert "templates[0]" in str(caught.value)
    assert not target.smtp.received
    assert_responsive(target)
