"""TestConnection's engine: runs the SMTP steps one by one and reports each, never raising."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .config import check_address
from .deadline import Deadline
from .errors import InvalidRequest, Reason, SmtpConnectorError, SmtpError
from .mailer import LoadedConfig, PreparedMessage, SendRequest, prepare_message
from .templates import GENERIC
from .transport import (
    AUTH,
    CONNECT,
    EHLO,
    GREETING,
    QUIT,
    TLS,
    SmtpSession,
    SmtpTransport,
)

TEST_USAGE_TYPE = "Test"
TEST_CODE = "000000"


@dataclass(frozen=True)
class StepResult:
    """One step of a connection test."""

    name: str
    ok: bool
    detail: str
    elapsed: float
    smtp_code: int = 0


@dataclass(frozen=True)
class TestReport:
    """Every step that ran; ``ok`` when all succeeded."""

    steps: tuple[StepResult, ...]

    @property
    def ok(self) -> bool:
        """Whether every step succeeded."""
        return all(step.ok for step in self.steps)


class _Steps:
    """Records steps; the first failure ends the test."""

    def __init__(self) -> None:
        self.results: list[StepResult] = []

    def run(self, name: str, action: Callable[[], tuple[str, int]]) -> bool:
        started = time.monotonic()
        try:
            detail, code = action()
        except SmtpConnectorError as exc:
            code = exc.smtp_code if isinstance(exc, SmtpError) else 0
            self.results.append(
                StepResult(name, False, exc.message, time.monotonic() - started, code)
            )
            return False
        self.results.append(StepResult(name, True, detail, time.monotonic() - started, code))
        return True


def run_connection_test(
    loaded: LoadedConfig, deadline: Deadline, test_recipient: str = ""
) -> TestReport:
    """Connect with the config's settings, step by step; with a recipient, also send the
    `Test` template (or `Generic` with code 000000) to it."""
    if test_recipient:
        try:
            check_address(test_recipient)
        except ValueError as exc:
            raise InvalidRequest.for_field(
                "test_recipient", str(exc), reason=Reason.INVALID_RECIPIENT
            ) from None
    steps = _Steps()
    transport = SmtpTransport(loaded.connection)
    with transport.session(deadline) as session:
        _handshake(session, steps) and _maybe_send(session, steps, loaded, test_recipient)
        if steps.results[-1].ok:
            steps.run(QUIT, lambda: _quit(session))
    return TestReport(tuple(steps.results))


def _handshake(session: SmtpSession, steps: _Steps) -> bool:
    settings = session.settings

    def connect() -> tuple[str, int]:
        session.connect()
        return f"connected to {settings.address}", 0

    def greeting() -> tuple[str, int]:
        reply = session.greeting()
        return reply.text, reply.code

    def ehlo() -> tuple[str, int]:
        reply = session.ehlo()
        names = sorted(session.extensions)
        return "extensions: " + (", ".join(n.upper() for n in names) or "none"), reply.code

    def tls() -> tuple[str, int]:
        if session.wants_starttls():
            reply = session.starttls()
            session.ehlo()
            return f"STARTTLS: {session.tls_version}, {session.cipher}", reply.code
        if session.encrypted:
            return f"implicit TLS: {session.tls_version}, {session.cipher}", 0
        return "not encrypted (the server offers no STARTTLS, or ignoreTLS is set)", 0

    def auth() -> tuple[str, int]:
        reply = session.authenticate()
        if reply is None:
            return "no credentials configured: skipped", 0
        return f"authenticated: {reply.text}", reply.code

    return (
        steps.run(CONNECT, connect)
        and steps.run(GREETING, greeting)
        and steps.run(EHLO, ehlo)
        and steps.run(TLS, tls)
        and steps.run(AUTH, auth)
    )


def _maybe_send(
    session: SmtpSession, steps: _Steps, loaded: LoadedConfig, test_recipient: str
) -> bool:
    if not test_recipient:
        return True
    usage_type = TEST_USAGE_TYPE if TEST_USAGE_TYPE in loaded.templates else GENERIC
    request = SendRequest(test_recipient, usage_type, {"code": TEST_CODE})
    prepared: list[PreparedMessage] = []

    def render() -> tuple[str, int]:
        prepared.append(prepare_message(loaded, request))
        return f"rendered the '{usage_type}' template as {prepared[0].message_id}", 0

    def mail_from() -> tuple[str, int]:
        reply = session.mail(prepared[0].envelope)
        return reply.text, reply.code

    def rcpt_to() -> tuple[str, int]:
        reply = session.rcpt(prepared[0].envelope.recipients[0])
        return reply.text, reply.code

    def data() -> tuple[str, int]:
        reply = session.data(prepared[0].data)
        return f"accepted: {reply.text}", reply.code

    return (
        steps.run("render", render)
        and steps.run("mail_from", mail_from)
        and steps.run("rcpt_to", rcpt_to)
        and steps.run("data", data)
    )


def _quit(session: SmtpSession) -> tuple[str, int]:
    session.quit()
    return "closed", 0
