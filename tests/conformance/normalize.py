"""A captured message reduced to what the comparison looks at: the envelope, the login, the
address headers as (name, address) pairs, the decoded Subject and other headers, the content
types and decoded bodies. Message-ID, Date, MIME-Version, transfer encodings, boundaries and
trailing line ends are left out: they differ between any two mailers and say nothing of the
message a person gets."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from tests.conformance.sink import Capture

# Compared on their own (address and subject fields) or masked (the rest).
_OWN_FIELDS = frozenset({"from", "to", "reply-to", "subject"})
_MASKED = frozenset(
    {"date", "message-id", "mime-version", "content-type", "content-transfer-encoding"}
)
ASPECTS = (
    "envelope",
    "login",
    "from",
    "to",
    "reply-to",
    "subject",
    "headers",
    "content-type",
    "body",
)


def _addresses(message: EmailMessage, name: str) -> Any:
    header = message.get(name)
    if header is None:
        return None
    try:
        return [(a.display_name, a.addr_spec) for a in header.addresses]
    except (AttributeError, ValueError, IndexError):
        return str(header)


def _text(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (KeyError, LookupError, ValueError):
        content = part.get_payload(decode=True)
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    return str(content).replace("\r\n", "\n").rstrip("\n")


def _parts(message: EmailMessage) -> list[EmailMessage]:
    if not message.is_multipart():
        return [message]
    return [p for p in message.walk() if not p.is_multipart()]


def normalized(capture: Capture) -> dict[str, Any]:
    """The aspects of one message, each a plain value to compare with ``==``."""
    parsed = message_from_bytes(capture.data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    subject = parsed.get("subject")
    parts = _parts(parsed)
    login = (capture.login.user, capture.login.secret) if capture.login else None
    return {
        "envelope": (capture.mail_from, capture.rcpt_tos),
        "login": login,
        "from": _addresses(parsed, "from"),
        "to": _addresses(parsed, "to"),
        "reply-to": _addresses(parsed, "reply-to"),
        "subject": None if subject is None else str(subject),
        "headers": [
            (name.lower(), str(value))
            for name, value in parsed.items()
            if name.lower() not in _OWN_FIELDS | _MASKED
        ],
        "content-type": [
            parsed.get_content_type(),
            *([p.get_content_type() for p in parts] if parsed.is_multipart() else []),
        ],
        "body": [_text(p) for p in parts],
    }


def mismatches(logto: dict[str, Any], ours: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The aspects in which two normalized messages differ: aspect -> (Logto's, ours)."""
    return {a: (logto[a], ours[a]) for a in ASPECTS if logto[a] != ours[a]}
