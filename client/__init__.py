"""The Python client of smtp-connector: ``SmtpConnectorClient`` (sync),
``AsyncSmtpConnectorClient`` (asyncio), their channel settings and typed errors."""

from ._channel import RetryPolicy, Tls
from ._client import DEFAULT_TIMEOUT, SmtpConnectorClient
from .aio import AsyncSmtpConnectorClient
from .errors import (
    ConfigNotLoadedError,
    DeadlineExceededError,
    DeliveryUnknownError,
    FieldViolation,
    InternalError,
    InvalidRequestError,
    PermissionDeniedError,
    RecipientRefusedError,
    ResourceExhaustedError,
    ServiceUnavailableError,
    SmtpAuthError,
    SmtpConnectorError,
    SmtpRejectedError,
    SmtpTlsError,
    SmtpUnavailableError,
    TemplateNotFoundError,
    TemplateRenderError,
    TemplateVariableMissingError,
    UnauthenticatedError,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "AsyncSmtpConnectorClient",
    "ConfigNotLoadedError",
    "DeadlineExceededError",
    "DeliveryUnknownError",
    "FieldViolation",
    "InternalError",
    "InvalidRequestError",
    "PermissionDeniedError",
    "RecipientRefusedError",
    "ResourceExhaustedError",
    "RetryPolicy",
    "ServiceUnavailableError",
    "SmtpAuthError",
    "SmtpConnectorClient",
    "SmtpConnectorError",
    "SmtpRejectedError",
    "SmtpTlsError",
    "SmtpUnavailableError",
    "TemplateNotFoundError",
    "TemplateRenderError",
    "TemplateVariableMissingError",
    "Tls",
    "UnauthenticatedError",
]
