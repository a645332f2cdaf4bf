"""The domain's error vocabulary: every failure the service reports, with its stable reason.

    SmtpConnectorError                 reason, message, metadata, delivery
    ├── InvalidRequest                 the caller sent something unusable
    │   ├── InvalidConfig              an inline config that does not parse or validate
    │   └── TemplateVariableMissing    the payload lacks a variable the template uses
    ├── PreconditionFailed             something must be fixed before a retry can work
    │   ├── ConfigNotLoaded            no inline config and no server config
    │   ├── TemplateNotFound           no template for the usage type, nor `Generic`
    │   ├── TemplateRenderFailed       the template itself failed while rendering
    │   ├── PlaintextAuthRefused       credentials would travel unencrypted
    │   └── IdempotencyKeyReused       the key was used before for a different request
    ├── SmtpError                      the SMTP exchange failed; carries smtp_code, stage
    │   ├── SmtpRejected               a 5xx reply: permanent
    │   │   ├── SmtpAuthFailed         credentials rejected or no usable mechanism
    │   │   └── RecipientRefused       the recipient was refused
    │   ├── SmtpTlsFailed              the TLS handshake or certificate check failed
    │   ├── SmtpUnavailable            connect failure, timeout, 4xx, dropped connection
    │   └── DeliveryUnknown            dropped after the end of DATA: maybe delivered
    ├── DeadlineExceeded               the caller's deadline ran out
    ├── IdempotencyStoreUnavailable    the shared store of idempotency keys failed
    ├── Unauthenticated                the caller sent no bearer token
    ├── PermissionDenied               a wrong token, or an inline config the guard refuses
    ├── ResourceExhausted              too many RPCs at once, or the caller's rate limit
    └── ServiceDraining                the server is shutting down; retry on another one

The domain raises these and nothing else; ``status`` maps them to gRPC codes and details.
Messages never contain a secret: they are built from replies, hosts and field names only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    """The stable UPPER_SNAKE reasons clients match on (never the message text)."""

    INVALID_REQUEST = "INVALID_REQUEST"
    INVALID_RECIPIENT = "INVALID_RECIPIENT"
    HEADER_INJECTION = "HEADER_INJECTION"
    INVALID_CONFIG = "INVALID_CONFIG"
    PROFILE_NOT_FOUND = "PROFILE_NOT_FOUND"
    TEMPLATE_VARIABLE_MISSING = "TEMPLATE_VARIABLE_MISSING"
    CONFIG_NOT_LOADED = "CONFIG_NOT_LOADED"
    TEMPLATE_NOT_FOUND = "TEMPLATE_NOT_FOUND"
    TEMPLATE_RENDER_FAILED = "TEMPLATE_RENDER_FAILED"
    INVALID_SENDER = "INVALID_SENDER"
    PLAINTEXT_AUTH_REFUSED = "PLAINTEXT_AUTH_REFUSED"
    SMTP_REJECTED = "SMTP_REJECTED"
    SMTP_AUTH_FAILED = "SMTP_AUTH_FAILED"
    SMTP_RECIPIENT_REFUSED = "SMTP_RECIPIENT_REFUSED"
    SMTP_TLS_FAILED = "SMTP_TLS_FAILED"
    SMTP_CONNECT_FAILED = "SMTP_CONNECT_FAILED"
    SMTP_TIMEOUT = "SMTP_TIMEOUT"
    SMTP_TEMPORARY_FAILURE = "SMTP_TEMPORARY_FAILURE"
    SMTP_CONNECTION_LOST = "SMTP_CONNECTION_LOST"
    DELIVERY_STATE_UNKNOWN = "DELIVERY_STATE_UNKNOWN"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    IDEMPOTENCY_STORE_UNAVAILABLE = "IDEMPOTENCY_STORE_UNAVAILABLE"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INVALID_TOKEN = "INVALID_TOKEN"  # noqa: S105 (a reason, not a token)
    INLINE_CONFIG_DISABLED = "INLINE_CONFIG_DISABLED"
    SMTP_HOST_NOT_ALLOWED = "SMTP_HOST_NOT_ALLOWED"
    TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS"
    RATE_LIMITED = "RATE_LIMITED"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    SERVER_DRAINING = "SERVER_DRAINING"
    INTERNAL = "INTERNAL"


class Cause(StrEnum):
    """The low-level cause of an SMTP failure, as the transport read it from smtplib, ssl or
    the socket (or the diagnosis from what the server offers); hints are chosen from it."""

    UNKNOWN = "unknown"
    DNS = "dns"  # the host name does not resolve
    REFUSED = "refused"  # nothing listens on the port
    UNREACHABLE = "unreachable"  # no route to the host or network
    TIMEOUT = "timeout"  # no answer in time
    WRONG_VERSION = "wrong_version_number"  # TLS spoken to plain SMTP, or the reverse
    CERT_UNTRUSTED = "cert_untrusted"  # self-signed, or issued by an unknown CA
    CERT_HOSTNAME = "cert_hostname"  # the certificate is for another name
    CERT_EXPIRED = "cert_expired"  # the certificate expired (or is not valid yet)
    NO_STARTTLS = "no_starttls"  # requireTLS, but the server offers no STARTTLS
    NO_AUTH = "no_auth"  # credentials configured, but the server offers no AUTH


class Delivery(StrEnum):
    """What became of the message when a send failed."""

    NOT_SENT = "not_sent"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class FieldViolation:
    """One bad field: its path (a JSON path or a request field name) and what is wrong."""

    field: str
    description: str


class SmtpConnectorError(Exception):
    """The base of every error the domain raises."""

    default_reason: Reason = Reason.INTERNAL
    # The facts of the low-level failure under this error, noted by the transport where it
    # translates it (transport/session.py): its cause, and OpenSSL's words for a refused
    # certificate.
    cause: Cause = Cause.UNKNOWN
    verify_error: str = ""

    def __init__(
        self,
        message: str,
        *,
        reason: Reason | None = None,
        metadata: dict[str, str] | None = None,
        violations: tuple[FieldViolation, ...] = (),
        delivery: Delivery = Delivery.NOT_SENT,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})
        self.violations = violations
        self.delivery = delivery


class InvalidRequest(SmtpConnectorError):
    """The request cannot be served as sent; the caller must change it."""

    default_reason = Reason.INVALID_REQUEST

    @classmethod
    def for_field(
        cls, field: str, description: str, *, reason: Reason | None = None
    ) -> InvalidRequest:
        """An error about a single field, with its violation."""
        return cls(
            f"{field}: {description}; the message was not sent",
            reason=reason,
            violations=(FieldViolation(field, description),),
        )


class InvalidConfig(InvalidRequest):
    """A config that does not parse or validate; ``violations`` name each bad field."""

    default_reason = Reason.INVALID_CONFIG


class TemplateVariableMissing(InvalidRequest):
    """The payload lacks a variable the template uses."""

    default_reason = Reason.TEMPLATE_VARIABLE_MISSING

    def __init__(self, variable: str) -> None:
        super().__init__(
            f"the template uses {{{{{variable}}}}} but the payload has no '{variable}'; "
            "the message was not sent",
            metadata={"variable": variable},
            violations=(FieldViolation(f"payload.{variable}", "missing"),),
        )
        self.variable = variable


class PreconditionFailed(SmtpConnectorError):
    """The system is not in a state to serve the request; retrying unchanged will not help."""


class InvalidSender(PreconditionFailed):
    """The config's ``fromEmail`` is not an address (e.g. a README placeholder): the config
    loads, so connections can be tested, but nothing can be sent until it is fixed."""

    default_reason = Reason.INVALID_SENDER


class ConfigNotLoaded(PreconditionFailed):
    """Neither an inline config nor a server config is available."""

    default_reason = Reason.CONFIG_NOT_LOADED


class TemplateNotFound(PreconditionFailed):
    """No template matches the usage type, and there is no `Generic` one either."""

    default_reason = Reason.TEMPLATE_NOT_FOUND


class TemplateRenderFailed(PreconditionFailed):
    """A template failed while rendering, e.g. it tried something the sandbox forbids."""

    default_reason = Reason.TEMPLATE_RENDER_FAILED


class PlaintextAuthRefused(PreconditionFailed):
    """The connection is not encrypted and the config does not allow sending credentials
    over it in the clear."""

    default_reason = Reason.PLAINTEXT_AUTH_REFUSED

    def __init__(self, message: str) -> None:
        super().__init__(message, metadata={"stage": "auth"})


class IdempotencyKeyReused(PreconditionFailed):
    """The idempotency key already belongs to a different request; use a new key."""

    default_reason = Reason.IDEMPOTENCY_KEY_REUSED


class SmtpError(SmtpConnectorError):
    """The SMTP exchange failed at ``stage`` (connect, greeting, ehlo, tls, auth, mail, rcpt,
    data), possibly with the server's reply code."""

    def __init__(
        self,
        message: str,
        *,
        stage: str,
        smtp_code: int = 0,
        enhanced_code: str = "",
        reason: Reason | None = None,
        delivery: Delivery = Delivery.NOT_SENT,
    ) -> None:
        metadata = {"stage": stage}
        if smtp_code:
            metadata["smtp_code"] = str(smtp_code)
        if enhanced_code:
            metadata["enhanced_status_code"] = enhanced_code
        super().__init__(message, reason=reason, metadata=metadata, delivery=delivery)
        self.stage = stage
        self.smtp_code = smtp_code
        self.enhanced_code = enhanced_code


class SmtpRejected(SmtpError):
    """The server answered 5xx: the message was refused for good."""

    default_reason = Reason.SMTP_REJECTED


class SmtpAuthFailed(SmtpRejected):
    """The server rejected the credentials, or offers no mechanism we can use."""

    default_reason = Reason.SMTP_AUTH_FAILED


class RecipientRefused(SmtpRejected):
    """The server refused the recipient."""

    default_reason = Reason.SMTP_RECIPIENT_REFUSED


class SmtpTlsFailed(SmtpError):
    """TLS could not be established: handshake, protocol or certificate failure."""

    default_reason = Reason.SMTP_TLS_FAILED


class SmtpUnavailable(SmtpError):
    """A transient failure: connect error, timeout, 4xx reply or dropped connection."""

    default_reason = Reason.SMTP_TEMPORARY_FAILURE


class DeliveryUnknown(SmtpError):
    """The connection failed after the whole message was sent but before the server replied:
    it may or may not have been accepted. A blind retry may deliver it twice."""

    default_reason = Reason.DELIVERY_STATE_UNKNOWN

    def __init__(self, message: str, *, stage: str = "data") -> None:
        super().__init__(message, stage=stage, delivery=Delivery.UNKNOWN)


class DeadlineExceeded(SmtpConnectorError):
    """The caller's deadline ran out before the work was done."""

    default_reason = Reason.DEADLINE_EXCEEDED


class IdempotencyStoreUnavailable(SmtpConnectorError):
    """The store that remembers idempotency keys could not be reached: nothing was sent."""

    default_reason = Reason.IDEMPOTENCY_STORE_UNAVAILABLE


class Unauthenticated(SmtpConnectorError):
    """The caller sent no bearer token where one is required."""

    default_reason = Reason.UNAUTHENTICATED


class PermissionDenied(SmtpConnectorError):
    """The caller may not do this: a wrong token, or an inline config the guard refuses."""

    default_reason = Reason.INVALID_TOKEN


class ResourceExhausted(SmtpConnectorError):
    """Too much at once; ``retry_after`` (seconds), when known, says when to try again."""

    default_reason = Reason.TOO_MANY_REQUESTS

    def __init__(
        self, message: str, *, reason: Reason | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


class ServiceDraining(SmtpConnectorError):
    """The server is shutting down and takes no new work; another replica can."""

    default_reason = Reason.SERVER_DRAINING
