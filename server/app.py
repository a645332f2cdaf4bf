"""Building the gRPC server (``create_server``/``build_service``) and running it (``serve``):
SIGTERM/SIGINT drain it gracefully, SIGHUP reloads the config and the bearer tokens."""

from __future__ import annotations

import functools
import logging
import os
import queue
import signal
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from types import FrameType

import grpc
from grpc_reflection.v1alpha import reflection
from smtp_connector.v1 import smtp_connector_pb2_grpc as pb_grpc

from .console.runner import build_console
from .devmailbox import DevMailbox
from .domain.guard import InlineGuard
from .domain.mailer import Mailer
from .domain.profiles import Profiles, load_profiles
from .domain.templates import check_template_sizes
from .idempotency.engine import Idempotency, open_idempotency
from .listen_check import refuse_shared_address
from .logs import configure_logging
from .metrics import Metrics
from .processes import serve_processes
from .reload import Reloader
from .rpc.health import SERVICE_NAME, Health
from .rpc.interceptors import BearerTokenInterceptor, ObservingInterceptor, caller_identity
from .rpc.limits import (
    Admission,
    RateLimiter,
    ServiceExecutor,
    ServiceLimitsInterceptor,
)
from .rpc.listener_tls import server_credentials
from .rpc.servicer import SmtpConnectorServicer
from .settings import Settings, split_address
from .transport.pool import PoolLimits, transport_factory

log = logging.getLogger(__name__)

# The server's own threads: health checks, reflection and refusals. Service RPCs run on the
# `workers` threads of the ServiceExecutor, so health checks answer while every worker sends
# mail and however many calls wait for one.
_SPARE_THREADS = 2
# RPCs gRPC itself accepts beyond the service's limit (health checks, reflection, refusals)
# before it answers RESOURCE_EXHAUSTED on its own: every queue stays bounded whatever arrives.
_EXTRA_RPCS = 64


def load_server_config(settings: Settings) -> Profiles | None:
    """The config file named by the settings (one config, or named profiles), loaded and
    compiled; None when none is named. Raises InvalidConfig (naming every bad field),
    InvalidRequest (a template over the size limit) or OSError (the file cannot be read)."""
    if settings.config is None:
        return None
    text = settings.config.read_text(encoding="utf-8")
    profiles = load_profiles(text, password=settings.password_override())
    for loaded in profiles.configs.values():
        check_template_sizes(loaded.config, settings.max_template_bytes)
    return profiles


def server_options(settings: Settings, *, share_port: bool = False) -> list[tuple[str, int]]:
    """gRPC channel arguments: message size and keepalive (see the README's settings), and
    SO_REUSEPORT only for the ``--processes`` children that share one port."""
    options = [
        ("grpc.max_receive_message_length", settings.max_request_bytes),
        ("grpc.keepalive_time_ms", int(settings.keepalive_time * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        (
            "grpc.http2.min_ping_interval_without_data_ms",
            int(settings.keepalive_min_ping_interval * 1000),
        ),
        ("grpc.http2.max_ping_strikes", 2),
        # gRPC's default on Linux is on: a second server on the address would start and
        # take some of the calls (server/listen_check.py).
        ("grpc.so_reuseport", int(share_port)),
    ]
    if settings.max_connection_age:
        options += [
            ("grpc.max_connection_age_ms", int(settings.max_connection_age * 1000)),
            ("grpc.max_connection_age_grace_ms", int(settings.grace_period * 1000)),
        ]
    return options


@dataclass
class Service:
    """A built server and the parts that run it."""

    server: grpc.Server
    port: int
    servicer: SmtpConnectorServicer
    mailer: Mailer
    health: Health
    admission: Admission
    executor: ServiceExecutor
    metrics: Metrics
    auth: BearerTokenInterceptor | None = None
    idempotency: Idempotency | None = None

    def reloader(self, settings: Settings) -> Reloader:
        """Reloads the config named by the settings into this service."""
        return Reloader(
            lambda: load_server_config(settings),
            self.servicer,
            self.mailer,
            self.health,
            self.metrics,
        )

    def reload_tokens(self, settings: Settings) -> None:
        """Read the bearer tokens again (the token file may have changed: a rotation).
        Authentication is neither turned on nor off by a reload: that takes a restart."""
        try:
            tokens = settings.auth_token_list()
        except OSError as exc:
            log.error("bearer tokens not reloaded, the old ones stay: %s", exc)
            return
        if self.auth is None:
            if tokens:
                log.warning("bearer tokens are set but authentication is off: restart to use them")
        elif not tokens:
            log.error("bearer tokens not reloaded: the new list is empty; the old ones stay")
        else:
            self.auth.replace(tokens)
            log.info("bearer tokens reloaded: %d accepted", len(tokens))

    def drain(self, grace: float) -> None:
        """NOT_SERVING, new RPCs refused, in-flight ones given ``grace`` seconds, then the
        server stops, the SMTP connections close, and the keys of sends cut off are recorded
        as an unknown outcome."""
        started = time.monotonic()
        self.health.drain()
        if not self.admission.drain(grace):
            log.warning(
                "%d requests still running after %.1f s: cancelling them",
                self.admission.in_flight,
                grace,
            )
        remaining = max(0.0, grace - (time.monotonic() - started))
        self.server.stop(min(remaining, 1.0)).wait()
        self.executor.shutdown(wait=False)
        self.mailer.close()
        if self.idempotency is not None:
            self.idempotency.close(timeout=0)


def build_service(
    settings: Settings,
    *,
    mailer: Mailer | None = None,
    idempotency: Idempotency | None = None,
    share_port: bool = False,
) -> Service:
    """A server bound to ``settings.address`` (port 0 picks a free port), not yet started.
    Raises AddressInUse when another process listens there, unless ``share_port`` (a
    ``--processes`` child, whose siblings listen there too)."""
    if not share_port:
        refuse_shared_address(settings.address)
    metrics = Metrics()
    idempotency = idempotency or open_idempotency(settings)
    mailer = mailer or create_mailer(settings, metrics)
    server_config = load_server_config(settings)
    guard = InlineGuard(
        enabled=settings.allow_inline_config,
        host_patterns=settings.inline_allowed_hosts,
        ports=settings.inline_allowed_ports,
        allowed_networks=settings.inline_allowed_networks,
        max_template_bytes=settings.max_template_bytes,
    )
    tokens = settings.auth_token_list()
    servicer = SmtpConnectorServicer(
        mailer,
        server_config,
        probe_ports=settings.probe_ports,
        probe_time_limit=settings.probe_time_limit,
        inline_guard=guard,
        idempotency=idempotency,
        max_template_bytes=settings.max_template_bytes,
        identify=functools.partial(caller_identity, tokens_checked=bool(tokens)),
    )
    admission = Admission(settings.concurrency())
    executor = ServiceExecutor(settings.workers, admission, settings.send_threads)
    rate_limiter = (
        RateLimiter(settings.rate_limit, settings.rate_limit_burst) if settings.rate_limit else None
    )
    interceptors: list[grpc.ServerInterceptor] = [ObservingInterceptor(metrics)]
    auth = BearerTokenInterceptor(tokens) if tokens else None
    if auth is not None:
        interceptors.append(auth)
    elif settings.auth_tokens is not None or settings.auth_tokens_file is not None:
        raise ValueError("bearer-token authentication is configured but no token is set")
    interceptors.append(
        ServiceLimitsInterceptor(
            executor, rate_limiter, settings.max_payload_depth, tokens_checked=bool(tokens)
        )
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=_SPARE_THREADS, thread_name_prefix="grpc"),
        interceptors=interceptors,
        options=server_options(settings, share_port=share_port),
        maximum_concurrent_rpcs=settings.concurrency() + _EXTRA_RPCS,
    )
    pb_grpc.add_SmtpConnectorServiceServicer_to_server(servicer, server)
    health = Health()
    health.add_to(server)
    health.show(server_config)
    if settings.pool_keep_warm and server_config is not None:
        warm_up(mailer, server_config)
    if settings.reflection:
        reflection.enable_server_reflection(
            (SERVICE_NAME, "grpc.health.v1.Health", reflection.SERVICE_NAME), server
        )
    port = _bind(server, settings, share_port=share_port)
    return Service(
        server, port, servicer, mailer, health, admission, executor, metrics, auth, idempotency
    )


def warm_up(mailer: Mailer, profiles: Profiles) -> None:
    """Create every profile's pool now, so that its warm connection opens before the first
    code is sent (the pool's keeper opens it in the background)."""
    for loaded in profiles.configs.values():
        mailer.transport_for(loaded.connection)


def _bind(server: grpc.Server, settings: Settings, *, share_port: bool) -> int:
    """Bind the listener; the port bound. A bind lost to another listener after the check
    (a race) fails as plainly as the check does."""
    credentials = server_credentials(settings)
    try:
        if credentials is not None:
            port = server.add_secure_port(settings.address, credentials)
        else:
            port = server.add_insecure_port(settings.address)
    except RuntimeError:  # grpcio's "Failed to bind to address"
        port = 0
    if port == 0:
        if not share_port:
            refuse_shared_address(settings.address)
        raise OSError(f"cannot listen on {settings.address}")
    return port


def create_mailer(settings: Settings, metrics: Metrics | None = None) -> Mailer:
    """The mailer, pooling SMTP connections as the settings say (and reporting its sends to
    ``metrics`` when given)."""
    limits = PoolLimits(
        max_connections=settings.pool_max_connections,
        max_messages=settings.pool_max_messages,
        idle_timeout=settings.pool_idle_timeout,
        acquire_timeout=settings.pool_acquire_timeout,
        keep_warm=settings.pool_keep_warm,
        noop_interval=settings.pool_noop_interval,
    )
    factory = transport_factory(limits, enabled=settings.pool)
    return Mailer(metrics.instrument(factory) if metrics is not None else factory)


def create_server(
    settings: Settings, *, mailer: Mailer | None = None, idempotency: Idempotency | None = None
) -> tuple[grpc.Server, int]:
    """A server bound to ``settings.address`` (port 0 picks a free port), not yet started;
    returns it with the port it bound."""
    service = build_service(settings, mailer=mailer, idempotency=idempotency)
    return service.server, service.port


def serve(
    settings: Settings,
    *,
    on_started: Callable[[int], None] | None = None,
    share_port: bool = False,
) -> None:
    """Run the server until SIGTERM or SIGINT, then drain it (``Service.drain``); SIGHUP
    reloads the config and the bearer tokens. With ``processes`` > 1, that many server
    processes share the port (server/processes.py; each is called with ``share_port``).
    ``on_started`` gets the port."""
    configure_logging(settings.log_level, settings.log_format)
    if settings.processes > 1:
        serve_processes(settings, serve, check=load_server_config)
        return
    service = build_service(settings, share_port=share_port)
    mailbox = None
    if settings.dev_mailbox is not None:
        host, port = split_address(settings.dev_mailbox_address)
        mailbox = DevMailbox(settings.dev_mailbox, host, port)
        mailbox.start()
    metrics_server = None
    if settings.metrics_address is not None:
        metrics_server = service.metrics.serve(settings.metrics_address)
        log.info("metrics on http://%s/metrics", settings.metrics_address)
    reloader = service.reloader(settings)
    signals: queue.SimpleQueue[signal.Signals] = queue.SimpleQueue()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signals.put(signal.Signals(signum))

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    # The console first: a console that cannot listen stops the start-up before any RPC.
    console = None
    if settings.console:
        console = build_console(
            settings,
            port=service.port,
            profiles=lambda: service.servicer.profiles,
            tokens=service.auth,
        )
    if console is not None:
        console.start()
    service.server.start()
    host = settings.address.rpartition(":")[0]
    tls = "TLS" if settings.tls_cert_file else "plaintext"
    log.info("smtp-connector listening on %s:%d (%s)", host, service.port, tls)
    if console is not None:
        log.info("web console on %s (mailbox, templates, test send)", console.url)
    if on_started is not None:
        on_started(service.port)
    while True:
        try:
            signum = signals.get(timeout=1.0)
        except queue.Empty:
            continue
        if signum == signal.SIGHUP:
            log.info("received SIGHUP: reloading the config and the bearer tokens")
            reloader.reload()
            service.reload_tokens(settings)
            continue
        log.info(
            "received %s: draining for up to %.1f s",
            signum.name,
            settings.grace_period,
        )
        break
    if console is not None:
        console.stop()
    service.drain(settings.grace_period)
    if metrics_server is not None:
        metrics_server.shutdown()
    if mailbox is not None:
        mailbox.stop()
    cut_off = service.admission.in_flight
    log.info("smtp-connector stopped")
    if cut_off:
        # Their threads are still inside smtplib and would hold the exit until their socket
        # timeouts: the grace period is the promise, so leave now.
        log.warning("%d sends were cut off by the grace period: their delivery is unknown", cut_off)
        logging.shutdown()
        os._exit(0)
