"""What `smtp-connector test` says is true of the config tested (issue 16): no password is
said to travel when none is set, an unencrypted tls step is marked `!`, a probe attempt does
not advise "set secure to false" to a config whose secure is false, and a port without
STARTTLS is labelled `plain`, not `starttls`. Against a real aiosmtpd server, through the
CLI as a newcomer runs it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from smtp_connector.client.cli import main

from tests.support.service import ServerFactory, inline_on_loopback, make_config
from tests.support.smtp import SmtpServer


@pytest.fixture
def plain_server() -> Iterator[SmtpServer]:
    """An SMTP server offering no STARTTLS, with one account (AUTH in clear on loopback)."""
    with SmtpServer(users={"ada": "secret"}) as server:
        yield server


def run_test(
    capsys: pytest.CaptureFixture[str],
    start_service: ServerFactory,
    tmp_path: Path,
    config: dict[str, Any],
    *flags: str,
) -> list[str]:
    target = start_service(None, **inline_on_loopback(), probe_time_limit=3).target
    path = tmp_path / "smtp.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    main(["test", "--target", target, "--config-file", str(path), *flags])
    return capsys.readouterr().out.splitlines()


def line_of(lines: list[str], start: str) -> str:
    (line,) = [line for line in lines if line.lstrip().startswith(start)]
    return line


def test_no_password_is_said_to_travel_when_none_is_set(
    capsys: pytest.CaptureFixture[str],
    start_service: ServerFactory,
    tmp_path: Path,
    plain_server: SmtpServer,
) -> None:
    lines = run_test(capsys, start_service, tmp_path, make_config(plain_server.port))
    tls = line_of(lines, "! tls")
    assert "NOT encrypted (no STARTTLS offered): mail travels in plain text" in tls
    assert "no password is set" in tls and "the password" not in tls
    assert lines[-1] == "connection test passed"


def test_a_password_in_clear_is_said_so(
    capsys: pytest.CaptureFixture[str],
    start_service: ServerFactory,
    tmp_path: Path,
    plain_server: SmtpServer,
) -> None:
    config = make_config(plain_server.port, username="ada", password="secret")
    lines = run_test(capsys, start_service, tmp_path, config)
    assert "the password and mail travel in plain text" in line_of(lines, "! tls")
    assert line_of(lines, "✓ auth").endswith("Authentication successful")


def test_the_probe_advises_only_through_its_suggestion(
    capsys: pytest.CaptureFixture[str],
    start_service: ServerFactory,
    tmp_path: Path,
    plain_server: SmtpServer,
) -> None:
    config = make_config(plain_server.port, secure=False)
    lines = run_test(capsys, start_service, tmp_path, config, "--probe")
    port = plain_server.port
    implicit = line_of(lines, f"✗ {port} implicit")
    assert f"port {port} speaks plain SMTP, not TLS from the first byte" in implicit
    assert "set secure" not in "\n".join(lines)


def test_a_port_without_starttls_is_labelled_plain(
    capsys: pytest.CaptureFixture[str],
    start_service: ServerFactory,
    tmp_path: Path,
    plain_server: SmtpServer,
) -> None:
    config = make_config(plain_server.port, secure=True)
    lines = run_test(capsys, start_service, tmp_path, config, "--probe")
    port = plain_server.port
    assert "works (NOT encrypted)" in line_of(lines, f"✓ {port} plain")
    assert not any(f"{port} starttls" in line for line in lines)
    assert line_of(lines, "suggested config:").endswith(f'{{"port": {port}, "secure": false}}')
