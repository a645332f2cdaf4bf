"""Backpressure and limits: draining, concurrent RPCs, per-caller rate, payload and template size.

Every refusal is immediate: an RPC over a limit is answered RESOURCE_EXHAUSTED (with RetryInfo
for the rate limit) rather than queued, and a draining server answers UNAVAILABLE.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

import grpc
from google.protobuf import struct_pb2

from .config import SmtpConfig
from .errors import (
    FieldViolation,
    InvalidRequest,
    Reason,
    ResourceExhausted,
    ServiceDraining,
    SmtpConnectorError,
)
from .interceptors import SERVICE_PREFIX, Behaviour, Continuation, caller_key, refuse, wrap_handler
from .status import to_status

# Callers remembered by the rate limiter; the least recently seen are forgotten first.
_MAX_CALLERS = 4096


class Admission:
    """Counts the service RPCs in flight, refuses those beyond the limit, and drains."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight = 0
        self._draining = False
        self._changed = threading.Condition()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def draining(self) -> bool:
        return self._draining

    def enter(self) -> None:
        """Take a slot; raises ServiceDraining or ResourceExhausted instead of waiting."""
        with self._changed:
            if self._draining:
                raise ServiceDraining(
                    "smtp-connector is shutting down and takes no new requests; retry on "
                    "another instance; the message was not sent"
                )
            if self._in_flight >= self.limit:
                raise ResourceExhausted(
                    f"smtp-connector is already serving {self.limit} requests; retry later; "
                    "the message was not sent"
                )
            self._in_flight += 1

    def leave(self) -> None:
        with self._changed:
            self._in_flight -= 1
            self._changed.notify_all()

    def drain(self, timeout: float) -> bool:
        """Refuse new RPCs from now on and wait up to ``timeout`` seconds for those in flight;
        True when none is left."""
        deadline = time.monotonic() + timeout
        with self._changed:
            self._draining = True
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True


class RateLimiter:
    """A token bucket per caller: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, caller: str) -> float:
        """Take a token for ``caller``: 0.0 when granted, else the seconds until one is due."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(caller, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            if not wait:
                tokens -= 1
            self._buckets[caller] = (tokens, now)
            while len(self._buckets) > _MAX_CALLERS:
                self._buckets.popitem(last=False)
        return wait


def payload_depth(value: struct_pb2.Struct | struct_pb2.ListValue) -> int:
    """How deeply a payload nests (a flat object is 1)."""
    if isinstance(value, struct_pb2.Struct):
        children = list(value.fields.values())
    else:
        children = list(value.values)
    deepest = 0
    for child in children:
        kind = child.WhichOneof("kind")
        if kind == "struct_value":
            deepest = max(deepest, payload_depth(child.struct_value))
        elif kind == "list_value":
            deepest = max(deepest, payload_depth(child.list_value))
    return 1 + deepest


def check_payload(request: Any, max_depth: int) -> None:
    """Refuse a request whose ``payload`` nests deeper than ``max_depth``."""
    payload = getattr(request, "payload", None)
    if isinstance(payload, struct_pb2.Struct) and payload_depth(payload) > max_depth:
        raise InvalidRequest.for_field(
            "payload", f"nests deeper than {max_depth} levels", reason=Reason.LIMIT_EXCEEDED
        )


def check_template_sizes(config: SmtpConfig, max_bytes: int) -> None:
    """Refuse a config with a template (subject + content) over ``max_bytes`` UTF-8 bytes."""
    violations = tuple(
        FieldViolation(f"templates[{index}]", f"is larger than {max_bytes} bytes")
        for index, template in enumerate(config.templates)
        if len(template.subject.encode()) + len(template.content.encode()) > max_bytes
    )
    if violations:
        raise InvalidRequest(
            f"a template is larger than {max_bytes} bytes ({violations[0].field}); "
            "the message was not sent",
            reason=Reason.LIMIT_EXCEEDED,
            violations=violations,
        )


class ServiceLimitsInterceptor(grpc.ServerInterceptor):
    """Applies draining, the per-caller rate limit, the concurrency limit and the payload
    depth to SmtpConnectorService RPCs (health and reflection are left alone)."""

    def __init__(
        self,
        admission: Admission,
        rate_limiter: RateLimiter | None,
        max_payload_depth: int,
        *,
        tokens_checked: bool = False,
    ) -> None:
        self._admission = admission
        self._tokens_checked = tokens_checked
        self._rate_limiter = rate_limiter
        self._max_depth = max_payload_depth

    def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> Any:
        handler = continuation(details)
        if handler is None or not details.method.startswith(SERVICE_PREFIX):
            return handler
        if self._admission.draining:
            return refuse(handler, ServiceDraining("smtp-connector is shutting down"))
        metadata = details.invocation_metadata

        def limiting(behaviour: Behaviour) -> Behaviour:
            def limited(request: Any, context: grpc.ServicerContext) -> Any:
                try:
                    caller = caller_key(
                        metadata, context.peer(), tokens_checked=self._tokens_checked
                    )
                    self._admit(request, caller)
                except SmtpConnectorError as exc:
                    context.abort_with_status(to_status(exc))
                try:
                    return behaviour(request, context)
                finally:
                    self._admission.leave()

            return limited

        return wrap_handler(handler, limiting)

    def _admit(self, request: Any, caller: str) -> None:
        """Check the request against every limit; the concurrency slot is taken last, so a
        refusal never holds one."""
        if self._rate_limiter is not None:
            wait = self._rate_limiter.take(caller)
            if wait:
                raise ResourceExhausted(
                    f"rate limit of {self._rate_limiter.rate:g} requests a second reached; "
                    f"retry in {wait:.2f} s; the message was not sent",
                    reason=Reason.RATE_LIMITED,
                    retry_after=wait,
                )
        check_payload(request, self._max_depth)
        self._admission.enter()
