"""grpc.health.v1 and server reflection, against real server processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.support.process import ServerProcess
from tests.support.service import make_config
from tests.support.smtp import SmtpServer

SERVICE = "smtp_connector.v1.SmtpConnectorService"


def write_config(tmp_path: Path, smtp_port: int, name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(make_config(smtp_port)), encoding="utf-8")
    return path


def test_serving_once_a_valid_config_is_loaded(tmp_path: Path, smtp_server: SmtpServer) -> None:
    config = write_config(tmp_path, smtp_server.port)
    with ServerProcess(tmp_path, "--config", str(config)) as server:
        assert server.health() == "SERVING"
        assert server.health(SERVICE) == "SERVING"


def test_not_serving_without_a_config(tmp_path: Path) -> None:
    with ServerProcess(tmp_path) as server:
        assert server.health() == "NOT_SERVING"
        assert server.health(SERVICE) == "NOT_SERVING"


def test_unknown_service_is_not_found(tmp_path: Path) -> None:
    with ServerProcess(tmp_path) as server, pytest.raises(grpc.RpcError) as raised:
        server.health("no.such.Service")
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND


def list_services(channel: grpc.Channel) -> list[str]:
    stub: Any = reflection_pb2_grpc.ServerReflectionStub(channel)  # the stubs lack its methods
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    responses = stub.ServerReflectionInfo(iter([request]), timeout=5)
    return [s.name for r in responses for s in r.list_services_response.service]


def test_reflection_lists_the_services(tmp_path: Path) -> None:
    with ServerProcess(tmp_path) as server, server.channel() as channel:
        services = list_services(channel)
    assert SERVICE in services
    assert "grpc.health.v1.Health" in services


def test_reflection_can_be_switched_off(tmp_path: Path) -> None:
    with (
        ServerProcess(tmp_path, "--no-reflection") as server,
        server.channel() as channel,
        pytest.raises(grpc.RpcError) as raised,
    ):
        list_services(channel)
    assert raised.value.code() is grpc.StatusCode.UNIMPLEMENTED


def test_each_profile_has_a_status(tmp_path: Path, smtp_server: SmtpServer) -> None:
    path = tmp_path / "profiles.json"
    profiles = {"transactional": make_config(smtp_server.port), "marketing": make_config(25)}
    path.write_text(json.dumps({"defaultProfile": "transactional", "profiles": profiles}))
    with ServerProcess(tmp_path, "--config", str(path)) as server:
        assert server.health(f"{SERVICE}/transactional") == "SERVING"
        assert server.health(f"{SERVICE}/marketing") == "SERVING"
        assert server.health(SERVICE) == "SERVING"
