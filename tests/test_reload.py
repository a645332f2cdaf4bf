"""Config reload on SIGHUP: a valid config replaces the old one, an invalid one is refused and
the old one stays; only the transport of vanished connection settings is closed."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any, ClassVar

from smtp_connector.client import SmtpConnectorClient
from smtp_connector.server.deadline import Deadline
from smtp_connector.server.health import Health
from smtp_connector.server.mailer import LoadedConfig, Mailer, load_config
from smtp_connector.server.reload import Reloader
from smtp_connector.server.transport import ConnectionSettings, Envelope, SendReceipt

from tests.conftest import make_config
from tests.support.process import ServerProcess
from tests.support.smtp import SmtpServer


def generic(subject: str) -> list[dict[str, str]]:
    return [{"usageType": "Generic", "subject": subject, "content": "Code {{code}}"}]


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
    def __init__(self, loaded: LoadedConfig | None) -> None:
        self.server_config = loaded

    def use_config(self, loaded: LoadedConfig | None) -> None:
        self.server_config = loaded


def test_only_vanished_connection_settings_lose_their_transport() -> None:
    CountingTransport.closed = []
    configs: dict[str, Any] = {"now": make_config(25, host="a.example.com")}
    mailer = Mailer(CountingTransport)
    first = load_config(json.dumps(configs["now"]))
    holder = Holder(first)
    mailer.transport_for(first.connection)
    reloader = Reloader(lambda: load_config(json.dumps(configs["now"])), holder, mailer, Health())

    configs["now"] = make_config(25, host="a.example.com", templates=generic("New subject"))
    assert reloader.reload()
    assert CountingTransport.closed == []  # same connection settings: the pool stays
    assert holder.server_config is not first

    configs["now"] = {"host": "b.example.com"}
    assert not reloader.reload()
    assert CountingTransport.closed == []

    configs["now"] = make_config(25, host="b.example.com")
    assert reloader.reload()
    assert CountingTransport.closed == ["a.example.com"]
    assert holder.server_config is not None
    assert holder.server_config.connection.host == "b.example.com"
