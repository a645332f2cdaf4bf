"""Config values Logto's schema accepts, sent with nodemailer's meaning (issue 18, items 2-4).

nodemailer's meanings come from its source (nodemailer/nodemailer lib/smtp-connection/
index.js: ``Number(port) || (secure ? 465 : 587)``, ``secure`` unset on port 465 means TLS,
``options.connectionTimeout || CONNECTION_TIMEOUT``; lib/addressparser; lib/smtp-pool
``maxConnections || 5``) and from what nodemailer 8 writes (checked with its stream
transport): list-valued headers as one line per item, ``Acme, Inc <a@b>`` as one mailbox.
Each send goes through a real gRPC server into an aiosmtpd capture on loopback.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import trustme
from smtp_connector.client import InvalidRequestError, SmtpTlsError
from smtp_connector.server.domain.config import (
    DEFAULT_CONNECTION_TIMEOUT_MS,
    DEFAULT_GREETING_TIMEOUT_MS,
    DEFAULT_SOCKET_TIMEOUT_MS,
)
from smtp_connector.server.domain.mailer import load_config
from smtp_connector.server.domain.validation import validate_config
from smtp_connector.server.errors import InvalidConfig
from smtp_connector.server.transport import TlsMode
from smtp_connector.server.transport.pool import PooledTransport, PoolLimits

from tests.support.certs import ca_pem, server_context
from tests.support.service import ServerFactory, inline_on_loopback, make_config
from tests.support.smtp import Received, SmtpServer

TO = "user@example.com"


def send_one(start_service: ServerFactory, server: SmtpServer, **fields: Any) -> Received:
    client = start_service(make_config(server.port, **fields))
    client.send_message(TO, "Generic", {"code": "123456"})
    (received,) = server.received
    return received


# -- headers and addresses ----------------------------------------------------------------


def test_a_list_valued_custom_header_is_one_line_per_item(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    # Logto's own unit test sends customHeaders with a list value (connector-smtp index.test.ts).
    # Logto's routes store configs through clean-deep, which drops "" (and so empty lists).
    headers = {"X-Tag": ["one", "", "two"], "X-Single": "s", "X-None": [], "X-Empty": ""}
    received = send_one(start_service, smtp_server, customHeaders=headers)
    assert received.message.get_all("X-Tag") == ["one", "two"]
    assert received.message.get_all("X-Single") == ["s"]
    assert received.message.get_all("X-None") is None
    assert received.message.get_all("X-Empty") is None


@pytest.mark.parametrize(
    ("reply_to", "expected"),
    [
        ("", None),
        ("help@localhost", ["help@localhost"]),
        ("a@x.example, b@y.example", ["a@x.example", "b@y.example"]),
        ("Sup, Port <s@x.example>, c@y.example", ['"Sup, Port" <s@x.example>', "c@y.example"]),
    ],
    ids=["empty-is-none", "localhost", "two", "comma-in-a-name"],
)
def test_reply_to_as_nodemailer_reads_it(
    smtp_server: SmtpServer,
    start_service: ServerFactory,
    reply_to: str,
    expected: list[str] | None,
) -> None:
    received = send_one(start_service, smtp_server, replyTo=reply_to)
    header = received.message["Reply-To"]
    if expected is None:
        assert header is None
    else:
        assert [str(mailbox) for mailbox in header.addresses] == expected


@pytest.mark.parametrize(
    ("sender", "envelope", "display_name"),
    [
        ("noreply@localhost", "noreply@localhost", ""),
        ("noreply@acme.local", "noreply@acme.local", ""),
        ("noreply@mailhost", "noreply@mailhost", ""),
        ("noreply@[127.0.0.1]", "noreply@[127.0.0.1]", ""),
        ("Acme, Inc <noreply@acme.example>", "noreply@acme.example", "Acme, Inc"),
        ('"Acme, Inc" <noreply@acme.example>', "noreply@acme.example", "Acme, Inc"),
    ],
    ids=["localhost", "dot-local", "single-label", "ip-literal", "comma-name", "quoted-name"],
)
def test_senders_nodemailer_sends_with(
    smtp_server: SmtpServer,
    start_service: ServerFactory,
    sender: str,
    envelope: str,
    display_name: str,
) -> None:
    received = send_one(start_service, smtp_server, fromEmail=sender)
    assert received.mail_from == envelope
    (mailbox,) = received.message["From"].addresses
    assert (mailbox.display_name, mailbox.addr_spec) == (display_name, envelope)


def test_a_recipient_on_localhost_is_sent_to(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(make_config(smtp_server.port))
    client.send_message("dev@localhost", "Generic", {"code": "1"})
    assert smtp_server.received[0].rcpt_tos == ["dev@localhost"]


def test_a_broken_sender_is_still_refused() -> None:
    report = validate_config(json.dumps(make_config(25, fromEmail="noreply@@localhost")))
    assert [i.field_path for i in report.issues if i.severity.value == "error"] == ["fromEmail"]


# -- connection values --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "port", "mode"),
    [
        ({"port": 0}, 587, TlsMode.STARTTLS_OPPORTUNISTIC),
        ({"port": 0, "secure": True}, 465, TlsMode.IMPLICIT),
        ({"port": 465}, 465, TlsMode.IMPLICIT),  # secure unset: TLS on 465
        ({"port": 465, "secure": False}, 465, TlsMode.STARTTLS_OPPORTUNISTIC),
        ({"port": 465, "secure": True, "ignoreTLS": True}, 465, TlsMode.IMPLICIT),
        ({"port": 587, "requireTLS": True, "ignoreTLS": True}, 587, TlsMode.NONE),
    ],
    ids=["port-0", "port-0-secure", "465", "465-secure-false", "secure-ignoretls", "ignore-wins"],
)
def test_port_and_tls_flags_mean_what_they_mean_in_nodemailer(
    fields: dict[str, Any], port: int, mode: TlsMode
) -> None:
    connection = load_config(json.dumps(make_config(25, **fields))).connection
    assert (connection.port, connection.tls_mode) == (port, mode)


def test_contradictory_tls_flags_are_a_warning_not_an_error() -> None:
    report = validate_config(json.dumps(make_config(587, requireTLS=True, ignoreTLS=True)))
    assert report.valid
    assert "CONTRADICTORY_TLS_FLAGS" in {issue.code for issue in report.issues}


def test_timeouts_zero_is_the_default_and_fractions_are_kept() -> None:
    zero = make_config(25, connectionTimeout=0, greetingTimeout=0, socketTimeout=0)
    connection = load_config(json.dumps(zero)).connection
    assert (connection.connect_timeout, connection.greeting_timeout, connection.socket_timeout) == (
        DEFAULT_CONNECTION_TIMEOUT_MS / 1000,
        DEFAULT_GREETING_TIMEOUT_MS / 1000,
        DEFAULT_SOCKET_TIMEOUT_MS / 1000,
    )
    fractional = make_config(25, connectionTimeout=1500.5, dnsTimeout=0.5)
    assert load_config(json.dumps(fractional)).connection.connect_timeout == 1.5005


def test_a_negative_timeout_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidConfig) as caught:
        load_config(json.dumps(make_config(25, socketTimeout=-1)))
    assert [v.field for v in caught.value.violations] == ["socketTimeout"]


def test_max_connections_above_the_servers_limit_is_capped() -> None:
    settings = load_config(json.dumps(make_config(25, maxConnections=500))).connection
    pool = PooledTransport(settings, PoolLimits(max_connections=5))
    assert pool.limits.max_connections == 5
    zero = load_config(json.dumps(make_config(25, maxConnections=0))).connection
    assert PooledTransport(zero, PoolLimits(max_connections=7)).limits.max_connections == 7


# -- TLS ----------------------------------------------------------------------------------


def test_tls_ca_as_a_list_of_pems(start_service: ServerFactory) -> None:
    other, issuer = trustme.CA(), trustme.CA()
    with SmtpServer(tls_context=server_context(issuer)) as server:
        tls = {"ca": [ca_pem(other), ca_pem(issuer)]}
        received = send_one(start_service, server, requireTLS=True, tls=tls)
    assert received.tls_version is not None


def test_secure_with_ignore_tls_is_tls_from_the_first_byte(start_service: ServerFactory) -> None:
    ca = trustme.CA()
    with SmtpServer(tls_context=server_context(ca), implicit_tls=True) as server:
        fields = {"secure": True, "ignoreTLS": True, "tls": {"ca": ca_pem(ca)}}
        received = send_one(start_service, server, **fields)
    assert received.tls_version is not None


@pytest.mark.parametrize("value", ["false", 0, None, "no"])
def test_only_boolean_false_turns_certificate_checking_off(
    start_service: ServerFactory, value: object
) -> None:
    stranger = trustme.CA()  # nobody trusts it
    with SmtpServer(tls_context=server_context(stranger)) as server:
        tls = {"rejectUnauthorized": value}
        client = start_service(make_config(server.port, requireTLS=True, tls=tls))
        with pytest.raises(SmtpTlsError):
            client.send_message(TO, "Generic", {"code": "1"})
        assert server.received == []


# -- the EHLO name ------------------------------------------------------------------------


def test_an_idn_ehlo_name_is_sent_as_punycode(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    send_one(start_service, smtp_server, name="bücher.example")
    assert smtp_server.handler.ehlo_names[-1] == "xn--bcher-kva.example"


def test_a_non_ascii_ehlo_name_that_is_no_host_name_is_refused() -> None:
    with pytest.raises(InvalidConfig) as caught:
        load_config(json.dumps(make_config(25, name="Mein Server ✉")))
    (violation,) = caught.value.violations
    assert violation.field == "name"
    assert "ASCII host name" in violation.description


def test_an_inline_config_with_a_bad_ehlo_name_is_invalid_argument(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(None, **inline_on_loopback(smtp_server.port))
    config = json.dumps(make_config(smtp_server.port, name="Mein Server ✉"))
    with pytest.raises(InvalidRequestError) as caught:
        client.send_message(TO, "Generic", {"code": "1"}, config_json=config)
    assert caught.value.code.name == "INVALID_ARGUMENT"
    assert "name" in [v.field for v in caught.value.field_violations]
