"""A sender that is not an address is quoted whole in the error, as the user wrote it
(issue 16): Logto's `<your-gmail-address>` placeholder keeps its brackets, `not an address`
is not cut down to `not`, and the reason does not end in `.;`. Seen through `validate`
(in-process, as a newcomer runs it) and through a send."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from smtp_connector.client import InvalidSenderError
from smtp_connector.client.cli import main

from tests.support.service import ServerFactory, make_config
from tests.support.smtp import SmtpServer


def validate(capsys: pytest.CaptureFixture[str], tmp_path: Path, sender: str) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(make_config(2525, fromEmail=sender)), encoding="utf-8")
    main(["validate", "--offline", str(path)])
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("sender", "message"),
    [
        (
            "<your-gmail-address>",
            "'<your-gmail-address>' is not a valid email address: An email address must have "
            "an @-sign; sends fail until it is fixed [BAD_EMAIL]",
        ),
        (
            "not an address",
            "'not an address' is not a valid email address: An email address must have an "
            "@-sign; sends fail",
        ),
        (
            "Acme <no..reply@acme.example>",
            "'Acme <no..reply@acme.example>' is not a valid email address: An email address "
            "cannot have two periods in a row; sends fail",
        ),
    ],
)
def test_a_bad_sender_is_quoted_as_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sender: str, message: str
) -> None:
    out = validate(capsys, tmp_path, sender)
    assert f"✗ error   fromEmail: {message}" in out
    assert ".;" not in out


@pytest.mark.parametrize(
    "sender",
    [
        "noreply@acme.example",
        "Acme <noreply@acme.example>",
        '"Acme, Inc." <noreply@acme.example>',
        "noreply@acme.example (Acme)",
    ],
)
def test_good_senders_still_pass(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sender: str
) -> None:
    assert "fromEmail" not in validate(capsys, tmp_path, sender)


def test_a_send_quotes_the_sender_whole(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(make_config(smtp_server.port, fromEmail="not an address"))
    with pytest.raises(InvalidSenderError) as raised:
        client.send_message("a@example.com", "Generic", {"code": "1"})
    assert "'not an address' is not a valid email address" in raised.value.message
    assert smtp_server.connections == 0
