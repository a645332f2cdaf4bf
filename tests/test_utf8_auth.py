"""AUTH PLAIN, LOGIN and CRAM-MD5 with UTF-8 credentials, as nodemailer sends them, against an
aiosmtpd authenticator that decodes the credentials as UTF-8 and compares them."""

from __future__ import annotations

import smtplib

import pytest
from smtp_connector.server.utf8_auth import Utf8AuthSMTP

from tests.support.smtp import SmtpServer

USER, PASSWORD = "jürgen@example.com", "pässwörd-中"


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_smtplib_client_logs_in_with_utf8(mechanism: str) -> None:
    server = SmtpServer(users={USER: PASSWORD}, auth_mechanisms=(mechanism,))
    with server, Utf8AuthSMTP("127.0.0.1", server.port, timeout=10) as client:
        client.ehlo()
        code, _ = client.login(USER, PASSWORD)
    assert code == 235
    assert server.logins == [(mechanism, USER)]


def test_a_wrong_utf8_password_is_refused() -> None:
    server = SmtpServer(users={USER: PASSWORD}, auth_mechanisms=("PLAIN",))
    with server, Utf8AuthSMTP("127.0.0.1", server.port, timeout=10) as client:
        client.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError, match="535"):
            client.login(USER, "pässwörd-中x")
    assert server.logins == []
