"""DKIM signing: the received bytes verify with dkimpy against the public key; the private
key is read only for the server's own configs and never appears in an error."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from smtp_connector.client.errors import InvalidRequestError
from smtp_connector.server.app import load_server_config
from smtp_connector.server.errors import InvalidConfig
from smtp_connector.server.settings import Settings

from tests.support.issues import errors
from tests.support.service import ServerFactory, inline_on_loopback, make_config
from tests.support.smtp import SmtpServer

SELECTOR = "mail2026"
DOMAIN = "example.com"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit RSA key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey, form: serialization.PrivateFormat) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())


@pytest.fixture(scope="module")
def key_pair(rsa_key: rsa.RSAPrivateKey) -> tuple[bytes, bytes]:
    """(PEM private key in PKCS#1, the DNS TXT record publishing its public key)."""
    public = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private = pem(rsa_key, serialization.PrivateFormat.TraditionalOpenSSL)
    return private, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def verifies(data: bytes, txt_record: bytes) -> bool:
    """dkimpy's verdict, with DNS answered from the test's own key."""

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return txt_record if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else None

    return bool(dkim.verify(data, dnsfunc=dns))


def dkim_config(port: int, **key_source: str) -> dict[str, Any]:
    return make_config(port, dkim={"domain": DOMAIN, "selector": SELECTOR, **key_source})


def test_a_message_signed_with_a_key_file_verifies(
    smtp_server: SmtpServer,
    start_service: ServerFactory,
    key_pair: tuple[bytes, bytes],
    tmp_path: Path,
) -> None:
    private, txt = key_pair
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(private)
    client = start_service(dkim_config(smtp_server.port, privateKeyFile=str(key_file)))

    client.send_message("user@example.com", "Register", {"code": "1", "application": {"name": "A"}})

    [received] = smtp_server.received
    assert received.data.startswith(b"DKIM-Signature: ")
    signature = received.message["DKIM-Signature"]
    unfolded = "".join(str(signature).split())
    tags = dict(tag.split("=", 1) for tag in unfolded.split(";") if tag)
    assert (tags["d"], tags["s"], tags["c"]) == (DOMAIN, SELECTOR, "relaxed/relaxed")
    assert {"from", "to", "subject", "message-id"} <= set(tags["h"].lower().split(":"))
    assert verifies(received.data, txt)
    # A relay that changed the signed subject would break the signature.
    assert b"BEGIN RSA PRIVATE KEY" not in received.data
    tampered = received.data.replace(b"Subject: =?utf-8?", b"Subject: =?UTF-8?", 1)
    assert tampered != received.data
    assert not verifies(tampered, txt)


def test_a_multipart_message_with_a_templated_sender_signed_from_an_env_var_verifies(
    smtp_server: SmtpServer,
    start_service: ServerFactory,
    key_pair: tuple[bytes, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    private, txt = key_pair
    # As pasted into a container's environment: literal "\n" instead of line breaks.
    monkeypatch.setenv("TEST_DKIM_KEY", private.decode().replace("\n", "\\n"))
    config = dkim_config(smtp_server.port, privateKeyEnv="TEST_DKIM_KEY")
    config["templates"] = [
        {
            "usageType": "Generic",
            "subject": "Code for {{application.name}}",
            "content": "Code {{code}}",
            "htmlContent": "<p>Code <b>{{code}}</b></p>",
            "sendFrom": "{{application.name}} <noreply@example.com>",
        }
    ]
    client = start_service(config)

    client.send_message("user@example.com", "SignIn", {"code": "1", "application": {"name": "Ü"}})

    [received] = smtp_server.received
    assert received.message.get_content_type() == "multipart/alternative"
    assert verifies(received.data, txt)


def test_an_inline_config_may_not_ask_for_a_key(
    smtp_server: SmtpServer, start_service: ServerFactory, tmp_path: Path
) -> None:
    client = start_service(**inline_on_loopback(smtp_server.port))
    config = dkim_config(smtp_server.port, privateKeyFile="/etc/ssl/private/any.pem")

    with pytest.raises(InvalidRequestError) as caught:
        client.send_message(
            "user@example.com", "Register", {"code": "1"}, config_json=json.dumps(config)
        )

    assert caught.value.reason == "INVALID_CONFIG"
    assert [v.field for v in caught.value.field_violations] == ["dkim"]
    assert smtp_server.received == []


def test_validate_config_checks_the_dkim_block_without_reading_the_key(
    start_service: ServerFactory,
) -> None:
    client = start_service()
    good = dkim_config(25, privateKeyFile="/nonexistent/dkim.pem")
    both = dkim_config(25, privateKeyFile="/k.pem", privateKeyEnv="K")
    no_from = make_config(
        25, dkim={"domain": DOMAIN, "selector": SELECTOR, "privateKeyEnv": "K", "headers": ["To"]}
    )

    assert client.validate_config(json.dumps(good)).valid
    for config in (both, no_from):
        response = client.validate_config(json.dumps(config))
        assert [i.field_path for i in errors(response.issues)] == ["dkim"]


@pytest.mark.parametrize(
    ("key_source", "field_path", "problem"),
    [
        ({"privateKeyFile": "/nonexistent/dkim.pem"}, "dkim.privateKeyFile", "cannot read"),
        ({"privateKeyEnv": "TEST_DKIM_UNSET"}, "dkim.privateKeyEnv", "is not set"),
        ({"privateKeyEnv": "TEST_DKIM_GARBAGE"}, "dkim.privateKeyEnv", "not a PEM RSA"),
    ],
)
def test_an_unusable_key_stops_the_server_loading_without_quoting_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    key_source: dict[str, str],
    field_path: str,
    problem: str,
) -> None:
    secret = "TOP-SECRET-KEY-MATERIAL"
    monkeypatch.setenv("TEST_DKIM_GARBAGE", f"-----BEGIN RSA PRIVATE KEY-----\n{secret}\n-----")
    monkeypatch.delenv("TEST_DKIM_UNSET", raising=False)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(dkim_config(25, **key_source)), encoding="utf-8")

    with pytest.raises(InvalidConfig) as caught:
        load_server_config(Settings(config=path))

    [violation] = caught.value.violations
    assert violation.field == field_path
    assert problem in violation.description
    assert secret not in str(caught.value) and secret not in violation.description


def test_the_key_is_not_in_the_loaded_configs_repr_nor_its_redacted_json(
    key_pair: tuple[bytes, bytes], tmp_path: Path
) -> None:
    private, _ = key_pair
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(private)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(dkim_config(25, privateKeyFile=str(key_file))), encoding="utf-8")

    profiles = load_server_config(Settings(config=path))

    assert profiles is not None
    loaded = profiles.get()
    assert loaded.dkim is not None
    key_line = private.decode().splitlines()[1]
    assert key_line not in repr(profiles)
    assert key_line not in loaded.config.redacted_json()


def test_a_pkcs8_key_signs_too(
    smtp_server: SmtpServer,
    start_service: ServerFactory,
    rsa_key: rsa.RSAPrivateKey,
    key_pair: tuple[bytes, bytes],
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "dkim-pkcs8.pem"
    key_file.write_bytes(pem(rsa_key, serialization.PrivateFormat.PKCS8))
    client = start_service(dkim_config(smtp_server.port, privateKeyFile=str(key_file)))

    client.send_message("user@example.com", "Generic", {"code": "1"})

    assert verifies(smtp_server.received[0].data, key_pair[1])
