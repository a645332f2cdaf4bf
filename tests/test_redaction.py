"""The reply text that may leave the server (server/redaction.py): every form of a session's
secret that a hostile relay may echo is redacted, the rest of the reply is kept."""

from __future__ import annotations

import base64

import pytest
from smtp_connector.server.transport.redaction import MAX_REPLY_TEXT, REDACTED, ReplyText

USER, PASSWORD, TOKEN = "u@example.com", "pa55-word-1", "ya29.tok_en-2"


def b64(raw: bytes, *, urlsafe: bool = False, pad: bool = True) -> str:
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    return text if pad else text.rstrip("=")


FORMS = {
    "literal password": PASSWORD,
    "literal token": TOKEN,
    "LOGIN line": b64(PASSWORD.encode()),
    "PLAIN response": b64(f"\0{USER}\0{PASSWORD}".encode()),
    "PLAIN unpadded": b64(f"\0{USER}\0{PASSWORD}".encode(), pad=False),
    "XOAUTH2 response": b64(f"user={USER}\x01auth=Bearer {TOKEN}\x01\x01".encode()),
    "URL-safe": b64(f"{PASSWORD}\xff\xfe".encode("latin-1"), urlsafe=True),
}


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_every_form_of_a_secret_is_redacted(form: str) -> None:
    redact = ReplyText([PASSWORD]).with_secret(TOKEN)
    shown = redact(f"535-5.7.8 you sent {form}\r\n535 5.7.8 Authentication failed".encode())
    assert form not in shown and PASSWORD not in shown and TOKEN not in shown
    assert shown == f"535-5.7.8 you sent {REDACTED} 535 5.7.8 Authentication failed"


def test_an_echoed_auth_command_loses_its_arguments_whatever_they_are() -> None:
    shown = ReplyText()("5.7.8 failed for: AUTH PLAIN c29tZXRoaW5nIGVsc2U= (try again)")
    assert shown == f"5.7.8 failed for: AUTH PLAIN {REDACTED}"


def test_the_rest_of_a_reply_is_kept_and_bounded() -> None:
    redact = ReplyText([PASSWORD])
    honest = "5.7.1 Relaying denied. Proper authentication required. ABCDEFGH1234"
    assert redact(honest) == honest
    assert len(redact("x" * 100_000)) == MAX_REPLY_TEXT
    assert redact("a\nb\u2028c") == "a b c"
