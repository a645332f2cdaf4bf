"""Domain errors to ``google.rpc.Status`` (AIP-193): the code, one ErrorInfo, BadRequest.

A status travels in the call's trailers (grpc-message, percent-encoded, and the Status again
in grpc-status-details-bin, base64-encoded), and a client refuses trailers over its metadata
limit (8 KiB soft, 16 KiB hard by default) with a bare RESOURCE_EXHAUSTED: the error, its
code and its ErrorInfo would all be lost. So every part is bounded here, whatever the
message carries (an SMTP server's reply, thousands of bad fields): the message to
MAX_MESSAGE_BYTES (its end, "...; the message was not sent", kept), each metadata value
to MAX_METADATA_VALUE_BYTES, and the field violations to MAX_VIOLATIONS_BYTES, the rest
counted in a last one. Together they stay under 8 KiB even in the worst encoding.
"""

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

# The budgets of one error on the wire (docs/security.md), in UTF-8 bytes.
MAX_MESSAGE_BYTES = 1024
MAX_METADATA_VALUE_BYTES = 256
MAX_VIOLATIONS_BYTES = 1024
# What a cut message keeps of its end: the part that says what became of the message.
_KEPT_END_BYTES = 64
_CUT = " [...] "

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
    """The status a domain error travels as, every part within its budget."""
    metadata = {
        key: bounded(value, MAX_METADATA_VALUE_BYTES) for key, value in error.metadata.items()
    }
    metadata["delivery"] = error.delivery.value
    details = [
        _packed(
            error_details_pb2.ErrorInfo(
                reason=error.reason.value, domain=ERROR_DOMAIN, metadata=metadata
            )
        )
    ]
    if error.violations:
        details.append(_packed(error_details_pb2.BadRequest(field_violations=_violations(error))))
    if isinstance(error, ResourceExhausted) and error.retry_after is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromNanoseconds(int(error.retry_after * 1e9))
        details.append(_packed(retry))
    message = bounded(error.message, MAX_MESSAGE_BYTES, keep_end=_KEPT_END_BYTES)
    status = status_pb2.Status(code=code_for(error), message=message, details=details)
    converted: grpc.Status = rpc_status.to_status(status)
    return converted


def bounded(text: str, limit: int, *, keep_end: int = 0) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes; a cut is marked, and the last
    ``keep_end`` bytes are kept after the mark."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    end = raw[len(raw) - keep_end :]
    head = raw[: limit - len(_CUT) - keep_end]
    return head.decode("utf-8", "ignore") + _CUT + end.decode("utf-8", "ignore")


def _violations(error: SmtpConnectorError) -> list[error_details_pb2.BadRequest.FieldViolation]:
    """The error's field violations, as many as MAX_VIOLATIONS_BYTES hold; a last one
    counts the others."""
    shown: list[error_details_pb2.BadRequest.FieldViolation] = []
    spent = 0
    for index, violation in enumerate(error.violations):
        field = bounded(violation.field, MAX_METADATA_VALUE_BYTES)
        description = bounded(violation.description, MAX_METADATA_VALUE_BYTES)
        spent += len(field.encode()) + len(description.encode())
        if spent > MAX_VIOLATIONS_BYTES:
            left = len(error.violations) - index
            shown.append(
                error_details_pb2.BadRequest.FieldViolation(
                    field="", description=f"and {left} more violations, not shown"
                )
            )
            break
        shown.append(
            error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
        )
    return shown


def internal_status() -> grpc.Status:
    """The status of one of our own bugs: no detail leaves the server (it is in the log)."""
    error = SmtpConnectorError(
        "internal error in smtp-connector (see its log); the message was not sent",
        reason=Reason.INTERNAL,
    )
    return to_status(error)
