"""Listener TLS and mTLS (certificates made here with trustme) and bearer-token callers,
against real server processes."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme
from grpc_health.v1 import health_pb2, health_pb2_grpc
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.client.cli import main
from smtp_connector.client.errors import (
    ConfigNotLoadedError,
    PermissionDeniedError,
    SmtpConnectorError,
    UnauthenticatedError,
)
from smtp_connector.server.rpc.interceptors import BearerTokenInterceptor, bearer_token, caller_key

from tests.support.process import ServerProcess
from tests.test_health_reflection import list_services


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def write_pems(tmp_path: Path, ca: trustme.CA) -> dict[str, Path]:
    """The server's certificate and key, a client's, and the CA, as files."""
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client.example.test")
    files = {
        "ca": ca.cert_pem.bytes(),
        "cert": b"".join(blob.bytes() for blob in server.cert_chain_pems),
        "key": server.private_key_pem.bytes(),
        "client_cert": b"".join(blob.bytes() for blob in client.cert_chain_pems),
        "client_key": client.private_key_pem.bytes(),
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / f"{name}.pem"
        paths[name].write_bytes(data)
    return paths


def check_health(channel: grpc.Channel) -> int:
    stub: Any = health_pb2_grpc.HealthStub(channel)  # the stubs lack its methods
    return int(stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status)


def test_tls_listener(tmp_path: Path, ca: trustme.CA) -> None:
    pems = write_pems(tmp_path, ca)
    trusted = grpc.ssl_channel_credentials(pems["ca"].read_bytes())
    args = ("--tls-cert-file", str(pems["cert"]), "--tls-key-file", str(pems["key"]))
    with ServerProcess(tmp_path, *args, credentials=trusted) as server:
        with server.channel() as channel:
            assert check_health(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
        # A plaintext client cannot talk to a TLS listener.
        with grpc.insecure_channel(server.address) as plain, pytest.raises(grpc.RpcError):
            check_health(plain)
        # Nor can a client that does not trust the server's CA.
        untrusted = grpc.ssl_channel_credentials(trustme.CA().cert_pem.bytes())
        with grpc.secure_channel(server.address, untrusted) as other, pytest.raises(grpc.RpcError):
            check_health(other)
        assert "(TLS)" in server.logs()


def test_mtls_listener_requires_a_client_certificate(tmp_path: Path, ca: trustme.CA) -> None:
    pems = write_pems(tmp_path, ca)
    with_client_cert = grpc.ssl_channel_credentials(
        pems["ca"].read_bytes(), pems["client_key"].read_bytes(), pems["client_cert"].read_bytes()
    )
    args = (
        "--tls-cert-file", str(pems["cert"]),
        "--tls-key-file", str(pems["key"]),
        "--tls-client-ca-file", str(pems["ca"]),
    )  # fmt: skip
    with ServerProcess(tmp_path, *args, credentials=with_client_cert) as server:
        with server.channel() as channel:
            assert check_health(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
        no_client_cert = grpc.ssl_channel_credentials(pems["ca"].read_bytes())
        with (
            grpc.secure_channel(server.address, no_client_cert) as channel,
            pytest.raises(grpc.RpcError) as raised,
        ):
            check_health(channel)
        assert raised.value.code() is grpc.StatusCode.UNAVAILABLE


def error_of(address: str, token: str | None) -> SmtpConnectorError:
    """The error a TestConnection call with ``token`` gets."""
    with SmtpConnectorClient(address, token=token, timeout=5) as client:
        try:
            client.test_connection()
        except SmtpConnectorError as exc:
            return exc
    raise AssertionError("the call succeeded")


def test_bearer_tokens(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# rotated weekly\nold-token-1\n\nnew-token-2  # since Monday\n")
    env = {"SMTP_CONNECTOR_AUTH_TOKENS": "env-token-3"}
    with ServerProcess(tmp_path, "--auth-tokens-file", str(tokens), env=env) as server:
        # Health needs no token, so probes keep working.
        assert server.health() == "NOT_SERVING"
        for token in ("old-token-1", "new-token-2", "env-token-3"):
            # Past the token check: the request reaches the service (which has no config).
            assert isinstance(error_of(server.address, token), ConfigNotLoadedError)
        missing = error_of(server.address, None)
        assert isinstance(missing, UnauthenticatedError)
        assert missing.code is grpc.StatusCode.UNAUTHENTICATED
        assert missing.reason == "UNAUTHENTICATED"
        wrong = error_of(server.address, "old-token-")
        assert isinstance(wrong, PermissionDeniedError)
        assert wrong.code is grpc.StatusCode.PERMISSION_DENIED
        assert wrong.reason == "INVALID_TOKEN"
        # Reflection is behind the token too (a stream-stream RPC, refused the same way).
        with server.channel() as channel, pytest.raises(grpc.RpcError) as listing:
            list_services(channel)
        assert listing.value.code() is grpc.StatusCode.UNAUTHENTICATED
    logs = server.logs()
    for secret in ("old-token-1", "new-token-2", "env-token-3", "old-token-"):
        assert secret not in logs


def test_token_checks() -> None:
    interceptor = BearerTokenInterceptor(["a" * 40, "short"])
    assert interceptor.accepts("short")
    assert interceptor.accepts("a" * 40)
    assert not interceptor.accepts("a" * 39)
    assert not interceptor.accepts("")
    assert bearer_token([("authorization", "Bearer  tok ")]) == "tok"
    assert bearer_token([("authorization", "bearer tok")]) == "tok"
    assert bearer_token([("authorization", "Basic dXNlcg==")]) is None
    assert bearer_token([("authorization", "Bearer")]) is None
    assert bearer_token([]) is None
    with pytest.raises(ValueError):
        BearerTokenInterceptor([])


def test_callers_are_told_apart_by_checked_tokens_only() -> None:
    metadata = [("authorization", "Bearer t1")]
    peer = "ipv4:10.0.0.7:51234"
    assert caller_key(metadata, peer, tokens_checked=True).startswith("token:")
    assert caller_key(metadata, peer, tokens_checked=False) == "peer:ipv4:10.0.0.7"
    assert caller_key([], "ipv6:[::1]:5555", tokens_checked=True) == "peer:ipv6:[::1]"


def test_sighup_rotates_the_tokens_of_the_token_file(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("old-token\n")
    with ServerProcess(tmp_path, "--auth-tokens-file", str(tokens)) as server:
        assert isinstance(error_of(server.address, "old-token"), ConfigNotLoadedError)
        tokens.write_text("old-token\nnew-token\n")  # step 1: add the new one
        server.signal(signal.SIGHUP)
        server.wait_for_log("bearer tokens reloaded: 2 accepted")
        assert isinstance(error_of(server.address, "new-token"), ConfigNotLoadedError)
        tokens.write_text("new-token\n")  # step 2: callers moved; drop the old one
        server.signal(signal.SIGHUP)
        server.wait_for_log("bearer tokens reloaded: 1 accepted")
        assert isinstance(error_of(server.address, "old-token"), PermissionDeniedError)
        assert isinstance(error_of(server.address, "new-token"), ConfigNotLoadedError)
        tokens.write_text("# nobody\n")  # an empty list would lock everyone out: refused
        server.signal(signal.SIGHUP)
        server.wait_for_log("the new list is empty")
        assert isinstance(error_of(server.address, "new-token"), ConfigNotLoadedError)


def test_a_rotated_certificate_is_used_for_new_connections(tmp_path: Path) -> None:
    first_ca, second_ca = trustme.CA(), trustme.CA()
    first = write_pems(tmp_path / "first", first_ca)
    second = write_pems(tmp_path / "second", second_ca)
    live_cert, live_key = tmp_path / "live-cert.pem", tmp_path / "live-key.pem"
    live_cert.write_bytes(first["cert"].read_bytes())
    live_key.write_bytes(first["key"].read_bytes())
    trusts_first = grpc.ssl_channel_credentials(first["ca"].read_bytes())
    trusts_second = grpc.ssl_channel_credentials(second["ca"].read_bytes())
    args = ("--tls-cert-file", str(live_cert), "--tls-key-file", str(live_key))
    with ServerProcess(tmp_path, *args, credentials=trusts_first) as server:
        with server.channel() as channel:
            check_health(channel)
        # A half-done rotation (a key that does not match the certificate) is not taken.
        live_cert.write_bytes(second["cert"].read_bytes())
        with grpc.secure_channel(server.address, trusts_first) as channel:
            check_health(channel)
        server.wait_for_log("new TLS certificate files not used")
        live_key.write_bytes(second["key"].read_bytes())
        with grpc.secure_channel(server.address, trusts_second) as channel:
            check_health(channel)
        server.wait_for_log("TLS certificate files changed")
        with (
            grpc.secure_channel(server.address, trusts_first) as channel,
            pytest.raises(grpc.RpcError),
        ):
            check_health(channel)


def test_the_cli_speaks_tls_with_a_token(
    tmp_path: Path,
    ca: trustme.CA,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pems = write_pems(tmp_path, ca)
    tokens = tmp_path / "tokens"
    tokens.write_text("cli-token\n")
    args = (
        "--tls-cert-file", str(pems["cert"]),
        "--tls-key-file", str(pems["key"]),
        "--auth-tokens-file", str(tokens),
    )  # fmt: skip
    trusted = grpc.ssl_channel_credentials(pems["ca"].read_bytes())
    config = tmp_path / "config.json"
    config.write_text('{"host": "", "templates": []}')
    with ServerProcess(tmp_path, *args, credentials=trusted) as server:
        command = [
            "validate",
            str(config),
            "--target",
            server.address,
            "--ca",
            str(pems["ca"]),
        ]
        assert main(command) == 1
        assert "UNAUTHENTICATED" in capsys.readouterr().err
        monkeypatch.setenv("SMTP_CONNECTOR_TOKEN", "cli-token")
        assert main(command) == 1  # an invalid config, reported: the call went through
        assert "config is invalid" in capsys.readouterr().out
