"""The delay line: real round-trip times between two network namespaces of the benchmark's own.

Two namespaces (client side and server side) each get a TUN device with one address of the
benchmarking range 198.18.0.0/15 (RFC 2544), which exists only inside them. A forwarder
process holds the two TUN file descriptors and writes every IP packet read from one into the
other RTT/2 after it arrived, in order, so the kernels' own TCP (handshake, Nagle, delayed
ACKs, windows) runs end to end over a path with that round-trip time. The kernel here has no
netem qdisc; TUN and namespaces are all this needs (root).

Where TUN or namespaces are missing, ``DelayProxy`` is the fallback: a TCP proxy on loopback
that delays every chunk it relays by RTT/2 each way. It hides TCP's own effects (the proxy's
sockets talk to their peers at loopback speed), so every figure says which of the two it came
from.

usage: delayline.py forward --rtt MS --client-ns NAME --server-ns NAME  (prints 'ready')
       delayline.py proxy --rtt MS --listen PORT --target HOST:PORT     (prints 'ready')
bench.py starts and stops these itself (``DelayLine``, ``DelayProxy``); the namespaces are
removed on the way out, on Ctrl-C and after a failure, and stale ones of a killed run are
removed by the next.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import fcntl
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

CLIENT_IP, SERVER_IP = "198.18.0.1", "198.18.0.2"
DEVICE = "dl0"
NETNS_DIR = Path("/var/run/netns")
_NAME = re.compile(r"^scbench(\d+)[cs]$")  # scbench<pid of the bench>c / ...s
_CLONE_NEWNET = 0x40000000
_TUNSETIFF = 0x400454CA
_IFF_TUN, _IFF_NO_PI = 0x0001, 0x1000
_PR_SET_PDEATHSIG = 1
_T = TypeVar("_T")

_libc = ctypes.CDLL(None, use_errno=True)


def setns(path: str | Path) -> None:
    """Move the calling thread into the network namespace at ``path`` (setns(2))."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def in_namespace(name: str, work: Callable[[], _T]) -> _T:
    """Run ``work`` on a thread of its own inside namespace ``name`` (setns moves only the
    calling thread, so the caller stays where it is); sockets it opens belong there."""
    result: list[_T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            setns(NETNS_DIR / name)
            result.append(work())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"netns {name}", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)  # noqa: S603,S607


def available() -> str:
    """Empty when the delay line can run here, else why not (no root, no /dev/net/tun, ...)."""
    if os.geteuid() != 0:
        return "not root (network namespaces need CAP_SYS_ADMIN)"
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR)
    except OSError as exc:
        return f"/dev/net/tun cannot be opened: {exc.strerror}"
    os.close(fd)
    if not Path("/usr/sbin/ip").exists() and not Path("/sbin/ip").exists():
        return "iproute2's ip is missing"
    return ""


def remove_stale() -> None:
    """Delete namespaces left by a benchmark that was killed (its pid no longer runs)."""
    if not NETNS_DIR.is_dir():
        return
    for entry in NETNS_DIR.iterdir():
        found = _NAME.match(entry.name)
        if found and not Path(f"/proc/{found.group(1)}").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                ip("netns", "delete", entry.name)


def start_helper(arguments: list[str], log: Path) -> subprocess.Popen[str]:
    """This script run with ``arguments`` (the forwarder or the proxy), once it said 'ready';
    its errors go to ``log``."""
    with log.open("ab") as errors:
        process = subprocess.Popen(  # noqa: S603 (our own script)
            [sys.executable, __file__, *arguments], stdout=subprocess.PIPE, stderr=errors, text=True
        )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        process.kill()
        process.wait()
        process.stdout.close()
        raise RuntimeError(f"{Path(__file__).name} {arguments[0]} did not start (see {log})")
    return process


class DelayLine:
    """Two namespaces joined by the forwarder; a context manager that removes them again.

    ``client`` runs the service, the load generators and nodemailer (loopback inside it is
    theirs alone); ``server`` runs the SMTP sinks at ``SERVER_IP``."""

    kind = "tun"

    def __init__(self, rtt_ms: float, log: Path) -> None:
        self.rtt_ms = rtt_ms
        self.log = log
        self.client = f"scbench{os.getpid()}c"
        self.server = f"scbench{os.getpid()}s"
        self.server_ip = SERVER_IP
        self._forwarder: subprocess.Popen[str] | None = None

    def __enter__(self) -> DelayLine:
        remove_stale()
        try:
            for name in (self.client, self.server):
                ip("netns", "add", name)
            self._forwarder = start_helper(
                [
                    *("forward", "--rtt", str(self.rtt_ms)),
                    *("--client-ns", self.client, "--server-ns", self.server),
                ],
                self.log,
            )
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._forwarder is not None:
            self._forwarder.terminate()
            try:
                self._forwarder.wait(5)
            except subprocess.TimeoutExpired:
                self._forwarder.kill()
                self._forwarder.wait()
            if self._forwarder.stdout is not None:
                self._forwarder.stdout.close()
        for name in (self.client, self.server):
            with contextlib.suppress(subprocess.CalledProcessError):
                ip("netns", "delete", name)

    def client_command(self, command: Sequence[str]) -> list[str]:
        """``command`` run inside the client namespace."""
        return ["ip", "netns", "exec", self.client, *command]

    def server_command(self, command: Sequence[str]) -> list[str]:
        """``command`` run inside the server namespace."""
        return ["ip", "netns", "exec", self.server, *command]

    def connect_from_client(self, host: str, port: int, timeout: float) -> socket.socket:
        """A TCP connection opened from inside the client namespace."""
        return in_namespace(self.client, lambda: socket.create_connection((host, port), timeout))


# -- the forwarder (runs as its own process) -----------------------------------------------


def open_tun(namespace: str) -> int:
    """The TUN device ``dl0`` created inside ``namespace``, as a non-blocking fd."""
    setns(NETNS_DIR / namespace)
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", DEVICE.encode(), _IFF_TUN | _IFF_NO_PI))
    return fd


def configure(namespace: str, local: str, peer: str) -> None:
    """Loopback up, and ``dl0`` up with a point-to-point address towards ``peer``."""
    ip("-n", namespace, "link", "set", "lo", "up")
    ip("-n", namespace, "addr", "add", local, "peer", peer, "dev", DEVICE)
    ip("-n", namespace, "link", "set", DEVICE, "up")


class Direction:
    """Packets read from one TUN device, each written to the other once its time is due."""

    def __init__(self, source: int, sink: int, delay: float) -> None:
        self.source, self.sink, self.delay = source, sink, delay
        self.queue: deque[tuple[float, bytes]] = deque()
        self.dropped = 0

    def read(self) -> None:
        """Every packet waiting on the source, stamped with its delivery time."""
        while True:
            try:
                packet = os.read(self.source, 65536)
            except BlockingIOError:
                return
            self.queue.append((time.monotonic() + self.delay, packet))

    def deliver(self, now: float) -> float | None:
        """Write the packets due by ``now`` (in arrival order); the next one's due time."""
        queue = self.queue
        while queue and queue[0][0] <= now:
            try:
                os.write(self.sink, queue.popleft()[1])
            except OSError:
                self.dropped += 1  # a full device queue drops, as a link would
        return queue[0][0] if queue else None


def forward(client_ns: str, server_ns: str, rtt_ms: float) -> None:
    """Create and configure both devices, say 'ready', then forward until SIGTERM."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)  # never outlive the benchmark
    with contextlib.suppress(OSError):
        os.nice(-20)  # the line's lateness would count against every sender: run first
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    client_fd, server_fd = open_tun(client_ns), open_tun(server_ns)
    if _libc.setns(home, _CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns back")
    configure(client_ns, CLIENT_IP, SERVER_IP)
    configure(server_ns, SERVER_IP, CLIENT_IP)
    delay = rtt_ms / 2000
    directions = {
        client_fd: Direction(client_fd, server_fd, delay),
        server_fd: Direction(server_fd, client_fd, delay),
    }
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    print("ready", flush=True)
    while not stopping.is_set():
        now = time.monotonic()
        due = [d for d in (x.deliver(now) for x in directions.values()) if d is not None]
        timeout = max(0.0, min(due) - time.monotonic()) if due else 0.5
        try:
            readable, _, _ = select.select(list(directions), [], [], timeout)  # us precision
        except InterruptedError:
            continue
        for fd in readable:
            directions[fd].read()
    dropped = sum(d.dropped for d in directions.values())
    if dropped:
        print(f"delay line: {dropped} packets dropped (device queue full)", file=sys.stderr)


# -- the fallback: a delaying TCP proxy on loopback -------------------------------------------


class DelayProxy:
    """A loopback TCP proxy in front of ``target`` delaying each direction by RTT/2; a
    context manager that stops it."""

    kind = "proxy"

    def __init__(self, rtt_ms: float, target: tuple[str, int], port: int, log: Path) -> None:
        self.rtt_ms, self.target, self.port, self.log = rtt_ms, target, port, log
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> DelayProxy:
        host, port = self.target
        self._process = start_helper(
            [
                *("proxy", "--rtt", str(self.rtt_ms), "--listen", str(self.port)),
                *("--target", f"{host}:{port}"),
            ],
            self.log,
        )
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(5)
            if self._process.stdout is not None:
                self._process.stdout.close()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Relay one direction, every chunk written ``delay`` seconds after it was read."""
    chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def send() -> None:
        while True:
            due, chunk = await chunks.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not chunk:
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            writer.write(chunk)
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        while True:
            chunk = await reader.read(65536)
            chunks.put_nowait((time.monotonic() + delay, chunk))
            if not chunk:
                break
        await sender
    except (ConnectionError, OSError):
        sender.cancel()
    finally:
        writer.close()


async def proxy(rtt_ms: float, listen: int, target: tuple[str, int]) -> None:
    delay = rtt_ms / 2000

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(delay * 2)  # the handshake's round trip
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        for sock in (writer.get_extra_info("socket"), up_writer.get_extra_info("socket")):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(
            _pump(reader, up_writer, delay), _pump(up_reader, writer, delay), return_exceptions=True
        )

    server = await asyncio.start_server(accept, "127.0.0.1", listen, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("ready", flush=True)
    async with server:
        await stop.wait()


@contextlib.contextmanager
def terminating_on_sigterm() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt here, so ``with`` blocks clean up as on Ctrl-C."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fwd = commands.add_parser("forward", help="the TUN forwarder between two namespaces")
    fwd.add_argument("--rtt", type=float, required=True, help="round-trip time, ms")
    fwd.add_argument("--client-ns", required=True)
    fwd.add_argument("--server-ns", required=True)
    prx = commands.add_parser("proxy", help="the delaying TCP proxy on loopback (fallback)")
    prx.add_argument("--rtt", type=float, required=True, help="round-trip time, ms")
    prx.add_argument("--listen", type=int, required=True, help="port on 127.0.0.1")
    prx.add_argument("--target", required=True, help="host:port behind the proxy")
    args = parser.parse_args(argv)
    if args.command == "forward":
        forward(args.client_ns, args.server_ns, args.rtt)
    else:
        host, _, port = args.target.rpartition(":")
        asyncio.run(proxy(args.rtt, args.listen, (host, int(port))))


if __name__ == "__main__":
    main()
