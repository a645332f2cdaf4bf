"""Node's ``tls.passphrase``: an encrypted client key (PKCS#8 and OpenSSL's traditional PEM,
made with ``cryptography``) opens with its pass phrase and its certificate reaches a real TLS
SMTP server that requires one; a missing or wrong pass phrase is INVALID_CONFIG on
``tls.passphrase``, on a send and in ValidateConfig alike, and the pass phrase never comes back
(errors, logs, the normalized config)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from smtp_connector.client import InvalidRequestError

from tests.support.certs import ca_pem, server_context
from tests.support.issues import errors
from tests.support.service import ServerFactory, make_config
from tests.support.smtp import SmtpServer

PASSPHRASE = "PP-correct-horse-6d1f0b"
WRONG = "PP-wrong-battery-93ae44"
CLIENT_NAME = "client.example.test"
FORMATS = {
    "pkcs8": serialization.PrivateFormat.PKCS8,
    "traditional": serialization.PrivateFormat.TraditionalOpenSSL,
}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def encrypted_identity(
    ca: trustme.CA, passphrase: str, key_format: str = "pkcs8"
) -> dict[str, str]:
    """tls.cert and tls.key of a client certificate whose key is encrypted with
    ``passphrase`` (BestAvailableEncryption, as ``openssl pkey -aes256`` would)."""
    issued = ca.issue_cert(CLIENT_NAME)
    key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        FORMATS[key_format],
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    assert b"ENCRYPTED" in encrypted  # really a key that needs its pass phrase
    return {"cert": issued.cert_chain_pems[0].bytes().decode(), "key": encrypted.decode()}


def peer_certificates(server: SmtpServer) -> list[dict[str, Any]]:
    """Records, at each DATA, the client certificate the SMTP server saw on its TLS socket."""
    seen: list[dict[str, Any]] = []

    def record(protocol: Any) -> None:
        ssl_object = protocol.transport.get_extra_info("ssl_object")
        seen.append(ssl_object.getpeercert() if ssl_object is not None else {})

    server.handler.on_data = record
    return seen


@pytest.mark.parametrize("key_format", sorted(FORMATS))
def test_the_right_passphrase_presents_the_client_certificate(
    ca: trustme.CA, start_service: ServerFactory, key_format: str
) -> None:
    tls = {"ca": ca_pem(ca), **encrypted_identity(ca, PASSPHRASE, key_format)}
    with SmtpServer(tls_context=server_context(ca, client_ca=ca)) as server:
        seen = peer_certificates(server)
        client = start_service(
            make_config(server.port, requireTLS=True, tls={**tls, "passphrase": PASSPHRASE})
        )
        client.send_message("user@example.com", "Generic", {"code": "123456"})
    assert len(server.received) == 1
    assert server.received[0].tls_version is not None
    # The server required a client certificate, checked it against the CA, and saw ours.
    assert [cert.get("subjectAltName") for cert in seen] == [(("DNS", CLIENT_NAME),)]


@pytest.mark.parametrize(
    ("passphrase", "expected"),
    [(None, "set tls.passphrase"), ("", "set tls.passphrase"), (WRONG, "does not open")],
    ids=["missing", "empty", "wrong"],
)
def test_a_missing_or_wrong_passphrase_is_an_invalid_config_on_the_field(
    ca: trustme.CA,
    start_service: ServerFactory,
    caplog: pytest.LogCaptureFixture,
    passphrase: str | None,
    expected: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    tls = {"ca": ca_pem(ca), **encrypted_identity(ca, PASSPHRASE)}
    if passphrase is not None:
        tls["passphrase"] = passphrase
    with SmtpServer(tls_context=server_context(ca, client_ca=ca)) as server:
        config = make_config(server.port, requireTLS=True, tls=tls)
        client = start_service(config)
        with pytest.raises(InvalidRequestError) as caught:
            client.send_message("user@example.com", "Generic", {"code": "123456"})
        report = client.validate_config(json.dumps(config))
    assert caught.value.reason == "INVALID_CONFIG"
    assert [v.field for v in caught.value.field_violations] == ["tls.passphrase"]
    assert expected in str(caught.value)
    # ValidateConfig checks it as the send's load does: the same field, the same words.
    assert not report.valid
    assert [(i.field_path, i.message) for i in errors(report.issues)] == [
        ("tls.passphrase", caught.value.field_violations[0].description)
    ]
    assert server.connections == 0  # refused before connecting
    answers = str(caught.value) + repr(caught.value.field_violations) + str(report)
    for secret in (PASSPHRASE, WRONG, tls["key"].splitlines()[1]):
        assert secret not in answers
        assert secret not in caplog.text


def test_validate_config_accepts_the_right_passphrase_and_hides_it(
    ca: trustme.CA, start_service: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tls = {**encrypted_identity(ca, PASSPHRASE), "passphrase": PASSPHRASE}
    client = start_service()
    report = client.validate_config(json.dumps(make_config(25, tls=tls)))
    assert report.valid, report.issues
    # A schema key now: no UNKNOWN_KEY warning, and its value is shown redacted.
    assert "tls.passphrase" not in {issue.field_path for issue in report.issues}
    normalized = json.loads(report.normalized_config_json)
    assert normalized["tls"]["passphrase"] == "********"
    assert normalized["tls"]["key"] == "********"
    assert PASSPHRASE not in report.SerializeToString().decode("utf-8", "replace")
    assert PASSPHRASE not in caplog.text
