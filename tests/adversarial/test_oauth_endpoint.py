"""Finding 3: an inline config's ``auth.accessUrl`` must not take the server where the SMTP
guard would not (SSRF), follow redirects, repeat the endpoint's text, tell one kind of port
from another, or end in INTERNAL. Real sends through the real server, to hostile HTTP peers
on loopback addresses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from smtp_connector.client.errors import SmtpConnectorError

from tests.adversarial.conftest import Target, TargetFactory, assert_responsive
from tests.support.hostile_http import HostileHttp, endless_body, http_answer, not_http
from tests.support.service import make_config
from tests.support.smtp import SmtpServer, free_port

MAILBOX = "sender@gmail.test"
PAYLOAD = {"code": "123456", "application": {"name": "A"}}
REFRESH_TOKEN = "refresh-SECRET-1"
CLIENT_SECRET = "client-SECRET-2"
# Only 127.0.0.1 is an allowed network: 127.0.0.2 (loopback as well) stands for an internal
# service the SMTP guard keeps inline configs away from.
INTERNAL_HOST = "127.0.0.2"


@pytest.fixture
def oauth_target(start_target: TargetFactory) -> Iterator[tuple[Target, SmtpServer]]:
    target = start_target(inline_allowed_networks=["127.0.0.1/32"])
    with SmtpServer(users={"alice": "x"}) as smtp:
        smtp.handler.tokens[MAILBOX] = {"ya29.good"}
        yield target, smtp


def _send(target: Target, smtp: SmtpServer, access_url: str) -> SmtpConnectorError:
    auth = {
        "type": "oauth2",
        "user": MAILBOX,
        "clientId": "c",
        "clientSecret": CLIENT_SECRET,
        "refreshToken": REFRESH_TOKEN,
        "accessUrl": access_url,
    }
    config = json.dumps(make_config(smtp.port, pool=False, auth=auth))
    with pytest.raises(SmtpConnectorError) as caught:
        target.client.send_message(
            "user@example.com", "Register", PAYLOAD, config_json=config, timeout=10
        )
    error = caught.value
    assert error.code.name != "INTERNAL", str(error)
    for secret in (REFRESH_TOKEN, CLIENT_SECRET):
        assert secret not in str(error) and secret not in repr(error.metadata)
    return error


def test_an_internal_token_endpoint_is_never_contacted(
    oauth_target: tuple[Target, SmtpServer],
) -> None:
    target, smtp = oauth_target
    token = json.dumps({"access_token": "ya29.good", "expires_in": 3600}).encode()
    with HostileHttp(http_answer(200, token), host=INTERNAL_HOST) as internal:
        error = _send(target, smtp, internal.url)
    assert error.reason == "SMTP_HOST_NOT_ALLOWED", str(error)
    assert "auth.accessUrl" in str(error)
    assert internal.requests == []  # the refresh token never left the server
    assert not smtp.received
    assert_responsive(target)


def test_a_redirect_is_not_followed(oauth_target: tuple[Target, SmtpServer]) -> None:
    target, smtp = oauth_target
    token = json.dumps({"access_token": "ya29.good"}).encode()
    with HostileHttp(http_answer(200, token), host=INTERNAL_HOST) as internal:
        redirect = http_answer(307, headers={"Location": internal.url})
        with HostileHttp(redirect) as endpoint:
            error = _send(target, smtp, endpoint.url)
        assert len(endpoint.requests) == 1
    assert internal.requests == []
    assert error.reason in ("SMTP_CONNECT_FAILED", "SMTP_TEMPORARY_FAILURE"), str(error)
    assert "redirect" in str(error)
    assert not smtp.received
    assert_responsive(target)


@pytest.mark.parametrize(
    "body",
    [
        b'{"error": "db password is hunter2", "error_description": "internal detail"}',
        b"<html>internal admin page: hunter2</html>",
    ],
    ids=["json", "html"],
)
def test_the_endpoints_own_text_never_reaches_the_caller(
    oauth_target: tuple[Target, SmtpServer], body: bytes
) -> None:
    target, smtp = oauth_target
    with HostileHttp(http_answer(400, body)) as endpoint:
        error = _send(target, smtp, endpoint.url)
    assert error.reason == "SMTP_AUTH_FAILED", str(error)
    assert "hunter2" not in str(error) and "internal" not in str(error)
    assert_responsive(target)


def test_a_port_that_does_not_speak_http_looks_like_a_closed_one(
    oauth_target: tuple[Target, SmtpServer],
) -> None:
    target, smtp = oauth_target
    answers: list[tuple[Any, ...]] = []
    closed = free_port()
    answers.append(_outcome(_send(target, smtp, f"http://127.0.0.1:{closed}/token"), closed))
    with HostileHttp(not_http) as redis_like:
        error = _send(target, smtp, redis_like.url)  # was INTERNAL (http.client's exception)
        answers.append(_outcome(error, redis_like.port))
    with HostileHttp(lambda conn: None) as hangs_up:
        answers.append(_outcome(_send(target, smtp, hangs_up.url), hangs_up.port))
    assert answers[0] == answers[1] == answers[2], answers
    assert_responsive(target)


def _outcome(error: SmtpConnectorError, port: int) -> tuple[Any, ...]:
    return error.code, error.reason, str(error).replace(str(port), "PORT")


def test_an_endless_answer_is_cut_short(oauth_target: tuple[Target, SmtpServer]) -> None:
    target, smtp = oauth_target
    with HostileHttp(endless_body) as endpoint:
        error = _send(target, smtp, endpoint.url)
    assert error.reason in ("SMTP_CONNECT_FAILED", "SMTP_TEMPORARY_FAILURE"), str(error)
    assert_responsive(target)


@pytest.mark.parametrize("lifetime", ["soon", "nan", None, [1], True, -5])
def test_an_unreadable_token_lifetime_gets_the_default(
    oauth_target: tuple[Target, SmtpServer], lifetime: object
) -> None:
    target, smtp = oauth_target
    token = json.dumps({"access_token": "ya29.good", "expires_in": lifetime}).encode()
    auth = {"type": "oauth2", "user": MAILBOX, "clientId": "c", "clientSecret": CLIENT_SECRET}
    with HostileHttp(http_answer(200, token)) as endpoint:
        auth |= {"refreshToken": REFRESH_TOKEN, "accessUrl": endpoint.url}
        config = json.dumps(make_config(smtp.port, pool=False, auth=auth))
        target.client.send_message(
            "user@example.com", "Register", PAYLOAD, config_json=config, timeout=10
        )
    assert len(smtp.received) == 1  # the endpoint's token was used, whatever its lifetime said
    assert_responsive(target)
