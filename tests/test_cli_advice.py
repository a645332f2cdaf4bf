"""The command line's messages name the fix (issue 16): no server at the target says where it
looked and how to start one; ``validate`` works without a server, with the server's own
checks; a bad ``--payload`` or config file names the flag; ``--resolve`` says which template
a send uses."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.client.cli import main

from tests.support.raw import closed_port
from tests.support.service import ServerFactory, make_config
from tests.support.smtp import SmtpServer

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "smtp_connector.client.cli"]

# Configs with errors, warnings and neither, as a newcomer writes them.
CONFIGS: dict[str, dict[str, Any] | str] = {
    "valid": make_config(2525),
    "placeholder sender": make_config(2525, fromEmail="<your-gmail-address>"),
    "port 465 without secure": make_config(465, port=465),
    "comment": '{\n  "host": "smtp.gmail.com", // the host\n  "port": 465\n}',
    "not an object": "[1, 2]",
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def write(tmp_path: Path, config: dict[str, Any] | str) -> str:
    path = tmp_path / "config.json"
    path.write_text(config if isinstance(config, str) else json.dumps(config), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("command", [["send", "--to", "a@example.com"], ["test"]])
def test_no_server_names_the_address_and_how_to_start_one(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    target = f"127.0.0.1:{closed_port()}"
    status, _out, err = run(capsys, *command, "--target", target, "--timeout", "5")
    assert status == 1
    assert f"no smtp-connector answers at {target} (Connection refused)" in err
    assert "`make run`" in err
    assert "`smtp-connector serve --config FILE`" in err
    assert "--target (SMTP_CONNECTOR_TARGET)" in err
    assert ("the message was not sent" in err) == (command[0] == "send")
    assert "Traceback" not in err


@pytest.mark.parametrize("name", list(CONFIGS))
def test_validate_without_a_server_gives_the_servers_answer(
    capsys: pytest.CaptureFixture[str],
    start_service: ServerFactory,
    tmp_path: Path,
    name: str,
) -> None:
    path = write(tmp_path, CONFIGS[name])
    served = run(capsys, "validate", path, "--target", start_service(None).target)
    fallback = run(capsys, "validate", path, "--target", f"127.0.0.1:{closed_port()}")
    offline = run(capsys, "validate", path, "--offline", "--json")
    served_json = run(capsys, "validate", path, "--target", start_service(None).target, "--json")
    # Same exit status and report, whether the server or this process ran the checks.
    assert fallback[:2] == served[:2]
    assert offline[:2] == served_json[:2]
    assert served[2] == "" and offline[2] == ""
    assert "so the same checks ran in this process" in fallback[2]


def test_offline_validate_asks_no_server(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, listener: socket.socket
) -> None:
    target = f"127.0.0.1:{listener.getsockname()[1]}"
    status, out, err = run(
        capsys, "validate", write(tmp_path, CONFIGS["valid"]), "--offline", "--target", target
    )
    assert status == 0
    assert "config is valid" in out
    assert err == ""
    with pytest.raises(TimeoutError):
        listener.accept()  # nothing connected to it


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        sock.settimeout(0.5)
        yield sock


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ("{code: 1}", "--payload is not valid JSON (Expecting property name"),
        ('["123456"]', "--payload must be a JSON object, not list"),
    ],
)
def test_a_bad_payload_names_the_flag(
    capsys: pytest.CaptureFixture[str],
    service: SmtpConnectorClient,
    smtp_server: SmtpServer,
    payload: str,
    why: str,
) -> None:
    argv = ["send", "--target", service.target, "--to", "a@example.com", "--payload", payload]
    status, _out, err = run(capsys, *argv)
    assert status == 2
    assert why in err
    assert 'e.g. --payload \'{"code": "123456"' in err
    assert smtp_server.received == []


def test_a_missing_config_file_names_the_flag(
    capsys: pytest.CaptureFixture[str], service: SmtpConnectorClient, tmp_path: Path
) -> None:
    missing = str(tmp_path / "nope.json")
    argv = ["send", "--target", service.target, "--to", "a@example.com", "--config-file", missing]
    status, _out, err = run(capsys, *argv)
    assert status == 2
    assert err == f"error: --config-file {missing}: No such file or directory\n"


def template(usage_type: str, locale: str = "") -> dict[str, str]:
    found = {"usageType": usage_type, "contentType": "text/plain", "subject": "Code"}
    return {**found, "content": "{{code}}", **({"locale": locale} if locale else {})}


LOCALES = {
    "defaultLocale": "en",
    "templates": [template("SignIn", "zh"), template("SignIn", "en"), template("Generic")],
}


@pytest.mark.parametrize(
    ("usage_type", "locale", "verdict", "used"),
    [
        ("SignIn", "zh-CN", "a send for SignIn uses templates[0] (SignIn [zh])", "SignIn [zh]"),
        ("SignIn", "fr", "a send for SignIn uses templates[1] (SignIn [en])", "SignIn [en]"),
        (
            "Register",
            "",
            "a send for Register uses templates[2] (Generic [no locale])",
            "Generic [no locale]",
        ),
    ],
)
def test_resolve_says_which_template_a_send_uses(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    usage_type: str,
    locale: str,
    verdict: str,
    used: str,
) -> None:
    config = {**make_config(2525), **LOCALES}
    argv = ["validate", write(tmp_path, config), "--offline", "--resolve", usage_type]
    status, out, _err = run(capsys, *argv, "--locale", locale)
    assert status == 0
    marked = [line for line in out.splitlines() if line.endswith("<- used")]
    assert len(marked) == 1
    assert f"lookup {used}:" in marked[0]
    assert verdict in out


def test_resolve_says_when_no_template_matches(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = make_config(2525, templates=[template("SignIn")])
    argv = ["validate", write(tmp_path, config), "--offline", "--resolve", "Register"]
    _status, out, _err = run(capsys, *argv)
    assert "<- used" not in out
    assert "no template matches Register: a send fails with TEMPLATE_NOT_FOUND" in out


def test_a_second_dev_mailbox_says_what_holds_its_address(tmp_path: Path) -> None:
    """A second `make run` meets the first one's mailbox: the error says it is the dev
    mailbox, that another smtp-connector may hold it, and which flag moves it."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        config = str(ROOT / "examples" / "dev-config.json")
        mailbox = str(tmp_path / "mailbox")
        done = subprocess.run(
            [
                *CLI,
                "serve",
                "--config",
                config,
                "--dev-mailbox",
                mailbox,
                "--address",
                "127.0.0.1:0",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "SMTP_CONNECTOR_DEV_MAILBOX_ADDRESS": address},
        )
    assert done.returncode == 2
    assert f"the development mailbox (--dev-mailbox) cannot listen on {address}" in done.stderr
    assert "another smtp-connector" in done.stderr
    assert "--dev-mailbox-address HOST:PORT (SMTP_CONNECTOR_DEV_MAILBOX_ADDRESS)" in done.stderr
    assert "Traceback" not in done.stderr
