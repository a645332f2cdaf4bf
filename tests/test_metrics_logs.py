"""Prometheus metrics, JSON logs with request ids, and no secret in any log line, error or
response, against real server processes."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.client._requests import to_struct
from smtp_connector.client.errors import SmtpConnectorError
from smtp_connector.v1 import smtp_connector_pb2 as pb
from smtp_connector.v1 import smtp_connector_pb2_grpc as pb_grpc

from tests.support.process import ServerProcess
from tests.support.service import in_process_service, make_config
from tests.support.slow import SlowData
from tests.support.smtp import SmtpServer, free_port

PASSWORD = "s3cret-Pa55word-!"
TOKEN = "caller-token-xyz"

BROKEN = {
    "usageType": "Broken",
    "contentType": "text/plain",
    "subject": "s",
    "content": "{{ code.__class__.__mro__ }}",
}


def samples(metrics_address: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    url = f"http://{metrics_address}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_endpoint(tmp_path: Path, smtp_server: SmtpServer) -> None:
    # Jinja2's mode: a sandbox violation and a missing variable are the render errors counted.
    config = make_config(smtp_server.port, templateEngine="jinja2")
    config["templates"].append(BROKEN)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    metrics_address = f"127.0.0.1:{free_port()}"
    with ServerProcess(
        tmp_path, "--config", str(path), "--metrics-address", metrics_address
    ) as server:
        with SmtpConnectorClient(server.address, timeout=10) as client:
            client.send_message("a@example.com", "Generic", {"code": 1})
            client.send_message("b@example.com", "Generic", {"code": 2})
            for usage_type in ("Broken", "Register"):
                with pytest.raises(SmtpConnectorError):
                    client.send_message("c@example.com", usage_type, {"code": 3})
        found = samples(metrics_address)
    send = "/smtp_connector.v1.SmtpConnectorService/SendMessage"
    assert found[("smtp_connector_rpcs_total", frozenset({("method", send), ("code", "OK")}))] == 2
    failed_codes = {
        dict(labels)["code"]
        for (name, labels), value in found.items()
        if name == "smtp_connector_rpcs_total" and dict(labels)["method"] == send and value
    } - {"OK"}
    assert failed_codes
    assert found[("smtp_connector_smtp_send_seconds_count", frozenset({("outcome", "sent")}))] == 2
    assert found[("smtp_connector_smtp_replies_total", frozenset({("code", "250")}))] == 2
    template_errors = sum(
        value for (name, _), value in found.items()
        if name == "smtp_connector_template_render_errors_total"
    )  # fmt: skip
    assert template_errors == 2  # one sandbox violation, one missing variable
    # The pool keeps the one connection it used open, idle, for the next send.
    assert found[("smtp_connector_pool_connections_open", frozenset())] == 1
    assert found[("smtp_connector_pool_connections_in_use", frozenset())] == 0


def test_json_logs_carry_the_request_id_returned_to_the_caller(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(make_config(smtp_server.port)))
    with ServerProcess(tmp_path, "--config", str(path), "--log-format", "json") as server:
        with server.channel() as channel:
            stub: Any = pb_grpc.SmtpConnectorServiceStub(channel)
            request = pb.SendMessageRequest(
                to="a@example.com", usage_type="Generic", payload=to_struct({"code": 1})
            )
            _, call = stub.SendMessage.with_call(request, timeout=10)
            generated = dict(call.trailing_metadata())["x-request-id"]
            _, call = stub.SendMessage.with_call(
                request, timeout=10, metadata=[("x-request-id", "caller-chosen-42")]
            )
            chosen = dict(call.trailing_metadata())["x-request-id"]
            with pytest.raises(grpc.RpcError) as failed:
                stub.SendMessage(pb.SendMessageRequest(to="x@example.com"), timeout=10)
            failed_call: Any = failed.value  # a grpc.Call too
            failed_id = dict(failed_call.trailing_metadata())["x-request-id"]
        with SmtpConnectorClient(server.address, timeout=10) as client:
            with pytest.raises(SmtpConnectorError) as typed:
                client.send_message("", "Generic")
            typed_error_id = typed.value.request_id
        server.wait_for_log(typed_error_id)
        lines = [json.loads(line) for line in server.logs().splitlines() if line.strip()]
    assert chosen == "caller-chosen-42"
    assert len(generated) == 32
    for record in lines:
        assert {"time", "level", "logger", "message", "request_id"} <= record.keys()
    by_id = {record["request_id"]: record for record in lines if record.get("rpc_method")}
    assert by_id[generated]["grpc_code"] == "OK"
    assert by_id[chosen]["grpc_code"] == "OK"
    assert by_id[failed_id]["grpc_code"] == "INVALID_ARGUMENT"
    assert by_id[failed_id]["reason"] == "INVALID_REQUEST"
    assert typed_error_id in by_id
    sent = [r for r in lines if r["request_id"] == generated and r["message"].startswith("sent ")]
    assert sent, "the mailer's own log line carries the request id"


def test_no_password_in_any_log_line_error_or_response(tmp_path: Path) -> None:
    with SmtpServer(users={"user": PASSWORD}) as smtp_server:
        config = make_config(smtp_server.port, username="user", password=PASSWORD)
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        args = (
            "--config", str(path), "--log-level", "DEBUG", "--log-format", "json",
            "--allow-inline-config", "--inline-allowed-networks", "127.0.0.0/8",
            "--inline-allowed-ports", str(smtp_server.port),
        )  # fmt: skip
        env = {"SMTP_CONNECTOR_AUTH_TOKENS": TOKEN}
        seen: list[str] = []
        with (
            ServerProcess(tmp_path, *args, env=env) as server,
            SmtpConnectorClient(server.address, timeout=10, token=TOKEN) as client,
        ):
            inline = json.dumps(config)
            bad_inline = json.dumps({**config, "port": "not a port"})
            calls: list[Callable[[], object]] = [
                lambda: client.send_message("a@example.com", "Generic", {"code": 1}),
                lambda: client.send_message(
                    "a@example.com", "Generic", {"code": 1}, config_json=inline
                ),
                lambda: client.test_connection(),
                lambda: client.test_connection(inline, "a@example.com"),
                lambda: client.validate_config(inline),
                lambda: client.validate_config(bad_inline),
                lambda: client.send_message("a@example.com", "Generic", config_json=bad_inline),
            ]
            for call in calls:
                try:
                    seen.append(str(call()))
                except SmtpConnectorError as exc:
                    seen.append(f"{exc} {exc.metadata} {exc.field_violations}")
        seen.append(server.logs())
    assert len(smtp_server.received) == 3  # the password was really used (2 sends, 1 test)
    assert any("********" in text for text in seen)  # and shown redacted in a normalized config
    for text in seen:
        assert PASSWORD not in text
        assert TOKEN not in text


@pytest.mark.parametrize("pool", [True, False])
def test_connection_gauges_follow_a_send_in_flight(
    tmp_path: Path, smtp_server: SmtpServer, pool: bool
) -> None:
    slow = SlowData(smtp_server, 1.0)
    with (
        in_process_service(tmp_path, make_config(smtp_server.port), pool=pool) as service,
        SmtpConnectorClient(f"127.0.0.1:{service.port}", timeout=10) as client,
    ):
        registry = service.metrics.registry
        sender = threading.Thread(
            target=client.send_message, args=("a@example.com", "Generic", {"code": 1})
        )
        sender.start()
        slow.wait_for(1)
        assert registry.get_sample_value("smtp_connector_pool_connections_open") == 1
        assert registry.get_sample_value("smtp_connector_pool_connections_in_use") == 1
        sender.join(10)
        assert registry.get_sample_value("smtp_connector_pool_connections_in_use") == 0
        # A pool keeps its connection for the next send; without one it is closed.
        assert registry.get_sample_value("smtp_connector_pool_connections_open") == int(pool)
