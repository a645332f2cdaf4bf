"""The CLI's readable output, compared with golden files (UPDATE_GOLDEN=1 rewrites them).

The parts that change from run to run (each step's time, ports, trustme's serial names,
Message-IDs) are replaced by placeholders.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trustme
from smtp_connector.client import cli

from tests.support.certs import server_context
from tests.support.raw import closed_port
from tests.support.service import ServerFactory, inline_on_loopback, make_config
from tests.support.smtp import SmtpServer

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def target(start_service: ServerFactory) -> Callable[..., str]:
    """Starts smtp-connector with the given probe ports; returns its host:port."""

    def start(*probe_ports: int) -> str:
        return start_service(
            None, **inline_on_loopback(), probe_ports=probe_ports, probe_time_limit=3
        ).target

    return start


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = cli.main(list(argv))
    return status, capsys.readouterr().out


def normalize(text: str, ports: dict[int, str]) -> str:
    for port, name in ports.items():
        text = re.sub(rf"\b{port}\b", name, text)
    text = re.sub(r"[ \d]{5} ms  ", "    N ms  ", text)  # the CLI's time column
    text = re.sub(r"#[\w-]+", "#SERIAL", text)
    return re.sub(r"<[^<>@\s]+@example\.com>", "<MESSAGE-ID@example.com>", text)


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def write(tmp_path: Path, config: dict[str, Any] | str) -> str:
    path = tmp_path / "config.json"
    path.write_text(config if isinstance(config, str) else json.dumps(config), encoding="utf-8")
    return str(path)


def test_a_working_setup(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, target: Callable[..., str]
) -> None:
    ca = trustme.CA()
    context = server_context(ca, "127.0.0.1")
    with SmtpServer(tls_context=context, users={"user": "secret"}) as smtp:
        config = make_config(smtp.port, username="user", password="secret", requireTLS=True)
        config["tls"] = {"ca": ca.cert_pem.bytes().decode()}
        status, out = run_cli(
            capsys,
            "test",
            "--target",
            target(),
            "--config-file",
            write(tmp_path, config),
            "--to",
            "admin@example.com",
        )
    assert status == 0
    assert_golden("test-ok.txt", normalize(out, {smtp.port: "SMTP_PORT"}))


def test_a_wrong_port_with_probe(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    target: Callable[..., str],
    smtp_server: SmtpServer,
) -> None:
    closed = closed_port()
    status, out = run_cli(
        capsys,
        "test",
        "--target",
        target(smtp_server.port),
        "--config-file",
        write(tmp_path, make_config(closed)),
        "--probe",
    )
    assert status == 1
    ports = {closed: "CLOSED_PORT", smtp_server.port: "SMTP_PORT"}
    assert_golden("test-refused-probe.txt", normalize(out, ports))


def test_json_output_is_the_response(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, target: Callable[..., str]
) -> None:
    status, out = run_cli(
        capsys,
        "test",
        "--json",
        "--target",
        target(),
        "--config-file",
        write(tmp_path, make_config(closed_port())),
    )
    assert status == 1
    response = json.loads(out)
    assert response["steps"][-1]["reason"] == "SMTP_CONNECT_FAILED"
    assert "nothing listens" in response["steps"][-1]["hint"]


def test_validate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, target: Callable[..., str]
) -> None:
    config = make_config(
        465, password="hunter2", requireTls=True, secure=False, templateEngine="jinja2"
    )
    config["templates"][0]["contentType"] = "text/markdown"
    config["templates"][1]["content"] = "<p>{{ code }</p>"
    config["templates"][2]["content"] = "Welcome!"
    status, out = run_cli(capsys, "validate", "--target", target(), write(tmp_path, config))
    assert status == 1
    assert "hunter2" not in out
    assert_golden("validate.txt", out)


def test_validate_json_comments(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, target: Callable[..., str]
) -> None:
    text = '{\n  "host": "smtp.example.com",\n  "port": 587, // your SMTP port\n}'
    status, out = run_cli(capsys, "validate", "--target", target(), write(tmp_path, text))
    assert status == 1
    assert_golden("validate-comments.txt", out)


def test_an_untrusted_certificate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, target: Callable[..., str]
) -> None:
    context = server_context(trustme.CA(), "127.0.0.1")
    with SmtpServer(tls_context=context) as smtp:
        config = make_config(smtp.port)
        status, out = run_cli(
            capsys, "test", "--target", target(), "--config-file", write(tmp_path, config)
        )
    assert status == 1
    assert_golden("test-untrusted-cert.txt", normalize(out, {smtp.port: "SMTP_PORT"}))
