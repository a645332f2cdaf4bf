"""TestConnection against real peers: each failure gets its hint, each success its facts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trustme
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.v1 import smtp_connector_pb2 as pb

from tests.support.certs import server_context
from tests.support.listeners import FullBacklogListener, self_signed_context
from tests.support.raw import RawServer, closed_port, never_greets
from tests.support.service import ServerFactory, inline_on_loopback, make_config
from tests.support.smtp import SmtpServer

FAST = {"connectionTimeout": 500, "greetingTimeout": 500, "socketTimeout": 2000}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def client(start_service: ServerFactory) -> SmtpConnectorClient:
    return start_service(**inline_on_loopback())


def run(
    client: SmtpConnectorClient, port: int, to: str = "", **overrides: Any
) -> pb.TestConnectionResponse:
    config = make_config(port, **{**FAST, **overrides})
    return client.test_connection(json.dumps(config), to)


def failed(response: pb.TestConnectionResponse) -> pb.TestStep:
    assert not response.ok
    step = response.steps[-1]
    assert not step.ok
    assert step.hint and step.reason
    assert all(s.ok and not s.hint for s in response.steps[:-1])
    return step


@pytest.fixture
def starttls_server(ca: trustme.CA) -> Iterator[SmtpServer]:
    with SmtpServer(tls_context=server_context(ca, "127.0.0.1"), users={"user": "secret"}) as s:
        yield s


def test_a_closed_port_says_nothing_listens(client: SmtpConnectorClient) -> None:
    step = failed(run(client, closed_port()))
    assert step.name == "connect"
    assert step.reason == "SMTP_CONNECT_FAILED"
    assert "nothing listens" in step.hint and "587" in step.hint and "465" in step.hint


def test_a_dropped_connect_says_the_port_is_blocked(client: SmtpConnectorClient) -> None:
    with FullBacklogListener() as listener:
        step = failed(run(client, listener.port))
    assert step.name == "connect"
    assert step.reason == "SMTP_TIMEOUT"
    assert "blocks the port" in step.hint and "2525" in step.hint


def test_the_resolve_step_lists_the_addresses(client: SmtpConnectorClient) -> None:
    response = run(client, closed_port(), host="localhost")
    resolve = response.steps[0]
    assert resolve.name == "resolve" and resolve.ok
    assert "127.0.0.1" in resolve.addresses


def test_an_unknown_host_fails_at_resolve(start_service: ServerFactory) -> None:
    # The server's own config: the inline-config guard would refuse the name before a test.
    client = start_service(make_config(closed_port(), host="no-such-host.invalid", **FAST))
    step = failed(client.test_connection())
    assert step.name == "resolve"
    assert "does not resolve" in step.hint


def test_a_tls_listener_reached_without_tls_says_set_secure(
    client: SmtpConnectorClient, ca: trustme.CA
) -> None:
    context = server_context(ca, "127.0.0.1")
    with SmtpServer(tls_context=context, implicit_tls=True) as server:
        step = failed(run(client, server.port))
    assert step.name == "greeting"
    assert step.reason == "SMTP_TIMEOUT"
    assert "speaks TLS from the first byte" in step.hint and "secure to true" in step.hint


def test_a_plain_listener_reached_with_tls_says_wrong_version(
    client: SmtpConnectorClient, smtp_server: SmtpServer
) -> None:
    step = failed(run(client, smtp_server.port, secure=True))
    assert step.reason == "SMTP_TLS_FAILED"
    assert "WRONG_VERSION_NUMBER" in step.detail
    assert "set secure to false" in step.hint


def test_a_listener_that_never_greets_says_wrong_protocol(client: SmtpConnectorClient) -> None:
    with RawServer(never_greets) as listener:
        step = failed(run(client, listener.port))
    assert step.name == "greeting"
    assert "never sent the SMTP greeting" in step.hint and "another protocol" in step.hint


def test_an_untrusted_certificate_is_shown_with_the_fix(
    client: SmtpConnectorClient, starttls_server: SmtpServer
) -> None:
    step = failed(run(client, starttls_server.port))
    assert step.name == "tls"
    assert "tls.ca" in step.hint and "127.0.0.1" in step.hint
    cert = step.tls.peer_certificate
    assert not cert.verified
    assert cert.verification_error == "unable to get local issuer certificate"
    assert list(cert.subject_alt_names) == ["127.0.0.1"]
    assert "trustme" in cert.issuer
    assert cert.not_after.ToDatetime().year >= 2030


def test_a_self_signed_certificate_says_tls_ca(client: SmtpConnectorClient) -> None:
    with SmtpServer(tls_context=self_signed_context(trustme.CA())) as server:
        step = failed(run(client, server.port))
    assert step.name == "tls"
    assert step.tls.peer_certificate.verification_error == "self-signed certificate"
    assert "self-signed" in step.hint and "tls.ca" in step.hint


def test_an_expired_certificate_says_renew(client: SmtpConnectorClient, ca: trustme.CA) -> None:
    expired = datetime.now(UTC) - timedelta(days=1)
    with SmtpServer(tls_context=server_context(ca, "127.0.0.1", not_after=expired)) as server:
        step = failed(run(client, server.port, tls={"ca": ca.cert_pem.bytes().decode()}))
    assert step.tls.peer_certificate.verification_error == "certificate has expired"
    assert step.tls.peer_certificate.not_after.ToDatetime(UTC) < datetime.now(UTC)
    assert "expired" in step.hint and "renew" in step.hint


def test_a_certificate_for_another_name_says_servername(
    client: SmtpConnectorClient, ca: trustme.CA
) -> None:
    context = server_context(ca, "smtp.example.com")
    with SmtpServer(tls_context=context) as server:
        step = failed(run(client, server.port, tls={"ca": ca.cert_pem.bytes().decode()}))
    assert "not valid for '127.0.0.1'" in step.hint
    assert "smtp.example.com" in step.hint and "tls.servername" in step.hint


def test_530_must_issue_starttls_says_require_tls(
    client: SmtpConnectorClient, ca: trustme.CA
) -> None:
    context = server_context(ca, "127.0.0.1")
    with SmtpServer(tls_context=context, require_starttls=True) as server:
        step = failed(run(client, server.port, "user@example.com", ignoreTLS=True))
    assert step.name == "mail_from" and step.smtp_code == 530
    assert "requireTLS" in step.hint and "remove ignoreTLS" in step.hint


def test_535_says_credentials_and_app_password(client: SmtpConnectorClient) -> None:
    with SmtpServer(users={"user": "secret"}) as server:
        step = failed(run(client, server.port, username="user", password="wrong"))
    assert step.name == "auth" and step.smtp_code == 535
    assert step.reason == "SMTP_AUTH_FAILED"
    assert "app password" in step.hint and "Gmail" in step.hint
    assert "wrong" not in step.detail + step.hint


def test_plaintext_auth_refused_says_use_tls(client: SmtpConnectorClient) -> None:
    with SmtpServer(users={"user": "secret"}) as server:
        step = failed(
            run(client, server.port, username="user", password="secret", allowPlaintextAuth=False)
        )
    assert step.name == "auth" and step.reason == "PLAINTEXT_AUTH_REFUSED"
    assert "not encrypted" in step.hint and "587" in step.hint


def test_no_password_mechanism_says_so(client: SmtpConnectorClient) -> None:
    with SmtpServer(users={"user": "secret"}, auth_mechanisms=("XOAUTH2",)) as server:
        step = failed(run(client, server.port, username="user", password="secret"))
    assert step.name == "auth" and step.reason == "SMTP_AUTH_FAILED"
    assert "no AUTH mechanism this client supports" in step.hint


def test_no_auth_before_tls_says_use_tls(client: SmtpConnectorClient) -> None:
    with SmtpServer(users={"user": "secret"}, auth_require_tls=True) as server:
        step = failed(run(client, server.port, username="user", password="secret"))
    assert step.name == "auth"
    assert "only after TLS" in step.hint


@pytest.mark.parametrize("reply", ["553 5.7.1 Sender not owned", "550 5.7.1 Unverified sender"])
def test_a_refused_sender_says_verify_from_email(
    client: SmtpConnectorClient, smtp_server: SmtpServer, reply: str
) -> None:
    smtp_server.handler.reply_for["MAIL"] = reply
    step = failed(run(client, smtp_server.port, "user@example.com"))
    assert step.name == "mail_from" and step.smtp_code == int(reply[:3])
    assert "fromEmail" in step.hint and "verified" in step.hint


def test_require_tls_without_starttls_says_use_465(
    client: SmtpConnectorClient, smtp_server: SmtpServer
) -> None:
    step = failed(run(client, smtp_server.port, requireTLS=True))
    assert step.name == "tls"
    assert "offers no STARTTLS" in step.hint


def test_a_working_setup_reports_every_fact(
    client: SmtpConnectorClient, starttls_server: SmtpServer, ca: trustme.CA
) -> None:
    response = run(
        client,
        starttls_server.port,
        "user@example.com",
        username="user",
        password="secret",
        tls={"ca": ca.cert_pem.bytes().decode()},
    )
    assert response.ok, response
    names = [s.name for s in response.steps]
    assert names == [
        "resolve",
        "connect",
        "greeting",
        "ehlo",
        "tls",
        "auth",
        "render",
        "mail_from",
        "rcpt_to",
        "data",
        "quit",
    ]
    steps = {s.name: s for s in response.steps}
    caps = steps["ehlo"].capabilities
    assert caps.starttls and caps.smtputf8 and caps.eight_bit_mime
    assert caps.size_advertised and caps.size_limit == 33554432
    assert list(caps.auth_mechanisms) == ["CRAM-MD5", "LOGIN", "PLAIN", "XOAUTH2"]
    assert not caps.pipelining
    tls = steps["tls"].tls
    assert tls.protocol.startswith("TLSv1.") and tls.cipher and not tls.implicit
    assert tls.peer_certificate.verified and not tls.peer_certificate.verification_error
    assert not steps["tls"].capabilities.starttls  # EHLO after STARTTLS
    assert steps["auth"].auth_mechanism == "CRAM-MD5"  # smtplib's first choice
    assert steps["data"].smtp_code == 250
    assert len(starttls_server.received) == 1
    assert all(not s.hint and not s.reason for s in response.steps)


def test_implicit_tls_reports_the_certificate(client: SmtpConnectorClient, ca: trustme.CA) -> None:
    context = server_context(ca, "127.0.0.1")
    with SmtpServer(tls_context=context, implicit_tls=True) as server:
        response = run(client, server.port, secure=True, tls={"ca": ca.cert_pem.bytes().decode()})
    assert response.ok, response
    tls = next(s for s in response.steps if s.name == "tls").tls
    assert tls.implicit and tls.peer_certificate.verified


def test_probe_finds_the_working_combination_within_its_time_limit(
    start_service: ServerFactory, ca: trustme.CA, smtp_server: SmtpServer
) -> None:
    context = server_context(ca, "127.0.0.1")
    with (
        SmtpServer(tls_context=context, implicit_tls=True) as tls_server,
        RawServer(never_greets) as silent,
    ):
        ports = (tls_server.port, silent.port, closed_port())
        client = start_service(**inline_on_loopback(), probe_ports=ports, probe_time_limit=2.0)
        config = make_config(smtp_server.port, secure=True, greetingTimeout=5000)
        started = time.monotonic()
        response = client.test_connection(json.dumps(config), probe=True)
        took = time.monotonic() - started
    assert not response.ok
    assert took < 2.0 + 1.5
    attempts = {(a.port, a.tls_mode): a for a in response.probe_attempts}
    plain = attempts[(smtp_server.port, "starttls")]
    assert plain.ok and "NOT encrypted" in plain.detail
    assert json.loads(plain.config_json) == {"port": smtp_server.port, "secure": False}
    # the TLS listener tried the STARTTLS way (its port is not 465) times out at greeting
    assert attempts[(tls_server.port, "starttls")].failed_step == "greeting"
    assert attempts[(silent.port, "starttls")].failed_step == "greeting"
    assert json.loads(response.suggested_config_json) == {
        "port": smtp_server.port,
        "secure": False,
    }


def test_probe_suggests_secure_for_a_tls_port(start_service: ServerFactory, ca: trustme.CA) -> None:
    context = server_context(ca, "127.0.0.1")
    with SmtpServer(tls_context=context, implicit_tls=True) as server:
        client = start_service(**inline_on_loopback(), probe_ports=(), probe_time_limit=3.0)
        config = make_config(server.port, tls={"ca": ca.cert_pem.bytes().decode()}, **FAST)
        response = client.test_connection(json.dumps(config), probe=True)
    assert response.steps[-1].name == "greeting"
    (attempt,) = response.probe_attempts
    assert attempt.ok and attempt.tls_mode == "implicit" and "implicit TLS" in attempt.detail
    assert json.loads(response.suggested_config_json) == {"port": server.port, "secure": True}


def test_a_silent_port_reached_with_tls_says_not_tls(client: SmtpConnectorClient) -> None:
    with RawServer(never_greets) as listener:
        step = failed(run(client, listener.port, secure=True))
    assert step.name == "connect" and step.reason == "SMTP_TIMEOUT"
    assert "did not answer the TLS handshake" in step.hint


def test_a_refused_message_says_policy(
    client: SmtpConnectorClient, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.reply_for["DATA"] = "554 5.7.1 Message rejected as spam"
    step = failed(run(client, smtp_server.port, "user@example.com"))
    assert step.name == "data" and step.smtp_code == 554
    assert "policy" in step.hint


def test_probe_never_sends_credentials_in_plain_text(
    start_service: ServerFactory, smtp_server: SmtpServer
) -> None:
    client = start_service(**inline_on_loopback(), probe_ports=(), probe_time_limit=2.0)
    config = make_config(smtp_server.port, secure=True, username="user", password="pw", **FAST)
    response = client.test_connection(json.dumps(config), probe=True)
    (attempt,) = response.probe_attempts
    assert attempt.ok and "AUTH not tried without TLS" in attempt.detail


def test_probe_suggests_a_combination_whose_only_failure_is_auth(
    start_service: ServerFactory, starttls_server: SmtpServer, ca: trustme.CA
) -> None:
    client = start_service(**inline_on_loopback(), probe_ports=(), probe_time_limit=3.0)
    config = make_config(
        starttls_server.port,
        secure=True,
        username="user",
        password="wrong",
        tls={"ca": ca.cert_pem.bytes().decode()},
        **FAST,
    )
    response = client.test_connection(json.dumps(config), probe=True)
    (attempt,) = response.probe_attempts
    assert not attempt.ok and attempt.failed_step == "auth"
    assert json.loads(response.suggested_config_json) == {
        "port": starttls_server.port,
        "secure": False,
        "requireTLS": True,
    }
