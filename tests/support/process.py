"""smtp-connector as a real server process (``smtp-connector serve``), for the tests that need
signals, a whole process's logs or its exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.smtp import free_port

STARTUP_TIMEOUT = 20.0


class ServerProcess:
    """``smtp-connector serve`` on a free loopback port; stderr goes to ``log_path``."""

    def __init__(
        self,
        tmp_path: Path,
        *args: str,
        env: dict[str, str] | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"server-{self.port}.log"
        self._credentials = credentials
        command = [sys.executable, "-m", "smtp_connector.client.cli", "serve"]
        command += ["--address", self.address, *args]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_CONNECTOR")}
        environment.update(env or {})
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=environment
        )
        self._wait_until_listening()

    def channel(self, **options: Any) -> grpc.Channel:
        """A new channel to the server (TLS when the process was given credentials)."""
        opts = list(options.items())
        if self._credentials is not None:
            return grpc.secure_channel(self.address, self._credentials, options=opts)
        return grpc.insecure_channel(self.address, options=opts)

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited {self.process.returncode}: {self.logs()}")
            with self.channel() as channel:
                try:
                    grpc.channel_ready_future(channel).result(timeout=0.5)
                    return
                except grpc.FutureTimeoutError:
                    continue
        raise RuntimeError(f"server did not start: {self.logs()}")

    def health(self, service: str = "") -> str:
        """The health status name (SERVING, NOT_SERVING...) of ``service``."""
        with self.channel() as channel:
            stub: Any = health_pb2_grpc.HealthStub(channel)
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        return self.process.wait(timeout=timeout)

    def logs(self) -> str:
        """Everything the process wrote so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout: float = 10.0) -> None:
        """Wait until the log contains ``text``."""
        deadline = time.monotonic() + timeout
        while text not in self.logs():
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in the log: {self.logs()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) if it still runs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
