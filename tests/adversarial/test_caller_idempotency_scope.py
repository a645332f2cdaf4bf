"""Finding 10: idempotency keys were one space for every caller. Caller B could take caller
A's key first and so block A's mail (IDEMPOTENCY_KEY_REUSED), or repeat A's request with
A's key and read A's response (message id, SMTP reply) without sending anything. Keys now
belong to the caller that used them: its bearer token, or its client certificate (mTLS).
Real callers with their own tokens, and with their own certificates, on real channels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from smtp_connector.client import SmtpConnectorClient, Tls
from smtp_connector.client.errors import SmtpConnectorError

from tests.support.attack import assert_absent
from tests.support.service import in_process_service, make_config
from tests.support.smtp import SmtpServer

TOKEN_A, TOKEN_B = "token-of-a-5d1f9e", "token-of-b-a7c2e4"
KEY = "signup-42"
A_REQUEST: dict[str, Any] = {"code": "111111", "application": {"name": "A"}}
B_REQUEST: dict[str, Any] = {"code": "222222", "application": {"name": "B"}}


def send(client: SmtpConnectorClient, payload: dict[str, Any]) -> Any:
    return client.send_message("user@example.com", "Register", payload, idempotency_key=KEY)


def assert_scoped(
    caller_a: SmtpConnectorClient, caller_b: SmtpConnectorClient, smtp: SmtpServer
) -> None:
    # B takes A's key first, with a request of its own.
    b_first = send(caller_b, B_REQUEST)
    # A's mail still goes out: the key is A's own.
    a_sent = send(caller_a, A_REQUEST)
    assert a_sent.message_id != b_first.message_id
    # B repeating A's exact request under A's key reads nothing of A's: B's key holds B's
    # own, different request.
    with pytest.raises(SmtpConnectorError) as raised:
        send(caller_b, A_REQUEST)
    assert raised.value.reason == "IDEMPOTENCY_KEY_REUSED"
    assert_absent(a_sent.message_id, str(raised.value))
    # Each caller's own repeat still replays its own outcome, sending nothing again.
    assert send(caller_a, A_REQUEST).message_id == a_sent.message_id
    assert send(caller_b, B_REQUEST).message_id == b_first.message_id
    assert len(smtp.received) == 2


def test_keys_are_scoped_by_bearer_token(smtp_server: SmtpServer, tmp_path: Path) -> None:
    config = make_config(smtp_server.port)
    tokens = f"{TOKEN_A},{TOKEN_B}"
    with in_process_service(tmp_path, config, auth_tokens=tokens) as service:
        target = f"127.0.0.1:{service.port}"
        with (
            SmtpConnectorClient(target, token=TOKEN_A, timeout=10, retry=None) as caller_a,
            SmtpConnectorClient(target, token=TOKEN_B, timeout=10, retry=None) as caller_b,
        ):
            assert_scoped(caller_a, caller_b, smtp_server)


@pytest.fixture
def mtls(tmp_path: Path) -> Iterator[tuple[dict[str, Any], Tls, Tls]]:
    """Server settings for mTLS, and the TLS of two callers with certificates of their own."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    paths = {}
    for name, blob in {
        "ca": ca.cert_pem.bytes(),
        "cert": b"".join(b.bytes() for b in server.cert_chain_pems),
        "key": server.private_key_pem.bytes(),
    }.items():
        paths[name] = tmp_path / f"{name}.pem"
        paths[name].write_bytes(blob)
    callers = []
    for name in ("a.clients.example.test", "b.clients.example.test"):
        cert = ca.issue_cert(name)
        callers.append(
            Tls(
                root_certificates=ca.cert_pem.bytes(),
                certificate_chain=b"".join(b.bytes() for b in cert.cert_chain_pems),
                private_key=cert.private_key_pem.bytes(),
            )
        )
    settings = {
        "tls_cert_file": paths["cert"],
        "tls_key_file": paths["key"],
        "tls_client_ca_file": paths["ca"],
    }
    yield settings, callers[0], callers[1]


def test_keys_are_scoped_by_client_certificate(
    smtp_server: SmtpServer, tmp_path: Path, mtls: tuple[dict[str, Any], Tls, Tls]
) -> None:
    settings, tls_a, tls_b = mtls
    with in_process_service(tmp_path, make_config(smtp_server.port), **settings) as service:
        target = f"127.0.0.1:{service.port}"
        with (
            SmtpConnectorClient(target, tls=tls_a, timeout=10, retry=None) as caller_a,
            SmtpConnectorClient(target, tls=tls_b, timeout=10, retry=None) as caller_b,
        ):
            assert_scoped(caller_a, caller_b, smtp_server)
