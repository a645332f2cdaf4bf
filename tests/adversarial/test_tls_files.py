"""Findings 5 and 6: a caller's config may not make the server read its files (tls.ca,
tls.cert, tls.key name PEM text only, except in the server's own config file), and an
encrypted tls.key never makes OpenSSL prompt for a pass phrase on the server's terminal, be
tls.passphrase missing or wrong."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.client.errors import SmtpConnectorError

from tests.adversarial.conftest import Target, assert_responsive
from tests.support.certs import ca_pem
from tests.support.service import make_config
from tests.support.smtp import free_port

PAYLOAD = {"code": "123456", "application": {"name": "A"}}


def _issues(target: Target, tls: dict[str, str]) -> list[tuple[str, str]]:
    response = target.client.validate_config(target.inline(tls=tls), timeout=5)
    return [(issue.field_path, issue.message) for issue in response.issues if issue.severity == 1]


def test_validate_config_tells_nothing_about_the_servers_files(
    target: Target, tmp_path: Path
) -> None:
    ca = trustme.CA()
    certificate = tmp_path / "ca.pem"
    certificate.write_text(ca_pem(ca))
    probes = [str(certificate), str(tmp_path / "missing.pem"), str(tmp_path), "/etc/passwd"]
    answers = [_issues(target, {"ca": path}) for path in probes]
    # Existing, missing, a directory, not PEM: one and the same answer, naming the field.
    assert all(answer == answers[0] for answer in answers), answers
    assert [field for field, _ in answers[0]] == ["tls.ca"]
    assert "PEM text" in answers[0][0][1]
    # PEM text is still read and checked.
    assert _issues(target, {"ca": ca_pem(ca)}) == []
    assert_responsive(target)


def test_an_inline_send_cannot_present_the_servers_own_key(target: Target, tmp_path: Path) -> None:
    # Stand-ins for the gRPC listener's own certificate and key, on the server's disk.
    issued = trustme.CA().issue_cert("smtp-connector.internal")
    cert, key = tmp_path / "listener.pem", tmp_path / "listener.key"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    config = target.inline(tls={"cert": str(cert), "key": str(key)})
    with pytest.raises(SmtpConnectorError) as caught:
        target.client.send_message("user@example.com", "Register", PAYLOAD, config_json=config)
    assert caught.value.reason == "INVALID_CONFIG", str(caught.value)
    assert "tls.cert" in str(caught.value)
    assert not target.smtp.received
    assert_responsive(target)


def _encrypted_client_identity() -> dict[str, str]:
    issued = trustme.CA().issue_cert("client.example.test")
    key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass phrase"),
    )
    return {"cert": issued.cert_chain_pems[0].bytes().decode(), "key": encrypted.decode()}


@pytest.fixture
def server_on_a_terminal(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``smtp-connector serve`` with a terminal of its own (``script`` gives it a pty), as
    under ``make run``: what OpenSSL would prompt there goes to the returned file."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps(make_config(free_port())))
    address = f"127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "smtp_connector.client.cli", "serve"]
    command += ["--address", address, "--config", str(config)]
    terminal = tmp_path / "terminal.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_CONNECTOR")}
    with terminal.open("wb") as output:
        process = subprocess.Popen(
            ["script", "-qfec", shlex.join(command), "/dev/null"],
            stdin=subprocess.PIPE,  # open and silent: a prompt would wait for good
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        with grpc.insecure_channel(address) as channel:
            grpc.channel_ready_future(channel).result(timeout=20)
        yield address, terminal
    finally:
        # ``script`` runs the server in a session of its own (the pty's), which killing
        # script's process group would leave running: kill its descendants first.
        for pid in _descendants(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        if process.stdin is not None:
            process.stdin.close()


def _descendants(pid: int) -> list[int]:
    """The processes below ``pid``, read from /proc (children first, then theirs)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The fields after the command's closing parenthesis: state, then the parent.
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            children.append(int(stat.parent.name))
    return children + [grandchild for child in children for grandchild in _descendants(child)]


@pytest.mark.parametrize(
    ("passphrase", "words"),
    [(None, "encrypted"), ("not the pass phrase", "does not open")],
    ids=["missing", "wrong"],
)
def test_an_encrypted_key_is_refused_without_a_prompt(
    server_on_a_terminal: tuple[str, Path], passphrase: str | None, words: str
) -> None:
    address, terminal = server_on_a_terminal
    tls = _encrypted_client_identity()
    if passphrase is not None:
        tls["passphrase"] = passphrase
    config = make_config(free_port(), tls=tls)
    with SmtpConnectorClient(address, retry=None) as client:
        started = time.monotonic()
        response = client.validate_config(json.dumps(config), timeout=5)
        assert time.monotonic() - started < 5
        issues = {issue.field_path: issue.message for issue in response.issues}
        assert not response.valid
        assert words in issues["tls.passphrase"]
        # The worker is free: the next validation answers too.
        assert client.validate_config(json.dumps(make_config(25)), timeout=5).valid
    assert b"pass phrase" not in terminal.read_bytes().lower()
