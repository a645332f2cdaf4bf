"""Templated `sendFrom` and `replyTo` per template: rendered with the payload, checked after
rendering, so a payload can change a display name but never add a header or an address."""

from __future__ import annotations

import json
from typing import Any

import pytest
from smtp_connector.client.errors import InvalidRequestError

from tests.support.issues import errors
from tests.support.service import ServerFactory, make_config
from tests.support.smtp import SmtpServer


def config_for(port: int, **fields: Any) -> dict[str, Any]:
    template = {
        "usageType": "SignIn",
        "contentType": "text/plain",
        "subject": "Code",
        "content": "{{code}}",
        **fields,
    }
    return make_config(port, templates=[template])


def test_send_from_and_reply_to_are_rendered_with_the_payload(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(
        config_for(
            smtp_server.port,
            sendFrom="{{application.name}} <noreply@{{application.domain}}>",
            replyTo='"{{application.name}} Support" <{{support}}>',
        )
    )
    payload = {
        "code": "1",
        "application": {"name": "Acme, Inc.", "domain": "acme.example"},
        "support": "help@acme.example",
    }

    client.send_message("user@example.com", "SignIn", payload)

    [received] = smtp_server.received
    assert received.mail_from == "noreply@acme.example"  # the envelope follows From
    assert b'From: "Acme, Inc." <noreply@acme.example>\r\n' in received.data
    assert b'Reply-To: "Acme, Inc. Support" <help@acme.example>\r\n' in received.data
    sender = received.message["From"].addresses
    assert [(a.display_name, a.addr_spec) for a in sender] == [
        ("Acme, Inc.", "noreply@acme.example")
    ]


def test_an_address_in_the_display_name_stays_in_the_display_name(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(
        config_for(smtp_server.port, sendFrom="{{application.name}} <noreply@example.com>")
    )
    name = 'Evil" <attacker@evil.example>, "x'

    client.send_message("user@example.com", "SignIn", {"code": "1", "application": {"name": name}})

    [received] = smtp_server.received
    assert received.mail_from == "noreply@example.com"
    [sender] = received.message["From"].addresses
    assert sender.addr_spec == "noreply@example.com"
    assert sender.display_name == name


def test_a_non_ascii_display_name_is_encoded(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(
        config_for(smtp_server.port, sendFrom="{{application.name}} <noreply@example.com>")
    )

    client.send_message(
        "user@example.com", "SignIn", {"code": "1", "application": {"name": "应用"}}
    )

    [received] = smtp_server.received
    assert b"From: =?utf-8?b?" in received.data
    assert received.message["From"].addresses[0].display_name == "应用"


@pytest.mark.parametrize(
    ("fields", "payload", "reason"),
    [
        (
            {"sendFrom": "{{name}} <noreply@example.com>"},
            {"name": "Acme\r\nBcc: victim@example.com"},
            "HEADER_INJECTION",
        ),
        (
            {"sendFrom": "Acme <{{address}}>"},
            {"address": "noreply@example.com\nBcc: victim@example.com"},
            "HEADER_INJECTION",
        ),
        ({"replyTo": "{{address}}"}, {"address": "a@b.example, c@d.example"}, "INVALID_REQUEST"),
        ({"replyTo": "{{address}}"}, {"address": "not an address"}, "INVALID_REQUEST"),
        ({"sendFrom": "Acme <{{address}}>"}, {"address": ""}, "INVALID_REQUEST"),
    ],
    ids=["crlf-in-name", "lf-in-address", "two-addresses", "not-an-address", "empty"],
)
def test_a_payload_cannot_inject_a_header_or_an_address(
    smtp_server: SmtpServer,
    start_service: ServerFactory,
    fields: dict[str, str],
    payload: dict[str, str],
    reason: str,
) -> None:
    client = start_service(config_for(smtp_server.port, **fields))

    with pytest.raises(InvalidRequestError) as caught:
        client.send_message("user@example.com", "SignIn", {"code": "1", **payload})

    assert caught.value.reason == reason
    assert [v.field for v in caught.value.field_violations] == ["payload"]
    assert smtp_server.received == []


@pytest.mark.parametrize(
    ("fields", "field_path"),
    [
        ({"sendFrom": "Acme <not-an-address>"}, "templates[0].sendFrom"),
        ({"replyTo": "a@b.example\r\nBcc: c@d.example"}, "templates[0].replyTo"),
        ({"replyTo": "{{ broken }", "templateEngine": "jinja2"}, "templates[0].replyTo"),
    ],
    ids=["bad-static-address", "static-line-break", "syntax-error"],
)
def test_a_bad_mailbox_is_a_config_error(
    start_service: ServerFactory, fields: dict[str, str], field_path: str
) -> None:
    response = start_service().validate_config(json.dumps(config_for(25, **fields)))

    assert not response.valid
    assert [i.field_path for i in errors(response.issues)] == [field_path]
