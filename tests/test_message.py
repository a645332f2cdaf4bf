"""The lean message writer (server/wire.py via build_message), parsed back with ``email``:
headers and bodies decode to what was rendered, lines stay legal, and the result agrees with
what ``email.message.EmailMessage`` itself would produce."""

from __future__ import annotations

import random
import re
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage

import pytest
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.server.domain import mime as wire
from smtp_connector.server.domain.config import ContentType
from smtp_connector.server.domain.message import MessageHeaders, build_message
from smtp_connector.server.domain.templates import RenderedTemplate
from smtp_connector.server.errors import InvalidRequest

from tests.support.service import CHINESE_SUBJECT, ServerFactory, make_config
from tests.support.smtp import SmtpServer

SENDER = Address("Logto", "noreply", "example.com")
RECIPIENT = Address("", "user", "example.org")
HEADERS = MessageHeaders(sender=SENDER)


def build(
    subject: str,
    body: str,
    *,
    html: bool = False,
    headers: MessageHeaders = HEADERS,
    recipient: Address = RECIPIENT,
    utf8: bool = False,
) -> bytes:
    content_type = ContentType.HTML if html else ContentType.TEXT
    rendered = RenderedTemplate("Test", subject, body, content_type)
    return build_message(rendered, headers=headers, recipient=recipient, utf8=utf8).data


def parse(data: bytes) -> EmailMessage:
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert not parsed.defects, parsed.defects
    return parsed


def content(parsed: EmailMessage) -> str:
    """The decoded body with newline line ends (the parser keeps the wire's CRLF)."""
    text = parsed.get_content()
    assert isinstance(text, str)
    return text.replace("\r\n", "\n")


def assert_wire_legal(data: bytes, *, max_line: int = 998) -> None:
    """CRLF line ends only, no line longer than the limit, a header and a body."""
    assert b"\r\n\r\n" in data
    assert re.search(rb"[^\r]\n|\r[^\n]", data) is None, "bare CR or LF"
    for line in data.split(b"\r\n"):
        assert len(line) <= max_line, line


def expected_body(body: str) -> str:
    """What a body reads as after a trip through the wire: line ends become newlines."""
    return "".join(line.decode() + "\n" for line in body.encode().splitlines()) or "\n"


def reference(subject: str, body: str, *, html: bool = False) -> EmailMessage:
    """The same message built the slow way, by the standard library, and parsed back."""
    msg = EmailMessage(policy=policy.SMTP.clone(cte_type="7bit"))
    msg["From"] = SENDER
    msg["To"] = RECIPIENT
    msg["Subject"] = subject
    msg.set_content(body, subtype="html" if html else "plain", charset="utf-8")
    return parse(msg.as_bytes())


def test_headers_and_html_body_read_back() -> None:
    body = "<p>您好, your code is <b>123456</b>.</p>\n"
    parsed = parse(build(f"{CHINESE_SUBJECT} 123456", body, html=True))
    assert parsed["From"] == "Logto <noreply@example.com>"
    assert parsed["To"] == "user@example.org"
    assert parsed["Subject"] == f"{CHINESE_SUBJECT} 123456"
    assert parsed["MIME-Version"] == "1.0"
    assert parsed["Message-ID"].endswith("@example.com>")
    assert parsed["Date"].datetime is not None
    assert parsed.get_content_type() == "text/html"
    assert parsed.get_content_charset() == "utf-8"
    assert content(parsed) == body


@pytest.mark.parametrize(
    "subject",
    [
        "",
        "Your code",
        CHINESE_SUBJECT,
        CHINESE_SUBJECT * 20,  # several encoded-words
        "Sign in to " + "Logto " * 30,  # long ASCII: folded at spaces
        "x" * 200,  # one long word: encoded-words
        "=?utf-8?q?not-an-encoded-word?=",
        " leading and trailing space ",
        "double  space",
        "tab\there",
        "emoji 🎉 and accents éà",
        "ends with a non-ASCII 码",
    ],
)
def test_subject_reads_back(subject: str) -> None:
    data = build(subject, "body\n")
    assert_wire_legal(data, max_line=wire.MAX_LINE)
    assert parse(data)["Subject"] == subject


def test_utf8_mode_writes_raw_utf8_and_reads_back() -> None:
    recipient = Address("", "用户", "example.org")
    data = build(CHINESE_SUBJECT, "正文\n", recipient=recipient, utf8=True)
    assert f"Subject: {CHINESE_SUBJECT}".encode() in data
    parsed = parse(data)
    assert parsed["To"] == "用户@example.org"
    assert parsed["Subject"] == CHINESE_SUBJECT
    assert content(parsed) == "正文\n"


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        ("short ASCII lines\nsecond line\n", "7bit"),
        ("短行\n", "base64"),
        ("a long ASCII line " * 20 + "\n", "quoted-printable"),
        ("很长的一行" * 40 + "\n", "base64"),
        ("<p>" + "mostly ASCII with one é " * 10 + "</p>", "quoted-printable"),
    ],
)
def test_transfer_encoding_is_chosen_like_email_and_reads_back(body: str, encoding: str) -> None:
    data = build("s", body)
    assert_wire_legal(data, max_line=wire.MAX_LINE)
    parsed = parse(data)
    assert parsed["Content-Transfer-Encoding"] == encoding
    assert content(parsed) == expected_body(body)
    assert reference("s", body)["Content-Transfer-Encoding"] == encoding


def test_dots_at_line_starts_and_line_ends_read_back() -> None:
    body = ".\n..\n.hidden\r\nwindows line\rold mac\n\ntrailing space \n=equals=\n"
    parsed = parse(build("s", body))
    assert content(parsed) == expected_body(body)


def test_config_headers_are_written_by_the_standard_library() -> None:
    headers = MessageHeaders(
        sender=Address("Équipe Logto 团队", "noreply", "example.com"),
        reply_to=(Address("Support", "help", "example.com"),),
        custom=(("X-Campaign", "sign-up wave"), ("X-Note", "non-ASCII 值")),
    )
    data = build("s", "b\n", headers=headers)
    assert_wire_legal(data, max_line=wire.MAX_LINE)
    parsed = parse(data)
    assert parsed["From"].addresses[0].display_name == "Équipe Logto 团队"
    assert parsed["Reply-To"] == "Support <help@example.com>"
    assert parsed["X-Campaign"] == "sign-up wave"
    assert parsed["X-Note"] == "non-ASCII 值"
    assert headers.fixed_ascii is headers.fixed_ascii  # written once


def test_recipient_with_display_name_or_long_address_is_folded_by_the_library() -> None:
    long_recipient = Address("", "a" * 64, "sub." * 10 + "example.org")
    parsed = parse(build("s", "b\n", recipient=long_recipient))
    assert parsed["To"].addresses[0].addr_spec == long_recipient.addr_spec
    named = Address("Zoë", "zoe", "example.org")
    assert parse(build("s", "b\n", recipient=named))["To"].addresses[0].display_name == "Zoë"


def test_a_subject_with_a_line_break_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        build("a\r\nBcc: victim@example.org", "b")


def _random_text(rng: random.Random, size: int) -> str:
    alphabet = "abc XYZ 012 .,;:=?<>&\t\n.\r\né中文🎉" + "\u00a0"
    return "".join(rng.choice(alphabet) for _ in range(size))


def test_random_messages_agree_with_the_standard_library() -> None:
    rng = random.Random(7)  # a fixed corpus: the same 300 cases every run
    for _ in range(300):
        subject = _random_text(rng, rng.randrange(0, 120)).replace("\r", "").replace("\n", "")
        body = _random_text(rng, rng.randrange(0, 400))
        if rng.random() < 0.3:
            body = "x" * rng.randrange(70, 300) + body  # long lines
        html = rng.random() < 0.5
        data = build(subject, body, html=html)
        assert_wire_legal(data)
        ours, theirs = parse(data), reference(subject, body, html=html)
        assert ours["Subject"] == subject
        assert ours.get_content_type() == theirs.get_content_type()
        assert content(ours) == content(theirs)


def test_sent_message_reads_back_at_the_smtp_server(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    config = make_config(smtp_server.port)
    config["templates"].append(
        {
            "usageType": "Dots",
            "contentType": "text/html",
            "subject": "您的验证码 {{code}}",
            "content": ".\n.{{code}}\n<p>" + "long line " * 30 + "</p>\n",
        }
    )
    client: SmtpConnectorClient = start_service(config)
    client.send_message("user@example.org", "Dots", {"code": "123456"})
    [received] = smtp_server.received
    message = received.message
    assert message["Subject"] == "您的验证码 123456"
    assert received.body() == ".\n.123456\n<p>" + "long line " * 30 + "</p>"
