"""Domain errors to ``google.rpc.Status`` (AIP-193): the code, one ErrorInfo, BadRequest."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from ..errors import (
    DeadlineExceeded,
    DeliveryUnknown,
    IdempotencyStoreUnavailable,
    InvalidRequest,
    PermissionDenied,
    PreconditionFailed,
    Reason,
    ResourceExhausted,
    ServiceDraining,
    SmtpConnectorError,
    SmtpRejected,
    SmtpTlsFailed,
    SmtpUnavailable,
    Unauthenticated,
)

ERROR_DOMAIN = "smtp-connector"

# Most specific first: the first class an error is an instance of decides its code.
_CODES: tuple[tuple[type[SmtpConnectorError], int], ...] = (
    (InvalidRequest, code_pb2.INVALID_ARGUMENT),
    (PreconditionFailed, code_pb2.FAILED_PRECONDITION),
    (SmtpRejected, code_pb2.FAILED_PRECONDITION),
    (SmtpTlsFailed, code_pb2.FAILED_PRECONDITION),
    (SmtpUnavailable, code_pb2.UNAVAILABLE),
    (DeliveryUnknown, code_pb2.ABORTED),
    (DeadlineExceeded, code_pb2.DEADLINE_EXCEEDED),
    (IdempotencyStoreUnavailable, code_pb2.UNAVAILABLE),
    (Unauthenticated, code_pb2.UNAUTHENTICATED),
    (PermissionDenied, code_pb2.PERMISSION_DENIED),
    (ResourceExhausted, code_pb2.RESOURCE_EXHAUSTED),
    (ServiceDraining, code_pb2.UNAVAILABLE),
)


def code_for(error: SmtpConnectorError) -> int:
    """The google.rpc.Code for a domain error; INTERNAL for anything unforeseen."""
    for error_type, code in _CODES:
        if isinstance(error, error_type):
            return code
    return int(code_pb2.INTERNAL)


def _packed(
    detail: error_details_pb2.ErrorInfo
    | error_details_pb2.BadRequest
    | error_details_pb2.RetryInfo,
) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(detail)
    return packed


def to_status(error: SmtpConnectorError) -> grpc.Status:
    """The status a domain error travels as."""
    metadata = dict(error.metadata)
    metadata["delivery"] = error.delivery.value
    details = [
        _packed(
            error_details_pb2.ErrorInfo(
                reason=error.reason.value, domain=ERROR_DOMAIN, metadata=metadata
            )
        )
    ]
    if error.violations:
        details.append(
            _packed(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field, description=v.description
                        )
                        for v in error.violations
                    ]
                )
            )
        )
    if isinstance(error, ResourceExhausted) and error.retry_after is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromNanoseconds(int(error.retry_after * 1e9))
        details.append(_packed(retry))
    status = status_pb2.Status(code=code_for(error), message=error.message, details=details)
    converted: grpc.Status = rpc_status.to_status(status)
    return converted


def internal_status() -> grpc.Status:
    """The status of one of our own bugs: no detail leaves the server (it is in the log)."""
    error = SmtpConnectorError(
        "internal error in smtp-connector (see its log); the message was not sent",
        reason=Reason.INTERNAL,
    )
    return to_status(error)
