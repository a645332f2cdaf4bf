"""The benchmark's delay line (bench/delayline.py): real kernel TCP between two network
namespaces of its own, every packet held RTT/2 each way. One connection's measured round trip
is at least the configured RTT and not much more; the namespaces are gone afterwards."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
RTT_MS = 20.0


def load_delayline() -> ModuleType:
    spec = importlib.util.spec_from_file_location("delayline", BENCH / "delayline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


delayline = load_delayline()
why_not = delayline.available()


@pytest.mark.skipif(bool(why_not), reason=f"the delay line cannot run here: {why_not}")
def test_a_round_trip_through_the_delay_line_takes_the_configured_time(tmp_path: Path) -> None:
    with delayline.DelayLine(RTT_MS, tmp_path / "delayline.log") as line:

        def listen() -> socket.socket:
            server = socket.socket()
            server.bind((delayline.SERVER_IP, 0))
            server.listen()
            return server

        server = delayline.in_namespace(line.server, listen)
        port = server.getsockname()[1]

        def echo() -> None:
            connection, _ = server.accept()
            with connection:
                while data := connection.recv(64):
                    connection.sendall(data)

        threading.Thread(target=echo, daemon=True).start()
        started = time.perf_counter()
        client = line.connect_from_client(delayline.SERVER_IP, port, 5)
        handshake = time.perf_counter() - started
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        trips = []
        for _ in range(5):
            started = time.perf_counter()
            client.sendall(b"ping")
            assert client.recv(64) == b"ping"
            trips.append(time.perf_counter() - started)
        client.close()
        server.close()
        namespaces = (line.client, line.server)
    assert handshake * 1000 >= RTT_MS
    assert min(trips) * 1000 >= RTT_MS
    assert max(trips) * 1000 < RTT_MS + 30  # bounded: the forwarder adds little
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(name in listed for name in namespaces)
