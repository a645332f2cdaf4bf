"""AUTH against aiosmtpd: PLAIN, LOGIN and CRAM-MD5 chosen from what the server offers,
XOAUTH2 with a given or refreshed token (from a token endpoint on loopback), relays without
auth, and the refusal to send credentials over an unencrypted connection."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import trustme
from smtp_connector.client import (
    InvalidRequestError,
    PlaintextAuthRefusedError,
    SmtpAuthError,
    SmtpConnectorClient,
)
from smtp_connector.server.deadline import Deadline
from smtp_connector.server.domain.config import parse_config
from smtp_connector.server.errors import InvalidConfig, PlaintextAuthRefused
from smtp_connector.server.transport import (
    ConnectionSettings,
    SmtpSession,
    create_ssl_context,
)

from tests.support.certs import ca_pem, server_context
from tests.support.oauth import TokenEndpoint
from tests.support.service import ServerFactory, inline_on_loopback, make_config
from tests.support.smtp import SmtpServer

USERS = {"alice": "s3cret-pass"}
MAILBOX = "sender@gmail.test"


def send(client: SmtpConnectorClient) -> None:
    client.send_message("user@example.com", "Generic", {"code": "424242"})


def login_config(port: int, user: str = "alice", password: str = "s3cret-pass") -> dict[str, Any]:
    return make_config(port, auth={"type": "login", "user": user, "pass": password})


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_each_mechanism_the_server_offers(mechanism: str, start_service: ServerFactory) -> None:
    with SmtpServer(users=USERS, auth_mechanisms=(mechanism,)) as server:
        send(start_service(login_config(server.port)))
    assert server.logins == [(mechanism, "alice")]
    assert len(server.received) == 1


def test_the_strongest_offered_mechanism_is_chosen(start_service: ServerFactory) -> None:
    with SmtpServer(users=USERS, auth_mechanisms=("LOGIN", "PLAIN", "CRAM-MD5")) as server:
        # Logto's first config format: username and password at the top level.
        send(start_service(make_config(server.port, username="alice", password="s3cret-pass")))
    assert server.logins == [("CRAM-MD5", "alice")]  # the password itself never travels


def test_wrong_password_is_an_auth_error_without_the_password(
    start_service: ServerFactory,
) -> None:
    with SmtpServer(users=USERS, auth_mechanisms=("PLAIN",)) as server:
        client = start_service(login_config(server.port, password="wrong-pass-123"))
        with pytest.raises(SmtpAuthError) as caught:
            send(client)
    assert caught.value.reason == "SMTP_AUTH_FAILED"
    assert caught.value.smtp_code == 535
    assert "wrong-pass-123" not in str(caught.value)
    assert server.received == []


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": "", "password": ""},
        {"auth": {"type": "login", "user": "", "pass": ""}},
    ],
    ids=["username-password", "auth-object"],
)
def test_a_relay_without_auth(
    credentials: dict[str, Any], smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    send(start_service(make_config(smtp_server.port, **credentials)))
    assert smtp_server.logins == []
    assert len(smtp_server.received) == 1


def test_a_server_without_auth_but_credentials_configured(start_service: ServerFactory) -> None:
    with (
        SmtpServer(users=USERS, auth_mechanisms=()) as server,
        pytest.raises(SmtpAuthError, match="offers no AUTH"),
    ):
        send(start_service(login_config(server.port)))
    assert server.received == []


# -- credentials never in the clear -----------------------------------------------------------


def test_plaintext_auth_is_refused_unless_allowed(start_service: ServerFactory) -> None:
    with SmtpServer(users=USERS) as server:
        config = login_config(server.port)
        refused = start_service({**config, "allowPlaintextAuth": False})
        with pytest.raises(PlaintextAuthRefusedError) as caught:
            send(refused)
        assert server.logins == []  # nothing of the credentials was sent
        send(start_service({**config, "allowPlaintextAuth": True}))
    error = caught.value
    assert error.reason == "PLAINTEXT_AUTH_REFUSED"
    assert error.code.name == "FAILED_PRECONDITION"
    assert "allowPlaintextAuth" in error.message and "secure" in error.message
    assert server.logins == [("CRAM-MD5", "alice")]


def test_credentials_go_once_starttls_encrypted_the_connection(
    start_service: ServerFactory,
) -> None:
    ca = trustme.CA()
    with SmtpServer(users=USERS, tls_context=server_context(ca), auth_require_tls=True) as server:
        config = {
            **login_config(server.port),
            "allowPlaintextAuth": False,
            "tls": {"ca": ca_pem(ca)},
        }
        send(start_service(config))
    assert server.logins == [("CRAM-MD5", "alice")]
    assert server.received[0].tls_version is not None


class _RemotePeer:
    """A socket as seen from a session, whose peer is a public address: no real peer can be
    that in a test (loopback only), so only this check runs against a stand-in."""

    def getpeername(self) -> tuple[str, int]:
        return ("203.0.113.7", 25)

    def settimeout(self, timeout: float | None) -> None:
        pass


def test_a_remote_peer_gets_no_plaintext_credentials_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = ConnectionSettings(host="smtp.example.test", port=25, user="a", password="b")
    session = SmtpSession(settings, create_ssl_context(settings), Deadline.after(5))
    monkeypatch.setattr(session._smtp, "sock", _RemotePeer())
    with pytest.raises(PlaintextAuthRefused):
        session.authenticate()


# -- XOAUTH2 ----------------------------------------------------------------------------------


def oauth2_config(port: int, **auth: Any) -> dict[str, Any]:
    # pool: false, so that every message opens (and authenticates) a connection of its own.
    return make_config(port, pool=False, auth={"type": "OAuth2", "user": MAILBOX, **auth})


def test_xoauth2_with_an_access_token(start_service: ServerFactory) -> None:
    with SmtpServer(users=USERS) as server:
        server.handler.tokens[MAILBOX] = {"ya29.given"}
        send(start_service(oauth2_config(server.port, accessToken="ya29.given")))
    assert server.logins == [("XOAUTH2", MAILBOX)]


def test_xoauth2_refused_token_is_an_auth_error(start_service: ServerFactory) -> None:
    with SmtpServer(users=USERS) as server:
        client = start_service(oauth2_config(server.port, accessToken="ya29.revoked"))
        with pytest.raises(SmtpAuthError) as caught:
            send(client)
    assert "ya29.revoked" not in str(caught.value)
    assert server.received == []


def test_xoauth2_refreshes_once_and_caches(start_service: ServerFactory) -> None:
    with TokenEndpoint() as endpoint, SmtpServer(users=USERS) as server:
        server.handler.tokens[MAILBOX] = {"token-1"}
        client = start_service(
            oauth2_config(
                server.port,
                clientId="client-id",
                clientSecret="client-secret",
                refreshToken=endpoint.refresh_token,
                accessUrl=endpoint.url,
            )
        )
        send(client)
        send(client)
    assert endpoint.issued == ["token-1"]
    assert endpoint.requests[0] == {
        "grant_type": "refresh_token",
        "refresh_token": "refresh-me",
        "client_id": "client-id",
        "client_secret": "client-secret",
    }
    assert server.logins == [("XOAUTH2", MAILBOX)] * 2
    assert server.connections == 2


def test_xoauth2_refreshes_before_the_token_expires(start_service: ServerFactory) -> None:
    # 30 s left is inside the refresh margin, so each new connection gets a new token.
    with TokenEndpoint(expires_in=30) as endpoint, SmtpServer(users=USERS) as server:
        server.handler.tokens[MAILBOX] = {"token-1", "token-2"}
        client = start_service(
            oauth2_config(
                server.port, clientId="c", refreshToken="refresh-me", accessUrl=endpoint.url
            )
        )
        send(client)
        send(client)
    assert endpoint.issued == ["token-1", "token-2"]


def test_an_expired_given_token_is_refreshed(start_service: ServerFactory) -> None:
    expired_ms = int((time.time() - 10) * 1000)
    with TokenEndpoint() as endpoint, SmtpServer(users=USERS) as server:
        server.handler.tokens[MAILBOX] = {"token-1"}
        config = oauth2_config(
            server.port,
            accessToken="ya29.old",
            expires=expired_ms,
            clientId="c",
            refreshToken="refresh-me",
            accessUrl=endpoint.url,
        )
        send(start_service(config))
    assert endpoint.issued == ["token-1"]
    assert server.logins == [("XOAUTH2", MAILBOX)]


def test_a_cached_token_the_server_revoked_is_renewed(start_service: ServerFactory) -> None:
    with TokenEndpoint() as endpoint, SmtpServer(users=USERS) as server:
        server.handler.tokens[MAILBOX] = {"token-1"}
        client = start_service(
            oauth2_config(
                server.port, clientId="c", refreshToken="refresh-me", accessUrl=endpoint.url
            )
        )
        send(client)
        server.handler.tokens[MAILBOX] = {"token-2"}  # token-1 revoked
        send(client)
    assert endpoint.issued == ["token-1", "token-2"]
    assert len(server.received) == 2


def test_a_refused_refresh_is_an_auth_error_without_secrets(
    start_service: ServerFactory,
) -> None:
    with TokenEndpoint() as endpoint, SmtpServer(users=USERS) as server:
        client = start_service(
            oauth2_config(
                server.port,
                clientId="c",
                clientSecret="very-secret",
                refreshToken="stale-refresh-token",
                accessUrl=endpoint.url,
            )
        )
        with pytest.raises(SmtpAuthError, match="invalid_grant") as caught:
            send(client)
    text = str(caught.value)
    assert "very-secret" not in text and "stale-refresh-token" not in text
    assert server.received == []


@pytest.mark.parametrize(
    "auth",
    [
        {"type": "oauth2", "user": MAILBOX},
        {"type": "oauth2", "accessToken": "t"},
        {"type": "oauth2", "user": MAILBOX, "refreshToken": "r", "accessUrl": "file:///etc/x"},
    ],
    ids=["no-token", "no-user", "not-http"],
)
def test_incomplete_oauth2_configs_are_invalid(auth: dict[str, Any]) -> None:
    with pytest.raises(InvalidConfig) as caught:
        parse_config(json.dumps(make_config(25, auth=auth)))
    assert caught.value.violations[0].field.startswith("auth")


def test_invalid_config_reaches_the_client_as_invalid_argument(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(**inline_on_loopback(smtp_server.port))
    bad = json.dumps(make_config(smtp_server.port, auth={"type": "oauth2", "user": MAILBOX}))
    with pytest.raises(InvalidRequestError):
        client.send_message("user@example.com", "Generic", {"code": "1"}, config_json=bad)


def test_a_password_config_against_an_oauth2_only_server(start_service: ServerFactory) -> None:
    with (
        SmtpServer(users=USERS, auth_mechanisms=("XOAUTH2",)) as server,
        pytest.raises(SmtpAuthError, match="XOAUTH2 only") as caught,
    ):
        send(start_service(login_config(server.port)))
    assert "oauth2" in caught.value.message
