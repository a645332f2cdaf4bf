"""Several server processes on one port (`--processes`): each serves, connections are spread
over them, SIGTERM drains them together and nothing is left running."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import struct_pb2
from smtp_connector.client.errors import from_rpc_error
from smtp_connector.v1 import smtp_connector_pb2 as pb
from smtp_connector.v1 import smtp_connector_pb2_grpc as pb_grpc

from tests.support.service import make_config
from tests.support.smtp import SmtpServer, free_port

CLI = [sys.executable, "-m", "smtp_connector.client.cli"]
PROCESSES = 2


def children(pid: int) -> list[int]:
    """The direct children of a process."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def servers(pid: int) -> list[int]:
    """The server processes of a supervisor (not multiprocessing's resource tracker)."""
    return [
        child
        for child in children(pid)
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def send_request(code: str) -> pb.SendMessageRequest:
    payload = struct_pb2.Struct()
    payload.update({"code": code, "application": {"name": "Test"}})
    return pb.SendMessageRequest(to="user@example.org", usage_type="Register", payload=payload)


def channels(target: str, count: int) -> list[grpc.Channel]:
    """Channels with a TCP connection each (a shared subchannel would make them one)."""
    options = [("grpc.use_local_subchannel_pool", 1)]
    opened = [grpc.insecure_channel(target, options=options) for _ in range(count)]
    for channel in opened:
        grpc.channel_ready_future(channel).result(timeout=20)
    return opened


@contextlib.contextmanager
def running(
    smtp_server: SmtpServer, tmp_path: Path, *extra: str
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`smtp-connector serve --processes 2`, once every process listens; killed at the end."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps(make_config(smtp_server.port)), encoding="utf-8")
    target = f"127.0.0.1:{free_port()}"
    command = [*CLI, "serve", "--config", str(config), "--address", target, *extra]
    command += ["--processes", str(PROCESSES), "--grace-period", "10"]
    process = subprocess.Popen(
        [*command, "--max-concurrent-rpcs", "64"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while len(servers(process.pid)) < PROCESSES or not _listening(target):
            assert process.poll() is None, process.communicate()[0].decode()
            assert time.monotonic() < deadline, "the server processes did not start"
            time.sleep(0.1)
        yield process, target
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()  # reaps it and closes its pipe


@pytest.fixture
def supervisor(
    smtp_server: SmtpServer, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    with running(smtp_server, tmp_path) as started:
        yield started


def _listening(target: str) -> bool:
    port = target.rsplit(":", 1)[1]
    listed = subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=False
    ).stdout
    return len(listed.strip().splitlines()) >= PROCESSES


def test_every_process_serves_the_port(
    supervisor: tuple[subprocess.Popen[bytes], str], smtp_server: SmtpServer
) -> None:
    process, target = supervisor
    opened = channels(target, 16)
    try:
        for index, channel in enumerate(opened):
            stub = pb_grpc.SmtpConnectorServiceStub(channel)
            stub.SendMessage(send_request(f"{index:06d}"), timeout=10)
        # The server end of each connection belongs to one of the server processes.
        port = target.rsplit(":", 1)[1]
        listed = subprocess.run(
            ["ss", "-Htnp", "state", "established", f"sport = :{port}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        owners = set(re.findall(r"pid=(\d+)", listed))
    finally:
        for channel in opened:
            channel.close()
    assert len(smtp_server.received) == 16
    assert {int(pid) for pid in owners} == set(servers(process.pid))
    assert len(owners) == PROCESSES


def test_sigterm_drains_every_process_together(
    supervisor: tuple[subprocess.Popen[bytes], str], smtp_server: SmtpServer
) -> None:
    process, target = supervisor
    started = servers(process.pid)  # not the resource tracker, which exits on its own
    smtp_server.handler.on_data = lambda server: time.sleep(0.5)  # sends in flight at SIGTERM
    opened = channels(target, 8)
    results: list[object] = []

    def send(channel: grpc.Channel, index: int) -> None:
        stub = pb_grpc.SmtpConnectorServiceStub(channel)
        try:
            results.append(stub.SendMessage(send_request(f"{index:06d}"), timeout=20))
        except grpc.RpcError as exc:
            results.append(exc)

    threads = [
        threading.Thread(target=send, args=(channel, index)) for index, channel in enumerate(opened)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.5)  # the calls reached the server processes; the sends take ~4 s in all
    process.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(30)
    for channel in opened:
        channel.close()
    assert process.wait(30) == 0, process.communicate()[0].decode()
    # Every send that was in flight finished and was accepted. On a loaded machine a call may
    # still have been connecting at SIGTERM: it is refused as SERVER_DRAINING (nothing sent,
    # safe to retry elsewhere), never accepted and lost.
    sent = [r for r in results if isinstance(r, pb.SendMessageResponse)]
    refused = [from_rpc_error(r) for r in results if isinstance(r, grpc.RpcError)]
    assert len(results) == 8
    assert all(e.reason == "SERVER_DRAINING" and e.delivery == "not_sent" for e in refused), refused
    assert len(sent) >= 2, "the drain had sends in flight to finish"
    assert len(smtp_server.received) == len(sent)
    assert not any(alive(pid) for pid in started)


def test_a_bad_config_fails_once_before_any_process_starts(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"host": "127.0.0.1"}), encoding="utf-8")
    done = subprocess.run(
        [*CLI, "serve", "--config", str(config), "--processes", "2", "--address", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "error:" in done.stderr


def two_free_ports() -> int:
    """A port P such that P and P + 1 are both free on 127.0.0.1 right now."""
    for _ in range(50):
        port = free_port()
        with contextlib.suppress(OSError), socket.socket() as sock:
            sock.bind(("127.0.0.1", port + 1))
            return port
    raise AssertionError("no two consecutive free ports")


def test_each_process_serves_its_own_metrics(smtp_server: SmtpServer, tmp_path: Path) -> None:
    port = two_free_ports()
    with running(smtp_server, tmp_path, "--metrics-address", f"127.0.0.1:{port}"):
        for metrics_port in (port, port + 1):
            url = f"http://127.0.0.1:{metrics_port}/metrics"
            deadline = time.monotonic() + 20
            while True:
                try:
                    with urllib.request.urlopen(url, timeout=5) as response:
                        assert response.status == 200
                        break
                except OSError:
                    assert time.monotonic() < deadline, f"no metrics on {url}"
                    time.sleep(0.1)
