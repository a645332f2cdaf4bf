"""The transport's vocabulary, shared by every layer above it: stages, TLS modes, connection
settings, the envelope, replies, receipts and the ``Transport`` protocol (no smtplib here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..deadline import Deadline
    from .oauth import OAuth2Credentials


class Stage(StrEnum):
    """A step of an SMTP exchange, as errors and connection tests name it."""

    RESOLVE = "resolve"  # the host name to addresses (the connection test's first step)
    CONNECT = "connect"
    GREETING = "greeting"
    EHLO = "ehlo"
    TLS = "tls"
    AUTH = "auth"
    RENDER = "render"  # the connection test renders the message it would send
    MAIL = "mail"
    MAIL_FROM = "mail_from"  # the connection test's name for its MAIL step
    RCPT = "rcpt"
    RCPT_TO = "rcpt_to"  # the connection test's name for its RCPT step
    DATA = "data"
    END_OF_DATA = "end_of_data"  # the whole message is out; the server's reply is awaited
    QUIT = "quit"
    NOOP = "noop"  # the pool's check of its warm connection


class TlsMode(Enum):
    """How the connection is encrypted."""

    IMPLICIT = "implicit"  # TLS from the first byte (`secure`, usually port 465)
    STARTTLS_REQUIRED = "starttls_required"  # `requireTLS`: fail unless STARTTLS works
    STARTTLS_OPPORTUNISTIC = "starttls_opportunistic"  # STARTTLS when offered (the default)
    NONE = "none"  # `ignoreTLS`


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything needed to open and authenticate a connection; the pool key of a config."""

    host: str
    port: int
    tls_mode: TlsMode = TlsMode.STARTTLS_OPPORTUNISTIC
    servername: str | None = None
    verify_certificate: bool = True
    ca: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    client_cert: str | None = None
    client_key: str | None = field(default=None, repr=False)
    client_key_passphrase: str | None = field(default=None, repr=False)
    min_tls_version: str | None = None
    # None: credentials may travel unencrypted only to a loopback peer.
    allow_plaintext_auth: bool | None = None
    oauth2: OAuth2Credentials | None = None
    local_hostname: str | None = None
    connect_timeout: float = 10.0
    greeting_timeout: float = 10.0
    socket_timeout: float = 20.0
    # The pool's per-config knobs (nodemailer's `pool`, `maxConnections`, `maxMessages`);
    # None leaves the server's settings in charge.
    pool: bool | None = None
    max_connections: int | None = None
    max_messages: int | None = None
    # Pipeline the envelope when the server offers PIPELINING (the config's `pipelining`).
    pipelining: bool = True

    @property
    def address(self) -> str:
        """``host:port``, for messages."""
        return f"{self.host}:{self.port}"

    @property
    def has_credentials(self) -> bool:
        """Whether a login would send a secret: a user or password, or OAuth2's token."""
        return bool(self.user or self.password or self.oauth2 is not None)


@dataclass(frozen=True)
class Envelope:
    """The SMTP envelope: MAIL FROM and RCPT TO addresses, and whether they need SMTPUTF8."""

    sender: str
    recipients: tuple[str, ...]
    smtputf8: bool = False


@dataclass(frozen=True)
class Reply:
    """An SMTP reply."""

    code: int
    text: str


@dataclass(frozen=True)
class SendReceipt:
    """The server's acceptance of a message: its reply to the end of DATA."""

    code: int
    reply: str
    accepted_recipients: tuple[str, ...]


class Transport(Protocol):
    """Sends message bytes to an SMTP server."""

    def send(self, envelope: Envelope, data: bytes, deadline: Deadline) -> SendReceipt:
        """Send one message; returns only when the server answered 2xx to the end of DATA."""
        ...

    def close(self) -> None:
        """Release every connection."""
        ...


# Builds the transport for a config's connection settings (a pool, or a connection a send).
TransportFactory = Callable[[ConnectionSettings], Transport]
