"""AUTH PLAIN, LOGIN and CRAM-MD5 with UTF-8 credentials, as nodemailer sends them, against an
aiosmtpd authenticator that decodes the credentials as UTF-8 and compares them."""

from __future__ import annotations

import smtplib

import pytest
from smtp_connector.client import InvalidRequestError, SmtpAuthError
from smtp_connector.server.transport.utf8_auth import Utf8AuthSMTP

from tests.support.service import ServerFactory, make_config
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


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_a_send_logs_in_with_utf8_credentials(start_service: ServerFactory, mechanism: str) -> None:
    with SmtpServer(users={USER: PASSWORD}, auth_mechanisms=(mechanism,)) as server:
        auth = {"type": "login", "user": USER, "pass": PASSWORD}
        client = start_service(make_config(server.port, auth=auth))
        client.send_message("to@example.com", "Generic", {"code": "1"})
    assert server.logins == [(mechanism, USER)]
    assert len(server.received) == 1


def test_a_user_without_a_password_is_an_auth_error_not_an_empty_login(
    start_service: ServerFactory,
) -> None:
    with SmtpServer(users={USER: PASSWORD}) as server:
        client = start_service(make_config(server.port, auth={"user": USER}))
        with pytest.raises(SmtpAuthError) as caught:
            client.send_message("to@example.com", "Generic", {"code": "1"})
        assert server.logins == [] and server.received == []
    assert not caught.value.retryable
    assert "auth.pass" in caught.value.message


@pytest.mark.parametrize("host", ["smtp..example.com", "a" * 64 + ".example.com"])
def test_a_host_that_cannot_be_encoded_is_invalid_not_unavailable(
    start_service: ServerFactory, host: str
) -> None:
    client = start_service(make_config(25, host=host))
    with pytest.raises(InvalidRequestError) as caught:
        client.send_message("to@example.com", "Generic", {"code": "1"})
    assert caught.value.code.name == "INVALID_ARGUMENT"
    assert caught.value.reason == "INVALID_CONFIG"
