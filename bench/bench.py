"""The benchmark: the service's SendMessage next to its baselines, in one run, on this machine.

Starts Postfix's smtp-sink on a free loopback port, then measures in turn
  - the baselines: Postfix smtp-source (20 sessions, reused connections), nodemailer with a
    pool of 5 and without a pool (16 in flight, as Logto's connector sends), and the bare
    Python gRPC relay (prebuilt message, reused connection, 4 threads);
  - the service (smtp-connector serve) driven by a grpc.aio load generator at 1, 32 and 128
    RPCs in flight with a realistic template (a code, a Chinese subject, text/html);
and prints messages/s, p50/p99/p999 latency, CPU microseconds per message (server, load
generator, sink, whole box), peak RSS and the ratios to each baseline, then writes the report
to bench/results/<date>-<host>[-quick].md. `make bench` installs what it needs first.

Modes: --quick (under a minute), --memory (100,000 sends: RSS after them against RSS after
warm-up), --profile (py-spy samples the server at 32 in flight; its hottest frames are
printed). Nothing is left running: every process started here is stopped on the way out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
SMTP_SINK, SMTP_SOURCE = "/usr/sbin/smtp-sink", "/usr/sbin/smtp-source"
MEMORY_SENDS, MEMORY_LIMIT_MB = 100_000, 20.0
RELAY = "bare relay, prebuilt, 4 threads"

# The realistic template: a verification code, a Chinese subject, an HTML body of ~1 KiB.
TEMPLATE = {
    "usageType": "Bench",
    "contentType": "text/html",
    "subject": "您的验证码是 {{code}}",
    "content": (
        '<!DOCTYPE html><html><body style="font-family: sans-serif">'
        "<p>您好,</p><p>Your verification code for {{application.name}} is "
        '<b style="font-size: 20px">{{code}}</b>.</p>'
        "<p>您的验证码是 <b>{{code}}</b>, 10 分钟内有效。</p>"
        + "<p>This code expires in 10 minutes. If you did not ask for it, you can ignore "
        "this email; someone may have typed your address by mistake.</p>"
        * 5
        + "<p>— The {{application.name}} team</p></body></html>"
    ),
}
PAYLOAD = {"code": "123456", "application": {"name": "Logto"}}


@dataclass
class Plan:
    """How long each measurement runs and what is measured."""

    seconds: float
    concurrencies: tuple[int, ...] = (1, 32, 128)
    processes: tuple[int, ...] = (1,)
    workers: tuple[int, ...] = (0,)  # 0: the service's default
    smtp_source: int = 0
    warmup: int = 300
    repeats: int = 1
    quick: bool = False
    # The RTT matrix (remote.py): calls in flight, untimed seconds before each row, the
    # sequential sends of the warm-latency figure, the idle spells.
    remote_flights: tuple[int, ...] = (32, 128)
    compare_flights: tuple[int, ...] = (32,)
    remote_warmup: float = 2.0
    warm_sends: int = 30
    idle: IdlePlan = field(default_factory=lambda: IdlePlan())


@dataclass
class IdlePlan:
    """The idle test, on a compressed clock: the sink closes a connection idle for
    ``server_idle`` seconds and any connection ``server_lifetime`` seconds after it opened; the
    warm connection NOOPs every ``noop_interval``; each sample is the first send after
    ``idle`` seconds without traffic (several server lifetimes: every connection the service
    had before is gone)."""

    server_idle: float = 3.0
    server_lifetime: float = 5.0
    noop_interval: float = 1.0
    idle: float = 12.0
    samples: int = 3


@dataclass
class Row:
    """One measured configuration."""

    name: str
    rate: float
    secs: float
    msgs: int
    cpu_us: dict[str, float] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = -1.0  # unknown
    errors: int = 0
    note: str = ""


# -- processes and /proc ---------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[Any], seconds: float = 20) -> None:
    """Return once 127.0.0.1:port accepts connections; fail if the process died first."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds}s")


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds of these processes (those still alive)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def box_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine since boot (all cores, without idle/iowait)."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / CLK_TCK


def memory_mb(pids: Sequence[int], key: str) -> float:
    """The sum of a /proc/PID/status figure (VmRSS, VmHWM) over these processes, in MB."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
    return total / 1024


def stop(process: subprocess.Popen[Any], seconds: float = 15) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``seconds``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def started(
    args: Sequence[str], port: int, log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[Any]]:
    """A background process, stopped on the way out; ready once it listens on ``port``."""
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 (our own commands)
            list(args), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT
        )
    try:
        wait_listening(port, process)
        yield process
    finally:
        stop(process)


@dataclass
class Measured:
    """A finished load command with the CPU it and the watched processes used."""

    output: str
    wall: float
    client: float
    watched: dict[str, float]
    box: float


def measure(command: Sequence[str], watched: dict[str, list[int]]) -> Measured:
    """Run a load command to its end, billing CPU to it, to each watched process group and
    to the whole box."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    watched_before = {name: cpu_seconds(pids) for name, pids in watched.items()}
    box_before, t0 = box_cpu_seconds(), time.perf_counter()
    done = subprocess.run(  # noqa: S603 (our own commands)
        list(command), capture_output=True, text=True, cwd=ROOT, check=False
    )
    wall = time.perf_counter() - t0
    box = box_cpu_seconds() - box_before
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    client = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    spent = {name: cpu_seconds(pids) - watched_before[name] for name, pids in watched.items()}
    return Measured(done.stdout, wall, client, spent, box)


def rate_of(output: str) -> tuple[int, float]:
    """The 'msgs=N secs=S' a load command printed last."""
    found = re.findall(r"msgs=(\d+)\s+secs=([0-9.]+)", output)
    if not found:
        raise RuntimeError(f"no msgs=N secs=S in: {output!r}")
    return int(found[-1][0]), float(found[-1][1])


def cpu_per_message(measured: Measured, msgs: int, warmup: int = 0) -> dict[str, float]:
    """CPU microseconds per message of the client, each watched group and the box; the
    watched processes and the box also served the ``warmup`` messages the client did not
    count (its own figure covers only the counted ones)."""
    per = {name: seconds / max(msgs + warmup, 1) for name, seconds in measured.watched.items()}
    per = {"client": measured.client / max(msgs, 1), **per}
    per["box"] = measured.box / max(msgs + warmup, 1)
    return {name: seconds * 1e6 for name, seconds in per.items()}


# -- the baselines ---------------------------------------------------------------------------


class Bench:
    """One benchmark run: the sink, the baselines, the service configurations."""

    def __init__(self, args: argparse.Namespace, plan: Plan, work: Path) -> None:
        self.args = args
        self.plan = plan
        self.work = work
        self.rows: list[Row] = []
        self.sink_port = free_port()
        self.sink_pids: list[int] = []
        self.notes: list[str] = []
        self.latency: dict[tuple[float, str], float] = {}
        self.extra_ratios: list[str] = []

    def say(self, text: str) -> None:
        print(text, flush=True)

    def median(self, run: Callable[[], Row]) -> Row:
        """Run a measurement ``plan.repeats`` times and add the run of median rate (other
        work on the machine moves single runs a lot)."""
        runs = sorted((run() for _ in range(self.plan.repeats)), key=lambda row: row.rate)
        row = runs[len(runs) // 2]
        if len(runs) > 1:
            row.note = f"median of {len(runs)}: {runs[0].rate:.0f}-{runs[-1].rate:.0f}"
        return self.add(row)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        lat = row.latency_ms
        latency = (
            f" p50 {lat['p50']:.2f} p99 {lat['p99']:.2f} p999 {lat['p999']:.2f} ms" if lat else ""
        )
        cpu = " ".join(f"{k} {v:.0f}" for k, v in row.cpu_us.items())
        self.say(
            f"  {row.name:<44} {row.rate:8.0f} msg/s{latency} | cpu us/msg {cpu}"
            + (f" | peak RSS {row.peak_rss_mb:.0f} MB" if row.peak_rss_mb >= 0 else "")
            + (f" | {row.errors} errors" if row.errors else "")
            + (f" | {row.note}" if row.note else "")
        )
        return row

    @contextlib.contextmanager
    def sink(self) -> Iterator[None]:
        """Postfix's smtp-sink on 127.0.0.1 (as nobody when we are root)."""
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        command = [SMTP_SINK, *user, "-m", "2048", f"127.0.0.1:{self.sink_port}", "1024"]
        with started(command, self.sink_port, self.work / "sink.log") as process:
            self.sink_pids = [process.pid]
            yield

    def smtp_source(self) -> Row:
        count = self.plan.smtp_source
        command = [SMTP_SOURCE, "-d", "-s", "20", "-m", str(count), "-l", "1024"]
        command += ["-f", "bench@x.test", "-t", "sink@y.test", f"127.0.0.1:{self.sink_port}"]
        measured = measure(command, {"sink": self.sink_pids})
        return Row(
            "smtp-source, 20 sessions, reused conns",
            count / measured.wall,
            measured.wall,
            count,
            cpu_per_message(measured, count),
        )

    def nodemailer(self, name: str, options: Sequence[str]) -> Row:
        template = self.work / "template.json"
        template.write_text(json.dumps({**TEMPLATE, "payload": PAYLOAD}), encoding="utf-8")
        command = ["node", str(HERE / "nodemailer_rate.js"), "--duration", str(self.plan.seconds)]
        command += ["--port", str(self.sink_port), "--template", str(template), *options]
        measured = measure(command, {"sink": self.sink_pids})
        msgs, secs = rate_of(measured.output)
        return Row(name, msgs / secs, secs, msgs, cpu_per_message(measured, msgs))

    def relay(self) -> None:
        message = self.work / "message.eml"
        message.write_bytes(sample_message())
        port = free_port()
        serve = [PYTHON, str(HERE / "relay.py"), "--port", str(port)]
        serve += ["--smtp-port", str(self.sink_port), "--message", str(message), "--workers", "4"]
        with started(serve, port, self.work / "relay.log") as relay:
            for concurrency in (32, 1):  # x1: the latency floor of a Python gRPC relay
                name = f"{RELAY}, x{concurrency}"
                self.median(partial(self.load_row, name, port, concurrency, relay, ["--relay"]))

    def load_row(
        self,
        name: str,
        port: int,
        concurrency: int,
        server: subprocess.Popen[Any],
        extra: Sequence[str] = (),
        channels: int = 1,
    ) -> Row:
        """Drive a server with the load generator once."""
        command = [PYTHON, str(HERE / "loadgen.py"), "--target", f"127.0.0.1:{port}"]
        command += ["--concurrency", str(concurrency), "--duration", str(self.plan.seconds)]
        warmup = min(self.plan.warmup, 50 * concurrency)
        command += ["--warmup", str(warmup)]
        command += ["--channels", str(channels), *extra]
        pids = process_tree(server.pid)
        measured = measure(command, {"server": pids, "sink": self.sink_pids})
        summary = json.loads(measured.output.strip().splitlines()[-1])
        msgs = summary["msgs"]
        # The generator's own CPU on the timed calls, not its start-up and warm-up; the server
        # and the sink are billed for the whole command (their warm-up share is small).
        measured.client = summary["cpu_secs"]
        row = Row(
            name,
            summary["rate"],
            summary["secs"],
            msgs,
            cpu_per_message(measured, msgs, warmup),
            {k: summary[f"{k}_ms"] for k in ("p50", "p99", "p999")},
            memory_mb(pids, "VmHWM"),
            summary["errors"],
        )
        if summary["errors"]:
            first = summary["first_error"]
            self.notes.append(f"{name}: {summary['errors']} errors, first: {first}")
        return row

    # -- the service -------------------------------------------------------------------------

    def config_file(self) -> Path:
        path = self.work / "config.json"
        config = {
            "host": "127.0.0.1",
            "port": self.sink_port,
            "username": "",
            "password": "",
            "fromEmail": "Logto <noreply@example.com>",
            "ignoreTLS": True,
            "templates": [TEMPLATE],
        }
        path.write_text(json.dumps(config), encoding="utf-8")
        return path

    @contextlib.contextmanager
    def service(self, workers: int | None, processes: int) -> Iterator[tuple[int, Any]]:
        port = free_port()
        command = [PYTHON, "-m", "smtp_connector.client.cli", "serve"]
        command += ["--config", str(self.config_file()), "--address", f"127.0.0.1:{port}"]
        if workers:
            command += ["--workers", str(workers)]
        # The default admission limit (64 x workers) takes 32 and 128 in flight: no override.
        env = dict(os.environ)
        if processes > 1:
            env["SMTP_CONNECTOR_PROCESSES"] = str(processes)
        log = self.work / f"service-w{workers}-p{processes}.log"
        with started(command, port, log, env) as process:
            time.sleep(0.3 if processes > 1 else 0)  # every process bound, not just the first
            yield port, process

    def service_rows(self, workers: int | None, processes: int) -> list[Row]:
        label = f"service w{workers or 'default'}" + (f" p{processes}" if processes > 1 else "")
        channels = 4 * processes if processes > 1 else 1
        rows = []
        with self.service(workers, processes) as (port, process):
            for concurrency in self.plan.concurrencies:
                name = f"{label}, x{concurrency}"
                rows.append(
                    self.median(
                        partial(self.load_row, name, port, concurrency, process, channels=channels)
                    )
                )
        return rows

    def memory(self) -> None:
        """100,000 sends (--memory-sends) at 32 in flight; RSS after them against RSS after
        5,000 warm-up sends."""
        with self.service(None, 1) as (port, process):
            pids = process_tree(process.pid)
            load = [PYTHON, str(HERE / "loadgen.py"), "--target", f"127.0.0.1:{port}"]
            subprocess.run([*load, "--count", "5000"], check=True, capture_output=True)  # noqa: S603
            warm = memory_mb(pids, "VmRSS")
            self.say(f"  memory: RSS after 5,000 warm-up sends {warm:.1f} MB")
            sends = self.args.memory_sends
            measured = measure([*load, "--count", str(sends)], {"server": pids})
            after = memory_mb(pids, "VmRSS")
            summary = json.loads(measured.output.strip().splitlines()[-1])
            grown = after - warm
            verdict = "PASS" if grown <= MEMORY_LIMIT_MB else "FAIL"
            line = (
                f"memory: {summary['msgs']} sends ({summary['errors']} errors) at "
                f"{summary['rate']:.0f} msg/s: RSS {warm:.1f} -> {after:.1f} MB "
                f"({grown:+.1f} MB; limit +{MEMORY_LIMIT_MB:.0f} MB) {verdict}"
            )
            self.say("  " + line)
            self.notes.append(line)

    def profile(self) -> None:
        """py-spy samples the service while it serves 32 in flight."""
        py_spy = shutil.which("py-spy", path=str(Path(PYTHON).parent)) or shutil.which("py-spy")
        if py_spy is None:
            self.notes.append("profile: py-spy not installed (bench/requirements.txt)")
            return
        raw = self.work / "profile.txt"
        with self.service(None, 1) as (port, process):
            seconds = str(int(self.plan.seconds) + 2)
            spy = subprocess.Popen(  # noqa: S603
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(process.pid),
                    "--format",
                    "raw",
                    "--gil",
                    "--function",
                    "--output",
                    str(raw),
                    "--duration",
                    seconds,
                    "--rate",
                    "250",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1)
            self.add(self.load_row("service (profiled), x32", port, 32, process))
            spy.wait(60)
        if raw.exists():
            title = "profile (py-spy --gil: where the GIL is held, by function, top 20):\n"
            self.notes.append(title + hottest(raw, 20))
            self.profile_file = raw


def hottest(raw: Path, top: int) -> str:
    """The frames with the most self samples in a py-spy raw (collapsed stacks) file, then
    the service's own functions (server/) by inclusive samples."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        own[frames[-1]] = own.get(frames[-1], 0) + int(count)
        for frame in {frame for frame in frames if "server/" in frame}:
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
        total += int(count)
    lines = [f"{total} samples; self:"]
    for frame, n in sorted(own.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"  {n / total * 100:5.1f}%  {frame}")
    lines.append("inclusive, the service's own functions:")
    for frame, n in sorted(inclusive.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"  {n / total * 100:5.1f}%  {frame}")
    return "\n".join(lines)


def sample_message() -> bytes:
    """One message as the service writes it for the benchmark's template."""
    from smtp_connector.server.domain.mailer import SendRequest, load_config, prepare_message

    config = {"host": "127.0.0.1", "port": 25, "fromEmail": "Logto <noreply@example.com>"}
    loaded = load_config(json.dumps({**config, "templates": [TEMPLATE]}))
    request = SendRequest("user@example.org", "Bench", PAYLOAD)
    return prepare_message(loaded, request).data


# -- the report ------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    node = subprocess.run(["node", "-v"], capture_output=True, text=True, check=False)  # noqa: S607
    import grpc

    return {
        "host": platform.node(),
        "cpu": f"{os.cpu_count()} x {model}",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "node": node.stdout.strip(),
        "memory": f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.1f} GiB",
        "load average at the start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def ratios(rows: list[Row]) -> list[str]:
    """The service at 32 in flight against each baseline, and the targets."""
    by_name = {row.name: row for row in rows}

    def floor(load: str, quantile: str) -> str:
        """The bare relay's latency at the same load, for scale."""
        relay = by_name.get(f"{RELAY}, {load}")
        return f" (bare relay {relay.latency_ms[quantile]:.2f} ms)" if relay else ""

    baselines = [
        ("nodemailer, no pool, 16 in flight", 1.5),
        ("nodemailer, no pool, 16 in flight, TCP_NODELAY", 1.5),
        (f"{RELAY}, x32", 1.0),
        ("nodemailer, pool of 5", 0.9),
        ("nodemailer, pool of 5, TCP_NODELAY", 0.9),
        ("smtp-source, 20 sessions, reused conns", None),
    ]
    lines = []
    for row in rows:
        if not row.name.startswith("service") or not row.name.endswith(", x32"):
            continue
        parts = []
        for name, target in baselines:
            base = by_name.get(name)
            if base is None:
                continue
            ratio = row.rate / base.rate
            verdict = "" if target is None else (" ok" if ratio >= target else f" <{target}")
            parts.append(f"{ratio:.2f}x {name}{verdict}")
        p99 = row.latency_ms.get("p99", float("nan"))
        parts.append(f"p99 {p99:.1f} ms{' ok' if p99 <= 25 else ' >25'}" + floor("x32", "p99"))
        one = by_name.get(row.name.replace(", x32", ", x1"))
        if one is not None:
            p50 = one.latency_ms["p50"]
            parts.append(
                f"x1 p50 {p50:.2f} ms{' ok' if p50 <= 1.0 else ' >1'}" + floor("x1", "p50")
            )
        lines.append(f"{row.name}: " + "; ".join(parts))
    return lines


def report(bench: Bench, info: dict[str, str], command: str, started_at: datetime) -> str:
    lines = [
        f"# smtp-connector benchmark, {started_at:%Y-%m-%d %H:%M} UTC",
        "",
        f"command: `{command}`",
        "",
        *[f"- {key}: {value}" for key, value in info.items()],
        "",
        "| configuration | msg/s | p50 ms | p99 ms | p999 ms | server us/msg | client us/msg "
        "| sink us/msg | box us/msg | peak RSS MB | errors | runs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in bench.rows:
        lat, cpu = row.latency_ms, row.cpu_us

        def fmt(value: float | None, digits: int = 0) -> str:
            return "" if value is None or value != value or value < 0 else f"{value:.{digits}f}"

        lines.append(
            f"| {row.name} | {row.rate:.0f} | {fmt(lat.get('p50'), 2)} | {fmt(lat.get('p99'), 2)}"
            f" | {fmt(lat.get('p999'), 2)} | {fmt(cpu.get('server'))} | {fmt(cpu.get('client'))}"
            f" | {fmt(cpu.get('sink'))} | {fmt(cpu.get('box'))} | {fmt(row.peak_rss_mb)}"
            f" | {row.errors} | {row.note} |"
        )
    lines += ["", "## Ratios and targets", ""]
    lines += [f"- {line}" for line in ratios(bench.rows) + bench.extra_ratios]
    if bench.notes:
        lines += ["", "## Notes", ""]
        for note in bench.notes:
            lines += ["```", note, "```"] if "\n" in note else [f"- {note}"]
    return "\n".join(lines) + "\n"


# -- main ------------------------------------------------------------------------------------


def make_plan(args: argparse.Namespace) -> Plan:
    common: dict[str, Any] = {
        "processes": tuple(args.processes),
        "workers": tuple(args.workers),
        "quick": args.quick,
    }
    if args.quick:
        return Plan(
            seconds=2.5,
            smtp_source=40000,
            warmup=200,
            remote_flights=(32,),
            remote_warmup=1.0,
            warm_sends=15,
            idle=IdlePlan(
                server_idle=1.5, server_lifetime=2.5, noop_interval=0.5, idle=4.0, samples=1
            ),
            **common,
        )
    return Plan(seconds=6.0, repeats=3, smtp_source=200000, warmup=1000, **common)


def loopback_run(bench: Bench, args: argparse.Namespace) -> None:
    """The loopback run (--loopback): smtp-source, nodemailer, the bare relay, the service at
    1, 32 and 128 in flight with each process and worker count."""
    plan = bench.plan
    with bench.sink():
        if not args.no_baselines:
            bench.say("baselines:")
            bench.median(bench.smtp_source)
            for nodelay in ([], ["--nodelay"]):
                suffix = ", TCP_NODELAY" if nodelay else ""
                pool = ["--pool", *nodelay]
                bench.median(partial(bench.nodemailer, f"nodemailer, pool of 5{suffix}", pool))
                options = ["--concurrency", "16", *nodelay]
                name = f"nodemailer, no pool, 16 in flight{suffix}"
                bench.median(partial(bench.nodemailer, name, options))
            bench.relay()
        bench.say("service:")
        for processes in plan.processes:
            for workers in plan.workers:
                bench.service_rows(workers or None, processes)
        if args.profile:
            bench.say("profile:")
            bench.profile()
        if args.memory:
            bench.say("memory:")
            bench.memory()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short runs: about a minute")
    parser.add_argument(
        "--rtt",
        type=float,
        nargs="*",
        default=None,
        help="round-trip times in ms to the sink, through the delay line (delayline.py) "
        "[0 20 50; --quick: 0 50]",
    )
    parser.add_argument(
        "--compare",
        nargs="*",
        default=[],
        metavar="REF",
        help="also measure the service of these git refs (defaults, x32) at each RTT",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL:SETTING=VALUE,...",
        help="also measure the service with these settings (e.g. 'w8:workers=8'), x32",
    )
    parser.add_argument(
        "--loopback",
        action="store_true",
        help="the loopback run with every baseline (smtp-source, the bare relay, processes)",
    )
    parser.add_argument("--memory", action="store_true", help="also the 100,000-send RSS check")
    parser.add_argument(
        "--memory-sends", type=int, default=MEMORY_SENDS, help="sends the memory check makes"
    )
    parser.add_argument("--profile", action="store_true", help="also py-spy the server at x32")
    parser.add_argument(
        "--processes",
        type=int,
        nargs="+",
        default=[1, 2],
        help="server process counts to measure in the loopback run [1 2]",
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[0],
        help="worker thread counts to measure in the loopback run (0 = the default) [0]",
    )
    parser.add_argument("--no-baselines", action="store_true", help="measure the service only")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="report folder")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    args = parser.parse_args(argv)
    plan = make_plan(args)
    loopback = args.loopback or args.memory or args.profile
    rtts = args.rtt
    if rtts is None:
        rtts = [] if loopback else [0, 50] if args.quick else [0, 20, 50]
    if args.dry_run:
        print(json.dumps({**plan.__dict__, "idle": plan.idle.__dict__, "rtt": rtts}, indent=2))
        return 0
    for tool in (SMTP_SINK, SMTP_SOURCE):
        if not Path(tool).exists():
            sys.exit(f"{tool} is missing: run `make bench` (it installs Postfix's tools)")
    started_at = datetime.now(UTC)
    command = "make bench BENCH_ARGS='" + " ".join(sys.argv[1:] if argv is None else argv) + "'"
    info = machine()
    print(f"# {started_at:%Y-%m-%dT%H:%M}Z {info['host']}: {info['cpu']}", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)  # cleaned up as on Ctrl-C
    with tempfile.TemporaryDirectory(prefix="smtp-connector-bench-") as tmp:
        bench = Bench(args, plan, Path(tmp))
        if loopback:
            loopback_run(bench, args)
        if rtts:
            from remote import RemoteBench, remote_ratios

            remote = RemoteBench(bench, rtts, args.compare, args.variant)
            remote.run()
            bench.extra_ratios = remote_ratios(bench.rows, bench.latency, rtts, args.compare)
        info["load average at the end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        text = report(bench, info, command, started_at)
        args.out.mkdir(parents=True, exist_ok=True)
        name = f"{started_at:%Y-%m-%d-%H%M}-{info['host']}{'-quick' if args.quick else ''}"
        path = args.out / f"{name}.md"
        path.write_text(text, encoding="utf-8")
        profile = getattr(bench, "profile_file", None)
        if profile is not None:
            shutil.copy(profile, args.out / f"{name}-profile.txt")
    print()
    print("\n".join(ratios(bench.rows) + bench.extra_ratios))
    for note in bench.notes:
        print(note)
    print(f"report: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    daemons = subprocess.run(["pgrep", "-x", "master"], capture_output=True, check=False)  # noqa: S607
    if daemons.returncode == 0:
        print("warning: a Postfix master daemon is running (not started by this benchmark)")
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
