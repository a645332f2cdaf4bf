"""The capture sink both senders deliver into: aiosmtpd on loopback, on a STARTTLS port and an
implicit-TLS port, that accepts any login (PLAIN, LOGIN, XOAUTH2) and records, per message, the
envelope, the bytes and the credentials the client logged in with."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from tests.support.smtp import free_port, read_xoauth2


@dataclass(frozen=True)
class Login:
    """What a client logged in with."""

    mechanism: str
    user: str
    secret: str


@dataclass(frozen=True)
class Capture:
    """One message as the sink received it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    login: Login | None
    tls: bool
    ehlo: str = ""


@dataclass
class _Handler:
    captures: list[Capture] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        capture = Capture(
            envelope.mail_from,
            tuple(envelope.rcpt_tos),
            envelope.original_content,
            getattr(session, "conformance_login", None),
            server.transport.get_extra_info("ssl_object") is not None,
            str(session.host_name or ""),
        )
        with self.lock:
            self.captures.append(capture)
        return "250 2.0.0 Ok: captured"

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        login = await read_xoauth2(server, args)
        if login is None:
            return AuthResult(success=False, handled=True)
        server.session.conformance_login = Login("XOAUTH2", *login)
        return AuthResult(success=True)


def _accept_any(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    assert isinstance(auth_data, LoginPassword)
    # Decoded as UTF-8 (what nodemailer sends); a client that sent other bytes shows them
    # replaced, so the comparison sees the difference.
    session.conformance_login = Login(
        mechanism,
        auth_data.login.decode("utf-8", "replace"),
        auth_data.password.decode("utf-8", "replace"),
    )
    return AuthResult(success=True)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return SMTP(self.handler, **self.SMTP_kwargs)


@dataclass(frozen=True)
class Sink:
    """The running sink: where to send, and what arrived."""

    starttls_port: int
    implicit_tls_port: int
    ca_file: str
    handler: _Handler

    def take(self) -> dict[str, Capture]:
        """The messages received since the last take, by their (only) recipient."""
        with self.handler.lock:
            captures, self.handler.captures[:] = list(self.handler.captures), []
        return {c.rcpt_tos[0] if c.rcpt_tos else "": c for c in captures}


def _server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@contextmanager
def running_sink(ca: trustme.CA, ca_file: str) -> Iterator[Sink]:
    """The sink on two free loopback ports, with a certificate from ``ca`` for 127.0.0.1
    (each sender is told to trust ``ca``, as a real provider's CA is trusted)."""
    handler = _Handler()
    common: dict[str, Any] = {
        "hostname": "127.0.0.1",
        "authenticator": _accept_any,
        "auth_require_tls": False,
        "enable_SMTPUTF8": True,
    }
    starttls = _Controller(handler, port=free_port(), tls_context=_server_context(ca), **common)
    implicit = _Controller(handler, port=free_port(), ssl_context=_server_context(ca), **common)
    with ExitStack() as stack:
        for controller in (starttls, implicit):
            controller.start()
            stack.callback(controller.stop)
        yield Sink(starttls.port, implicit.port, ca_file, handler)
