"""TestConnection's engine: runs the SMTP steps one by one and reports each, never raising.

Each step records what it found (addresses, capabilities, TLS and certificate, the AUTH
mechanism); a failed step also gets a hint (``hints``) chosen from the failure's facts. To
choose well, a failure is looked at once more: the low-level cause under the domain error,
and for some failures one short extra look at the server (is this port speaking TLS? which
certificate does it present?).
"""

from __future__ import annotations

import dataclasses
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..deadline import Deadline
from ..domain.config import check_address
from ..domain.mailer import LoadedConfig, PreparedMessage, SendRequest, prepare_message
from ..domain.templates import GENERIC
from ..errors import Cause, InvalidRequest, Reason, SmtpConnectorError, SmtpError
from ..transport import resolver
from ..transport.base import ConnectionSettings, Stage, TlsMode
from ..transport.session import SmtpSession, create_ssl_context, resolve_addresses
from .facts import Capabilities, TlsInfo, parse_capabilities, parse_certificate
from .hints import Failure, hint_for

TEST_USAGE_TYPE = "Test"
TEST_CODE = "000000"
# The extra looks at a failing server are short: they only sharpen a hint.
_EXTRA_LOOK_SECONDS = 3.0

# The AUTH mechanisms a user and password can log in with (smtplib's).
_PASSWORD_MECHANISMS = frozenset({"CRAM-MD5", "PLAIN", "LOGIN"})


@dataclass(frozen=True)
class StepResult:
    """One step of a connection test, with what it found or why it failed."""

    name: str
    ok: bool
    detail: str
    elapsed: float
    smtp_code: int = 0
    hint: str = ""
    reason: str = ""
    addresses: tuple[str, ...] = ()
    capabilities: Capabilities | None = None
    tls: TlsInfo | None = None
    auth_mechanism: str = ""


@dataclass(frozen=True)
class TestReport:
    """Every step that ran; ``ok`` when all succeeded."""

    steps: tuple[StepResult, ...]

    @property
    def ok(self) -> bool:
        """Whether every step succeeded."""
        return all(step.ok for step in self.steps)


@dataclass(frozen=True)
class Found:
    """What a successful step found."""

    detail: str
    smtp_code: int = 0
    addresses: tuple[str, ...] = ()
    capabilities: Capabilities | None = None
    tls: TlsInfo | None = None
    auth_mechanism: str = ""


Explain = Callable[[str, SmtpConnectorError], StepResult]


class Steps:
    """Records steps; the first failure ends the test and is explained by ``explain``."""

    def __init__(self, explain: Explain) -> None:
        self.results: list[StepResult] = []
        self._explain = explain

    def run(self, name: str, action: Callable[[], Found]) -> bool:
        """Run one step; False when it failed."""
        started = time.monotonic()
        try:
            found = action()
        except SmtpConnectorError as exc:
            failed = self._explain(name, exc)
            self.results.append(dataclasses.replace(failed, elapsed=time.monotonic() - started))
            return False
        self.results.append(
            StepResult(
                name,
                True,
                found.detail,
                time.monotonic() - started,
                found.smtp_code,
                addresses=found.addresses,
                capabilities=found.capabilities,
                tls=found.tls,
                auth_mechanism=found.auth_mechanism,
            )
        )
        return True


def run_connection_test(
    loaded: LoadedConfig, deadline: Deadline, test_recipient: str = ""
) -> TestReport:
    """Resolve and connect with the config's settings, step by step; with a recipient, also
    send the `Test` template (or `Generic` with code 000000) to it."""
    if test_recipient:
        try:
            check_address(test_recipient)
        except ValueError as exc:
            raise InvalidRequest.for_field(
                "test_recipient", str(exc), reason=Reason.INVALID_RECIPIENT
            ) from None
    settings = loaded.connection
    session = SmtpSession(settings, create_ssl_context(settings), deadline)
    steps = Steps(Diagnostician(session, deadline).explain)
    with session:
        if (
            steps.run(Stage.RESOLVE, lambda: _resolve(settings, deadline))
            and handshake(session, steps)
            and _maybe_send(session, steps, loaded, test_recipient)
        ):
            steps.run(Stage.QUIT, lambda: _quit(session))
    return TestReport(tuple(steps.results))


def _resolve(settings: ConnectionSettings, deadline: Deadline) -> Found:
    addresses = resolve_addresses(settings, deadline)
    return Found(f"{settings.host} has {', '.join(addresses)}", addresses=addresses)


def handshake(session: SmtpSession, steps: Steps, *, plain_auth: bool = True) -> bool:
    """connect, greeting, ehlo, tls and auth, as a send does them; False at the first failure.
    Without ``plain_auth``, credentials are never sent over an unencrypted connection."""
    settings = session.settings
    implicit = settings.tls_mode is TlsMode.IMPLICIT

    def connect() -> Found:
        session.connect()
        then = " and started TLS" if implicit else ""
        return Found(f"connected to {session.peer_address() or settings.address}{then}")

    def greeting() -> Found:
        reply = session.greeting()
        return Found(reply.text, reply.code)

    def ehlo() -> Found:
        reply = session.ehlo()
        capabilities = parse_capabilities(session.extensions)
        return Found(capabilities.summary(), reply.code, capabilities=capabilities)

    def tls() -> Found:
        if session.wants_starttls():
            reply = session.starttls()
            session.ehlo()
            info = tls_info(session)
            after = parse_capabilities(session.extensions)
            detail = f"STARTTLS: {_tls_summary(info)}; after TLS: {after.summary()}"
            return Found(detail, reply.code, capabilities=after, tls=info)
        if session.encrypted:
            info = tls_info(session)
            return Found(f"implicit TLS: {_tls_summary(info)}", tls=info)
        why = "ignoreTLS is set" if settings.tls_mode is TlsMode.NONE else "no STARTTLS offered"
        if settings.user or settings.password:
            return Found(f"NOT encrypted ({why}): the password and mail travel in plain text")
        return Found(f"NOT encrypted ({why}): mail travels in plain text (no password is set)")

    def auth() -> Found:
        if not (plain_auth or session.encrypted) and settings.has_credentials:
            return Found("not tried: credentials are never sent over a plain connection")
        reply = session.authenticate()
        if reply is None:
            return Found("no credentials configured: skipped")
        mechanism = session.auth_mechanism or ""
        return Found(
            f"authenticated with {mechanism or 'AUTH'}: {reply.text}",
            reply.code,
            auth_mechanism=mechanism,
        )

    return (
        steps.run(Stage.CONNECT, connect)
        and steps.run(Stage.GREETING, greeting)
        and steps.run(Stage.EHLO, ehlo)
        and steps.run(Stage.TLS, tls)
        and steps.run(Stage.AUTH, auth)
    )


def tls_info(session: SmtpSession) -> TlsInfo:
    """The TLS facts of an encrypted session."""
    settings = session.settings
    der = session.peer_certificate()
    certificate = None
    if der:
        verified = settings.verify_certificate
        error = "" if verified else "not checked: tls.rejectUnauthorized is false"
        certificate = parse_certificate(der, verified=verified, error=error)
    return TlsInfo(
        protocol=session.tls_version or "",
        cipher=session.cipher or "",
        implicit=settings.tls_mode is TlsMode.IMPLICIT,
        certificate=certificate,
    )


def _tls_summary(info: TlsInfo) -> str:
    text = f"{info.protocol}, {info.cipher}"
    cert = info.certificate
    if cert is None:
        return text
    if cert.verified:
        return f"{text}, certificate verified"
    return f"{text}, certificate NOT verified ({cert.verification_error})"


def _maybe_send(
    session: SmtpSession, steps: Steps, loaded: LoadedConfig, test_recipient: str
) -> bool:
    if not test_recipient:
        return True
    usage_type = TEST_USAGE_TYPE if TEST_USAGE_TYPE in loaded.templates else GENERIC
    request = SendRequest(test_recipient, usage_type, {"code": TEST_CODE})
    prepared: list[PreparedMessage] = []

    def render() -> Found:
        prepared.append(prepare_message(loaded, request))
        return Found(f"rendered the '{usage_type}' template as {prepared[0].message_id}")

    def mail_from() -> Found:
        reply = session.mail(prepared[0].envelope)
        return Found(reply.text, reply.code)

    def rcpt_to() -> Found:
        reply = session.rcpt(prepared[0].envelope.recipients[0])
        return Found(reply.text, reply.code)

    def data() -> Found:
        reply = session.data(prepared[0].data)
        return Found(f"accepted: {reply.text}", reply.code)

    return (
        steps.run(Stage.RENDER, render)
        and steps.run(Stage.MAIL_FROM, mail_from)
        and steps.run(Stage.RCPT_TO, rcpt_to)
        and steps.run(Stage.DATA, data)
    )


def _quit(session: SmtpSession) -> Found:
    session.quit()
    return Found("closed")


class Diagnostician:
    """Turns a failed step's domain error into a step result with its cause and hint."""

    def __init__(
        self, session: SmtpSession, deadline: Deadline, *, look_again: bool = True
    ) -> None:
        self.session = session
        self.deadline = deadline
        # Whether a failure may be looked at once more over a new connection.
        self.look_again = look_again

    def explain(self, name: str, exc: SmtpConnectorError) -> StepResult:
        """The failed step, with its hint (and the certificate, when TLS refused it)."""
        session, settings = self.session, self.session.settings
        stage = exc.stage if isinstance(exc, SmtpError) else name
        code = exc.smtp_code if isinstance(exc, SmtpError) else 0
        cause, verify_error = exc.cause, exc.verify_error
        if cause is Cause.UNKNOWN and exc.reason is Reason.SMTP_TIMEOUT:
            cause = Cause.TIMEOUT
        if cause is Cause.UNKNOWN and code == 0:
            required = settings.tls_mode is TlsMode.STARTTLS_REQUIRED
            if stage == Stage.TLS and required and not session.offers("starttls"):
                cause = Cause.NO_STARTTLS
            elif stage == Stage.AUTH and not _PASSWORD_MECHANISMS & set(session.auth_mechanisms()):
                cause = Cause.NO_AUTH
        tls = None
        if verify_error and self.look_again:
            tls = self._unverified_tls(verify_error)
        listener = None
        if stage == Stage.GREETING and exc.reason is Reason.SMTP_TIMEOUT and self.look_again:
            listener = self._speaks_tls()
        certificate = tls.certificate if tls else None
        failure = Failure(
            stage=stage,
            reason=exc.reason.value,
            host=settings.host,
            port=settings.port,
            tls_mode=settings.tls_mode,
            smtp_code=code,
            cause=cause,
            tls_listener=listener,
            certificate_names=certificate.subject_alt_names if certificate else (),
            auth_offered=session.offers("auth"),
        )
        detail = exc.message
        if verify_error:
            detail += f"; certificate NOT verified: {verify_error}"
        return StepResult(
            name,
            False,
            detail,
            0.0,
            code,
            hint=hint_for(failure),
            reason=exc.reason.value,
            tls=tls,
        )

    def _look_deadline(self) -> Deadline:
        left = self.deadline.remaining()
        return Deadline.after(
            _EXTRA_LOOK_SECONDS if left is None else min(left, _EXTRA_LOOK_SECONDS)
        )

    def _speaks_tls(self) -> bool | None:
        """Whether the port completes a TLS handshake (a TLS listener reached without TLS)."""
        settings = self.session.settings
        deadline = self._look_deadline()
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            timeout = deadline.timeout(_EXTRA_LOOK_SECONDS)
            with (
                resolver.connect(settings.host, settings.port, timeout) as sock,
                context.wrap_socket(sock, server_hostname=settings.host),
            ):
                return True
        except (OSError, SmtpConnectorError):
            return False

    def _unverified_tls(self, verify_error: str) -> TlsInfo | None:
        """The certificate the server presents, read on a second connection that does not
        verify it (and never authenticates), to show why verification failed."""
        settings = dataclasses.replace(
            self.session.settings, verify_certificate=False, user=None, password=None
        )
        look = SmtpSession(settings, create_ssl_context(settings), self._look_deadline())
        try:
            with look:
                look.connect()
                if settings.tls_mode is not TlsMode.IMPLICIT:
                    look.greeting()
                    look.ehlo()
                    look.starttls()
                der = look.peer_certificate()
                if der is None:
                    return None
                return TlsInfo(
                    protocol=look.tls_version or "",
                    cipher=look.cipher or "",
                    implicit=settings.tls_mode is TlsMode.IMPLICIT,
                    certificate=parse_certificate(der, verified=False, error=verify_error),
                )
        except SmtpConnectorError:
            return None
