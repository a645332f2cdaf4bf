"""The standard grpc.health.v1 service: SERVING while a valid config is loaded and the server
is not draining, NOT_SERVING otherwise; for the whole server (""), for our service (its
default profile) and for each profile (``smtp_connector.v1.SmtpConnectorService/<profile>``).

The servicer is our own rather than grpc_health's ``HealthServicer``, which sends a ``Watch``
response while holding the lock that the stream's close callback (run on gRPC's only polling
thread) takes: a burst of cancelled ``Watch`` streams wedged the whole server for good
(issue 14, finding 1). Here no response is ever sent while the registry lock is held, the
close callback takes only that lock, and open ``Watch`` streams are capped, so that they can
never use up the RPCs gRPC accepts beyond the service's own limit.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from smtp_connector.v1 import smtp_connector_pb2 as pb

from ..domain.profiles import Profiles, profile_statuses
from ..errors import ResourceExhausted
from .status import to_status

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["SmtpConnectorService"].full_name
OVERALL = ""
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
# Open Watch streams beyond this are refused RESOURCE_EXHAUSTED (see app.py's _EXTRA_RPCS).
DEFAULT_MAX_WATCHERS = 32

Send = Callable[[health_pb2.HealthCheckResponse | None], None]


def profile_service(name: str) -> str:
    """The health service name of one profile."""
    return f"{SERVICE_NAME}/{name}"


@dataclass(eq=False)
class _Watcher:
    """One open Watch stream: its service, how to send to it and what it was last told.
    ``sending`` orders the sends to this stream; it is never taken by a close callback."""

    service: str
    send: Send
    last: int | None = None
    sending: threading.Lock = field(default_factory=threading.Lock)


class HealthServicer(health_pb2_grpc.HealthServicer):
    """``Check`` and ``Watch`` over a table of statuses (see the module docstring)."""

    def __init__(self, max_watchers: int = DEFAULT_MAX_WATCHERS) -> None:
        self._max_watchers = max_watchers
        self._lock = threading.Lock()  # the statuses and the watchers; never held to send
        self._statuses: dict[str, int] = {}
        self._watchers: dict[int, _Watcher] = {}
        self._ids = itertools.count()
        self._final = False
        # gRPC calls Watch with a send callback and lets it return at once: no thread is
        # held by an open stream.
        self.Watch.__func__.experimental_non_blocking = True  # type: ignore[attr-defined]

    def Check(  # noqa: N802 (the generated base class names it)
        self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        with self._lock:
            status = self._statuses.get(request.service)
        if status is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service '{request.service}'")
        return health_pb2.HealthCheckResponse(status=status)

    def Watch(  # noqa: N802
        self,
        request: health_pb2.HealthCheckRequest,
        context: grpc.ServicerContext,
        send_response_callback: Send | None = None,
    ) -> None:
        if send_response_callback is None:  # pragma: no cover (grpcio always passes it)
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "Watch needs a non-blocking server")
        watcher = _Watcher(request.service, send_response_callback)
        key = self._register(watcher)
        if key is None:
            context.abort_with_status(
                to_status(
                    ResourceExhausted(
                        f"{self._max_watchers} health Watch streams are already open; "
                        "use Check, or retry later"
                    )
                )
            )
        if not context.add_callback(lambda: self._forget(key)):
            self._forget(key)  # the stream ended before the callback could be added
            return
        self._update(watcher)

    def _register(self, watcher: _Watcher) -> int | None:
        with self._lock:
            if len(self._watchers) >= self._max_watchers:
                return None
            key = next(self._ids)
            self._watchers[key] = watcher
            return key

    def _forget(self, key: int) -> None:
        with self._lock:
            self._watchers.pop(key, None)

    def _update(self, watcher: _Watcher) -> None:
        """Tell one stream its service's status, if it changed since it was last told."""
        with watcher.sending:
            with self._lock:
                status = self._statuses.get(watcher.service, _UNKNOWN)
            if status != watcher.last:
                watcher.last = status
                watcher.send(health_pb2.HealthCheckResponse(status=status))

    def set_many(self, statuses: Iterable[tuple[str, int]]) -> None:
        """Set statuses and tell the streams watching them; ignored once final."""
        with self._lock:
            if self._final:
                return
            self._statuses.update(statuses)
            watchers = list(self._watchers.values())
        for watcher in watchers:
            self._update(watcher)

    def set(self, service: str, status: int) -> None:
        """Set one service's status."""
        self.set_many(((service, status),))

    def enter_graceful_shutdown(self) -> None:
        """Every status NOT_SERVING, for good."""
        with self._lock:
            names = list(self._statuses)
        self.set_many((name, _NOT_SERVING) for name in names)
        with self._lock:
            self._final = True

    def watching(self) -> int:
        """How many Watch streams are open."""
        with self._lock:
            return len(self._watchers)


class Health:
    """The health service and the one place its statuses are set."""

    def __init__(self, max_watchers: int = DEFAULT_MAX_WATCHERS) -> None:
        self.servicer = HealthServicer(max_watchers)
        self._profile_names: set[str] = set()
        self.show(None)

    def add_to(self, server: grpc.Server) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)

    def show(self, profiles: Profiles | None) -> None:
        """The statuses for the config now loaded (None: none); a profile that a reload
        removed turns NOT_SERVING. Ignored once draining has begun."""
        overall = _SERVING if profiles is not None else _NOT_SERVING
        statuses = [(OVERALL, overall), (SERVICE_NAME, overall)]
        current = set()
        for status in profile_statuses(profiles) if profiles is not None else ():
            current.add(status.name)
            statuses.append(
                (profile_service(status.name), _SERVING if status.serving else _NOT_SERVING)
            )
        statuses += [
            (profile_service(gone), _NOT_SERVING) for gone in self._profile_names - current
        ]
        self.servicer.set_many(statuses)
        self._profile_names = current

    def drain(self) -> None:
        """NOT_SERVING for good: the server is shutting down."""
        self.servicer.enter_graceful_shutdown()
