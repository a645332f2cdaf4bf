"""Backpressure and limits: draining, concurrent RPCs, per-caller rate, payload and template size.

Every refusal is immediate: an RPC over a limit is answered RESOURCE_EXHAUSTED (with RetryInfo
for the rate limit) rather than queued, and a draining server answers UNAVAILABLE.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import grpc
from google.protobuf import struct_pb2

from ..errors import (
    InvalidRequest,
    Reason,
    ResourceExhausted,
    ServiceDraining,
    SmtpConnectorError,
)
from ..transport.slots import CpuSlots
from .interceptors import (
    SERVICE_PREFIX,
    Behaviour,
    Continuation,
    HandlerCache,
    caller_key,
    refuse,
)
from .status import to_status

_T = TypeVar("_T")
# Whether the RPC running on this thread still holds its admission slot.
_slot = threading.local()

# Callers remembered by the rate limiter; the least recently seen are forgotten first.
_MAX_CALLERS = 4096


class Admission:
    """Counts the service RPCs admitted (queued or running), refuses those beyond the limit,
    and drains.

    The interceptor ``check``s a call before gRPC queues it; the service executor counts it
    (``enter``) when gRPC hands it over, and it ``leave``s once its handler is done, so at most
    ``limit`` service RPCs ever wait or run, and a refusal never waits behind them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight = 0
        self._draining = False
        self._changed = threading.Condition()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def check(self) -> None:
        """Raise ServiceDraining or ResourceExhausted when a new RPC may not be taken now."""
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

    def enter(self) -> None:
        """Count an RPC admitted by ``check``."""
        with self._changed:
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


class ServiceExecutor(ThreadPoolExecutor):
    """The ``workers`` threads that run SmtpConnectorService RPCs, apart from the threads
    that answer health checks (gRPC runs a handler on the executor its behaviour names in
    ``experimental_thread_pool``). Every task is one admitted RPC: counted when queued, and
    released by its handler as soon as the handler is done (``release``, before the response
    goes out, so the caller's next call finds the slot free), or here when the handler never
    ran (the call was cancelled while it waited)."""

    def __init__(self, workers: int, admission: Admission, threads: int = 0) -> None:
        # ``workers`` threads run calls; a send waiting long on the SMTP server lends its
        # place (server/transport/slots.py), and up to ``threads`` carry calls in all.
        super().__init__(max_workers=workers, thread_name_prefix="rpc")
        self.admission = admission
        self.workers = workers
        self.threads = max(threads, workers)
        self._lent = 0
        self._lending = threading.Lock()
        self.slots = CpuSlots(workers, self._lend, self._reclaim)

    def _lend(self) -> None:
        """A thread waits on the network: one more may run a queued call meanwhile."""
        with self._lending:
            self._lent += 1
            self._max_workers = min(self.threads, self.workers + self._lent)
        if self._work_queue.qsize():
            self._adjust_thread_count()

    def _reclaim(self) -> None:
        with self._lending:
            self._lent -= 1
            self._max_workers = min(self.threads, self.workers + self._lent)

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        self.admission.enter()
        try:
            return super().submit(self._run, fn, args, kwargs)
        except BaseException:
            self.admission.leave()
            raise

    def _run(self, fn: Callable[..., _T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> _T:
        _slot.held = True
        self.slots.acquire()
        try:
            return fn(*args, **kwargs)
        finally:
            self.slots.release()
            self.release()

    def release(self) -> None:
        """Free this thread's slot, once (the handler's own call, then the task's end)."""
        if getattr(_slot, "held", False):
            _slot.held = False
            self.admission.leave()


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


class ServiceLimitsInterceptor(grpc.ServerInterceptor):
    """Applies draining, the per-caller rate limit, the concurrency limit and the payload
    depth to SmtpConnectorService RPCs (health and reflection are left alone)."""

    def __init__(
        self,
        executor: ServiceExecutor,
        rate_limiter: RateLimiter | None,
        max_payload_depth: int,
        *,
        tokens_checked: bool = False,
    ) -> None:
        self._executor = executor
        self._admission = executor.admission
        self._tokens_checked = tokens_checked
        self._rate_limiter = rate_limiter
        self._max_depth = max_payload_depth
        self._wrapped = HandlerCache()

    def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> Any:
        handler = continuation(details)
        if handler is None or not details.method.startswith(SERVICE_PREFIX):
            return handler
        try:
            # Here, before gRPC queues the call: a refusal is answered by the other threads,
            # never waiting behind the admitted calls.
            self._admission.check()
        except SmtpConnectorError as exc:
            return refuse(handler, exc)
        return self._wrapped.get(details.method, handler, self._limiting)

    def _limiting(self, method: str, behaviour: Behaviour) -> Behaviour:
        release = self._executor.release

        def limited(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                try:
                    self._admit(request, context)
                except SmtpConnectorError as exc:
                    context.abort_with_status(to_status(exc))
                return behaviour(request, context)
            finally:
                release()

        # gRPC runs the call on this executor rather than the server's own threads.
        limited.__dict__["experimental_thread_pool"] = self._executor
        return limited

    def _admit(self, request: Any, context: grpc.ServicerContext) -> None:
        """Check the request against the rate limit and the payload depth (the concurrency
        slot was taken before the call was queued, and is freed whatever happens here)."""
        if self._rate_limiter is not None:
            caller = caller_key(
                context.invocation_metadata(), context.peer(), tokens_checked=self._tokens_checked
            )
            wait = self._rate_limiter.take(caller)
            if wait:
                raise ResourceExhausted(
                    f"rate limit of {self._rate_limiter.rate:g} requests a second reached; "
                    f"retry in {wait:.2f} s; the message was not sent",
                    reason=Reason.RATE_LIMITED,
                    retry_after=wait,
                )
        check_payload(request, self._max_depth)
