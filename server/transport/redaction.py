"""The text of an SMTP reply as it may leave the server: in an error, a connection test's
report or a log line.

A reply is the peer's to write, and a hostile or broken relay may repeat what it was told:
``535 5.7.8 Authentication failed for AUTH PLAIN AHVzZXIAczNjcmV0`` hands the password to
whoever reads the error. So, before its text is used anywhere:

- the argument of any ``AUTH <mechanism> ...`` it quotes is replaced, whatever it is;
- every secret of the session (the password, the OAuth2 access token) is replaced, and so
  is every base64 word that decodes to something containing one (PLAIN's ``\\0user\\0pass``,
  LOGIN's password line, XOAUTH2's ``user=...\\x01auth=Bearer ...``);
- whitespace is collapsed to single spaces (a reply line break never reaches a log), and
  the text is cut to MAX_REPLY_TEXT characters.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable

REDACTED = "********"
# The most of a reply's text an error, a report or a log line carries (docs/security.md).
MAX_REPLY_TEXT = 512
# A secret shorter than this is not searched for as text (it would match ordinary words);
# its base64 forms still are.
_MIN_LITERAL = 4
_AUTH_ARGUMENT = re.compile(r"(?i)\b(AUTH\s+[A-Z0-9_-]+)((?:\s+[^\s]+)+)")
_BASE64_WORD = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")


class ReplyText:
    """Makes reply text safe to show, knowing the secrets of one session."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets = tuple(s.encode("utf-8") for s in secrets if s)

    def with_secret(self, secret: str | None) -> ReplyText:
        """This redactor, also knowing ``secret`` (a token fetched during the session)."""
        known = [s.decode("utf-8") for s in self._secrets]
        return ReplyText([*known, secret])

    def __call__(self, value: bytes | str) -> str:
        """The reply's text, redacted, on one line and at most MAX_REPLY_TEXT long."""
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        text = " ".join(text.split())
        text = _AUTH_ARGUMENT.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        text = _BASE64_WORD.sub(self._word, text)
        for secret in self._secrets:
            if len(secret) >= _MIN_LITERAL:
                text = text.replace(secret.decode("utf-8"), REDACTED)
        if len(text) > MAX_REPLY_TEXT:
            text = text[: MAX_REPLY_TEXT - 4] + " ..."
        return text

    def _word(self, match: re.Match[str]) -> str:
        word = match.group(0)
        decoded = _decoded(word)
        if decoded and any(secret in decoded for secret in self._secrets):
            return REDACTED
        return word


def _decoded(word: str) -> bytes:
    """``word`` decoded as base64 (standard or URL-safe, padding optional); b"" if not."""
    padded = word + "=" * (-len(word) % 4)
    try:
        if "-" in word or "_" in word:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return b""
