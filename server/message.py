"""Builds the RFC 5322 message for a rendered template: headers, UTF-8 body, CRLF bytes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from .config import ContentType, has_line_break
from .errors import InvalidRequest, Reason
from .templates import RenderedTemplate

# Lines end in CRLF on the wire; bodies are 7-bit clean (quoted-printable or base64) so any
# server takes them, 8BITMIME or not; SMTPUTF8 keeps non-ASCII addresses as raw UTF-8.
_ASCII_POLICY = policy.SMTP.clone(cte_type="7bit")
_UTF8_POLICY = policy.SMTPUTF8.clone(cte_type="7bit")


@dataclass(frozen=True)
class OutgoingMessage:
    """A message ready for the transport: its Message-ID and its bytes."""

    message_id: str
    data: bytes


@dataclass(frozen=True)
class MessageHeaders:
    """The headers a config contributes to every message."""

    sender: Address
    reply_to: Address | None = None
    custom: Mapping[str, str] = field(default_factory=dict)


def build_message(
    rendered: RenderedTemplate,
    *,
    headers: MessageHeaders,
    recipient: Address,
    utf8: bool = False,
) -> OutgoingMessage:
    """Build the message; a rendered subject with a line break (a payload trying to inject a
    header) raises InvalidRequest. ``utf8`` writes non-ASCII addresses raw (for SMTPUTF8)."""
    if has_line_break(rendered.subject):
        raise InvalidRequest.for_field(
            "payload",
            "a payload value puts a line break into the Subject header",
            reason=Reason.HEADER_INJECTION,
        )
    message_id = make_msgid(domain=headers.sender.domain)
    msg = EmailMessage(policy=_UTF8_POLICY if utf8 else _ASCII_POLICY)
    msg["From"] = headers.sender
    msg["To"] = recipient
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id
    if headers.reply_to is not None:
        msg["Reply-To"] = headers.reply_to
    for name, value in headers.custom.items():
        msg[name] = value
    subtype = "html" if rendered.content_type is ContentType.HTML else "plain"
    msg.set_content(rendered.body, subtype=subtype, charset="utf-8")
    return OutgoingMessage(message_id=message_id, data=msg.as_bytes())
