"""Finding 9: an SMTP server's reply text went verbatim into errors, TestConnection details
and logs. A relay that echoes the client's ``AUTH PLAIN <base64>`` in its 535 handed the
server's password to every caller and to the log. Hostile peers here echo the AUTH
exchange (PLAIN, LOGIN, XOAUTH2), the password itself, and its base64 in a later reply;
no form of a secret may reach the caller (error, metadata, TestConnection report) or the
log, and the reply text that does travel is bounded."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.client.errors import SmtpConnectorError

from tests.support.attack import assert_absent, assert_responsive
from tests.support.hostile import Tally, hostile_server, replies_with
from tests.support.service import in_process_service, inline_on_loopback, make_config
from tests.support.smtp import SmtpServer

USER = "mailer@example.com"
PASSWORD = "hunter2-Secret-8c1d4e"
TOKEN = "ya29.token-3e5a7c9b"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# Every form in which the secrets travel, or might be echoed.
FORMS = (
    PASSWORD,
    TOKEN,
    b64(PASSWORD),
    b64(f"\0{USER}\0{PASSWORD}"),
    b64(f"user={USER}\x01auth=Bearer {TOKEN}\x01\x01"),
)
Reply = Callable[[bytes], bytes | None]
CODE = {"code": "1"}


def ehlo_offering(mechanism: bytes) -> bytes:
    return b"250-hostile.test\r\n250-AUTH " + mechanism + b"\r\n250 8BITMIME\r\n"


def echo_auth(mechanism: bytes) -> Reply:
    """Offer ``mechanism``; answer the AUTH line (and, for LOGIN, the password line) with a
    535 that repeats it."""

    def reply(line: bytes) -> bytes | None:
        verb = line.split(b" ", 1)[0].upper()
        if verb == b"EHLO":
            return ehlo_offering(mechanism)
        if line.upper().startswith(b"AUTH LOGIN"):
            return b"334 UGFzc3dvcmQ6\r\n"
        if verb == b"AUTH" or verb not in (b"MAIL", b"RCPT", b"DATA", b"QUIT", b"RSET"):
            return b"535-5.7.8 Authentication failed for: " + line + b"\r\n535 5.7.8 bye\r\n"
        return None

    return reply


def echo_later(line: bytes) -> bytes | None:
    """Accept AUTH PLAIN, then refuse MAIL FROM with the password and its base64 in it."""
    if line.upper().startswith(b"EHLO"):
        return ehlo_offering(b"PLAIN")
    if line.upper().startswith(b"MAIL"):
        return (
            f"550-5.7.1 policy: credentials {PASSWORD} ({b64(PASSWORD)}) are banned\r\n"
            "550 5.7.1 refused\r\n"
        ).encode()
    return None


@pytest.fixture
def target(smtp_server: SmtpServer, tmp_path: Path) -> Iterator[tuple[str, SmtpConnectorClient]]:
    config, settings = make_config(smtp_server.port), inline_on_loopback()
    with in_process_service(tmp_path, config, **settings) as service:
        address = f"127.0.0.1:{service.port}"
        with SmtpConnectorClient(address, timeout=20, retry=None) as client:
            yield address, client


def inline(port: int, *, oauth2: bool) -> str:
    auth: dict[str, Any] = (
        {"type": "OAuth2", "user": USER, "accessToken": TOKEN}
        if oauth2
        else {"user": USER, "pass": PASSWORD}
    )
    return json.dumps(make_config(port, auth=auth, pool=False))


@pytest.mark.parametrize(
    ("reply", "oauth2"),
    [
        (echo_auth(b"PLAIN"), False),
        (echo_auth(b"LOGIN"), False),
        (echo_auth(b"XOAUTH2"), True),
        (echo_later, False),
    ],
    ids=["plain", "login", "xoauth2", "later-reply"],
)
def test_no_form_of_a_secret_comes_back_from_an_echoing_peer(
    target: tuple[str, SmtpConnectorClient],
    smtp_server: SmtpServer,
    caplog: pytest.LogCaptureFixture,
    reply: Reply,
    oauth2: bool,
) -> None:
    address, client = target
    caplog.set_level(logging.DEBUG)
    tally = Tally()
    with hostile_server(replies_with(tally, reply)) as peer:
        config_json = inline(peer.port, oauth2=oauth2)
        with pytest.raises(SmtpConnectorError) as raised:
            client.send_message(
                "user@example.com", "Generic", {"code": "1"}, config_json=config_json
            )
        report = client.test_connection(config_json, "user@example.com")
        assert_responsive(address, client, smtp_server)
    error = raised.value
    heard = b"\n".join(tally.heard).decode()
    assert any(form in heard for form in FORMS)  # the peer did get a secret to echo
    assert error.reason in ("SMTP_AUTH_FAILED", "SMTP_REJECTED")
    places = [str(error), repr(error.metadata), str(report), caplog.text]
    for form in FORMS:
        assert_absent(form, *places)
    assert "535" in str(error) or "550" in str(error)  # the reply is still reported
    for step in report.steps:
        assert len(step.detail) <= 1024
