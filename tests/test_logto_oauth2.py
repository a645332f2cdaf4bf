"""OAuth2 configs Logto accepts (its oauth2AuthWithTokenGuard and oauth2AuthWithKeyGuard),
with nodemailer's meaning (lib/xoauth2/index.js): no ``accessUrl`` means Google's token
endpoint; ``serviceClient`` + ``privateKey`` is a Google service account, which gets its
token with the JWT bearer grant of RFC 7523. A loopback token endpoint checks the signed
assertion with the key's public half; aiosmtpd checks the token in XOAUTH2."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from smtp_connector.server.domain.mailer import load_config
from smtp_connector.server.errors import InvalidConfig
from smtp_connector.server.transport.oauth import GOOGLE_TOKEN_URL

from tests.support.oauth import TokenEndpoint
from tests.support.service import ServerFactory, make_config
from tests.support.smtp import SmtpServer

MAILBOX = "sender@example.com"
SERVICE = "mailer@project.iam.gserviceaccount.com"


def _unpadded(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class ServiceAccountEndpoint(TokenEndpoint):
    """Answers JWT bearer grants whose RS256 assertion the given public key verifies."""

    def __init__(self, public_key: rsa.RSAPublicKey) -> None:
        super().__init__()
        self.public_key = public_key
        self.claims: list[dict[str, Any]] = []

    def answer(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {"error": "unsupported_grant_type"}
        header, claims, signature = form["assertion"].split(".")
        try:
            self.public_key.verify(
                _unpadded(signature),
                f"{header}.{claims}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except Exception:  # cryptography's InvalidSignature
            return 400, {"error": "invalid_grant"}
        assert json.loads(_unpadded(header)) == {"alg": "RS256", "typ": "JWT"}
        self.claims.append(json.loads(_unpadded(claims)))
        token = f"sa-token-{len(self.claims)}"
        self.issued.append(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: Any, passphrase: bytes | None = None) -> str:
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if passphrase is None
        else serialization.BestAvailableEncryption(passphrase)
    )
    data: bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    return data.decode()


def _service_account_send(
    start_service: ServerFactory, private_key: Any, key: rsa.RSAPrivateKey
) -> tuple[ServiceAccountEndpoint, SmtpServer]:
    endpoint = ServiceAccountEndpoint(key.public_key())
    with endpoint, SmtpServer() as server:
        server.handler.tokens[MAILBOX] = {"sa-token-1"}
        auth = {
            "type": "OAuth2",
            "user": MAILBOX,
            "serviceClient": SERVICE,
            "privateKey": private_key,
            "accessUrl": endpoint.url,
        }
        client = start_service(make_config(server.port, pool=False, auth=auth))
        client.send_message("user@example.com", "Generic", {"code": "1"})
    return endpoint, server


def test_a_service_account_gets_its_token_with_a_signed_jwt(
    start_service: ServerFactory, key: rsa.RSAPrivateKey
) -> None:
    endpoint, server = _service_account_send(start_service, _pem(key), key)
    assert server.logins == [("XOAUTH2", MAILBOX)]
    assert len(server.received) == 1
    (claims,) = endpoint.claims
    assert {k: claims[k] for k in ("iss", "sub", "aud", "scope")} == {
        "iss": SERVICE,
        "sub": MAILBOX,
        "aud": endpoint.url,
        "scope": "https://mail.google.com/",
    }
    assert claims["exp"] - claims["iat"] == 300  # nodemailer's serviceRequestTimeout


def test_an_encrypted_key_with_its_passphrase(
    start_service: ServerFactory, key: rsa.RSAPrivateKey
) -> None:
    private_key = {"key": _pem(key, b"s3cret"), "passphrase": "s3cret"}
    endpoint, server = _service_account_send(start_service, private_key, key)
    assert server.logins == [("XOAUTH2", MAILBOX)] and len(endpoint.claims) == 1


@pytest.mark.parametrize(
    "private_key",
    ["not a key", "EC", {"key": "ENCRYPTED", "passphrase": "wrong"}],
    ids=["garbage", "ec-key", "wrong-passphrase"],
)
def test_an_unusable_private_key_is_refused_on_load_without_showing_it(
    key: rsa.RSAPrivateKey, private_key: Any
) -> None:
    if private_key == "EC":
        private_key = _pem(ec.generate_private_key(ec.SECP256R1()))
    elif isinstance(private_key, dict):
        private_key = {"key": _pem(key, b"right"), "passphrase": "wrong"}
    auth = {"type": "oauth2", "user": MAILBOX, "serviceClient": SERVICE, "privateKey": private_key}
    with pytest.raises(InvalidConfig) as caught:
        load_config(json.dumps(make_config(25, auth=auth)))
    assert [v.field for v in caught.value.violations] == ["auth"]
    assert "PRIVATE KEY" not in str(caught.value) and "wrong" not in str(caught.value)


def test_a_refresh_token_without_access_url_goes_to_googles_endpoint() -> None:
    auth = {"type": "oauth2", "user": MAILBOX, "clientId": "id", "refreshToken": "r"}
    oauth2 = load_config(json.dumps(make_config(25, auth=auth))).connection.oauth2
    assert oauth2 is not None and oauth2.refreshable
    assert oauth2.access_url == GOOGLE_TOKEN_URL == "https://accounts.google.com/o/oauth2/token"


def test_a_service_account_without_a_key_is_refused() -> None:
    auth = {"type": "oauth2", "user": MAILBOX, "serviceClient": SERVICE}
    with pytest.raises(InvalidConfig, match="privateKey"):
        load_config(json.dumps(make_config(25, auth=auth)))
