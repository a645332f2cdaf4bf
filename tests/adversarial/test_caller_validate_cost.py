"""Finding 16: ValidateConfig needs neither a token (by default) nor inline configs, and its
cost had no bound that held: calls of 0.8 MB with 1 s deadlines kept every worker busy
long after their callers had left, and 45,000 unknown keys gave a 5.8 MB response. Now the
validation stops when its caller's deadline passes or the caller cancels, and its response
holds at most a bounded number of issues, each bounded in size."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.v1 import smtp_connector_pb2 as pb
from smtp_connector.v1 import smtp_connector_pb2_grpc as pb_grpc

from tests.support.attack import assert_responsive, health_status
from tests.support.service import in_process_service, make_config
from tests.support.smtp import SmtpServer

WORKERS = 2
# How long a normal send may wait for a worker once the attackers have left: the time one
# unit of validation work (a template) takes, with room for a slow machine.
FREED_WITHIN = 3.0


@pytest.fixture
def target(smtp_server: SmtpServer, tmp_path: Path) -> Iterator[tuple[str, SmtpConnectorClient]]:
    config = make_config(smtp_server.port)
    with in_process_service(tmp_path, config, workers=WORKERS) as service:
        address = f"127.0.0.1:{service.port}"
        with SmtpConnectorClient(address, timeout=20, retry=None) as client:
            yield address, client


def costly_config(smtp_port: int) -> str:
    """About 0.75 MB of Jinja2 templates within the template size limit: seconds of
    parsing."""
    config: dict[str, Any] = make_config(smtp_port, templateEngine="jinja2")
    config["templates"] = [
        dict(template, content="{{ a }}" * 7000) for template in config["templates"]
    ] * 5
    return json.dumps(config)


def validate(address: str, config_json: str, timeout: float) -> grpc.StatusCode:
    with grpc.insecure_channel(address) as channel:
        stub: Any = pb_grpc.SmtpConnectorServiceStub(channel)
        try:
            stub.ValidateConfig(pb.ValidateConfigRequest(config_json=config_json), timeout=timeout)
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


def assert_freed(address: str, client: SmtpConnectorClient, smtp: SmtpServer) -> None:
    """Now that the attackers are gone, a normal send gets a worker at once."""
    left = time.monotonic()
    assert_responsive(address, client, smtp)
    assert time.monotonic() - left < FREED_WITHIN


def test_validations_whose_callers_left_free_their_workers(
    target: tuple[str, SmtpConnectorClient], smtp_server: SmtpServer
) -> None:
    address, client = target
    config_json = costly_config(smtp_server.port)
    with ThreadPoolExecutor(max_workers=6) as attackers:
        codes = list(attackers.map(lambda _: validate(address, config_json, 1.0), range(6)))
        assert health_status(address) == "SERVING"
    assert set(codes) == {grpc.StatusCode.DEADLINE_EXCEEDED}
    assert_freed(address, client, smtp_server)


def test_a_cancelled_validation_frees_its_worker(
    target: tuple[str, SmtpConnectorClient], smtp_server: SmtpServer
) -> None:
    address, client = target
    config_json = costly_config(smtp_server.port)
    with grpc.insecure_channel(address) as channel:
        stub: Any = pb_grpc.SmtpConnectorServiceStub(channel)
        calls = [
            stub.ValidateConfig.future(pb.ValidateConfigRequest(config_json=config_json))
            for _ in range(WORKERS)
        ]
        time.sleep(0.5)  # both workers are parsing
        for call in calls:
            call.cancel()
    assert_freed(address, client, smtp_server)


def test_45000_unknown_keys_give_a_bounded_answer(
    target: tuple[str, SmtpConnectorClient], smtp_server: SmtpServer
) -> None:
    address, client = target
    config = make_config(smtp_server.port)
    config.update({f"k{index}": 1 for index in range(45_000)})
    config["x" * 100_000] = 1  # a key as long as the request allows
    stop = threading.Event()
    answered: list[float] = []

    def watch_health() -> None:
        while not stop.is_set():
            started = time.monotonic()
            health_status(address)
            answered.append(time.monotonic() - started)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch_health)
    watcher.start()
    try:
        response = client.validate_config(json.dumps(config))
    finally:
        stop.set()
        watcher.join()
    assert len(response.SerializeToString()) < 256 * 1024
    assert response.valid  # unknown keys are warnings: the config still works
    assert response.issues[-1].code == "TOO_MANY_ISSUES"
    assert all(len(issue.message) <= 512 for issue in response.issues)
    assert all(len(issue.field_path) <= 256 for issue in response.issues)
    assert max(answered) < 1.0
    assert_responsive(address, client, smtp_server)
