"""Transport: smtplib, TLS, OAuth2 and name resolution behind a small protocol.

``base`` holds the vocabulary every layer above shares (``Stage``, ``TlsMode``,
``ConnectionSettings``, ``Envelope``, ``Reply``, ``SendReceipt``, ``Transport``); ``session``
is the one place that turns smtplib, ssl and socket failures into our errors; ``pool`` reuses
sessions across sends.
"""

from .base import (
    ConnectionSettings,
    Envelope,
    Reply,
    SendReceipt,
    Stage,
    TlsMode,
    Transport,
    TransportFactory,
)
from .session import SmtpSession, SmtpTransport, create_ssl_context, deliver, open_session

__all__ = [
    "ConnectionSettings",
    "Envelope",
    "Reply",
    "SendReceipt",
    "SmtpSession",
    "SmtpTransport",
    "Stage",
    "TlsMode",
    "Transport",
    "TransportFactory",
    "create_ssl_context",
    "deliver",
    "open_session",
]
