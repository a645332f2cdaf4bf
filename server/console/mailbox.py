"""Reading the development mailbox's folder of .eml files: the list, newest first, and one
message taken apart for viewing (headers, bodies, MIME tree, raw source)."""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path

# The names the mailbox writes (server/devmailbox.py); nothing else in the folder is served.
_MESSAGE_NAME = re.compile(r"[\w.-]{1,200}\.eml")
_REMOTE_REFERENCE = re.compile(r"""(?:src|background)\s*=\s*["']?\s*(?:https?:)?//""", re.I)
_MAX_LISTED = 500


@dataclass(frozen=True)
class MailboxEntry:
    """One message as the list shows it."""

    id: str
    sender: str
    recipients: str
    subject: str
    date: str
    size: int


@dataclass(frozen=True)
class MimePart:
    """One node of a message's MIME tree, ``depth`` levels down."""

    depth: int
    content_type: str
    size: int
    charset: str
    transfer_encoding: str
    filename: str


@dataclass(frozen=True)
class MailboxMessage:
    """One message taken apart for the views."""

    entry: MailboxEntry
    headers: tuple[tuple[str, str], ...]
    text_body: str | None
    html_body: str | None
    parts: tuple[MimePart, ...]
    raw: bytes

    @property
    def remote_references(self) -> int:
        """How many remote images (or other remote resources) the HTML body refers to."""
        return len(_REMOTE_REFERENCE.findall(self.html_body or ""))


class Mailbox:
    """The folder of a development mailbox, read on demand; list entries are cached by file
    name and modification time, so a list refresh parses only new messages."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._entries: dict[tuple[str, int], MailboxEntry] = {}
        self._lock = threading.Lock()

    def _files(self) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(self.folder) as scan:
                files = [f for f in scan if _MESSAGE_NAME.fullmatch(f.name) and f.is_file()]
        except FileNotFoundError:
            return []
        # Newest first: by modification time, then by name (time, process, sequence).
        files.sort(key=lambda f: (f.stat().st_mtime_ns, f.name), reverse=True)
        return files[:_MAX_LISTED]

    def version(self) -> str:
        """A value that changes whenever a message arrives or goes (live updates poll it)."""
        files = self._files()
        return f"{len(files)}:{files[0].name if files else ''}"

    def entries(self) -> list[MailboxEntry]:
        """The messages, newest first (at most 500)."""
        entries = []
        for file in self._files():
            key = (file.name, file.stat().st_mtime_ns)
            with self._lock:
                entry = self._entries.get(key)
            if entry is None:
                entry = _entry(file.name, Path(file.path).read_bytes(), headers_only=True)
                with self._lock:
                    self._entries[key] = entry
            entries.append(entry)
        return entries

    def path(self, message_id: str) -> Path | None:
        """The file of a message id, or None when no such message is in the folder."""
        if not _MESSAGE_NAME.fullmatch(message_id):
            return None
        path = self.folder / message_id
        return path if path.is_file() else None

    def read(self, message_id: str) -> MailboxMessage | None:
        """One message taken apart, or None when there is none by that id."""
        path = self.path(message_id)
        if path is None:
            return None
        return read_message(message_id, path.read_bytes())


def _entry(message_id: str, data: bytes, *, headers_only: bool) -> MailboxEntry:
    parser = BytesHeaderParser if headers_only else BytesParser
    message = parser(policy=policy.default).parsebytes(data)
    return MailboxEntry(
        id=message_id,
        sender=_header(message, "From"),
        recipients=_header(message, "To"),
        subject=_header(message, "Subject"),
        date=_header(message, "Date"),
        size=len(data),
    )


def _header(message: Message, name: str) -> str:
    try:
        return str(message.get(name, ""))
    except (ValueError, IndexError):  # a header the parser cannot make sense of
        return "(unreadable)"


def read_message(message_id: str, data: bytes) -> MailboxMessage:
    """A message's bytes taken apart: decoded headers, the text and HTML bodies, the MIME
    tree, the raw bytes."""
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return MailboxMessage(
        entry=_entry(message_id, data, headers_only=False),
        headers=tuple((name, _header(message, name)) for name in message.keys()),  # noqa: SIM118
        text_body=_body(message, "plain"),
        html_body=_body(message, "html"),
        parts=tuple(_tree(message, 0)),
        raw=data,
    )


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body((subtype,))
    if part is None:
        return None
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset, a broken encoding
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else None
    return content if isinstance(content, str) else None


def _tree(part: Message, depth: int) -> list[MimePart]:
    payload = None if part.is_multipart() else part.get_payload(decode=True)
    node = MimePart(
        depth=depth,
        content_type=part.get_content_type(),
        size=len(payload) if isinstance(payload, bytes) else 0,
        charset=part.get_content_charset() or "",
        transfer_encoding=str(part.get("Content-Transfer-Encoding", "")),
        filename=part.get_filename() or "",
    )
    nodes = [node]
    if part.is_multipart():
        for child in part.iter_parts() if isinstance(part, EmailMessage) else ():
            nodes += _tree(child, depth + 1)
    return nodes
