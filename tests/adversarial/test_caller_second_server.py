"""A second server on an address a server already listens on must not start: gRPC's default
SO_REUSEPORT let it, and the kernel then split the calls between two configs. Only the
``--processes`` children of one supervisor share a port (tests/test_processes.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.server.app import Service, build_service
from smtp_connector.server.listen_check import AddressInUse
from smtp_connector.server.settings import Settings

from tests.support.attack import assert_responsive
from tests.support.service import make_config
from tests.support.smtp import SmtpServer, free_port

CLI = [sys.executable, "-m", "smtp_connector.client.cli", "serve"]
# How long a second server may take to refuse; one that starts runs until killed.
REFUSE_WITHIN = 20.0


@contextmanager
def serving(tmp_path: Path, config: dict[str, Any], address: str) -> Iterator[Service]:
    """The server built as `serve` builds it, on ``address``, started; stopped after."""
    path = tmp_path / f"config-{address.rpartition(':')[2]}.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    service = build_service(Settings(address=address, config=path))
    service.server.start()
    try:
        yield service
    finally:
        service.server.stop(None).wait()
        service.mailer.close()


@pytest.fixture
def first(smtp_server: SmtpServer, tmp_path: Path) -> Iterator[str]:
    """A running server on a fixed loopback address, with the recording SMTP server as its
    config; its address."""
    address = f"127.0.0.1:{free_port()}"
    with serving(tmp_path, make_config(smtp_server.port), address):
        yield address


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


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_second_serve_on_the_same_address_fails_to_start(
    first: str, smtp_server: SmtpServer, tmp_path: Path, processes: str
) -> None:
    result = second_server(first, tmp_path, "--processes", processes)
    assert result.returncode == 2, result.stderr
    assert f"cannot listen on {first}: another process already listens there" in result.stderr
    assert "Traceback" not in result.stderr
    with SmtpConnectorClient(first, timeout=10) as client:
        for _ in range(5):  # every call lands on the first server, with its config
            assert_responsive(first, client, smtp_server)
    assert {r.message["From"] for r in smtp_server.received} == {"Logto <noreply@example.com>"}


def test_any_other_listener_on_the_address_makes_start_up_fail(tmp_path: Path) -> None:
    """A foreign listener that set SO_REUSEPORT itself cannot be joined either."""
    with socket.socket() as foreign:
        foreign.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        address = f"127.0.0.1:{foreign.getsockname()[1]}"
        with pytest.raises(AddressInUse), serving(tmp_path, make_config(free_port()), address):
            pytest.fail("a server started on an address another socket listens on")


def test_a_stopped_server_s_address_is_free_again(smtp_server: SmtpServer, tmp_path: Path) -> None:
    """The check refuses listeners only: the TIME_WAIT connections a stopped server leaves
    do not keep its successor from starting on the same address."""
    address, config = f"127.0.0.1:{free_port()}", make_config(smtp_server.port)
    for _ in range(2):
        with (
            serving(tmp_path, config, address),
            SmtpConnectorClient(address, timeout=10) as client,
        ):
            assert_responsive(address, client, smtp_server)
