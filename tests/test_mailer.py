"""The Mailer's map of transports stays bounded, and never closes one a send is using."""

from __future__ import annotations

import json
import threading
from typing import ClassVar

from smtp_connector.server.deadline import Deadline
from smtp_connector.server.domain.mailer import Mailer, SendRequest, load_config
from smtp_connector.server.transport import ConnectionSettings, Envelope, SendReceipt

from tests.support.service import make_config


class GatedTransport:
    """Records closes; a send waits until the test opens the gate."""

    closed: ClassVar[list[str]] = []
    entered = threading.Event()
    gate = threading.Event()

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings

    def send(self, envelope: Envelope, data: bytes, deadline: Deadline) -> SendReceipt:
        GatedTransport.entered.set()
        assert GatedTransport.gate.wait(10)
        return SendReceipt(250, "ok", envelope.recipients)

    def close(self) -> None:
        GatedTransport.closed.append(self.settings.host)


def _settings(host: str) -> ConnectionSettings:
    return ConnectionSettings(host, 25)


def test_the_least_recently_used_transport_is_closed_beyond_the_bound() -> None:
    GatedTransport.closed = []
    mailer = Mailer(GatedTransport, max_transports=2)
    first = mailer.transport_for(_settings("a.example"))
    mailer.transport_for(_settings("b.example"))
    assert mailer.transport_for(_settings("a.example")) is first  # reused, and now recent
    mailer.transport_for(_settings("c.example"))
    assert GatedTransport.closed == ["b.example"]
    mailer.close()
    assert sorted(GatedTransport.closed) == ["a.example", "b.example", "c.example"]


def test_a_transport_in_use_is_never_closed() -> None:
    GatedTransport.closed = []
    GatedTransport.entered.clear()
    GatedTransport.gate.clear()
    mailer = Mailer(GatedTransport, max_transports=1)
    busy = load_config(json.dumps(make_config(25, host="busy.example")))
    request = SendRequest("u@example.org", "Generic", {"code": "1"})
    sender = threading.Thread(target=mailer.send, args=(busy, request, Deadline.after(10)))
    sender.start()
    try:
        assert GatedTransport.entered.wait(10)
        mailer.transport_for(_settings("b.example"))
        mailer.transport_for(_settings("c.example"))
        assert "busy.example" not in GatedTransport.closed
        assert GatedTransport.closed == ["b.example"]
    finally:
        GatedTransport.gate.set()
        sender.join(10)
    mailer.transport_for(_settings("d.example"))
    assert "busy.example" in GatedTransport.closed  # idle now, so it may go
