"""Server interceptors: request ids, access logs and RPC metrics; bearer-token callers."""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
from google.rpc import error_details_pb2, status_pb2

from ..errors import PermissionDenied, SmtpConnectorError, Unauthenticated
from ..logs import REQUEST_ID
from ..metrics import Metrics
from .status import to_status

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
HEALTH_METHODS = frozenset({"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"})
SERVICE_PREFIX = "/smtp_connector.v1.SmtpConnectorService/"
_CALLER_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_STATUS_DETAILS = "grpc-status-details-bin"
# Seeded from os.urandom once; request ids find log lines, they guard nothing.
_random = random.Random()  # noqa: S311

# RpcMethodHandler is generic in the type stubs only, not at run time.
if TYPE_CHECKING:
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
Behaviour = Callable[[Any, grpc.ServicerContext], Any]
Continuation = Callable[[grpc.HandlerCallDetails], Handler | None]

_KINDS = (
    ("unary_unary", grpc.unary_unary_rpc_method_handler),
    ("unary_stream", grpc.unary_stream_rpc_method_handler),
    ("stream_unary", grpc.stream_unary_rpc_method_handler),
    ("stream_stream", grpc.stream_stream_rpc_method_handler),
)


_THREAD_POOL = "experimental_thread_pool"


def wrap_handler(
    handler: Handler, wrap: Callable[[Behaviour], Behaviour], *, same_pool: bool = True
) -> Handler:
    """The same handler (any cardinality) with its behaviour wrapped."""
    for kind, make in _KINDS:
        behaviour = getattr(handler, kind)
        if behaviour is not None:
            outer = wrap(behaviour)
            pool = getattr(behaviour, _THREAD_POOL, None)
            if same_pool and pool is not None:
                # The executor gRPC runs the behaviour on (see limits.ServiceExecutor).
                outer.__dict__[_THREAD_POOL] = pool
            wrapped: Handler = make(
                outer,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
            return wrapped
    return handler


def refuse(handler: Handler, error: SmtpConnectorError) -> Handler:
    """A handler that answers the call with ``error`` instead of running it."""
    status = to_status(error)

    def refusing(behaviour: Behaviour) -> Behaviour:
        def refused(request: Any, context: grpc.ServicerContext) -> Any:
            context.abort_with_status(status)

        return refused

    # A refusal runs on the server's own threads: it takes no admitted call's place.
    return wrap_handler(handler, refusing, same_pool=False)


def metadata_value(metadata: Sequence[tuple[str, str | bytes]] | None, key: str) -> str | None:
    """The first value of a metadata key, as text."""
    for name, value in metadata or ():
        if name == key:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return None


def error_reason(context: grpc.ServicerContext) -> str:
    """The ErrorInfo reason of the status a handler aborted with, or ""."""
    raw = next((v for k, v in context.trailing_metadata() or () if k == _STATUS_DETAILS), None)
    if not isinstance(raw, bytes):
        return ""
    status = status_pb2.Status.FromString(raw)
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return ""


def _status_code(context: grpc.ServicerContext, failed: bool) -> str:
    # ServicerContext.code() exists at run time but is missing from the type stubs.
    code = getattr(context, "code", lambda: None)()
    if isinstance(code, grpc.StatusCode):
        return code.name
    return "UNKNOWN" if failed else "OK"


class ObservingInterceptor(grpc.ServerInterceptor):
    """Gives each unary RPC a request id (the caller's ``x-request-id`` or a new one), returns
    it in the response's trailing metadata, logs the outcome and counts it in the metrics.

    The wrapped handler is built once per method and reused (``HandlerCache``): everything
    that differs per call is read from the call's context. The request id goes out with the
    status, in the batch gRPC sends anyway: initial metadata of its own would cost every RPC
    a batch (and a wake-up of the server's polling thread) more."""

    def __init__(self, metrics: Metrics | None) -> None:
        self._metrics = metrics
        self._wrapped = HandlerCache()

    def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> Any:
        handler = continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        return self._wrapped.get(details.method, handler, self._observing)

    def _observing(self, method: str, behaviour: Behaviour) -> Behaviour:
        finish = self._finish

        def observed(request: Any, context: grpc.ServicerContext) -> Any:
            asked = metadata_value(context.invocation_metadata(), REQUEST_ID_HEADER)
            request_id = asked if asked and _CALLER_REQUEST_ID.match(asked) else new_request_id()
            token = REQUEST_ID.set(request_id)
            start, failed = time.perf_counter(), True
            try:
                response = behaviour(request, context)
                failed = False
                return response
            finally:
                # After an abort the status's own trailing metadata is set: keep it.
                trailing = tuple(context.trailing_metadata() or ())
                context.set_trailing_metadata((*trailing, (REQUEST_ID_HEADER, request_id)))
                finish(method, context, failed, start)
                REQUEST_ID.reset(token)

        return observed

    def _finish(
        self, method: str, context: grpc.ServicerContext, failed: bool, start: float
    ) -> None:
        code = _status_code(context, failed)
        reason = error_reason(context) if failed else ""
        millis = (time.perf_counter() - start) * 1000
        if self._metrics is not None:
            self._metrics.observe_rpc(method, code, reason)
        level = logging.DEBUG if method in HEALTH_METHODS else logging.INFO
        if not log.isEnabledFor(level):
            return
        log.log(
            level,
            "rpc %s %s%s in %.1f ms",
            method,
            code,
            f" {reason}" if reason else "",
            millis,
            extra={"rpc_method": method, "grpc_code": code, "reason": reason, "millis": millis},
        )


def new_request_id() -> str:
    """A fresh request id: 32 hex digits, like a uuid4's, without its urandom system call
    (an id to find log lines by, not a secret)."""
    return f"{_random.getrandbits(128):032x}"


class HandlerCache:
    """Wrapped handlers by method, built once: wrapping a handler per call costs every RPC
    a handler object and closures. An entry is reused only while the method's inner handler
    is the same object (a refusal is a new handler each time and is wrapped afresh)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Handler, Handler]] = {}

    def get(
        self, method: str, handler: Handler, wrap: Callable[[str, Behaviour], Behaviour]
    ) -> Handler:
        entry = self._entries.get(method)
        if entry is not None and entry[0] is handler:
            return entry[1]
        wrapped = wrap_handler(handler, lambda behaviour: wrap(method, behaviour))
        # Only registered methods get here (unknown ones have no handler): the map is bounded.
        self._entries[method] = (handler, wrapped)
        return wrapped


def _digest(token: str) -> bytes:
    # Comparing fixed-length digests keeps the comparison constant-time whatever the lengths.
    return hashlib.sha256(token.encode("utf-8")).digest()


def bearer_token(metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
    """The token of an ``authorization: Bearer <token>`` header, if one was sent."""
    value = metadata_value(metadata, "authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Lets through only callers with one of the configured bearer tokens (several, so they
    can be rotated); health checks need none. No token: UNAUTHENTICATED; a wrong one:
    PERMISSION_DENIED."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self._digests: tuple[bytes, ...] = ()
        self.replace(tokens)

    def replace(self, tokens: Sequence[str]) -> None:
        """Accept these tokens from now on (a reload); never none, which would lock every
        caller out."""
        if not tokens:
            raise ValueError("bearer-token authentication needs at least one token")
        # One assignment: a call in flight sees the old tuple or the new one, never a mix.
        self._digests = tuple(_digest(token) for token in tokens)

    def accepts(self, token: str) -> bool:
        """Whether the token is one of ours; every token is compared, in constant time."""
        presented = _digest(token)
        matched = False
        for digest in self._digests:
            matched |= hmac.compare_digest(digest, presented)
        return matched

    def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> Any:
        handler = continuation(details)
        if handler is None or details.method in HEALTH_METHODS:
            return handler
        token = bearer_token(details.invocation_metadata)
        if token is None:
            return refuse(
                handler,
                Unauthenticated(
                    "this service needs a bearer token: send 'authorization: Bearer <token>'"
                ),
            )
        if not self.accepts(token):
            return refuse(handler, PermissionDenied("the bearer token is not accepted"))
        return handler


def caller_key(
    metadata: Sequence[tuple[str, str | bytes]] | None, peer: str, *, tokens_checked: bool
) -> str:
    """Who is calling, for per-caller limits: their token (hashed) when tokens are checked
    (an unchecked one could be changed at every call to dodge the limit), else their address."""
    token = bearer_token(metadata) if tokens_checked else None
    if token is not None:
        return "token:" + _digest(token).hex()[:16]
    # "ipv4:127.0.0.1:5555" / "ipv6:[::1]:5555": the port changes per connection, drop it.
    return "peer:" + peer.rpartition(":")[0]


def caller_identity(context: grpc.ServicerContext, *, tokens_checked: bool) -> str:
    """Who is calling, for what belongs to one caller (its idempotency keys): its bearer
    token (hashed) when tokens are checked, and its client certificate's subject when the
    listener verified one (mTLS). "" when neither: every unauthenticated caller is one
    (an address is no identity: a retry may come from another connection or replica)."""
    parts = []
    token = bearer_token(context.invocation_metadata()) if tokens_checked else None
    if token is not None:
        parts.append("token:" + _digest(token).hex())
    subject = _certificate_subject(context.auth_context())
    if subject:
        parts.append("x509:" + subject)
    return "\n".join(parts)


def _certificate_subject(auth: Mapping[str, Any]) -> str:
    """The verified client certificate's subject (its common name and alternative names,
    which stay the same when it is renewed); "" without one."""
    names = [
        name.decode("utf-8", "replace")
        for key in ("x509_common_name", "x509_subject_alternative_name")
        for name in auth.get(key, ())
    ]
    return ",".join(names)
