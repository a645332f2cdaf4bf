"""Typed exceptions for the client, chosen by the ErrorInfo ``reason`` (never message text).

SmtpConnectorError                 code, reason, message, metadata, smtp_code, delivery,
│                                  retry_delay (the server's RetryInfo hint, in seconds),
│                                  request_id (the server's x-request-id of the call)
├── InvalidRequestError            INVALID_REQUEST, INVALID_RECIPIENT, HEADER_INJECTION,
│   │                              INVALID_CONFIG, PROFILE_NOT_FOUND,
│   │                              LIMIT_EXCEEDED (payload depth, template size)
│   └── TemplateVariableMissingError   TEMPLATE_VARIABLE_MISSING
├── ConfigNotLoadedError           CONFIG_NOT_LOADED
├── TemplateNotFoundError          TEMPLATE_NOT_FOUND
├── TemplateRenderError            TEMPLATE_RENDER_FAILED
├── InvalidSenderError             INVALID_SENDER: the config's fromEmail is not an address
├── PlaintextAuthRefusedError      PLAINTEXT_AUTH_REFUSED: credentials would travel unencrypted
├── SmtpRejectedError              SMTP_REJECTED (a 5xx reply)
│   ├── SmtpAuthError              SMTP_AUTH_FAILED
│   └── RecipientRefusedError      SMTP_RECIPIENT_REFUSED
├── SmtpTlsError                   SMTP_TLS_FAILED
├── SmtpUnavailableError           SMTP_CONNECT_FAILED, SMTP_TIMEOUT,
│                                  SMTP_TEMPORARY_FAILURE, SMTP_CONNECTION_LOST
├── DeliveryUnknownError           DELIVERY_STATE_UNKNOWN: the message may have been sent
├── DeadlineExceededError          DEADLINE_EXCEEDED, or the call's own deadline
├── IdempotencyKeyReusedError      IDEMPOTENCY_KEY_REUSED: the key belongs to another request
├── ServiceUnavailableError        the smtp-connector service itself cannot be reached,
│                                  SERVER_DRAINING (it is shutting down), or
│                                  IDEMPOTENCY_STORE_UNAVAILABLE
├── UnauthenticatedError           status UNAUTHENTICATED: no bearer token (UNAUTHENTICATED)
├── PermissionDeniedError          status PERMISSION_DENIED: INVALID_TOKEN,
│                                  INLINE_CONFIG_DISABLED, SMTP_HOST_NOT_ALLOWED
├── ResourceExhaustedError         status RESOURCE_EXHAUSTED: TOO_MANY_REQUESTS, RATE_LIMITED
│                                  or a request too large; see retry_delay
└── InternalError                  INTERNAL: a bug in smtp-connector
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

__all__ = [
    "ConfigNotLoadedError",
    "DeadlineExceededError",
    "DeliveryUnknownError",
    "FieldViolation",
    "IdempotencyKeyReusedError",
    "InternalError",
    "InvalidRequestError",
    "InvalidSenderError",
    "PermissionDeniedError",
    "PlaintextAuthRefusedError",
    "RecipientRefusedError",
    "ResourceExhaustedError",
    "ServiceUnavailableError",
    "SmtpAuthError",
    "SmtpConnectorError",
    "SmtpRejectedError",
    "SmtpTlsError",
    "SmtpUnavailableError",
    "TemplateNotFoundError",
    "TemplateRenderError",
    "TemplateVariableMissingError",
    "UnauthenticatedError",
    "from_rpc_error",
]


@dataclass(frozen=True)
class FieldViolation:
    """A bad request field and what is wrong with it."""

    field: str
    description: str


class SmtpConnectorError(Exception):
    """An error the smtp-connector service returned."""

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode,
        reason: str = "",
        metadata: dict[str, str] | None = None,
        field_violations: tuple[FieldViolation, ...] = (),
        retry_delay: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason
        self.metadata = dict(metadata or {})
        self.field_violations = field_violations
        # Seconds the server asks the caller to wait before retrying (its RetryInfo), if any.
        self.retry_delay = retry_delay
        # The server's id of the failed call (x-request-id), to find it in the server's logs.
        self.request_id = ""

    @property
    def smtp_code(self) -> int | None:
        """The SMTP server's reply code, when the failure came with one."""
        value = self.metadata.get("smtp_code")
        return int(value) if value else None

    @property
    def stage(self) -> str:
        """The SMTP step that failed (connect, ehlo, tls, auth, mail, rcpt, data), if any."""
        return self.metadata.get("stage", "")

    @property
    def retryable(self) -> bool:
        """Whether the same call may succeed later: the status is UNAVAILABLE."""
        return self.code == grpc.StatusCode.UNAVAILABLE

    @property
    def delivery(self) -> str:
        """``not_sent`` or ``unknown`` (the message may have been accepted)."""
        if "delivery" in self.metadata:
            return self.metadata["delivery"]
        # A status made by gRPC itself, not by the service: a deadline that ran out, a call
        # cancelled by a server shutting down, a broken channel. The server may still have
        # been sending when the call ended.
        return "unknown" if self.code in _MAYBE_SENT else "not_sent"

    def __str__(self) -> str:
        return f"{self.reason or self.code.name}: {self.message}"


class InvalidRequestError(SmtpConnectorError):
    """The request or its inline config is invalid; ``field_violations`` say where."""


class TemplateVariableMissingError(InvalidRequestError):
    """The payload lacks a variable the template uses."""


class ConfigNotLoadedError(SmtpConnectorError):
    """The server has no config and the request carried none."""


class TemplateNotFoundError(SmtpConnectorError):
    """No template for the usage type and no `Generic` template."""


class InvalidSenderError(SmtpConnectorError):
    """The config's fromEmail is not an address; fix the config."""


class TemplateRenderError(SmtpConnectorError):
    """The template failed while rendering."""


class PlaintextAuthRefusedError(SmtpConnectorError):
    """The service refused to send SMTP credentials over an unencrypted connection."""


class SmtpRejectedError(SmtpConnectorError):
    """The SMTP server refused for good (5xx)."""


class SmtpAuthError(SmtpRejectedError):
    """The SMTP server rejected the credentials."""


class RecipientRefusedError(SmtpRejectedError):
    """The SMTP server refused the recipient."""


class SmtpTlsError(SmtpConnectorError):
    """TLS with the SMTP server failed."""


class SmtpUnavailableError(SmtpConnectorError):
    """A transient SMTP failure; the message was not sent and a retry may work."""


class DeliveryUnknownError(SmtpConnectorError):
    """The connection failed after the message was sent: it may have been delivered."""


class DeadlineExceededError(SmtpConnectorError):
    """The call's deadline ran out."""


class IdempotencyKeyReusedError(SmtpConnectorError):
    """The idempotency key was used before for a different request."""


class ServiceUnavailableError(SmtpConnectorError):
    """The smtp-connector service could not be reached."""


class UnauthenticatedError(SmtpConnectorError):
    """The service wants a bearer token and got none, or one it does not know."""


class PermissionDeniedError(SmtpConnectorError):
    """The caller is known but may not make this call."""


class ResourceExhaustedError(SmtpConnectorError):
    """A limit was reached (such as a rate limit); retry after ``retry_delay``."""


class InternalError(SmtpConnectorError):
    """A bug in smtp-connector."""


_BY_REASON: dict[str, type[SmtpConnectorError]] = {
    "INVALID_REQUEST": InvalidRequestError,
    "INVALID_RECIPIENT": InvalidRequestError,
    "HEADER_INJECTION": InvalidRequestError,
    "INVALID_CONFIG": InvalidRequestError,
    "PROFILE_NOT_FOUND": InvalidRequestError,
    "TEMPLATE_VARIABLE_MISSING": TemplateVariableMissingError,
    "CONFIG_NOT_LOADED": ConfigNotLoadedError,
    "TEMPLATE_NOT_FOUND": TemplateNotFoundError,
    "TEMPLATE_RENDER_FAILED": TemplateRenderError,
    "INVALID_SENDER": InvalidSenderError,
    "PLAINTEXT_AUTH_REFUSED": PlaintextAuthRefusedError,
    "SMTP_REJECTED": SmtpRejectedError,
    "SMTP_AUTH_FAILED": SmtpAuthError,
    "SMTP_RECIPIENT_REFUSED": RecipientRefusedError,
    "SMTP_TLS_FAILED": SmtpTlsError,
    "SMTP_CONNECT_FAILED": SmtpUnavailableError,
    "SMTP_TIMEOUT": SmtpUnavailableError,
    "SMTP_TEMPORARY_FAILURE": SmtpUnavailableError,
    "SMTP_CONNECTION_LOST": SmtpUnavailableError,
    "DELIVERY_STATE_UNKNOWN": DeliveryUnknownError,
    "DEADLINE_EXCEEDED": DeadlineExceededError,
    "IDEMPOTENCY_KEY_REUSED": IdempotencyKeyReusedError,
    "IDEMPOTENCY_STORE_UNAVAILABLE": ServiceUnavailableError,
    "INTERNAL": InternalError,
    "UNAUTHENTICATED": UnauthenticatedError,
    "INVALID_TOKEN": PermissionDeniedError,
    "INLINE_CONFIG_DISABLED": PermissionDeniedError,
    "SMTP_HOST_NOT_ALLOWED": PermissionDeniedError,
    "TOO_MANY_REQUESTS": ResourceExhaustedError,
    "RATE_LIMITED": ResourceExhaustedError,
    "LIMIT_EXCEEDED": InvalidRequestError,
    "SERVER_DRAINING": ServiceUnavailableError,
}

# Statuses that, without the service's ErrorInfo, may end a call whose send went on.
_MAYBE_SENT = frozenset(
    {
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.ABORTED,
    }
)

# For statuses without an ErrorInfo (made by gRPC itself, not by the service) or with a reason
# this client does not know yet.
_BY_CODE: dict[grpc.StatusCode, type[SmtpConnectorError]] = {
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.UNAVAILABLE: ServiceUnavailableError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequestError,
    grpc.StatusCode.INTERNAL: InternalError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
}


def from_rpc_error(error: grpc.RpcError) -> SmtpConnectorError:
    """The typed exception for a failed call (of a ``grpc`` or a ``grpc.aio`` channel)."""
    call: grpc.Call = error  # type: ignore[assignment]
    code = call.code()
    status = rpc_status.from_call(call)
    reason, metadata = "", {}
    violations: tuple[FieldViolation, ...] = ()
    retry_delay: float | None = None
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason, metadata = info.reason, dict(info.metadata)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations = tuple(
                    FieldViolation(v.field, v.description) for v in bad.field_violations
                )
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                hint = error_details_pb2.RetryInfo()
                detail.Unpack(hint)
                retry_delay = hint.retry_delay.ToTimedelta().total_seconds()
    error_type = _BY_REASON.get(reason) or _BY_CODE.get(code, SmtpConnectorError)
    typed = error_type(
        call.details() or code.name,
        code=code,
        reason=reason,
        metadata=metadata,
        field_violations=violations,
        retry_delay=retry_delay,
    )
    typed.request_id = _request_id(call)
    return typed


def _request_id(call: grpc.Call) -> str:
    """The server's x-request-id of a finished call ("" when it sent none): in the trailing
    metadata, or the initial metadata, where earlier builds of the server sent it."""
    for key, value in (*(call.trailing_metadata() or ()), *(call.initial_metadata() or ())):
        if key == "x-request-id" and isinstance(value, str):
            return value
    return ""
