"""A second server on an address a server already listens on must not start: gRPC's default
SO_REUSEPORT let it, and the kernel then split the calls between two configs. Only the
``--processes`` children of one supervisor share a port (tests/test_processes.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from smtp_connector.client import SmtpConnectorClient

from tests.conftest import make_config
from tests.support.attack import assert_responsive, health_status
from tests.support.process import ServerProcess
from tests.support.smtp import SmtpServer, free_port

CLI = [sys.executable, "-m", "smtp_connector.client.cli", "serve"]
# How long a second server may take to refuse; one that starts runs until killed.
REFUSE_WITHIN = 20.0


@pytest.fixture
def first(smtp_server: SmtpServer, tmp_path: Path) -> Iterator[ServerProcess]:
    """A running ``smtp-connector serve`` with the recording SMTP server as its config."""
    config = tmp_path / "first.json"
    config.write_text(json.dumps(make_config(smtp_server.port)), encoding="utf-8")
    with ServerProcess(tmp_path, "--config", str(config)) as server:
        yield server


def second_server(address: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``smtp-connector serve`` on ``address`` with another config, run to its exit (killed,
    and the test failed, if it is still serving after REFUSE_WITHIN seconds)."""
    config = tmp_path / "second.json"
    config.write_text(json.dumps(make_config(free_port(), fromEmail="wrong@example.org")))
    command = [*CLI, "--config", str(config), "--address", address, *extra]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=REFUSE_WITHIN)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"a second server started on {address}: {stderr[-2000:]}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def assert_refused(result: subprocess.CompletedProcess[str], address: str) -> None:
    assert result.returncode == 2, result.stderr
    assert f"cannot listen on {address}: another process already listens there" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_second_serve_on_the_same_address_fails_to_start(
    first: ServerProcess, smtp_server: SmtpServer, tmp_path: Path, processes: str
) -> None:
    result = second_server(first.address, tmp_path, "--processes", processes)
    assert_refused(result, first.address)
    with SmtpConnectorClient(first.address, timeout=10) as client:
        for _ in range(5):  # every call lands on the first server, with its config
            assert_responsive(first.address, client, smtp_server)
    assert {r.message["From"] for r in smtp_server.received} == {"Logto <noreply@example.com>"}


def test_any_other_listener_on_the_address_makes_start_up_fail(tmp_path: Path) -> None:
    """A foreign listener that set SO_REUSEPORT itself cannot be joined either."""
    with socket.socket() as foreign:
        foreign.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        address = f"127.0.0.1:{foreign.getsockname()[1]}"
        assert_refused(second_server(address, tmp_path), address)


def test_a_stopped_server_s_address_is_free_again(smtp_server: SmtpServer, tmp_path: Path) -> None:
    """The check refuses listeners only: the TIME_WAIT connections a stopped server leaves
    do not keep its successor from starting on the same address."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps(make_config(smtp_server.port)), encoding="utf-8")
    with ServerProcess(tmp_path, "--config", str(config)) as server:
        with SmtpConnectorClient(server.address, timeout=10) as client:
            assert_responsive(server.address, client, smtp_server)
        address = server.address
    command = [*CLI, "--config", str(config), "--address", address]
    successor = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_serving(address, successor)
        with SmtpConnectorClient(address, timeout=10) as client:
            assert_responsive(address, client, smtp_server)
    finally:
        successor.terminate()
        successor.communicate(timeout=20)


def wait_serving(address: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + REFUSE_WITHIN
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1].decode()
        try:
            if health_status(address) == "SERVING":
                return
        except grpc.RpcError:
            time.sleep(0.1)
    pytest.fail(f"the successor on {address} did not start")
