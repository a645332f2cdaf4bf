"""The SMTP transport: smtplib behind a small protocol, one translation point for its errors.

``SmtpSession`` drives one connection a step at a time (connect, greeting, EHLO, TLS, AUTH,
MAIL, RCPT, DATA), so that a send and a connection test share every line of SMTP code.
Every smtplib, ssl and socket exception is turned into a domain error in ``_translate``.
Every reply's text passes through the session's ``ReplyText`` (transport/redaction.py)
before anything uses it: no secret of the session leaves in it, echoed or encoded.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import re
import select
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import cache
from typing import Any, TypeVar

from ..deadline import Deadline
from ..errors import (
    Cause,
    DeadlineExceeded,
    DeliveryUnknown,
    FieldViolation,
    InvalidConfig,
    InvalidRequest,
    PlaintextAuthRefused,
    Reason,
    RecipientRefused,
    SmtpAuthFailed,
    SmtpConnectorError,
    SmtpError,
    SmtpRejected,
    SmtpTlsFailed,
    SmtpUnavailable,
)
from . import resolver
from .advice import silent_greeting, tls_advice
from .base import ConnectionSettings, Envelope, Reply, SendReceipt, Stage, TlsMode
from .deadline_reader import DeadlineReader, ReplyTooLarge
from .oauth import TOKENS, OAuth2Credentials, xoauth2_response
from .redaction import ReplyText
from .tls import client_context
from .utf8_auth import Utf8AuthSMTP

log = logging.getLogger(__name__)
_Error = TypeVar("_Error", bound=SmtpConnectorError)

_ENHANCED_CODE = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)
# OpenSSL's verification results (X509_V_ERR_*) that say why a certificate was refused.
_CERT_EXPIRED = frozenset({9, 10})  # not yet valid, expired
_CERT_HOSTNAME = frozenset({62, 64})  # hostname mismatch, IP address mismatch
# OpenSSL's reasons when the peer answers a TLS handshake with something that is not TLS
# (plain SMTP's "220 ..." greeting); which one depends on the OpenSSL version.
_NOT_TLS = frozenset(
    {"WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE", "UNKNOWN_PROTOCOL"}
)

# What smtplib's login() speaks, in its order of preference.
_PASSWORD_MECHANISMS = frozenset({"CRAM-MD5", "PLAIN", "LOGIN"})


@cache
def default_local_hostname() -> str:
    """The EHLO name when the config sets none: computed once, as getfqdn() can be slow."""
    return socket.getfqdn()


def create_ssl_context(settings: ConnectionSettings) -> ssl.SSLContext:
    """The client TLS context: system CAs (or the config's CA), TLS 1.2 at least."""
    return client_context(
        address=settings.address,
        ca=settings.ca,
        cert=settings.client_cert,
        key=settings.client_key,
        passphrase=settings.client_key_passphrase,
        verify=settings.verify_certificate,
        min_version=settings.min_tls_version,
    )


def _dot_stuffed(data: bytes) -> bytes:
    """The DATA payload: leading dots doubled, ended by CRLF.CRLF (RFC 5321 4.5.2)."""
    stuffed = _LEADING_DOT.sub(b"..", data) if data[:1] == b"." or b"\n." in data else data
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


def _reply_error(settings: ConnectionSettings, stage: str, code: int, text: str) -> SmtpError:
    enhanced = _ENHANCED_CODE.match(text)
    enhanced_code = enhanced.group(1) if enhanced else ""
    where = f"SMTP server {settings.address}"
    message = f"{where} answered {code} {text} at {stage}; the message was not sent"
    error_type: type[SmtpError]
    if 400 <= code < 500:
        error_type = SmtpUnavailable
    elif stage == Stage.AUTH:
        error_type = SmtpAuthFailed
    elif stage == Stage.RCPT:
        error_type = RecipientRefused
    else:
        error_type = SmtpRejected
    return error_type(message, stage=stage, smtp_code=code, enhanced_code=enhanced_code)


class _SMTP(Utf8AuthSMTP):
    """smtplib's client with UTF-8 AUTH (as nodemailer), remembering which AUTH mechanism
    succeeded (for connection tests)."""

    auth_mechanism: str | None = None

    def auth(self, mechanism: str, authobject: Any, *, initial_response_ok: bool = True) -> Any:
        reply = super().auth(mechanism, authobject, initial_response_ok=initial_response_ok)
        self.auth_mechanism = mechanism.upper()
        return reply


class SmtpSession:
    """One SMTP connection, driven a step at a time; every failure is a domain error."""

    def __init__(
        self, settings: ConnectionSettings, context: ssl.SSLContext, deadline: Deadline
    ) -> None:
        self.settings = settings
        self.deadline = deadline
        self._context = context
        self._smtp = _SMTP(local_hostname=settings.local_hostname or default_local_hostname())
        self._text = ReplyText(_secrets(settings))
        self.encrypted = False
        self.tls_version: str | None = None
        self.cipher: str | None = None

    def __enter__(self) -> SmtpSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the steps ------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the TCP connection (and the TLS layer, in implicit mode)."""
        settings = self.settings
        with self._translate(Stage.CONNECT):
            sock = resolver.connect(
                settings.host, settings.port, self.deadline.timeout(settings.connect_timeout)
            )
        self._smtp.sock = sock
        if settings.tls_mode is TlsMode.IMPLICIT:
            self._wrap_tls()

    def greeting(self) -> Reply:
        """Read the server's 220 banner."""
        with self._translate(Stage.GREETING, self.settings.greeting_timeout):
            code, text = self._smtp.getreply()
        reply = Reply(code, self._text(text))
        if code != 220:
            raise _reply_error(self.settings, Stage.GREETING, code, reply.text)
        return reply

    def ehlo(self) -> Reply:
        """Say EHLO (HELO for an old server) and learn the extensions."""
        with self._translate(Stage.EHLO):
            code, text = self._smtp.ehlo()
            if not 200 <= code < 300:
                code, text = self._smtp.helo()
        reply = Reply(code, self._text(text))
        if not 200 <= code < 300:
            raise _reply_error(self.settings, Stage.EHLO, code, reply.text)
        return reply

    @property
    def extensions(self) -> dict[str, str]:
        """The EHLO extensions the server advertised, lower-case names to parameters."""
        return dict(self._smtp.esmtp_features)

    @property
    def auth_mechanism(self) -> str | None:
        """The AUTH mechanism that logged in, such as ``PLAIN``; None before a login."""
        return self._smtp.auth_mechanism

    def peer_address(self) -> str | None:
        """The address actually connected to, ``ip:port``; None when not connected."""
        sock = self._smtp.sock
        if sock is None:
            return None
        host, port = sock.getpeername()[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def peer_certificate(self) -> bytes | None:
        """The server's certificate (DER) once TLS is up; None on a plain connection."""
        sock = self._smtp.sock
        if not isinstance(sock, ssl.SSLSocket):
            return None
        return sock.getpeercert(binary_form=True)

    def offers(self, extension: str) -> bool:
        """Whether the server advertised an extension."""
        return self._smtp.has_extn(extension)

    def wants_starttls(self) -> bool:
        """Whether this connection should be upgraded now; raises when TLS is required but
        the server does not offer it."""
        mode = self.settings.tls_mode
        if self.encrypted or mode in (TlsMode.NONE, TlsMode.IMPLICIT):
            return False
        if self.offers("starttls"):
            return True
        if mode is TlsMode.STARTTLS_REQUIRED:
            raise SmtpTlsFailed(
                f"SMTP server {self.settings.address} does not offer STARTTLS but requireTLS is "
                "set; the message was not sent",
                stage=Stage.TLS,
            )
        return False

    def starttls(self) -> Reply:
        """Upgrade the connection with STARTTLS; EHLO must be said again afterwards."""
        with self._translate(Stage.TLS):
            code, text = self._smtp.docmd("STARTTLS")
        reply = Reply(code, self._text(text))
        if code != 220:
            raise _reply_error(self.settings, Stage.TLS, code, reply.text)
        self._wrap_tls()
        # What the server said before TLS no longer counts (RFC 3207 4.2).
        smtp = self._smtp
        smtp.file = None
        smtp.helo_resp = smtp.ehlo_resp = None
        smtp.esmtp_features = {}
        smtp.does_esmtp = False
        return reply

    def authenticate(self) -> Reply | None:
        """Log in when the settings carry credentials; None when there are none (a relay
        that needs no auth). XOAUTH2 for OAuth2 configs; otherwise CRAM-MD5, PLAIN or LOGIN,
        the best the server advertises."""
        settings = self.settings
        oauth2 = settings.oauth2
        if not settings.has_credentials:
            return None
        offered = self.auth_mechanisms()
        if oauth2 is None and not settings.password:
            self._user_without_password(offered)
            return None
        self._refuse_plaintext_auth()
        if not offered:
            raise SmtpAuthFailed(
                f"SMTP server {settings.address} offers no AUTH"
                + ("" if self.encrypted else " on an unencrypted connection")
                + " but the config has credentials; the message was not sent",
                stage=Stage.AUTH,
            )
        if oauth2 is not None:
            return self._xoauth2(oauth2, offered)
        if not _PASSWORD_MECHANISMS.intersection(offered):
            raise SmtpAuthFailed(
                f"SMTP server {settings.address} offers AUTH {' '.join(offered)} only, none of "
                "CRAM-MD5, PLAIN or LOGIN that a user and password need (XOAUTH2 needs "
                "auth.type oauth2); the message was not sent",
                stage=Stage.AUTH,
            )
        with self._translate(Stage.AUTH):
            code, text = self._smtp.login(settings.user or "", settings.password or "")
        return Reply(code, self._text(text))

    def _user_without_password(self, offered: list[str]) -> None:
        """A user and no password, as nodemailer reads it: no login where the server offers
        no AUTH, and no attempt with an empty password where it does."""
        if not offered:
            return None
        raise SmtpAuthFailed(
            f"SMTP server {self.settings.address} asks for AUTH but the config has a user and "
            "no password (nodemailer refuses too: 'Missing credentials'): set auth.pass (or the "
            "server's SMTP_CONNECTOR_SMTP_PASSWORD), or, for a service account, "
            '"type": "OAuth2"; the message was not sent',
            stage=Stage.AUTH,
        )

    def auth_mechanisms(self) -> list[str]:
        """The AUTH mechanisms the server advertised, upper-case."""
        return self.extensions.get("auth", "").upper().split()

    def _refuse_plaintext_auth(self) -> None:
        """Credentials travel unencrypted only when the config allows it, or (unless it
        forbids it) to a loopback peer, where they never cross a network."""
        if self.encrypted:
            return
        allowed = self.settings.allow_plaintext_auth
        if allowed is None:
            allowed = self._peer_is_loopback()
        if allowed:
            return
        raise PlaintextAuthRefused(
            f"refusing to send the SMTP credentials to {self.settings.address} over an "
            "unencrypted connection: use secure: true (implicit TLS, usually port 465), or "
            "STARTTLS (usually port 587; do not set ignoreTLS) on a server that offers it, or "
            "set allowPlaintextAuth: true if the network to the server is trusted; the "
            "message was not sent"
        )

    def _peer_is_loopback(self) -> bool:
        sock = self._smtp.sock
        try:
            peer = sock.getpeername()[0] if sock is not None else ""
            return ipaddress.ip_address(peer).is_loopback
        except (OSError, ValueError):
            return False

    def _xoauth2(self, credentials: OAuth2Credentials, offered: list[str]) -> Reply:
        if "XOAUTH2" not in offered:
            raise SmtpAuthFailed(
                f"SMTP server {self.settings.address} does not offer XOAUTH2 (it offers "
                f"{', '.join(offered)}), which auth.type oauth2 needs; the message was not sent",
                stage=Stage.AUTH,
            )
        token, fresh = TOKENS.token(credentials, self.deadline)
        try:
            return self._xoauth2_with(credentials.user, token)
        except SmtpAuthFailed:
            if fresh or not credentials.refreshable:
                raise
        # The server refused a cached token (revoked, or expired early): renew it once.
        TOKENS.invalidate(credentials, token)
        token, _ = TOKENS.token(credentials, self.deadline)
        return self._xoauth2_with(credentials.user, token)

    def _xoauth2_with(self, user: str, token: str) -> Reply:
        self._text = self._text.with_secret(token)  # a fetched token is a secret too

        def respond(challenge: bytes | None = None) -> str:
            # After a refusal the server sends a JSON error as a challenge; an empty answer
            # ends the exchange, and the server then replies 535.
            return xoauth2_response(user, token) if challenge is None else ""

        with self._translate(Stage.AUTH):
            code, text = self._smtp.auth("XOAUTH2", respond, initial_response_ok=True)
        return Reply(code, self._text(text))

    def mail(self, envelope: Envelope) -> Reply:
        """MAIL FROM."""
        with self._translate(Stage.MAIL):
            code, text = self._command(self._mail_line(envelope))
        return self._mail_reply(code, text)

    def rcpt(self, recipient: str) -> Reply:
        """RCPT TO; a refusal names the recipient."""
        with self._translate(Stage.RCPT):
            code, text = self._command(self._line("rcpt", f"TO:<{recipient}>"))
        return self._rcpt_reply(recipient, code, text)

    def data(self, data: bytes) -> Reply:
        """DATA, the message, and the end of data."""
        with self._translate(Stage.DATA):
            code, text = self._smtp.docmd("DATA")
        self._go_ahead(code, text)
        return self.content(data)

    def pipelined_envelope(self, envelope: Envelope) -> tuple[list[str], list[SmtpError]]:
        """MAIL FROM, every RCPT TO and DATA written at once (PIPELINING, RFC 2920), then
        their replies read in order: one round trip instead of three or more. Returns the
        accepted recipients and the refusals, the server waiting for the message (354).
        Raises when MAIL FROM or DATA is refused or no recipient was accepted; the replies
        still unread then leave the session unusable, and it is discarded as after any
        failure (a message is never begun: no content was sent)."""
        smtp = self._smtp
        with self._translate(Stage.MAIL):
            lines = [self._mail_line(envelope)]
            lines += [self._line("rcpt", f"TO:<{r}>") for r in envelope.recipients]
            smtp.send(b"".join(lines) + b"DATA\r\n")
            code, text = smtp.getreply()
        self._mail_reply(code, text)
        # With no recipient accepted the server refuses DATA too (RFC 2920 3.1): the refusals
        # are the error, its 5xx to DATA adds nothing.
        accepted, refused = _sort_recipients(envelope.recipients, self._next_rcpt_reply)
        with self._translate(Stage.DATA):
            code, text = smtp.getreply()
        self._go_ahead(code, text)
        return accepted, refused

    def _next_rcpt_reply(self, recipient: str) -> Reply:
        """The next pipelined reply, to RCPT TO ``recipient``."""
        with self._translate(Stage.RCPT):
            code, text = self._smtp.getreply()
        return self._rcpt_reply(recipient, code, text)

    def content(self, data: bytes) -> Reply:
        """The message and the end of data, once the server said 354. Once the whole
        message is out, a lost connection means the outcome is unknown, never "not sent"."""
        with self._translate(Stage.DATA):
            self._smtp.send(_dot_stuffed(data))
        with self._translate(Stage.END_OF_DATA):
            code, text = self._smtp.getreply()
        reply = Reply(code, self._text(text))
        if not 200 <= code < 300:
            raise _reply_error(self.settings, Stage.DATA, code, reply.text)
        return reply

    def quit(self) -> None:
        """Say QUIT politely; the message is already accepted, so failures are ignored."""
        try:
            if self._smtp.sock is not None:
                self._smtp.sock.settimeout(min(self.settings.socket_timeout, 2.0))
            self._smtp.quit()
        except (smtplib.SMTPException, OSError, AttributeError):
            pass
        finally:
            self.close()

    def close(self) -> None:
        """Drop the connection."""
        self._smtp.close()

    def _shut(self) -> None:
        """Shut the socket from another thread (the caller went): a blocked read or write
        returns at once and the step fails; the session is not used again."""
        sock = getattr(self._smtp, "sock", None)
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def noop(self, deadline: Deadline) -> bool:
        """NOOP on an idle session (the warm connection's check), bounded by ``deadline``:
        whether the server answered 250. A failure leaves the session unusable."""
        self.deadline = deadline
        try:
            with self._translate(Stage.NOOP):
                code, _ = self._command(b"NOOP\r\n")
        except SmtpConnectorError:
            return False
        return code == 250

    def closed_by_peer(self) -> bool:
        """Whether the server spoke or hung up while the session sat idle (a 421 at its idle
        limit, a close): an idle SMTP session has nothing to read, so anything readable
        means it is gone. A non-blocking check, no round trip."""
        sock = self._smtp.sock
        if sock is None:
            return True
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def round_trip_time(self) -> float:
        """The kernel's round-trip time of this connection in seconds; 0.0 when unknown."""
        sock = self._smtp.sock
        return resolver.round_trip_time(sock) if sock is not None else 0.0

    def nodelay(self) -> bool:
        """Whether Nagle's algorithm is off on this connection (TCP_NODELAY)."""
        sock = self._smtp.sock
        if sock is None:
            return False
        return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    # -- helpers ----------------------------------------------------------------------------

    def _mail_line(self, envelope: Envelope) -> bytes:
        return self._line(
            "mail", f"FROM:<{envelope.sender}>", ("SMTPUTF8",) if envelope.smtputf8 else ()
        )

    def _line(self, verb: str, argument: str, options: Sequence[str] = ()) -> bytes:
        """MAIL or RCPT as smtplib's ``mail``/``rcpt`` write them, without their re-parsing of
        the address (email.utils.parseaddr, ~10 us a call): ours are validated already."""
        smtp = self._smtp
        if options and smtp.does_esmtp:
            if "SMTPUTF8" in options:
                if not smtp.has_extn("smtputf8"):
                    raise smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server")
                smtp.command_encoding = "utf-8"
            argument += " " + " ".join(options)
        if "\r" in argument or "\n" in argument:  # as smtplib's putcmd refuses them
            raise ValueError("command and arguments contain prohibited newline characters")
        return f"{verb} {argument}\r\n".encode(smtp.command_encoding)

    def _command(self, line: bytes) -> tuple[int, bytes]:
        self._smtp.send(line)
        return self._smtp.getreply()

    def _mail_reply(self, code: int, text: bytes) -> Reply:
        reply = Reply(code, self._text(text))
        if code != 250:
            raise _reply_error(self.settings, Stage.MAIL, code, reply.text)
        return reply

    def _rcpt_reply(self, recipient: str, code: int, text: bytes) -> Reply:
        reply = Reply(code, self._text(text))
        if code not in (250, 251):
            error = _reply_error(
                self.settings, Stage.RCPT, code, f"{reply.text} (for <{recipient}>)"
            )
            error.metadata["refused_recipients"] = recipient
            raise error
        return reply

    def _go_ahead(self, code: int, text: bytes) -> None:
        """The reply to DATA: 354, or the refusal."""
        if code != 354:
            raise _reply_error(self.settings, Stage.DATA, code, self._text(text))

    def _wrap_tls(self) -> None:
        settings = self.settings
        plain = self._smtp.sock
        assert plain is not None, "TLS needs a connected socket"
        with self._translate(Stage.TLS):
            tls = self._context.wrap_socket(
                plain, server_hostname=settings.servername or settings.host
            )
        self._smtp.sock = tls
        self.encrypted = True
        self.tls_version = tls.version()
        cipher = tls.cipher()
        self.cipher = cipher[0] if cipher else None

    @contextmanager
    def _translate(self, stage: str, timeout: float | None = None) -> Iterator[None]:
        """Bound the step by the socket timeout and the deadline; map every smtplib, ssl and
        socket exception to a domain error (the only place that does)."""
        settings = self.settings
        sock = getattr(self._smtp, "sock", None)
        try:
            if sock is not None:
                bound = self.deadline.timeout(timeout or settings.socket_timeout)
                if sock.gettimeout() != bound:  # settimeout is a system call (FIONBIO)
                    sock.settimeout(bound)
                self._bound_reader(sock)
            # A caller that goes frees its worker now: the socket is shut, the step ends.
            with self.deadline.on_cancel(self._shut):
                yield
        except DeadlineExceeded as exc:
            # Once the whole message is out, a deadline running out is no "not sent".
            if stage == Stage.END_OF_DATA:
                raise noted(self._lost(stage, TimeoutError()), exc) from None
            noted(exc, exc)
            raise
        except SmtpConnectorError as exc:
            noted(exc, exc)  # ours already (OAuth2): keep what it was raised from
            raise
        except smtplib.SMTPAuthenticationError as exc:
            error = _reply_error(settings, Stage.AUTH, exc.smtp_code, self._text(exc.smtp_error))
            raise noted(error, exc) from None
        except smtplib.SMTPResponseException as exc:
            error = _reply_error(settings, stage, exc.smtp_code, self._text(exc.smtp_error))
            raise noted(error, exc) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise noted(self._unsupported(stage, str(exc)), exc) from None
        except smtplib.SMTPServerDisconnected as exc:
            raise noted(self._lost(stage, exc.__context__), exc) from None
        except smtplib.SMTPException as exc:
            # smtplib's own refusals, e.g. "No suitable authentication method found."
            raise noted(self._unsupported(stage, str(exc)), exc) from None
        except ssl.SSLError as exc:
            raise noted(self._tls_failed(exc), exc) from None
        except UnicodeError as exc:
            # A value the protocol cannot carry (say, non-ASCII where SMTP wants ASCII): the
            # config or request must change; the connection is fine. The text is not repeated:
            # it may be a credential.
            unencodable = InvalidConfig(
                f"the config or request has text that cannot be sent at {stage} to "
                f"{settings.address} ({type(exc).__name__}: {getattr(exc, 'reason', 'unencodable')}"
                "); the message was not sent"
            )
            raise noted(unencodable, exc) from None
        except OSError as exc:
            raise noted(self._lost(stage, exc), exc) from None
        except ValueError as exc:
            # smtplib and ssl refuse some config values only once they use them: a line
            # break in the EHLO name (`name`), a TLS server name with a leading dot.
            unusable = InvalidConfig(
                f"the config cannot be used at {stage} with {settings.address}: {exc}; "
                "the message was not sent"
            )
            raise noted(unusable, exc) from None

    def _tls_failed(self, exc: ssl.SSLError) -> SmtpTlsFailed:
        settings = self.settings
        cause = classify(exc)[0]
        advice = tls_advice(cause, settings.port, settings.tls_mode, settings.host)
        return SmtpTlsFailed(
            f"TLS with {settings.address} failed: {exc.reason or exc}"
            + (f" ({advice})" if advice else "")
            + "; the message was not sent",
            stage=Stage.TLS,
        )

    def _bound_reader(self, sock: socket.socket) -> None:
        """Make smtplib read replies through a reader bound by this session's deadline."""
        reader = self._smtp.file
        if isinstance(reader, DeadlineReader) and reader.sock is sock:
            reader.deadline = self.deadline
        else:
            self._smtp.file = DeadlineReader(sock, self.deadline)

    def _unsupported(self, stage: str, detail: str) -> SmtpError:
        message = (
            f"SMTP server {self.settings.address} cannot do what {stage} needs: {detail}"
            "; the message was not sent"
        )
        if stage == Stage.AUTH:
            return SmtpAuthFailed(message, stage=stage)
        return SmtpRejected(message, stage=stage)

    def _lost(self, stage: str, cause: BaseException | None) -> SmtpError | DeadlineExceeded:
        settings = self.settings
        if self.deadline.cancelled():  # the socket was shut because the call ended
            ended = "the call ended (its caller went away, or the server shut down)"
            if stage == Stage.END_OF_DATA:
                return DeliveryUnknown(
                    f"{ended} after the whole message was sent to {settings.address} and "
                    "before it replied: it may or may not have been accepted; a blind retry "
                    "may deliver it twice (the same idempotency key replays this outcome)"
                )
            return DeadlineExceeded(f"{ended} at {stage}; the message was not sent")
        if stage == Stage.END_OF_DATA:
            return DeliveryUnknown(
                f"the connection to {settings.address} failed after the whole message was sent "
                "and before the server replied: it may or may not have been accepted; a blind "
                "retry may deliver it twice (the same idempotency key replays this outcome)"
            )
        if isinstance(cause, ReplyTooLarge):  # the reader's budget: we hung up
            return SmtpUnavailable(
                f"SMTP server {settings.address} sent a reply at {stage} that was "
                f"{cause.what}, more than any server sends: the connection was dropped; the "
                "message was not sent",
                stage=stage,
                reason=Reason.SMTP_CONNECTION_LOST,
            )
        if isinstance(cause, TimeoutError):
            if self.deadline.expired():
                return DeadlineExceeded(
                    f"the request's deadline ran out at {stage} with {settings.address}; "
                    "the message was not sent"
                )
            hint = ""
            if stage == Stage.GREETING and settings.tls_mode is not TlsMode.IMPLICIT:
                hint = f" ({silent_greeting(settings.host, settings.port, settings.tls_mode)})"
            return SmtpUnavailable(
                f"SMTP server {settings.address} did not answer in time at {stage}{hint}; "
                "the message was not sent",
                stage=stage,
                reason=Reason.SMTP_TIMEOUT,
            )
        if stage == Stage.CONNECT:
            detail = _os_detail(cause)
            return SmtpUnavailable(
                f"cannot connect to SMTP server {settings.address}: {detail}; "
                "the message was not sent",
                stage=stage,
                reason=Reason.SMTP_CONNECT_FAILED,
            )
        return SmtpUnavailable(
            f"the connection to {settings.address} was lost at {stage}"
            + (f" ({_os_detail(cause)})" if cause else "")
            + "; the message was not sent",
            stage=stage,
            reason=Reason.SMTP_CONNECTION_LOST,
        )


def _os_detail(exc: BaseException | None) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) if exc else "unknown error"


def _secrets(settings: ConnectionSettings) -> list[str | None]:
    """Every secret a session holds, which no reply text may carry out."""
    secrets = [settings.password]
    if settings.oauth2 is not None:
        oauth2 = settings.oauth2
        secrets += [oauth2.access_token, oauth2.client_secret, oauth2.refresh_token]
    return secrets


def classify(exc: BaseException | None) -> tuple[Cause, str]:
    """The low-level cause of a failure (``exc`` and what it was raised from or during), and
    OpenSSL's words when it refused a certificate: the one reading of smtplib, ssl and socket
    exceptions, done where they are translated."""
    seen = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            message = seen.verify_message or str(seen)
            if seen.verify_code in _CERT_HOSTNAME:
                return Cause.CERT_HOSTNAME, message
            if seen.verify_code in _CERT_EXPIRED:
                return Cause.CERT_EXPIRED, message
            return Cause.CERT_UNTRUSTED, message
        if isinstance(seen, ssl.SSLError):
            if (seen.reason or "") in _NOT_TLS:
                return Cause.WRONG_VERSION, ""
            return Cause.UNKNOWN, ""
        if isinstance(seen, socket.gaierror):
            return Cause.DNS, ""
        if isinstance(seen, ConnectionRefusedError):
            return Cause.REFUSED, ""
        if isinstance(seen, TimeoutError):
            return Cause.TIMEOUT, ""
        if isinstance(seen, OSError) and seen.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return Cause.UNREACHABLE, ""
        seen = seen.__cause__ or seen.__context__
    return Cause.UNKNOWN, ""


def noted(error: _Error, exc: BaseException | None) -> _Error:
    """``error`` with the facts of the low-level failure ``exc`` kept on it (``classify``)."""
    error.cause, error.verify_error = classify(exc)
    return error


def resolve_addresses(settings: ConnectionSettings, deadline: Deadline) -> tuple[str, ...]:
    """The distinct addresses of the settings' host, within the connect timeout; a failed
    lookup as SmtpUnavailable at the resolve stage."""
    try:
        return resolver.addresses(
            settings.host, settings.port, deadline.timeout(settings.connect_timeout)
        )
    except TimeoutError as exc:
        error = SmtpUnavailable(
            f"looking up the host name '{settings.host}' timed out: {exc}",
            stage=Stage.RESOLVE,
            reason=Reason.SMTP_TIMEOUT,
        )
        raise noted(error, exc) from exc
    except UnicodeError as exc:  # not a host name at all (an empty or too long label)
        description = f"'{settings.host}' is not a host name: {exc}"
        raise noted(
            InvalidConfig(
                f"host: {description}; the message was not sent",
                violations=(FieldViolation("host", description),),
            ),
            exc,
        ) from exc
    except socket.gaierror as exc:
        error = SmtpUnavailable(
            f"cannot resolve the host name '{settings.host}': {exc}",
            stage=Stage.RESOLVE,
            reason=Reason.SMTP_CONNECT_FAILED,
        )
        raise noted(error, exc) from exc


def open_session(
    settings: ConnectionSettings, context: ssl.SSLContext, deadline: Deadline
) -> SmtpSession:
    """A connected, greeted, encrypted (as configured) and authenticated session."""
    session = SmtpSession(settings, context, deadline)
    try:
        session.connect()
        session.greeting()
        session.ehlo()
        if session.wants_starttls():
            session.starttls()
            session.ehlo()
        session.authenticate()
    except BaseException:
        session.close()
        raise
    return session


def deliver(session: SmtpSession, envelope: Envelope, data: bytes) -> SendReceipt:
    """One mail transaction on an open session: pipelined when the server offers PIPELINING,
    else a command at a time. Recipients the server refuses are left out (and named in the
    log); when it refuses them all, the error names them."""
    if envelope.smtputf8 and not session.offers("smtputf8"):
        raise _needs_smtputf8(session.settings, envelope)
    if session.settings.pipelining and session.offers("pipelining"):
        accepted, refused = session.pipelined_envelope(envelope)
        reply = session.content(data)
    else:
        session.mail(envelope)
        accepted, refused = _sort_recipients(envelope.recipients, session.rcpt)
        reply = session.data(data)
    for refusal in refused:
        log.warning(
            "sent to the other recipients; the server refused <%s> with %s",
            refusal.metadata["refused_recipients"],
            refusal.smtp_code,
        )
    return SendReceipt(reply.code, reply.text, tuple(accepted))


def _sort_recipients(
    recipients: Sequence[str], rcpt: Callable[[str], Reply]
) -> tuple[list[str], list[SmtpError]]:
    """Each recipient's RCPT TO outcome through ``rcpt`` (which raises RecipientRefused for a
    refusal): the accepted ones and the refusals. When the server refused them all, raises
    the first refusal, naming them all."""
    accepted: list[str] = []
    refused: list[SmtpError] = []
    for recipient in recipients:
        try:
            rcpt(recipient)
        except RecipientRefused as exc:
            refused.append(exc)
        else:
            accepted.append(recipient)
    if not accepted:
        first = refused[0]
        first.metadata["refused_recipients"] = ",".join(
            refusal.metadata["refused_recipients"] for refusal in refused
        )
        raise first
    return accepted, refused


def _needs_smtputf8(settings: ConnectionSettings, envelope: Envelope) -> InvalidRequest:
    """An address with a non-ASCII local part, and a server that cannot take it."""
    recipients_ascii = all(_local_part(r).isascii() for r in envelope.recipients)
    field = "fromEmail" if recipients_ascii else "to"
    return InvalidRequest.for_field(
        field,
        f"SMTP server {settings.address} does not support SMTPUTF8, which an address with "
        "non-ASCII characters before the @ needs: use an ASCII address",
        reason=Reason.INVALID_RECIPIENT if field == "to" else None,
    )


def _local_part(address: str) -> str:
    return address.rpartition("@")[0]


class SmtpTransport:
    """A transport that opens one connection per message (the connection pool is a separate
    transport that wraps the same sessions)."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings
        self._context = create_ssl_context(settings)

    def open(self, deadline: Deadline) -> SmtpSession:
        """An open session with this transport's settings."""
        return open_session(self.settings, self._context, deadline)

    def send(self, envelope: Envelope, data: bytes, deadline: Deadline) -> SendReceipt:
        """Connect, send, quit."""
        with self.open(deadline) as session:
            receipt = deliver(session, envelope, data)
            session.quit()
        return receipt

    def close(self) -> None:
        """Nothing is held between sends."""
