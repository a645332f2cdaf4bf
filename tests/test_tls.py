"""TLS modes and certificate checks against aiosmtpd with throwaway certificates: opportunistic
STARTTLS, requireTLS, ignoreTLS, implicit TLS, private CAs, servername, client certificates,
the TLS 1.2 floor, the opt-out of verification, and the 465/587 hints."""

from __future__ import annotations

import json
import smtplib
import ssl
import warnings
from pathlib import Path

import pytest
import trustme
from smtp_connector.client import (
    InvalidRequestError,
    SmtpTlsError,
    SmtpUnavailableError,
)

from tests.support.certs import SERVER_NAME, ca_pem, server_context
from tests.support.issues import errors
from tests.support.service import ServerFactory, make_config
from tests.support.smtp import SmtpServer

TO = "user@example.com"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def send(client: object, code: str = "123456") -> None:
    client.send_message(TO, "Generic", {"code": code})  # type: ignore[attr-defined]


def test_starttls_is_used_when_offered(ca: trustme.CA, start_service: ServerFactory) -> None:
    with SmtpServer(tls_context=server_context(ca)) as server:
        send(start_service(make_config(server.port, tls={"ca": ca_pem(ca)})))
    assert server.received[0].tls_version in ("TLSv1.2", "TLSv1.3")


def test_plain_server_is_used_plain_by_default(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    send(start_service(make_config(smtp_server.port)))
    assert smtp_server.received[0].tls_version is None


def test_require_tls_fails_without_starttls(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(make_config(smtp_server.port, requireTLS=True))
    with pytest.raises(SmtpTlsError, match="does not offer STARTTLS"):
        send(client)
    assert smtp_server.received == []


def test_require_tls_with_starttls(ca: trustme.CA, start_service: ServerFactory) -> None:
    with SmtpServer(tls_context=server_context(ca)) as server:
        client = start_service(make_config(server.port, requireTLS=True, tls={"ca": ca_pem(ca)}))
        send(client)
    assert server.received[0].tls_version is not None


def test_ignore_tls_stays_plain(ca: trustme.CA, start_service: ServerFactory) -> None:
    with SmtpServer(tls_context=server_context(ca)) as server:
        send(start_service(make_config(server.port, ignoreTLS=True)))
    assert server.received[0].tls_version is None


def test_implicit_tls(ca: trustme.CA, start_service: ServerFactory) -> None:
    with SmtpServer(tls_context=server_context(ca), implicit_tls=True) as server:
        send(start_service(make_config(server.port, secure=True, tls={"ca": ca_pem(ca)})))
    assert server.received[0].tls_version is not None


def test_secure_against_a_starttls_port_hints_at_secure_false(
    ca: trustme.CA, start_service: ServerFactory
) -> None:
    with SmtpServer(tls_context=server_context(ca)) as server:
        client = start_service(make_config(server.port, secure=True, tls={"ca": ca_pem(ca)}))
        with pytest.raises(SmtpTlsError, match="set secure to false") as caught:
            send(client)
    assert caught.value.reason == "SMTP_TLS_FAILED"


def test_plain_against_an_implicit_tls_port_hints_at_secure_true(
    ca: trustme.CA, start_service: ServerFactory
) -> None:
    with SmtpServer(tls_context=server_context(ca), implicit_tls=True) as server:
        client = start_service(make_config(server.port, greetingTimeout=300))
        with pytest.raises(SmtpUnavailableError, match="set secure to true") as caught:
            send(client)
    assert caught.value.reason == "SMTP_TIMEOUT"


def test_an_unknown_ca_is_refused(ca: trustme.CA, start_service: ServerFactory) -> None:
    with SmtpServer(tls_context=server_context(ca)) as server:
        client = start_service(make_config(server.port))  # system CAs only
        with pytest.raises(SmtpTlsError, match=r"tls\.ca"):
            send(client)
        assert server.received == []


def test_ca_from_a_file(ca: trustme.CA, start_service: ServerFactory, tmp_path: Path) -> None:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    with SmtpServer(tls_context=server_context(ca)) as server:
        send(start_service(make_config(server.port, requireTLS=True, tls={"ca": str(path)})))
    assert len(server.received) == 1


def test_a_missing_ca_file_is_an_invalid_config(
    smtp_server: SmtpServer, start_service: ServerFactory, tmp_path: Path
) -> None:
    client = start_service(make_config(smtp_server.port, tls={"ca": str(tmp_path / "nope.pem")}))
    with pytest.raises(InvalidRequestError) as caught:
        send(client)
    assert caught.value.field_violations[0].field == "tls.ca"


def test_servername_checks_the_name_on_the_certificate(
    ca: trustme.CA, start_service: ServerFactory
) -> None:
    context = server_context(ca, SERVER_NAME)  # no 127.0.0.1 on this certificate
    with SmtpServer(tls_context=context) as server:
        without = start_service(make_config(server.port, tls={"ca": ca_pem(ca)}))
        with pytest.raises(SmtpTlsError, match=r"tls\.servername"):
            send(without)
        tls = {"ca": ca_pem(ca), "servername": SERVER_NAME}
        send(start_service(make_config(server.port, tls=tls)))
    assert len(server.received) == 1


def test_reject_unauthorized_false_is_an_opt_in_with_a_warning(
    start_service: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = trustme.CA()  # a self-signed chain nobody trusts
    with SmtpServer(tls_context=server_context(stranger)) as server:
        tls = {"rejectUnauthorized": False}
        send(start_service(make_config(server.port, requireTLS=True, tls=tls)))
    assert server.received[0].tls_version is not None
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert any("NOT verified" in r.getMessage() for r in warnings)


def test_tls_below_1_2_is_refused(ca: trustme.CA, start_service: ServerFactory) -> None:
    old = server_context(ca, maximum_version=ssl.TLSVersion.TLSv1_1)
    with SmtpServer(tls_context=old) as server:
        # The server does speak TLS 1.1 to a client that accepts it...
        assert _starttls_version(server.port, ca) == "TLSv1.1"
        # ...and our client does not.
        client = start_service(make_config(server.port, tls={"ca": ca_pem(ca)}))
        with pytest.raises(SmtpTlsError) as caught:
            send(client)
        assert server.received == []
    assert caught.value.reason == "SMTP_TLS_FAILED"


def _starttls_version(port: int, ca: trustme.CA) -> str | None:
    context = ssl.create_default_context(cadata=ca_pem(ca))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
        smtp.starttls(context=context)
        assert isinstance(smtp.sock, ssl.SSLSocket)
        return smtp.sock.version()


def test_client_certificate_as_pem_text(ca: trustme.CA, start_service: ServerFactory) -> None:
    client_cert = ca.issue_cert("client.example.test")
    context = server_context(ca, client_ca=ca)
    with SmtpServer(tls_context=context) as server:
        tls = {
            "ca": ca_pem(ca),
            "cert": b"".join(b.bytes() for b in client_cert.cert_chain_pems).decode(),
            "key": client_cert.private_key_pem.bytes().decode(),
        }
        send(start_service(make_config(server.port, requireTLS=True, tls=tls)))
        without = start_service(make_config(server.port, requireTLS=True, tls={"ca": ca_pem(ca)}))
        with pytest.raises((SmtpTlsError, SmtpUnavailableError)):
            send(without)
    assert len(server.received) == 1


def test_client_certificate_from_files(
    ca: trustme.CA, start_service: ServerFactory, tmp_path: Path
) -> None:
    client_cert = ca.issue_cert("client.example.test")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    client_cert.cert_chain_pems[0].write_to_path(str(cert_path))
    client_cert.private_key_pem.write_to_path(str(key_path))
    with SmtpServer(tls_context=server_context(ca, client_ca=ca)) as server:
        tls = {"ca": ca_pem(ca), "cert": str(cert_path), "key": str(key_path)}
        send(start_service(make_config(server.port, requireTLS=True, tls=tls)))
    assert len(server.received) == 1


def test_validate_config_checks_tls_material_and_warns(
    start_service: ServerFactory, tmp_path: Path
) -> None:
    client = start_service()
    missing = make_config(25, tls={"ca": str(tmp_path / "nope.pem")})
    report = client.validate_config(json.dumps(missing))
    assert not report.valid
    assert [issue.field_path for issue in errors(report.issues)] == ["tls.ca"]
    lax = make_config(25, tls={"rejectUnauthorized": False}, allowPlaintextAuth=True)
    report = client.validate_config(json.dumps(lax))
    assert report.valid
    assert {issue.field_path for issue in report.issues} >= {
        "tls.rejectUnauthorized",
        "allowPlaintextAuth",
    }
