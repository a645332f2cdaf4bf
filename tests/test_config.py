"""Config parsing (Logto's formats), secrets, and ValidateConfig over a real channel."""

from __future__ import annotations

import json

import pytest
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.server.domain.config import REDACTED, parse_config
from smtp_connector.server.domain.mailer import (
    SendRequest,
    connection_settings,
    load_config,
    prepare_message,
)
from smtp_connector.server.errors import InvalidConfig, InvalidSender
from smtp_connector.server.transport import TlsMode
from smtp_connector.v1 import smtp_connector_pb2 as pb

from tests.support.issues import errors
from tests.support.service import ServerFactory, make_config

LATER_LOGTO_CONFIG = {
    "host": "smtp.example.com",
    "port": 465,
    "auth": {"type": "LOGIN", "user": "apikey", "pass": "s3cret-pass"},
    "fromEmail": "Acme <noreply@example.com>",
    "replyTo": "support@example.com",
    "secure": True,
    "requireTLS": False,
    "tls": {"servername": "mail.example.com", "rejectUnauthorized": True, "ciphers": "HIGH"},
    "customHeaders": {"X-Tenant": "acme"},
    "connectionTimeout": 5000,
    "greetingTimeout": 4000,
    "socketTimeout": 3000,
    "debug": False,
    "logger": False,
    "templates": [
        {"usageType": "Generic", "contentType": "text/plain", "subject": "s", "content": "{{code}}"}
    ],
}


@pytest.fixture
def validator(start_service: ServerFactory) -> SmtpConnectorClient:
    return start_service(None)


def test_seed_format_with_string_port_and_empty_credentials() -> None:
    config = parse_config(json.dumps(make_config(587, port="587")))
    assert config.port == 587
    assert config.credentials() is None  # a relay that needs no auth


def test_seed_username_and_password_are_the_credentials() -> None:
    config = parse_config(json.dumps(make_config(587, username="u@example.com", password="p")))
    assert config.credentials() == ("u@example.com", "p")


def test_later_logto_fields() -> None:
    loaded = load_config(json.dumps(LATER_LOGTO_CONFIG))
    settings = loaded.connection
    assert settings.tls_mode is TlsMode.IMPLICIT
    assert settings.servername == "mail.example.com"
    assert (settings.user, settings.password) == ("apikey", "s3cret-pass")
    assert (settings.connect_timeout, settings.greeting_timeout, settings.socket_timeout) == (
        5,
        4,
        3,
    )
    headers = loaded.sender_headers()
    assert headers.custom == (("X-Tenant", "acme"),)
    assert [mailbox.addr_spec for mailbox in headers.reply_to] == ["support@example.com"]


@pytest.mark.parametrize(
    ("flags", "mode"),
    [
        ({}, TlsMode.STARTTLS_OPPORTUNISTIC),
        ({"requireTLS": True}, TlsMode.STARTTLS_REQUIRED),
        ({"ignoreTLS": True}, TlsMode.NONE),
        ({"secure": True}, TlsMode.IMPLICIT),
    ],
)
def test_tls_flags_choose_the_mode(flags: dict[str, bool], mode: TlsMode) -> None:
    config = parse_config(json.dumps(make_config(25, **flags)))
    assert connection_settings(config).tls_mode is mode


def test_password_never_in_repr_or_dump() -> None:
    config = parse_config(json.dumps(LATER_LOGTO_CONFIG))
    settings = connection_settings(config)
    assert "s3cret-pass" not in repr(config)
    assert "s3cret-pass" not in repr(settings)
    assert "s3cret-pass" not in config.redacted_json()


def test_password_override_from_the_server_environment() -> None:
    seed = load_config(
        json.dumps(make_config(25, username="u", password="in-json")), password="env"
    )
    assert seed.connection.password == "env"
    later = load_config(json.dumps(LATER_LOGTO_CONFIG), password="env")
    assert later.connection.password == "env"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"fromEmail": "a@example.com\r\nBcc: b@example.com"}, "fromEmail"),
        ({"replyTo": "x@"}, "replyTo"),
        ({"port": -1}, "port"),  # 0 is nodemailer's default port (tests/test_logto_configs.py)
        ({"port": "abc"}, "port"),
        ({"host": ""}, "host"),
        ({"customHeaders": {"Subject": "x"}}, "customHeaders"),
        ({"customHeaders": {"X-A": "b\nc"}}, "customHeaders.X-A"),
        ({"customHeaders": {"Bad Name": "x"}}, "customHeaders"),
        ({"templates": [{"usageType": "Generic", "subject": "s"}]}, "templates[0].content"),
        ({"auth": {"type": "kerberos"}}, "auth.type"),
    ],
)
def test_invalid_fields_are_named_by_json_path(change: dict[str, object], path: str) -> None:
    with pytest.raises(InvalidConfig) as caught:
        load_config(json.dumps(make_config(25, **change)))
    assert path in [v.field for v in caught.value.violations]


def test_template_syntax_error_names_template_and_line() -> None:
    config = make_config(25, templateEngine="jinja2")
    config["templates"][1]["content"] = "<p>\n{{ code </p>"
    with pytest.raises(InvalidConfig) as caught:
        load_config(json.dumps(config))
    [violation] = caught.value.violations
    assert violation.field == "templates[1].content"
    assert "line 2" in violation.description


def test_validate_config_valid_is_normalized_and_redacted(validator: SmtpConnectorClient) -> None:
    response = validator.validate_config(json.dumps(LATER_LOGTO_CONFIG))
    assert response.valid
    assert errors(response.issues) == []
    normalized = json.loads(response.normalized_config_json)
    assert normalized["auth"]["pass"] == REDACTED
    assert normalized["auth"]["type"] == "login"
    assert normalized["requireTLS"] is False
    assert normalized["templates"][0]["usageType"] == "Generic"
    assert "s3cret-pass" not in response.normalized_config_json


def test_validate_config_defaults_are_filled(validator: SmtpConnectorClient) -> None:
    response = validator.validate_config(json.dumps(make_config(25)))
    normalized = json.loads(response.normalized_config_json)
    assert normalized["socketTimeout"] == 20_000
    assert normalized["tls"]["rejectUnauthorized"] is True


def test_validate_config_invalid_is_a_successful_rpc(validator: SmtpConnectorClient) -> None:
    config = make_config(25)
    del config["fromEmail"]
    config["templates"][1]["usageType"] = 7
    response = validator.validate_config(json.dumps(config))
    assert not response.valid
    assert response.normalized_config_json == ""
    found = {(issue.field_path, issue.severity) for issue in errors(response.issues)}
    assert found == {
        ("fromEmail", pb.SEVERITY_ERROR),
        ("templates[1].usageType", pb.SEVERITY_ERROR),
    }


def test_validate_config_not_json(validator: SmtpConnectorClient) -> None:
    response = validator.validate_config('{"host": "x",}')
    assert not response.valid
    assert "line 1 column 14" in response.issues[0].message


def test_a_placeholder_sender_loads_but_cannot_send() -> None:
    """Logto takes any string as fromEmail (its README's examples carry placeholders): the
    config loads, so its connection can be tested, and a send says what to fix."""
    loaded = load_config(json.dumps(make_config(25, fromEmail="<your-gmail-address>")))
    with pytest.raises(InvalidSender) as caught:
        prepare_message(loaded, SendRequest("u@example.org", "Generic", {"code": "1"}))
    assert caught.value.reason.value == "INVALID_SENDER"
    assert [v.field for v in caught.value.violations] == ["fromEmail"]
    assert "not sent" in caught.value.message
