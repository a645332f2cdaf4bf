"""The client installs without the server's dependencies: the wheel goes into a fresh virtual
environment with its core dependencies only, ships its type information, and calls a real
server from there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.node import ROOT
from tests.support.service import make_config, running_service
from tests.support.smtp import SmtpServer

SERVER_ONLY = ("pydantic", "pydantic_settings", "jinja2", "email_validator", "aiosmtpd")

CALLER = """
import sys
from smtp_connector.client import SmtpConnectorClient
with SmtpConnectorClient(sys.argv[1], timeout=20) as client:
    sent = client.send_message("fresh@example.com", "Register",
                               {"code": "1", "application": {"name": "Fresh"}})
    print(sent.smtp_code, client.validate_config("{}").valid)
"""


def run(*command: str | Path) -> str:
    done = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=200
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.timeout(300)
def test_client_alone_in_a_fresh_venv(
    tmp_path: Path, smtp_server: SmtpServer, service_folder: Path
) -> None:
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, ROOT)
    (wheel,) = wheels.glob("smtp_connector-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel)

    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    assert run(python, "-c", probe, *SERVER_ONLY).strip() == "[]"
    files = run(python, "-m", "pip", "show", "--files", "smtp-connector")
    for shipped in ("client/py.typed", "v1/py.typed", "smtp_connector_pb2.pyi"):
        assert shipped in files
    assert "smtp_connector_pb2_grpc.pyi" in files

    with running_service(make_config(smtp_server.port), service_folder) as target:
        assert run(python, "-c", CALLER, target).split() == ["250", "False"]
    assert smtp_server.received[0].rcpt_tos == ["fresh@example.com"]

    serve = subprocess.run(
        [venv / "bin" / "smtp-connector", "serve"], capture_output=True, text=True, timeout=30
    )
    assert serve.returncode == 2
    assert "pip install 'smtp-connector[server]'" in serve.stderr


@pytest.fixture
def service_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "service"
    folder.mkdir()
    return folder
