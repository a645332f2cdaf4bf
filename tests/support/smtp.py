"""Real SMTP peers for the tests: an aiosmtpd server that records what it receives, and
helpers that pick free loopback ports."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd import smtp as aiosmtpd_smtp
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (aiosmtpd's Controller cannot bind port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse_message(data: bytes) -> EmailMessage:
    """Message bytes parsed back with the standard library's parser."""
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@dataclass
class Received:
    """One message as the SMTP server received it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        """The message parsed back with the standard library's parser."""
        return parse_message(self.data)

    def body(self) -> str:
        """The decoded text body, with LF line ends and without the final line end that
        every MIME text part gets."""
        part = self.message.get_body(("plain", "html"))
        assert part is not None
        content = part.get_content()
        assert isinstance(content, str)
        return content.replace("\r\n", "\n").removesuffix("\n")


@dataclass
class RecordingHandler:
    """Stores every message; ``reply_for`` may answer a stage with an SMTP error instead."""

    received: list[Received] = field(default_factory=list)
    reply_for: dict[str, str] = field(default_factory=dict)
    on_data: Callable[[], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if "MAIL" in self.reply_for:
            return self.reply_for["MAIL"]
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if "RCPT" in self.reply_for:
            return self.reply_for["RCPT"]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.on_data is not None:
            self.on_data()
        if "DATA" in self.reply_for:
            return self.reply_for["DATA"]
        with self._lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 2.0.0 Ok: queued as TEST"


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 in a thread, recording what it receives."""

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        auth_require_tls: bool = False,
    ) -> None:
        self.handler = RecordingHandler()
        self.port = free_port()
        self.connections = 0
        kwargs: dict[str, Any] = {"enable_SMTPUTF8": True}
        if users is not None:

            def authenticate(
                server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
            ) -> AuthResult:
                ok = (
                    isinstance(auth_data, LoginPassword)
                    and users.get(auth_data.login.decode()) == auth_data.password.decode()
                )
                return AuthResult(success=ok, handled=False)

            kwargs.update(authenticator=authenticate, auth_require_tls=auth_require_tls)
        if tls_context is not None and not implicit_tls:
            kwargs["tls_context"] = tls_context
            kwargs["require_starttls"] = False
        owner = self

        class CountingController(Controller):
            def factory(self) -> aiosmtpd_smtp.SMTP:
                owner.connections += 1
                return aiosmtpd_smtp.SMTP(self.handler, **self.SMTP_kwargs)

        self._controller = CountingController(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=tls_context if implicit_tls else None,
            **kwargs,
        )

    @property
    def received(self) -> list[Received]:
        """Messages received so far."""
        return self.handler.received

    def start(self) -> SmtpServer:
        self._controller.start()
        self.connections = 0  # the controller's own readiness check connected once
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
