"""The benchmark towards a distant provider: every row through the delay line at each RTT.

For each round-trip time (``--rtt``, default 0, 20 and 50 ms) the service (its defaults, and
optionally the service of another git ref, ``--compare``), nodemailer without a pool (how
Logto's connector sends) and nodemailer pooled (5 and 16 connections) send to Postfix's
smtp-sink across the delay line (delayline.py: two namespaces, TUN devices, RTT/2 each way),
at 32 and 128 in flight. Each service row also gives the SMTP connections the service chose
(its metrics) and the physical limit of that many connections, ``connections / (round trips
per message x RTT)``, with the service's share of it. A TLS + AUTH sink (tls_sink.py, a
trustme certificate) then gives the first-message and warm-message latency, and the first
send after an idle spell with and without the warm connection.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import tarfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from delayline import SERVER_IP, DelayLine, DelayProxy, available, in_namespace

from bench import (
    HERE,
    PYTHON,
    ROOT,
    SMTP_SINK,
    TEMPLATE,
    Bench,
    Row,
    cpu_per_message,
    free_port,
    measure,
    memory_mb,
    process_tree,
    rate_of,
    stop,
)

# Round trips a pooled message costs the service towards a server offering PIPELINING
# (MAIL+RCPT+DATA, then the message and its end of data).
SERVICE_ROUND_TRIPS = 2
SINK_PORT, TLS_PORT = 2525, 2587  # inside the bench's own server namespace
USER = "bench@sink.bench.test"
SINK_SECRET = "bench-only-secret"  # noqa: S105 (the throwaway sink's own)


@dataclass
class Net:
    """Where the sinks listen and how commands reach them: the delay line or the proxy."""

    rtt_ms: float
    kind: str
    line: DelayLine | None
    work: Path
    stack: contextlib.ExitStack

    def client(self, command: Sequence[str]) -> list[str]:
        return self.line.client_command(command) if self.line else list(command)

    def server(self, command: Sequence[str]) -> list[str]:
        return self.line.server_command(command) if self.line else list(command)

    @property
    def listen_host(self) -> str:
        return SERVER_IP if self.line else "127.0.0.1"

    def listen_port(self, inside: int) -> int:
        return inside if self.line else free_port()

    def expose(self, port: int) -> tuple[str, int]:
        """The address clients use for a sink listening on ``port``."""
        if self.line:
            return SERVER_IP, port
        if self.kind == "loopback":
            return "127.0.0.1", port
        front = free_port()
        self.stack.enter_context(
            DelayProxy(self.rtt_ms, ("127.0.0.1", port), front, self.work / "proxy.log")
        )
        return "127.0.0.1", front

    def reachable(self, host: str, port: int) -> bool:
        def attempt() -> bool:
            import socket

            try:
                socket.create_connection((host, port), 0.5).close()
            except OSError:
                return False
            return True

        return in_namespace(self.line.client, attempt) if self.line else attempt()

    def fetch(self, url: str) -> str:
        def get() -> str:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (ours)
                return str(response.read().decode())

        return in_namespace(self.line.client, get) if self.line else get()


@contextlib.contextmanager
def network(rtt_ms: float, work: Path) -> Iterator[Net]:
    """The delay line when this machine can run it, else the delaying proxy; at RTT 0 plain
    loopback (a relay next door: the forwarder's own CPU and queueing would only add to it)."""
    with contextlib.ExitStack() as stack:
        if rtt_ms == 0:
            yield Net(rtt_ms, "loopback", None, work, stack)
            return
        why = available()
        line = None if why else stack.enter_context(DelayLine(rtt_ms, work / "delayline.log"))
        yield Net(rtt_ms, "tun" if line else "proxy", line, work, stack)


@contextlib.contextmanager
def background(
    command: Sequence[str], log: Path, ready: Callable[[], bool], env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[Any]]:
    """A process stopped on the way out; returns once ``ready()`` holds."""
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 (our own commands)
            list(command), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env
        )
    try:
        until = time.monotonic() + 20
        while not ready():
            if process.poll() is not None:
                raise RuntimeError(f"{command!r} exited with {process.returncode} (see {log})")
            if time.monotonic() > until:
                raise RuntimeError(f"{command!r} not ready after 20 s (see {log})")
            time.sleep(0.05)
        yield process
    finally:
        stop(process)


def ref_tree(ref: str, work: Path) -> Path:
    """The service's code at git ``ref``, laid out as an importable ``smtp_connector`` for
    PYTHONPATH (the same virtual environment's libraries serve it)."""
    tree = work / f"ref-{re.sub(r'[^A-Za-z0-9]', '_', ref)}"
    if tree.exists():
        return tree / "pkg"
    archive = subprocess.run(  # noqa: S603 (a ref the user named)
        ["git", "archive", "--format=tar", ref, "server", "client", "gen"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree / "src", filter="data")
    package = tree / "pkg" / "smtp_connector"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""The service at a git ref, for the benchmark."""\n')
    parts = (("server", "server"), ("client", "client"), ("v1", "gen/smtp_connector/v1"))
    for name, source in parts:
        (package / name).symlink_to(tree / "src" / source)
    return tree / "pkg"


class Peak:
    """The most a reading gave, sampled every half second while the ``with`` block runs."""

    def __init__(self, read: Callable[[], float]) -> None:
        self.read = read
        self.value = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join(10)
        with contextlib.suppress(OSError, ValueError):
            self.value = max(self.value, self.read())

    def _sample(self) -> None:
        while not self._done.wait(0.5):
            with contextlib.suppress(OSError, ValueError):
                self.value = max(self.value, self.read())


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """``LABEL:NAME=VALUE,NAME=VALUE`` (settings without the SMTP_CONNECTOR_ prefix)."""
    label, _, assignments = text.partition(":")
    env = {}
    for item in filter(None, assignments.split(",")):
        name, _, value = item.partition("=")
        env[f"SMTP_CONNECTOR_{name.strip().upper()}"] = value.strip()
    return label, env


def metric(text: str, name: str) -> float:
    """The sum of a Prometheus metric's samples (over its labels)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            head, _, value = line.rpartition(" ")
            if head == name or head.startswith(name + "{"):
                total += float(value)
    return total


class RemoteBench:
    """The RTT matrix, added as rows to a ``Bench`` (its report and medians)."""

    def __init__(
        self,
        bench: Bench,
        rtts: Sequence[float],
        compare: Sequence[str],
        variants: Sequence[str] = (),
    ) -> None:
        self.bench = bench
        self.variants = [parse_variant(text) for text in variants]
        self.plan = bench.plan
        self.rtts = rtts
        self.compare = compare
        self.work = bench.work
        self.limits: list[str] = []

    def run(self) -> None:
        for rtt in self.rtts:
            with network(rtt, self.work) as net:
                self.bench.say(f"RTT {rtt:g} ms ({net.kind}):")
                self.matrix(net)
                if not self.plan.quick or rtt == max(self.rtts):
                    self.latency(net)

    # -- throughput -----------------------------------------------------------------------

    def matrix(self, net: Net) -> None:
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        port = net.listen_port(SINK_PORT)
        sink = [SMTP_SINK, *user, "-m", "2048", f"{net.listen_host}:{port}", "1024"]
        with background(
            net.server(sink), self.work / "sink.log", lambda: net.reachable(net.listen_host, port)
        ) as process:
            self.bench.sink_pids = [process.pid]
            host, port = net.expose(port)
            flights = self.plan.remote_flights
            self.service_rows(net, host, port, "defaults", None, flights)
            for ref in self.compare:
                self.service_rows(net, host, port, f"at {ref}", ref, self.plan.compare_flights)
            for label, env in self.variants:
                self.service_rows(net, host, port, label, None, self.plan.remote_flights, env)
            if not self.bench.args.no_baselines:
                self.nodemailer_rows(net, host, port, flights)

    def tag(self, net: Net) -> str:
        return f"RTT {net.rtt_ms:g} {net.kind}"

    def service_config(self, host: str, port: int, **extra: Any) -> Path:
        config = {
            "host": host,
            "port": port,
            "username": "",
            "password": "",
            "fromEmail": "Logto <noreply@example.com>",
            "ignoreTLS": True,
            "templates": [TEMPLATE],
            **extra,
        }
        path = self.work / f"config-{abs(hash(json.dumps(config, sort_keys=True)))}.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        return path

    @contextlib.contextmanager
    def service(
        self, net: Net, config: Path, ref: str | None, env_extra: dict[str, str] | None = None
    ) -> Iterator[tuple[int, int, subprocess.Popen[Any]]]:
        port, metrics = 50051, 9464  # inside the client namespace, which is ours alone
        if not net.line:
            port, metrics = free_port(), free_port()
        env = dict(os.environ)
        env["SMTP_CONNECTOR_METRICS_ADDRESS"] = f"127.0.0.1:{metrics}"
        env.update(env_extra or {})
        if ref is not None:
            env["PYTHONPATH"] = str(ref_tree(ref, self.work))
        command = [PYTHON, "-m", "smtp_connector.client.cli", "serve", "--config", str(config)]
        command += ["--address", f"127.0.0.1:{port}"]
        log = self.work / f"service-{ref or 'head'}.log"
        with background(
            net.client(command), log, lambda: net.reachable("127.0.0.1", port), env
        ) as process:
            yield port, metrics, process

    def service_rows(
        self,
        net: Net,
        host: str,
        port: int,
        label: str,
        ref: str | None,
        flights: Sequence[int],
        env: dict[str, str] | None = None,
    ) -> None:
        config = self.service_config(host, port)
        with self.service(net, config, ref, env) as (grpc_port, mport, proc):
            for flight in flights:
                name = f"service {label}, x{flight}, {self.tag(net)}"
                row = self.bench.median(
                    partial(self.load_row, net, name, grpc_port, mport, flight, proc)
                )
                self.physical_limit(net, row, flight)

    def load_row(
        self,
        net: Net,
        name: str,
        port: int,
        metrics_port: int,
        flight: int,
        server: subprocess.Popen[Any],
    ) -> Row:
        command = [PYTHON, str(HERE / "loadgen.py"), "--target", f"127.0.0.1:{port}"]
        command += ["--concurrency", str(flight), "--duration", str(self.plan.seconds)]
        command += ["--warmup-duration", str(self.plan.remote_warmup)]
        pids = process_tree(server.pid)
        watched = {"server": pids, "sink": self.bench.sink_pids}
        with Peak(lambda: self.connections(net, metrics_port)) as peak:
            measured = measure(net.client(command), watched)
        summary = json.loads(measured.output.strip().splitlines()[-1])
        measured.client = summary["cpu_secs"]
        msgs = summary["msgs"]
        opened = peak.value
        row = Row(
            name,
            summary["rate"],
            summary["secs"],
            msgs,
            cpu_per_message(measured, msgs),
            {k: summary[f"{k}_ms"] for k in ("p50", "p99", "p999")},
            memory_mb(pids, "VmHWM"),
            summary["errors"],
        )
        row.connections = opened  # type: ignore[attr-defined]
        if summary["errors"]:
            self.bench.notes.append(f"{name}: {summary['errors']} errors: {summary['first_error']}")
        return row

    def connections(self, net: Net, metrics_port: int) -> float:
        """The SMTP connections the service holds now (its /metrics)."""
        text = net.fetch(f"http://127.0.0.1:{metrics_port}/metrics")
        return metric(text, "smtp_connector_pool_destination_connections") or metric(
            text,
            "smtp_connector_pool_connections_open",  # before the per-destination gauges
        )

    def physical_limit(self, net: Net, row: Row, flight: int) -> None:
        """The connections the service chose, their physical limit, and its share."""
        connections = getattr(row, "connections", 0.0)
        text = f"{connections:.0f} connections"
        if net.rtt_ms > 0 and connections:
            used = min(connections, flight)
            limit = used / (SERVICE_ROUND_TRIPS * net.rtt_ms / 1000)
            text += (
                f"; limit {used:.0f} / ({SERVICE_ROUND_TRIPS} x {net.rtt_ms:g} ms) = "
                f"{limit:.0f} msg/s; {row.rate / limit:.0%} of it"
            )
            row.limit = limit  # type: ignore[attr-defined]
        row.note = "; ".join(x for x in (row.note, text) if x)
        self.bench.say(f"    {text}")

    def nodemailer_rows(self, net: Net, host: str, port: int, flights: Sequence[int]) -> None:
        template = self.work / "template.json"
        from bench import PAYLOAD

        template.write_text(json.dumps({**TEMPLATE, "payload": PAYLOAD}), encoding="utf-8")
        pooled = ["--pool", "--nodelay"]
        shapes: list[tuple[str, list[str], Sequence[int]]] = [
            ("nodemailer unpooled", [], flights),
            ("nodemailer unpooled, TCP_NODELAY", ["--nodelay"], flights[:1]),
            ("nodemailer pool 5, TCP_NODELAY", pooled, flights),
            ("nodemailer pool 16, TCP_NODELAY", [*pooled, "--max-connections", "16"], flights),
        ]
        if self.plan.quick:  # about a minute: Logto's way and nodemailer's own pool
            shapes = [shapes[0], shapes[2]]
        for label, options, counts in shapes:
            for flight in counts:
                name = f"{label}, x{flight}, {self.tag(net)}"
                command = ["node", str(HERE / "nodemailer_rate.js")]
                command += ["--duration", str(self.plan.seconds), "--host", host]
                command += ["--port", str(port), "--template", str(template)]
                command += [*options, "--concurrency", str(flight)]
                self.bench.median(partial(self.nodemailer_row, net, name, command))

    def nodemailer_row(self, net: Net, name: str, command: list[str]) -> Row:
        measured = measure(net.client(command), {"sink": self.bench.sink_pids})
        msgs, secs = rate_of(measured.output)
        return Row(name, msgs / secs, secs, msgs, cpu_per_message(measured, msgs))

    # -- latency over TLS + AUTH -----------------------------------------------------------

    def certificates(self) -> tuple[Path, Path, Path]:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("sink.bench.test", SERVER_IP, "127.0.0.1")
        paths = self.work / "ca.pem", self.work / "cert.pem", self.work / "key.pem"
        ca.cert_pem.write_to_path(str(paths[0]))
        cert.private_key_and_cert_chain_pem.write_to_path(str(paths[1]))
        cert.private_key_pem.write_to_path(str(paths[2]))
        return paths

    @contextlib.contextmanager
    def tls_sink(self, net: Net, limits: Sequence[str]) -> Iterator[Path]:
        """The TLS + AUTH sink with these idle limits, and a service config for it."""
        ca, cert, key = self.certificates()
        secret = self.work / "sink-password"
        secret.write_text(SINK_SECRET + "\n")
        port = net.listen_port(TLS_PORT)
        sink = [PYTHON, str(HERE / "tls_sink.py"), "--host", net.listen_host, "--port", str(port)]
        sink += ["--cert", str(cert), "--key", str(key), "--user", USER]
        sink += ["--password-file", str(secret), *limits]
        log = self.work / "tls-sink.log"
        with background(net.server(sink), log, lambda: net.reachable(net.listen_host, port)):
            host, port = net.expose(port)
            yield self.service_config(
                host,
                port,
                ignoreTLS=False,
                requireTLS=True,
                username=USER,
                password=SINK_SECRET,
                tls={"ca": ca.read_text(), "servername": "sink.bench.test"},
            )

    def latency(self, net: Net) -> None:
        with self.tls_sink(net, []) as config:
            self.first_and_warm(net, config)
        if net.rtt_ms > 0:
            idle = self.plan.idle
            limits = ["--idle-timeout", str(idle.server_idle)]
            limits += ["--max-session", str(idle.server_lifetime)]
            with self.tls_sink(net, limits) as config:
                self.after_idle(net, config, warm=False)
                self.after_idle(net, config, warm=True)

    def one_caller(self, net: Net, port: int, count: int, interval: float = 0.0) -> dict[str, Any]:
        command = [PYTHON, str(HERE / "loadgen.py"), "--target", f"127.0.0.1:{port}"]
        command += ["--concurrency", "1", "--count", str(count), "--interval", str(interval)]
        done = subprocess.run(net.client(command), capture_output=True, text=True, check=True)  # noqa: S603
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    def in_rtt(self, net: Net, ms: float) -> str:
        return f"{ms:.1f} ms" + (f" = {ms / net.rtt_ms:.2f} RTT" if net.rtt_ms else "")

    def first_and_warm(self, net: Net, config: Path) -> None:
        with self.service(net, config, None) as (port, _, _):
            first = self.one_caller(net, port, 1)
            warm = self.one_caller(net, port, self.plan.warm_sends)
        line = (
            f"TLS + AUTH sink, {self.tag(net)}: first message {self.in_rtt(net, first['p50_ms'])}"
            f"; warm messages ({warm['msgs']}, one caller) p50 {self.in_rtt(net, warm['p50_ms'])}"
            f" p99 {self.in_rtt(net, warm['p99_ms'])}"
        )
        self.bench.say("  " + line)
        self.bench.notes.append(line)
        self.bench.latency[(net.rtt_ms, "first")] = first["p50_ms"]
        self.bench.latency[(net.rtt_ms, "warm")] = warm["p50_ms"]

    def after_idle(self, net: Net, config: Path, *, warm: bool) -> None:
        """The first send after an idle spell longer than the server's session lifetime."""
        idle = self.plan.idle
        env = {"SMTP_CONNECTOR_POOL_KEEP_WARM": "true" if warm else "false"}
        env["SMTP_CONNECTOR_POOL_NOOP_INTERVAL"] = str(idle.noop_interval)
        with self.service(net, config, None, env) as (port, _, _):
            # One caller on one channel: a send, then each later one after the idle spell.
            result = self.one_caller(net, port, idle.samples + 1, interval=idle.idle)
        if result["errors"]:
            self.bench.notes.append(f"after idle: {result['first_error']}")
            self.bench.say(f"  after idle: error {result['first_error']}")
        samples = sorted(result["latencies_ms"][1:]) or [float("nan")]
        p50 = samples[len(samples) // 2]
        label = "warm connection on" if warm else "warm connection off"
        line = (
            f"first send after {idle.idle:g} s idle ({label}; the sink closes connections idle "
            f"for {idle.server_idle:g} s and any after {idle.server_lifetime:g} s; NOOP every "
            f"{idle.noop_interval:g} s), {self.tag(net)}: p50 of {len(samples)} "
            f"{self.in_rtt(net, p50)} (all: {', '.join(f'{s:.0f}' for s in samples)} ms)"
        )
        self.bench.say("  " + line)
        self.bench.notes.append(line)
        self.bench.latency[(net.rtt_ms, "idle-warm" if warm else "idle-cold")] = p50


_ROW = re.compile(r"^(?P<label>.+), x(?P<flight>\d+), RTT (?P<rtt>[0-9.]+) (?P<kind>\w+)$")


def remote_ratios(
    rows: Sequence[Row],
    latency: dict[tuple[float, str], float],
    rtts: Sequence[float],
    compare: Sequence[str],
) -> list[str]:
    """The issue's targets and ratios, from rows of this run only."""
    found: dict[tuple[str, int, float], Row] = {}
    kinds: dict[float, str] = {}
    for row in rows:
        match = _ROW.match(row.name)
        if match:
            rtt = float(match["rtt"])
            found[(match["label"], int(match["flight"]), rtt)] = row
            kinds[rtt] = match["kind"]
    lines = []
    for rtt in rtts:
        for flight in (32, 128):
            ours = found.get(("service defaults", flight, rtt))
            if ours is None:
                continue
            parts = []
            for label, target in (
                ("nodemailer unpooled", 2.0 if flight == 32 else 1.0),
                ("nodemailer unpooled, TCP_NODELAY", None),
                ("nodemailer pool 5, TCP_NODELAY", None),
                ("nodemailer pool 16, TCP_NODELAY", None),
                *((f"service at {ref}", 0.9 if rtt == 0 else None) for ref in compare),
            ):
                base = found.get((label, flight, rtt))
                if base is None or not base.rate:
                    continue
                ratio = ours.rate / base.rate
                goal = (
                    ""
                    if target is None or rtt not in (0, 50)
                    else (" ok" if ratio >= target else f" <{target}")
                )
                if rtt == 0 and label.startswith("nodemailer"):
                    goal = ""
                name = label
                parts.append(f"{ratio:.2f}x {name}{goal}")
            limit = getattr(ours, "limit", None)
            if limit:
                share = ours.rate / limit
                goal = (" ok" if share >= 0.9 else " <0.9") if flight == 32 else ""
                parts.append(f"{share:.0%} of the physical limit{goal}")
            lines.append(
                f"RTT {rtt:g} ms ({kinds[rtt]}), service defaults x{flight}: "
                f"{ours.rate:.0f} msg/s, p50 {ours.latency_ms.get('p50', 0):.1f} ms: "
                + "; ".join(parts)
            )
        first, warm = latency.get((rtt, "first")), latency.get((rtt, "warm"))
        if rtt and warm is not None and first is not None:
            ok = " ok" if warm <= 2.3 * rtt else " >2.3 RTT"
            lines.append(
                f"RTT {rtt:g} ms, TLS + AUTH: first message {first / rtt:.2f} RTT, warm p50 "
                f"{warm / rtt:.2f} RTT{ok if rtt == 50 else ''}"
            )
        for key, label in (("idle-cold", "off"), ("idle-warm", "on")):
            value = latency.get((rtt, key))
            if value is not None:
                ok = (" ok" if value <= 2.3 * rtt else " >2.3 RTT") if key == "idle-warm" else ""
                lines.append(
                    f"RTT {rtt:g} ms, first send after idle, warm connection {label}: "
                    f"{value / rtt:.2f} RTT{ok}"
                )
    return lines
