"""Real SMTP peers for the tests: an aiosmtpd server that records what it receives, and
helpers that pick free loopback ports."""

from __future__ import annotations

import asyncio
import base64
import hmac
import secrets
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
    mail_options: list[str] = field(default_factory=list)
    tls_version: str | None = None  # e.g. "TLSv1.3" when the message came over TLS

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


async def read_xoauth2(server: Any, args: list[str]) -> tuple[str, str] | None:
    """The (user, token) of an AUTH XOAUTH2 command (documented by Google, no RFC:
    base64 of "user=U^Aauth=Bearer T^A^A"), asking for it when the command did not carry it;
    None when the client gave up."""
    if len(args) > 1:
        blob = base64.b64decode(args[1])
    else:
        answer = await server.challenge_auth("")
        if not isinstance(answer, bytes):
            return None
        blob = answer
    fields = dict(part.split("=", 1) for part in blob.decode().split("\x01") if "=" in part)
    return fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")


@dataclass
class RecordingHandler:
    """Stores every message; ``reply_for`` may answer a stage with an SMTP error instead."""

    received: list[Received] = field(default_factory=list)
    reply_for: dict[str, str] = field(default_factory=dict)
    on_data: Callable[[Any], None] | None = None
    refuse: set[str] = field(default_factory=set)  # recipients RCPT refuses
    rsets: int = 0
    ehlo_names: list[str] = field(default_factory=list)
    quits: int = 0
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
        if address in self.refuse:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        self.ehlo_names.append(hostname)
        return responses

    async def handle_RSET(self, server: Any, session: Any, envelope: Any) -> str:
        self.rsets += 1
        return "250 OK"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.quits += 1
        return "221 Bye"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.on_data is not None:
            self.on_data(server)
        if "DATA" in self.reply_for:
            return self.reply_for["DATA"]
        with self._lock:
            ssl_object = server.transport.get_extra_info("ssl_object")
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    envelope.original_content,
                    list(envelope.mail_options),
                    ssl_object.version() if ssl_object is not None else None,
                )
            )
        return "250 2.0.0 Ok: queued as TEST"


@dataclass
class AuthHandler(RecordingHandler):
    """A RecordingHandler that also speaks CRAM-MD5 and XOAUTH2 and records each login."""

    users: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, set[str]] = field(default_factory=dict)  # XOAUTH2: user -> valid tokens
    logins: list[tuple[str, str]] = field(default_factory=list)  # (mechanism, user)

    def check_password(self, mechanism: str, user: bytes, password: bytes) -> AuthResult:
        ok = self.users.get(user.decode()) == password.decode()
        if ok:
            self.logins.append((mechanism, user.decode()))
        # handled=False: aiosmtpd then answers 535 itself.
        return AuthResult(success=ok, handled=False)

    async def auth_CRAM__MD5(self, server: Any, args: list[str]) -> AuthResult:
        challenge = f"<{secrets.token_hex(8)}@aiosmtpd.test>".encode()
        answer = await server.challenge_auth(challenge)
        if not isinstance(answer, bytes):
            return AuthResult(success=False, handled=True)
        user, _, digest = answer.decode().rpartition(" ")
        password = self.users.get(user)
        expected = hmac.new((password or "").encode(), challenge, "md5").hexdigest()
        ok = password is not None and hmac.compare_digest(expected, digest)
        if ok:
            self.logins.append(("CRAM-MD5", user))
        return AuthResult(success=ok, handled=False)

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        login = await read_xoauth2(server, args)
        if login is None:
            return AuthResult(success=False, handled=True)
        user, token = login
        if token in self.tokens.get(user, set()):
            self.logins.append(("XOAUTH2", user))
            return AuthResult(success=True)
        # As Gmail does: a 334 with a JSON error, then 535 once the client answers.
        error = b'{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}'
        await server.challenge_auth(error)
        return AuthResult(
            success=False, handled=False, message="535 5.7.8 Username and Password not accepted"
        )


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 in a thread, recording what it receives."""

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        auth_require_tls: bool = False,
        auth_mechanisms: tuple[str, ...] | None = None,
        idle_timeout: float | None = None,
        smtputf8: bool = True,
        require_starttls: bool = False,
    ) -> None:
        self.handler = AuthHandler(users=dict(users or {}))
        self.port = free_port()
        self.connections = 0
        kwargs: dict[str, Any] = {"enable_SMTPUTF8": smtputf8}
        if idle_timeout is not None:
            kwargs["timeout"] = idle_timeout  # aiosmtpd drops connections idle this long
        handler = self.handler

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
        ) -> AuthResult:
            assert isinstance(auth_data, LoginPassword)
            return handler.check_password(mechanism, auth_data.login, auth_data.password)

        kwargs.update(authenticator=authenticate, auth_require_tls=auth_require_tls)
        if auth_mechanisms is not None:
            offered = {"PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"}
            kwargs["auth_exclude_mechanism"] = sorted(offered - set(auth_mechanisms))
        if tls_context is not None and not implicit_tls:
            kwargs["tls_context"] = tls_context
            kwargs["require_starttls"] = require_starttls
        owner = self
        self._protocols: list[aiosmtpd_smtp.SMTP] = []

        class CountingController(Controller):
            def factory(self) -> aiosmtpd_smtp.SMTP:
                owner.connections += 1
                protocol = aiosmtpd_smtp.SMTP(self.handler, **self.SMTP_kwargs)
                owner._protocols.append(protocol)
                return protocol

        self._controller = CountingController(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=tls_context if implicit_tls else None,
            **kwargs,
        )

    @property
    def logins(self) -> list[tuple[str, str]]:
        """Successful logins so far: (mechanism, user)."""
        return self.handler.logins

    @property
    def received(self) -> list[Received]:
        """Messages received so far."""
        return self.handler.received

    def start(self) -> SmtpServer:
        self._controller.start()
        self.connections = 0  # the controller's own readiness check connected once
        return self

    def stop(self) -> None:
        """Close the connections clients still hold open (pooled ones), then stop."""
        loop = self._controller.loop

        async def close_connections() -> None:
            for protocol in self._protocols:
                # abort(): a TLS close would wait for the client's close_notify.
                for transport in (protocol.transport, protocol._original_transport):
                    if isinstance(transport, asyncio.Transport):
                        transport.abort()
            await asyncio.sleep(0.01)

        if loop.is_running():
            asyncio.run_coroutine_threadsafe(close_connections(), loop).result(5)
        self._controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
