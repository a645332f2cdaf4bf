"""Hints: for a failed connection-test step, the likely cause and the fix, in one sentence.

Every hint is chosen from the failure's facts (its stage, reason, SMTP code and low-level
cause), never from message text, by the first matching rule of ``_RULES``; a failure no rule
knows still gets a hint from its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import Cause, Reason
from ..transport.advice import (
    SUBMISSION_PORTS,
    certificate_advice,
    silent_greeting,
    wrong_version,
)
from ..transport.base import Stage, TlsMode


@dataclass(frozen=True)
class Failure:
    """The facts of a failed step that a hint is chosen from."""

    stage: str
    reason: str
    host: str
    port: int
    tls_mode: TlsMode
    smtp_code: int = 0
    cause: Cause = Cause.UNKNOWN
    # The TLS sniff after a greeting timeout: True when the port answered a TLS handshake.
    tls_listener: bool | None = None
    # The names on the server's certificate, when it could be read.
    certificate_names: tuple[str, ...] = ()
    # Whether the server advertised AUTH at all, as far as the test got.
    auth_offered: bool = False


Rule = Callable[[Failure], str | None]


def _dns(f: Failure) -> str | None:
    if f.stage == Stage.RESOLVE or f.cause is Cause.DNS:
        return (
            f"the host name '{f.host}' does not resolve: check host for typos "
            "(such as smtp.gmail.com, smtp.sendgrid.net, smtpdm.aliyun.com)"
        )
    return None


def _refused(f: Failure) -> str | None:
    if f.stage == Stage.CONNECT and f.cause is Cause.REFUSED:
        return (
            f"nothing listens on {f.host}:{f.port}: check host and port; providers use "
            f"{SUBMISSION_PORTS}"
        )
    return None


def _connect_timeout(f: Failure) -> str | None:
    if f.stage == Stage.CONNECT and f.cause in (Cause.TIMEOUT, Cause.UNREACHABLE):
        return (
            f"{f.host}:{f.port} did not answer: a firewall or the hosting provider blocks the "
            "port (many clouds block outgoing port 25); try 587, 465 or 2525, or run "
            "TestConnection with probe"
        )
    return None


def _wrong_version(f: Failure) -> str | None:
    return wrong_version(f.port, f.tls_mode) if f.cause is Cause.WRONG_VERSION else None


def _tls_listener(f: Failure) -> str | None:
    if f.stage == Stage.GREETING and f.reason == Reason.SMTP_TIMEOUT and f.tls_listener:
        return (
            f"port {f.port} speaks TLS from the first byte and waits for a TLS handshake: "
            "set secure to true"
        )
    return None


def _greeting_timeout(f: Failure) -> str | None:
    if f.stage != Stage.GREETING or f.reason != Reason.SMTP_TIMEOUT:
        return None
    return silent_greeting(f.host, f.port, f.tls_mode)


def _tls_handshake_timeout(f: Failure) -> str | None:
    if f.stage == Stage.TLS and f.reason == Reason.SMTP_TIMEOUT:
        return (
            f"{f.host}:{f.port} did not answer the TLS handshake: the port speaks neither TLS "
            f"nor SMTP; use the provider's SMTP port ({SUBMISSION_PORTS})"
        )
    return None


def _certificate(f: Failure) -> str | None:
    return certificate_advice(f.cause, f.host, f.certificate_names)


def _must_starttls(f: Failure) -> str | None:
    if f.smtp_code == 530 and f.stage in (
        Stage.EHLO,
        Stage.AUTH,
        Stage.MAIL,
        Stage.RCPT,
        Stage.DATA,
    ):
        return (
            "the server accepts this only over TLS (530 must issue STARTTLS first): remove "
            "ignoreTLS and set requireTLS to true, or use port 465 with secure: true"
        )
    return None


def _no_starttls(f: Failure) -> str | None:
    if f.cause is Cause.NO_STARTTLS:
        return (
            f"port {f.port} offers no STARTTLS but requireTLS is set: use port 465 with "
            "secure: true, or the provider's STARTTLS port 587"
        )
    return None


def _no_auth(f: Failure) -> str | None:
    if f.stage == Stage.AUTH and f.cause is Cause.NO_AUTH:
        if not f.auth_offered and f.tls_mode is not TlsMode.IMPLICIT:
            return (
                "the server offers no AUTH here: most servers offer it only after TLS; use "
                "port 587 without ignoreTLS, or 465 with secure: true"
            )
        return (
            "the server offers no AUTH mechanism this client supports (PLAIN, LOGIN, "
            "CRAM-MD5): remove username and password if it is a relay that needs none, or "
            "use the provider's submission port 587"
        )
    return None


def _plaintext_refused(f: Failure) -> str | None:
    if f.reason == Reason.PLAINTEXT_AUTH_REFUSED:
        return (
            "the connection is not encrypted, so the password was not sent: use port 587 "
            "without ignoreTLS (STARTTLS) or 465 with secure: true; allowPlaintextAuth: true "
            "only on a network you trust"
        )
    return None


def _credentials(f: Failure) -> str | None:
    if f.stage == Stage.AUTH and f.smtp_code in (534, 535):
        return (
            "the server rejected the username and password: check them (with SendGrid the "
            "user is 'apikey' and the password an API key); Gmail and Outlook need an app "
            "password, not the account password"
        )
    if f.stage == Stage.AUTH and f.smtp_code == 538:
        return "the server wants TLS before AUTH: remove ignoreTLS, or use 465 with secure: true"
    return None


def _sender(f: Failure) -> str | None:
    if f.stage == Stage.MAIL and f.smtp_code in (550, 551, 553, 554, 501):
        return (
            "the server refused the sender: fromEmail must be an address or domain you "
            "verified with the provider (SendGrid, Amazon SES, Aliyun DirectMail) or the "
            "account you log in with (Gmail, Outlook)"
        )
    return None


def _recipient(f: Failure) -> str | None:
    if f.stage == Stage.RCPT and 500 <= f.smtp_code < 600:
        return (
            "the server refused the test recipient: check the address; a relay without AUTH "
            "may only deliver to its own domains (configure username and password)"
        )
    return None


def _message_refused(f: Failure) -> str | None:
    if f.stage != Stage.DATA or f.smtp_code < 500:
        return None
    if f.smtp_code == 552:
        return "the server refused the message as too large (552): shorten the template"
    return (
        f"the server refused the message itself ({f.smtp_code}): its content or headers "
        "broke a policy (spam filter, customHeaders, or a From the account may not use)"
    )


def _temporary(f: Failure) -> str | None:
    if 400 <= f.smtp_code < 500:
        return (
            f"the server answered {f.smtp_code}, a temporary refusal (rate limit, greylisting "
            "or a busy server): wait a few minutes and test again"
        )
    return None


def _greeting_refused(f: Failure) -> str | None:
    if f.stage == Stage.GREETING and f.smtp_code >= 500:
        return (
            "the server refuses connections from this machine (554): the provider may "
            "require an allowed IP address, or this is not its submission port"
        )
    return None


_RULES: tuple[Rule, ...] = (
    _dns,
    _refused,
    _connect_timeout,
    _wrong_version,
    _tls_listener,
    _greeting_timeout,
    _tls_handshake_timeout,
    _certificate,
    _no_starttls,
    _must_starttls,
    _plaintext_refused,
    _no_auth,
    _credentials,
    _sender,
    _recipient,
    _message_refused,
    _greeting_refused,
    _temporary,
)

_BY_REASON: dict[str, str] = {
    Reason.SMTP_TLS_FAILED: (
        "TLS failed: check secure against the port (465: true, 587: false) and the tls options"
    ),
    Reason.SMTP_TIMEOUT: (
        "the server stopped answering: check the port and any firewall, or raise socketTimeout"
    ),
    Reason.SMTP_CONNECTION_LOST: (
        "the server closed the connection: it may not accept this client's IP or protocol; "
        "check secure against the port"
    ),
    Reason.SMTP_CONNECT_FAILED: f"cannot connect: check host and port ({SUBMISSION_PORTS})",
    Reason.SMTP_AUTH_FAILED: "authentication failed: check the username and password",
    Reason.SMTP_REJECTED: "the server refused the command: its reply says why",
    Reason.TEMPLATE_RENDER_FAILED: "fix the template, or test with the Generic template",
    Reason.TEMPLATE_VARIABLE_MISSING: (
        "the Test template uses a variable other than {{code}}: use only {{code}} in it"
    ),
    Reason.TEMPLATE_NOT_FOUND: "add a Generic (or Test) template to the config",
    Reason.DEADLINE_EXCEEDED: "the test ran out of time: raise the client's timeout",
}


def hint_for(failure: Failure) -> str:
    """The likely cause of a failure and its fix; never empty."""
    for rule in _RULES:
        hint = rule(failure)
        if hint:
            return hint
    return _BY_REASON.get(
        failure.reason, "see the detail; ValidateConfig may find a problem in the config"
    )
