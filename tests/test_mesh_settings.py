"""The mesh settings: environment parsing, their checks, and the keepalive they set."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydantic import ValidationError
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.server.app import server_options
from smtp_connector.server.settings import Settings

from tests.support.process import ServerProcess


def test_lists_come_comma_separated_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_CONNECTOR_INLINE_ALLOWED_HOSTS", "smtp.example.com, *.mail.test")
    monkeypatch.setenv("SMTP_CONNECTOR_INLINE_ALLOWED_PORTS", "587,465")
    monkeypatch.setenv("SMTP_CONNECTOR_INLINE_ALLOWED_NETWORKS", "10.0.0.0/8")
    monkeypatch.setenv("SMTP_CONNECTOR_ALLOW_INLINE_CONFIG", "true")
    settings = Settings()
    assert settings.inline_allowed_hosts == ["smtp.example.com", "*.mail.test"]
    assert settings.inline_allowed_ports == [587, 465]
    assert settings.inline_allowed_networks == ["10.0.0.0/8"]
    assert settings.allow_inline_config


def test_defaults_are_safe() -> None:
    settings = Settings()
    assert not settings.allow_inline_config
    assert settings.inline_allowed_networks == []
    assert settings.auth_token_list() == []
    assert settings.reflection
    assert settings.concurrency() == 64 * settings.workers


def test_tokens_come_from_the_environment_and_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "tokens"
    path.write_text("one\n  # a comment\ntwo # trailing comment\n\n")
    monkeypatch.setenv("SMTP_CONNECTOR_AUTH_TOKENS", "three, four")
    settings = Settings(auth_tokens_file=path)
    assert sorted(settings.auth_token_list()) == ["four", "one", "three", "two"]
    assert "three" not in repr(settings)


def test_tls_files_go_together(tmp_path: Path) -> None:
    pem = tmp_path / "x.pem"
    with pytest.raises(ValidationError, match="set together"):
        Settings(tls_cert_file=pem)
    with pytest.raises(ValidationError, match="needs tls_cert_file"):
        Settings(tls_client_ca_file=pem)


def test_keepalive_options() -> None:
    options = dict(server_options(Settings()))
    assert options["grpc.keepalive_time_ms"] == 60_000
    assert options["grpc.keepalive_timeout_ms"] == 20_000
    assert options["grpc.keepalive_permit_without_calls"] == 1
    assert options["grpc.http2.min_ping_interval_without_data_ms"] == 10_000
    assert "grpc.max_connection_age_ms" not in options
    aged = dict(server_options(Settings(max_connection_age=300, grace_period=5)))
    assert aged["grpc.max_connection_age_ms"] == 300_000
    assert aged["grpc.max_connection_age_grace_ms"] == 5_000


def test_an_idle_connection_survives_server_keepalive_pings(tmp_path: Path) -> None:
    args = ("--keepalive-time", "0.2", "--keepalive-timeout", "1", "--max-connection-age", "60")
    with (
        ServerProcess(tmp_path, *args) as server,
        SmtpConnectorClient(server.address, timeout=5) as client,
    ):
        assert client.validate_config("{}").valid is False
        # Several keepalive pings go by while the connection is idle; it stays usable.
        time.sleep(1.0)
        assert client.validate_config("{}").valid is False


def test_the_readme_documents_every_setting() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip() for line in readme.splitlines() if line.startswith("| ")}
    for name in Settings.model_fields:
        assert name in rows, f"the README's settings table lacks {name}"
        assert f"`SMTP_CONNECTOR_{name.upper()}`" in readme
