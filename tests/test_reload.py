"""Config reload on SIGHUP: a valid config replaces the old one, an invalid one is refused and
the old one stays; only the transport of vanished connection settings is closed."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any, ClassVar

from grpc_health.v1 import health_pb2
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.server.deadline import Deadline
from smtp_connector.server.domain.mailer import Mailer
from smtp_connector.server.domain.profiles import Profiles, load_profiles
from smtp_connector.server.reload import Reloader
from smtp_connector.server.rpc.health import Health
from smtp_connector.server.transport import ConnectionSettings, Envelope, SendReceipt

from tests.support.process import ServerProcess
from tests.support.service import make_config
from tests.support.smtp import SmtpServer


def generic(subject: str) -> list[dict[str, str]]:
    return [
        {
            "usageType": "Generic",
            "contentType": "text/plain",
            "subject": subject,
            "content": "Code {{code}}",
        }
    ]


def last_subject(smtp_server: SmtpServer) -> str:
    return str(smtp_server.received[-1].message["Subject"])


def test_sighup_reloads_the_config(tmp_path: Path, smtp_server: SmtpServer) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(make_config(smtp_server.port, templates=generic("First"))))
    with (
        ServerProcess(tmp_path, "--config", str(path)) as server,
        SmtpConnectorClient(server.address, timeout=10) as client,
    ):
        client.send_message("a@example.com", "Generic", {"code": 1})
        assert last_subject(smtp_server) == "First"

        path.write_text('{"host": "", "templates": []}')
        server.signal(signal.SIGHUP)
        server.wait_for_log("config reload rejected")
        assert "host" in server.logs()
        assert server.health() == "SERVING"
        client.send_message("a@example.com", "Generic", {"code": 2})
        assert last_subject(smtp_server) == "First"

        path.write_text(json.dumps(make_config(smtp_server.port, templates=generic("Second"))))
        server.signal(signal.SIGHUP)
        server.wait_for_log("config reloaded")
        client.send_message("a@example.com", "Generic", {"code": 3})
        assert last_subject(smtp_server) == "Second"
        assert "connections kept" in server.logs()


class CountingTransport:
    """A transport that only records whether it was closed."""

    closed: ClassVar[list[str]] = []

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings

    def send(self, envelope: Envelope, data: bytes, deadline: Deadline) -> SendReceipt:
        raise NotImplementedError

    def close(self) -> None:
        CountingTransport.closed.append(self.settings.host)


class Holder:
    def __init__(self, profiles: Profiles | None) -> None:
        self.profiles = profiles


def profile_file(**hosts: str) -> str:
    profiles = {name: make_config(25, host=host) for name, host in hosts.items()}
    return json.dumps({"defaultProfile": "a", "profiles": profiles})


def status(health: Health, service: str) -> str:
    context: Any = None  # Check needs a context only for an unknown service
    response = health.servicer.Check(health_pb2.HealthCheckRequest(service=service), context)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def test_only_vanished_connection_settings_lose_their_transport() -> None:
    CountingTransport.closed = []
    files = {"now": profile_file(a="a.example.com", b="b.example.com")}
    first = load_profiles(files["now"])
    holder, mailer, health = Holder(first), Mailer(CountingTransport), Health()
    health.show(first)
    for loaded in first.configs.values():
        mailer.transport_for(loaded.connection)
    reloader = Reloader(lambda: load_profiles(files["now"]), holder, mailer, health)

    files["now"] = json.dumps(
        {
            "defaultProfile": "a",
            "profiles": {
                "a": make_config(25, host="a.example.com", templates=generic("New")),
                "b": make_config(25, host="b.example.com"),
            },
        }
    )
    assert reloader.reload()
    assert CountingTransport.closed == []  # same connection settings: the pools stay
    assert holder.profiles is not first

    files["now"] = '{"profiles": {"a": {"host": "c.example.com"}}}'
    assert not reloader.reload()
    assert CountingTransport.closed == []

    files["now"] = profile_file(a="a.example.com", c="c.example.com")
    assert reloader.reload()
    assert CountingTransport.closed == ["b.example.com"]
    assert holder.profiles is not None
    assert holder.profiles.get("c").connection.host == "c.example.com"
    assert status(health, "smtp_connector.v1.SmtpConnectorService/a") == "SERVING"
    assert status(health, "smtp_connector.v1.SmtpConnectorService/b") == "NOT_SERVING"
    assert status(health, "smtp_connector.v1.SmtpConnectorService/c") == "SERVING"
    assert status(health, "") == "SERVING"
