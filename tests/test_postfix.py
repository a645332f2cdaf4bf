"""Delivery through Postfix, a second SMTP implementation independent of aiosmtpd: plain,
STARTTLS verified against a private CA, and pooled; each message is read back from the
Maildir Postfix delivered it to."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import trustme
from smtp_connector.client.errors import SmtpTlsError
from smtp_connector.server.app import create_mailer
from smtp_connector.server.settings import Settings

from tests.support.postfix import HOSTNAME, PostfixServer, unavailable_reason
from tests.support.service import CHINESE_SUBJECT, ServerFactory, make_config

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def postfix(ca: trustme.CA) -> Iterator[PostfixServer]:
    cert = ca.issue_cert(HOSTNAME)
    chain = b"".join(blob.bytes() for blob in cert.cert_chain_pems)
    with PostfixServer(tls=(chain, cert.private_key_pem.bytes())) as server:
        yield server


def test_plain_delivery(postfix: PostfixServer, start_service: ServerFactory) -> None:
    client = start_service(make_config(postfix.port, ignoreTLS=True))
    response = client.send_message("user@example.com", "Register", _payload("135790"))
    delivered = postfix.message(response.message_id)
    assert delivered["Subject"] == CHINESE_SUBJECT
    assert delivered["From"] == "Logto <noreply@example.com>"
    assert "135790" in _body(delivered)
    assert re.search(r"by postfix\.test \(Postfix\) with ESMTP id", delivered["Received"])


def test_smtputf8_and_idn_through_postfix(
    postfix: PostfixServer, start_service: ServerFactory
) -> None:
    config = make_config(postfix.port, ignoreTLS=True, fromEmail="张三 <noreply@bücher.example>")
    client = start_service(config)
    response = client.send_message("用户@example.com", "Register", _payload("97531"))
    delivered = postfix.message(response.message_id)
    assert delivered["To"].addresses[0].username == "用户"
    assert delivered["From"].addresses[0].display_name == "张三"
    assert delivered["From"].addresses[0].domain == "xn--bcher-kva.example"
    assert delivered["Return-Path"] == "<noreply@xn--bcher-kva.example>"


def test_starttls_with_a_private_ca(
    postfix: PostfixServer, start_service: ServerFactory, ca: trustme.CA
) -> None:
    tls = {"ca": ca.cert_pem.bytes().decode(), "servername": HOSTNAME}
    client = start_service(make_config(postfix.port, requireTLS=True, tls=tls))
    response = client.send_message("user@example.com", "Register", _payload("246801"))
    delivered = postfix.message(response.message_id)
    assert "246801" in _body(delivered)
    received = " ".join(delivered["Received"].split())
    assert "with ESMTPS" in received
    assert re.search(r"using TLSv1\.[23]", received)


def test_starttls_with_a_ca_file(
    postfix: PostfixServer, start_service: ServerFactory, ca: trustme.CA, tmp_path: Path
) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    tls = {"ca": str(ca_file), "servername": HOSTNAME}
    client = start_service(make_config(postfix.port, requireTLS=True, tls=tls))
    response = client.send_message("user@example.com", "Register", _payload("1"))
    assert "with ESMTPS" in postfix.message(response.message_id)["Received"]


def test_an_unknown_ca_is_refused_with_a_hint(
    postfix: PostfixServer, start_service: ServerFactory
) -> None:
    client = start_service(make_config(postfix.port, tls={"servername": HOSTNAME}))
    with pytest.raises(SmtpTlsError) as caught:
        client.send_message("user@example.com", "Register", _payload("1"))
    assert caught.value.reason == "SMTP_TLS_FAILED"
    assert "tls.ca" in caught.value.message


def test_pooled_messages_share_one_postfix_session(
    postfix: PostfixServer, start_service: ServerFactory, ca: trustme.CA
) -> None:
    tls = {"ca": ca.cert_pem.bytes().decode(), "servername": HOSTNAME}
    mailer = create_mailer(Settings())
    client = start_service(make_config(postfix.port, requireTLS=True, tls=tls), mailer=mailer)
    ids = [
        client.send_message("user@example.com", "Register", _payload(str(n))).message_id
        for n in range(3)
    ]
    for message_id in ids:
        postfix.message(message_id)
    mailer.close()  # the pool says QUIT, and Postfix logs the session's command counts
    session = re.compile(r"disconnect from .* ehlo=2 starttls=1 mail=3 rcpt=3 data=3 quit=1")
    until = time.monotonic() + 10
    while not session.search(postfix.log_file.read_text(errors="replace")):
        assert time.monotonic() < until, postfix.log_tail()
        time.sleep(0.05)


def _payload(code: str) -> dict[str, object]:
    return {"code": code, "application": {"name": "Postfix test"}}


def _body(message: EmailMessage) -> str:
    part = message.get_body(("plain", "html"))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content
