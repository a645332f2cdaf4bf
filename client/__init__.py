"""The Python client of smtp-connector: ``SmtpConnectorClient`` and its typed errors."""

from ._client import DEFAULT_TIMEOUT, SmtpConnectorClient
from .errors import (
    ConfigNotLoadedError,
    DeadlineExceededError,
    DeliveryUnknownError,
    FieldViolation,
    InternalError,
    InvalidRequestError,
    PlaintextAuthRefusedError,
    RecipientRefusedError,
    ServiceUnavailableError,
    SmtpAuthError,
    SmtpConnectorError,
    SmtpRejectedError,
    SmtpTlsError,
    SmtpUnavailableError,
    TemplateNotFoundError,
    TemplateRenderError,
    TemplateVariableMissingError,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "ConfigNotLoadedError",
    "DeadlineExceededError",
    "DeliveryUnknownError",
    "FieldViolation",
    "InternalError",
    "InvalidRequestError",
    "PlaintextAuthRefusedError",
    "RecipientRefusedError",
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
]
