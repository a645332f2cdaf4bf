"""The `smtp-connector` command: client subcommands in-process, `serve` as a real process
(the README's `make run` flow: dev mailbox, a send, the .eml file, SIGTERM)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.client.cli import main

from tests.support.process import ServerProcess
from tests.support.service import ServerFactory, make_config
from tests.support.smtp import SmtpServer, free_port

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "smtp_connector.client.cli"]


def test_send_prints_message_id(
    service: SmtpConnectorClient, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["send", "--target", service.target, "--to", "u@example.org", "--code", "987654"])
    out = capsys.readouterr().out
    assert status == 0
    message_id = smtp_server.received[0].message["Message-ID"]
    assert f"sent {message_id} to u@example.org" in out
    assert "250" in out
    assert smtp_server.received[0].body() == "Code 987654"


def test_send_error_prints_reason(
    service: SmtpConnectorClient, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    smtp_server.handler.reply_for["RCPT"] = "550 5.1.1 no such user"
    status = main(["send", "--target", service.target, "--to", "u@example.org", "--code", "1"])
    err = capsys.readouterr().err
    assert status == 1
    assert "SMTP_RECIPIENT_REFUSED" in err
    assert "Traceback" not in err


def test_validate_prints_issues(
    start_service: ServerFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = start_service(None)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(make_config(25, port=-1)), encoding="utf-8")
    status = main(["validate", "--target", client.target, str(path)])
    out = capsys.readouterr().out
    assert status == 1
    assert "✗ error   port:" in out
    assert "config is invalid" in out


def test_test_prints_a_line_per_step(
    service: SmtpConnectorClient, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["test", "--target", service.target, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert status == 0
    assert report["ok"] is True
    names = [step["name"] for step in report["steps"]]
    assert names[:4] == ["resolve", "connect", "greeting", "ehlo"]


def test_unreachable_service_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["test", "--target", f"127.0.0.1:{free_port()}", "--timeout", "2"])
    assert status == 1
    assert "Traceback" not in capsys.readouterr().err


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ServerProcess, Path]]:
    """`smtp-connector serve` with the README's dev config and mailbox, on free ports."""
    mailbox_port = free_port()
    config = json.loads((ROOT / "examples" / "dev-config.json").read_text(encoding="utf-8"))
    config["port"] = mailbox_port
    config_path = tmp_path / "dev-config.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    mailbox = tmp_path / "mailbox"
    with ServerProcess(
        tmp_path,
        "--config",
        str(config_path),
        "--dev-mailbox",
        str(mailbox),
        "--dev-mailbox-address",
        f"127.0.0.1:{mailbox_port}",
    ) as server:
        yield server, mailbox


def test_serve_dev_mailbox_send_and_sigterm(served: tuple[ServerProcess, Path]) -> None:
    server, mailbox = served
    target = server.address
    sent = subprocess.run(
        [
            *CLI,
            "send",
            "--target",
            target,
            "--to",
            "newcomer@example.com",
            "--usage-type",
            "Register",
            "--code",
            "246810",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert sent.returncode == 0, sent.stderr
    [eml] = list(mailbox.glob("*.eml"))
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert str(make_header(decode_header(message["Subject"]))).startswith("您的注册验证码")
    assert "246810" in message.get_body().get_content()  # type: ignore[union-attr]
    assert message["Message-ID"] in sent.stdout

    server.signal(signal.SIGTERM)
    assert server.wait(20) == 0
    assert "received SIGTERM" in server.logs()
    assert "smtp-connector stopped" in server.logs()


def test_serve_refuses_an_invalid_config(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(make_config(25, replyTo="nope")), encoding="utf-8")
    result = subprocess.run(
        [*CLI, "serve", "--config", str(path), "--address", f"127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "replyTo" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_reads_settings_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{", encoding="utf-8")
    env = {
        **os.environ,
        "SMTP_CONNECTOR_CONFIG": str(path),
        "SMTP_CONNECTOR_ADDRESS": f"127.0.0.1:{free_port()}",
    }
    result = subprocess.run([*CLI, "serve"], capture_output=True, text=True, timeout=30, env=env)
    assert result.returncode == 2
    assert "not valid JSON" in result.stderr


def test_password_from_file_reaches_the_smtp_server(tmp_path: Path) -> None:
    with SmtpServer(users={"alice": "from-a-file"}) as smtp:
        config_path = tmp_path / "config.json"
        config_path.write_text(
            json.dumps(make_config(smtp.port, username="alice", password="")), encoding="utf-8"
        )
        secret = tmp_path / "password"
        secret.write_text("from-a-file\n", encoding="utf-8")
        with ServerProcess(
            tmp_path, "--config", str(config_path), "--smtp-password-file", str(secret)
        ) as server:
            with SmtpConnectorClient(server.address) as client:
                client.send_message("u@example.org", "Generic", {"code": "1"})
            server.stop()
            output = server.logs()
        assert len(smtp.received) == 1
        assert "from-a-file" not in output
