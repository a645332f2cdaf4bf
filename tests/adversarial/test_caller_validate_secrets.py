"""Finding 19: ValidateConfig's ``normalized_config_json`` redacted a fixed list of key names,
so every other secret a config may hold came back to the caller: ``auth.privateKey``,
``tls.passphrase``, the user-info and query of ``auth.accessUrl``, custom header values. A
real caller sends such a config on a real channel; none of its secrets may come back, in
the response or in the server's log."""

from __future__ import annotations

import json
import logging

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.attack import assert_absent, assert_responsive
from tests.support.service import ServerFactory, make_config
from tests.support.smtp import SmtpServer

# A service account's key, as nodemailer's privateKey holds it (the schema checks it is one).
PRIVATE_KEY = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)
SECRETS = {
    "private_key": PRIVATE_KEY.splitlines()[1],  # a line of the key's base64
    "passphrase": "PASSPHRASE-1c149afbf4c8",
    "url_password": "URLPASS-996fb92427ae",
    "query_secret": "QUERYSECRET-41e4649b934c",
    "refresh_token": "REFRESH-a495991b7852",
    "client_secret": "CLIENTSECRET-b855fb4a",
    "header_value": "HEADERKEY-78a2c6e8a1bd",
    "unknown_value": "UNKNOWN-9b2d5e2f7c01",
}


def config_with_secrets(smtp_port: int) -> dict[str, object]:
    return make_config(
        smtp_port,
        port=465,
        secure=True,
        auth={
            "type": "OAuth2",
            "user": "sender@example.com",
            "clientId": "client-id",
            "clientSecret": SECRETS["client_secret"],
            "refreshToken": SECRETS["refresh_token"],
            "accessUrl": (
                f"https://svc:{SECRETS['url_password']}@login.example.com/token"
                f"?client_secret={SECRETS['query_secret']}&tenant=acme"
            ),
            "privateKey": PRIVATE_KEY,
            "serviceClient": "1234",
        },
        tls={"passphrase": SECRETS["passphrase"]},
        customHeaders={"X-Api-Key": SECRETS["header_value"], "X-Tenant": "acme"},
        apiSecret=SECRETS["unknown_value"],
    )


def test_no_secret_of_a_config_comes_back_from_validate_config(
    smtp_server: SmtpServer, start_service: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = start_service(make_config(smtp_server.port))
    caplog.set_level(logging.DEBUG)
    config = config_with_secrets(smtp_server.port)
    response = client.validate_config(json.dumps(config))
    wire = response.SerializeToString()
    for secret in SECRETS.values():
        assert_absent(secret, wire, response.normalized_config_json, caplog.text)
    # What is not secret is still shown, so the caller sees what the server understood.
    normalized = json.loads(response.normalized_config_json)
    assert normalized["auth"]["accessUrl"] == (
        "https://********@login.example.com/token?client_secret=********&tenant=********"
    )
    assert normalized["customHeaders"] == {"X-Api-Key": "********", "X-Tenant": "********"}
    assert normalized["auth"]["clientSecret"] == "********"
    assert normalized["auth"]["clientId"] == "client-id"
    assert normalized["auth"]["privateKey"] == "********"  # a secret type of the schema
    assert normalized["tls"]["passphrase"] == "********"
    # Keys outside the schema are reported by name, never echoed with their values.
    assert "apiSecret" not in normalized
    assert "apiSecret" in {issue.field_path for issue in response.issues}
    assert_responsive(client.target, client, smtp_server)
