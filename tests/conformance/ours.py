"""smtp-connector's side of the comparison: its two verdicts on a config (the ValidateConfig
RPC, and loading the file as ``serve --config`` does) and its sends, through a real
``smtp-connector serve`` process holding every sendable config as a profile."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from smtp_connector.client._requests import send_request, validate_request
from smtp_connector.client.errors import from_rpc_error
from smtp_connector.server.app import load_server_config
from smtp_connector.server.settings import Settings
from smtp_connector.v1 import smtp_connector_pb2_grpc as pb_grpc

from tests.support.process import ServerProcess

RPC_TIMEOUT = 20.0


@dataclass(frozen=True)
class Verdict:
    """Accepted or not, and why not."""

    accepted: bool
    detail: str = ""


@dataclass(frozen=True)
class Outcome:
    """What became of one send: sent, or the error reason."""

    sent: bool
    detail: str = ""


@functools.cache
def _default_settings() -> Settings:
    return Settings()


def serve_verdict(config: dict[str, Any], folder: Path, name: str) -> Verdict:
    """Whether ``serve --config`` would start with this config file (the server's settings at
    their defaults)."""
    path = folder / f"{name}.json"
    path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    try:
        load_server_config(_default_settings().model_copy(update={"config": path}))
    except Exception as exc:  # every refusal, whatever its type, is a "no" here
        return Verdict(False, f"{type(exc).__name__}: {exc}")
    return Verdict(True)


class OurService:
    """A running ``smtp-connector serve`` process and a channel to it."""

    def __init__(self, process: ServerProcess) -> None:
        self.process = process
        self._channel = process.channel()
        self._stub: Any = pb_grpc.SmtpConnectorServiceStub(self._channel)

    def validate(self, config: dict[str, Any]) -> Verdict:
        request = validate_request(json.dumps(config, ensure_ascii=False), None)
        response = self._stub.ValidateConfig(request, timeout=RPC_TIMEOUT)
        errors = [f"{i.field_path}: {i.message}" for i in response.issues if i.severity == 1]
        return Verdict(bool(response.valid), "; ".join(errors))

    def send(self, profile: str, to: str, usage_type: str, payload: dict[str, Any]) -> Outcome:
        request = send_request(to, usage_type, payload, "", "", profile)
        try:
            self._stub.SendMessage(request, timeout=RPC_TIMEOUT)
        except grpc.RpcError as exc:
            error = from_rpc_error(exc)
            return Outcome(False, f"{error.reason or error.code.name}: {error.message}")
        return Outcome(True)

    def close(self) -> None:
        self._channel.close()


@contextmanager
def running_service(
    folder: Path, profiles: dict[str, dict[str, Any]], ca_file: str
) -> Iterator[OurService]:
    """``smtp-connector serve`` with ``profiles`` as its config file, trusting ``ca_file`` (the
    capture sink's CA) as its system CAs, as a server trusts a real provider's."""
    config_file = folder / "profiles.json"
    assert profiles, "no config to send with"
    document = {"profiles": profiles, "defaultProfile": next(iter(profiles))}
    config_file.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    process = ServerProcess(folder, "--config", str(config_file), env={"SSL_CERT_FILE": ca_file})
    service = OurService(process)
    try:
        yield service
    finally:
        service.close()
        process.stop()
