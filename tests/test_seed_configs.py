"""Older configs keep working: the three example configs of Logto's SMTP connector README
(Gmail, SendGrid, Aliyun; tests/data/seed/) load unchanged, every field and value as written.

Their `fromEmail` values are placeholders such as `<your-gmail-address>`, which the README
asks the reader to replace. As in Logto, such a config loads (the server starts with it and
its connection can be tested); ValidateConfig names the placeholder as the one error, and a
send refuses with INVALID_SENDER before connecting anywhere. With the sender filled in, each
config sends through a real SMTP server (reached by pointing host and port at it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from smtp_connector.client import InvalidSenderError
from smtp_connector.server.domain.config import config_from_data
from smtp_connector.server.domain.mailer import load_config
from smtp_connector.server.domain.validation import validate_config

from tests.support.issues import errors
from tests.support.service import ServerFactory
from tests.support.smtp import SmtpServer

SEED = Path(__file__).parent / "data" / "seed"
NAMES = ["gmail", "sendgrid", "aliyun"]
SENDER = "sender@example.com"


def seed(name: str) -> dict[str, Any]:
    data = json.loads((SEED / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("name", NAMES)
def test_every_field_but_the_placeholder_sender_is_accepted_unchanged(name: str) -> None:
    text = (SEED / f"{name}.json").read_text(encoding="utf-8")

    report = validate_config(text)

    assert [issue.field_path for issue in errors(report.issues)] == ["fromEmail"]
    assert "is not a valid email address" in errors(report.issues)[0].message


@pytest.mark.parametrize("name", NAMES)
def test_the_fields_keep_their_values(name: str) -> None:
    data = seed(name)

    config = config_from_data({**data, "fromEmail": SENDER})

    assert (config.host, config.port) == (data["host"], data["port"])
    assert config.credentials() == (data["username"], data["password"])
    [template] = config.templates
    assert template.model_dump(mode="json", by_alias=True, exclude_none=True) == {
        **data["templates"][0]
    }
    assert data["password"] not in config.redacted_json()


def test_the_ports_are_the_readmes() -> None:
    assert [seed(name)["port"] for name in NAMES] == [587, 587, 1234]


@pytest.mark.parametrize("name", NAMES)
def test_each_config_sends_once_its_sender_is_filled_in(
    name: str, start_service: ServerFactory
) -> None:
    data = seed(name)
    with SmtpServer(users={data["username"]: data["password"]}) as smtp_server:
        config = {**data, "fromEmail": SENDER, "host": "127.0.0.1", "port": smtp_server.port}
        client = start_service(config)

        client.send_message("user@example.com", "Register", {"code": "123456"})

    [received] = smtp_server.received
    assert received.mail_from == SENDER
    message = received.message
    assert message["Subject"] == "<register-template-subject>"
    assert message.get_content_type() == "text/plain"
    assert received.body().rstrip() == "<Logto: Your passcode is 123456. (regitser template)>"


def test_the_three_configs_serve_as_profiles_of_one_file(start_service: ServerFactory) -> None:
    with SmtpServer() as smtp_server:
        profiles = {
            name: {
                **seed(name),
                "fromEmail": f"{name}@example.com",
                "host": "127.0.0.1",
                "port": smtp_server.port,
                "username": "",
                "password": "",
            }
            for name in NAMES
        }
        client = start_service({"profiles": profiles, "defaultProfile": "gmail"})

        for name in ["", *NAMES]:
            client.send_message("user@example.com", "Register", {"code": "1"}, profile=name)

    senders = [r.mail_from for r in smtp_server.received]
    assert senders == [
        "gmail@example.com",
        "gmail@example.com",
        "sendgrid@example.com",
        "aliyun@example.com",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_the_configs_load_unchanged_and_a_send_names_the_placeholder(
    name: str, start_service: ServerFactory
) -> None:
    text = (SEED / f"{name}.json").read_text(encoding="utf-8")
    loaded = load_config(text)
    assert loaded.config.from_email == seed(name)["fromEmail"]

    client = start_service(seed(name))  # the server starts with the file as written
    with pytest.raises(InvalidSenderError) as caught:
        client.send_message("user@example.com", "Register", {"code": "123456"})
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert [v.field for v in caught.value.field_violations] == ["fromEmail"]
    assert caught.value.delivery == "not_sent"
