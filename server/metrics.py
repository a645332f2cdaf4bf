"""Prometheus metrics: RPCs, SMTP sends and replies, pool connections, template errors."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .errors import SmtpConnectorError, SmtpError
from .settings import split_address
from .transport.session import SmtpTransport

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from .deadline import Deadline
    from .transport.base import (
        ConnectionSettings,
        Envelope,
        SendReceipt,
        Transport,
        TransportFactory,
    )

# SMTP sends take from milliseconds (a local relay) to tens of seconds (a slow provider).
_SEND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40)
TEMPLATE_REASONS = frozenset({"TEMPLATE_RENDER_FAILED", "TEMPLATE_VARIABLE_MISSING"})


class PoolGauges:
    """SMTP connections open and in use, read when Prometheus scrapes: from each pooled
    transport's ``usage()``, plus one connection per send in flight on a transport without a
    pool."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._pools: weakref.WeakSet[Any] = weakref.WeakSet()
        self._unpooled = 0  # sends in flight on one-connection-per-message transports
        self._lock = threading.Lock()
        Gauge(
            "smtp_connector_pool_connections_open",
            "SMTP connections open now",
            registry=registry,
        ).set_function(lambda: self._usage()[0])
        Gauge(
            "smtp_connector_pool_connections_in_use",
            "SMTP connections carrying a message now",
            registry=registry,
        ).set_function(lambda: self._usage()[1])

        registry.register(_PoolCollector(self._pools))

    def watch(self, transport: object) -> None:
        """Count a transport's connections if it reports them (``usage()``)."""
        if callable(getattr(transport, "usage", None)):
            self._pools.add(transport)

    def unpooled_send(self, delta: int) -> None:
        """A send without a pool started (+1) or ended (-1): one connection, open and busy."""
        with self._lock:
            self._unpooled += delta

    def _usage(self) -> tuple[int, int]:
        open_, busy = self._unpooled, self._unpooled
        for pool in list(self._pools):
            pool_open, pool_busy = pool.usage()
            open_, busy = open_ + pool_open, busy + pool_busy
        return open_, busy


class _PoolCollector(Collector):
    """Per destination: the connections open, the limit the pool adapted to, the cap it
    learned from a refusal (0: none) and the round-trip time it measured."""

    def __init__(self, pools: weakref.WeakSet[Any]) -> None:
        self._pools = pools

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = {
            "established": GaugeMetricFamily(
                "smtp_connector_pool_destination_connections",
                "SMTP connections open now, per destination (user@host:port)",
                labels=["destination"],
            ),
            "limit": GaugeMetricFamily(
                "smtp_connector_pool_destination_limit",
                "SMTP connections the pool may hold now (adaptive, at most the cap)",
                labels=["destination"],
            ),
            "learned_cap": GaugeMetricFamily(
                "smtp_connector_pool_destination_learned_cap",
                "the connection cap learned from the provider's refusals (0: none)",
                labels=["destination"],
            ),
            "rtt": GaugeMetricFamily(
                "smtp_connector_pool_destination_rtt_seconds",
                "the round-trip time to the destination (the kernel's smoothed TCP figure)",
                labels=["destination"],
            ),
        }
        # Pools of configs that differ only in other settings share a destination: summed
        # connections, the largest of the rest.
        values: dict[str, dict[str, float]] = {}
        for pool in list(self._pools):
            stats = getattr(pool, "stats", None)
            if not callable(stats):
                continue
            current = stats()
            seen = values.setdefault(current.destination, dict.fromkeys(families, 0.0))
            for key in families:
                value = float(getattr(current, key))
                seen[key] = seen[key] + value if key == "established" else max(seen[key], value)
        for destination, seen in values.items():
            for key, family in families.items():
                family.add_metric([destination], seen[key])
        yield from families.values()


class Metrics:
    """Every metric of one server, in a registry of its own (so tests can run many servers)."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.rpcs = Counter(
            "smtp_connector_rpcs",
            "RPCs handled, by method and gRPC status code",
            ["method", "code"],
            registry=registry,
        )
        self.smtp_send_seconds = Histogram(
            "smtp_connector_smtp_send_seconds",
            "time to hand one message to the SMTP server, by outcome (sent or failed)",
            ["outcome"],
            buckets=_SEND_BUCKETS,
            registry=registry,
        )
        self.smtp_replies = Counter(
            "smtp_connector_smtp_replies",
            "final SMTP reply codes of sends ('none' when the server never answered)",
            ["code"],
            registry=registry,
        )
        self.template_errors = Counter(
            "smtp_connector_template_render_errors",
            "template render errors, by reason",
            ["reason"],
            registry=registry,
        )
        self.config_reloads = Counter(
            "smtp_connector_config_reloads",
            "config reloads (SIGHUP), by result (applied or rejected)",
            ["result"],
            registry=registry,
        )
        self.pool = PoolGauges(registry)
        # Methods are registered ones and codes a fixed set: both maps stay small.
        self._rpc_children: dict[tuple[str, str], Any] = {}
        self.send_children: dict[tuple[str, int], tuple[Any, Any]] = {}

    def send_metrics(self, outcome: str, code: int) -> tuple[Any, Any]:
        """The send-time histogram and reply counter children of an outcome and reply code."""
        children = self.send_children.get((outcome, code))
        if children is None:
            children = self.send_children[outcome, code] = (
                self.smtp_send_seconds.labels(outcome=outcome),
                self.smtp_replies.labels(code=str(code) if code else "none"),
            )
        return children

    def observe_rpc(self, method: str, code: str, reason: str) -> None:
        """Count one finished RPC; a template failure is also counted on its own."""
        # The labelled child is looked up once per (method, code): labels() takes a lock and
        # builds its key at every call.
        child = self._rpc_children.get((method, code))
        if child is None:
            child = self._rpc_children[method, code] = self.rpcs.labels(method=method, code=code)
        child.inc()
        if reason in TEMPLATE_REASONS:
            self.template_errors.labels(reason=reason).inc()

    def instrument(self, factory: TransportFactory) -> TransportFactory:
        """The same transport factory, with every send timed and its reply code counted."""

        def metered(settings: ConnectionSettings) -> Transport:
            inner = factory(settings)
            self.pool.watch(inner)
            return MeteredTransport(inner, self)

        return metered

    def serve(self, address: str) -> WSGIServer:
        """Start the /metrics HTTP endpoint in a thread; ``shutdown()`` stops it."""
        host, port = split_address(address)
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server


class MeteredTransport:
    """A transport that reports each send to the metrics and delegates the work."""

    def __init__(self, inner: Transport, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics
        # Without a pool, each send is exactly one connection, opened and used for its length.
        self._one_per_send = isinstance(inner, SmtpTransport)

    def send(self, envelope: Envelope, data: bytes, deadline: Deadline) -> SendReceipt:
        """Send through the wrapped transport, timing it."""
        pool, start = self._metrics.pool, time.perf_counter()
        if self._one_per_send:
            pool.unpooled_send(+1)
        try:
            receipt = self._inner.send(envelope, data, deadline)
        except SmtpConnectorError as exc:
            code = exc.smtp_code if isinstance(exc, SmtpError) else 0
            self._record(start, "failed", code)
            raise
        finally:
            if self._one_per_send:
                pool.unpooled_send(-1)
        self._record(start, "sent", receipt.code)
        return receipt

    def waits_long(self) -> bool:
        """Whether the wrapped transport waits long on the network (transport/slots.py)."""
        waits = getattr(self._inner, "waits_long", None)
        return callable(waits) and bool(waits())

    def _record(self, start: float, outcome: str, code: int) -> None:
        elapsed = time.perf_counter() - start
        seconds, replies = self._metrics.send_metrics(outcome, code)
        seconds.observe(elapsed)
        replies.inc()

    def close(self) -> None:
        self._inner.close()
