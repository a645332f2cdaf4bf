"""The load generator: a grpc.aio client keeping CONCURRENCY RPCs in flight and timing each.

usage: loadgen.py --target HOST:PORT (--count N | --duration S) [--concurrency 32]
                  [--warmup N | --warmup-duration S] [--channels 1] [--relay]
Sends SendMessage with the benchmark's template (usage type Bench: a code, a Chinese
subject, text/html) to a new recipient each time; with --relay, raw bytes to the bare relay
(relay.py) instead. Warm-up RPCs are not counted. Prints 'msgs=N secs=S' and, on the last
line, a JSON object with the rate, the p50/p99/p999 latency in milliseconds and the CPU
seconds the generator itself spent on the timed calls.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import struct_pb2
from smtp_connector.v1 import smtp_connector_pb2 as pb

Call = Callable[[int], Awaitable[Any]]
# Separate channels must not share one TCP connection, or SO_REUSEPORT cannot spread them.
CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1)]
DISTINCT_REQUESTS = 1000  # prebuilt, so the generator spends little CPU per RPC
SEND_MESSAGE = "/smtp_connector.v1.SmtpConnectorService/SendMessage"


def service_requests() -> list[bytes]:
    """SendMessage requests with distinct recipients and codes, serialized once: the load
    generator shares the machine with the server, so it spends as little CPU as it can."""
    requests = []
    for i in range(DISTINCT_REQUESTS):
        payload = struct_pb2.Struct()
        payload.update({"code": f"{100000 + i * 7919 % 900000}", "application": {"name": "Logto"}})
        request = pb.SendMessageRequest(
            to=f"user{i}@example.org", usage_type="Bench", payload=payload
        )
        requests.append(request.SerializeToString())
    return requests


def make_calls(channels: list[grpc.aio.Channel], relay: bool) -> Call:
    """A function sending RPC number i, spread over the channels. Requests go out as bytes
    and responses are not parsed (a failed call still raises): the relay's way, so both
    load generators cost the same."""
    method = "/bench.Relay/Send" if relay else SEND_MESSAGE
    senders = [channel.unary_unary(method) for channel in channels]
    requests = [b"x" * 64] if relay else service_requests()

    def call(i: int) -> Awaitable[Any]:
        return senders[i % len(senders)](requests[i % len(requests)], timeout=30)

    return call


async def drive(
    call: Call, concurrency: int, count: int, duration: float, interval: float = 0.0
) -> dict[str, Any]:
    """Keep ``concurrency`` calls in flight until ``count`` are done or ``duration`` passed."""
    latencies: list[int] = []
    errors: list[str] = []
    numbers = itertools.count()
    cpu_before = time.process_time()
    started = time.perf_counter()
    until = started + duration if duration else float("inf")

    async def worker() -> None:
        for i in numbers:
            if (count and i >= count) or time.perf_counter() >= until:
                return
            if interval and i:
                await asyncio.sleep(interval)  # an idle caller, its channel kept open
            t0 = time.perf_counter_ns()
            try:
                await call(i)
            except grpc.aio.AioRpcError as exc:
                errors.append(f"{exc.code().name}: {exc.details()}")
                continue
            latencies.append(time.perf_counter_ns() - t0)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    secs = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    return {"latencies": latencies, "errors": errors, "secs": secs, "cpu": cpu}


def percentile(ordered: list[int], fraction: float) -> float:
    """The value below which ``fraction`` of the sorted samples lie, in milliseconds."""
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, int(fraction * len(ordered)))
    return ordered[index] / 1e6


async def run(args: argparse.Namespace) -> dict[str, Any]:
    channels = [
        grpc.aio.insecure_channel(args.target, options=CHANNEL_OPTIONS)
        for _ in range(args.channels)
    ]
    try:
        call = make_calls(channels, args.relay)
        if args.warmup or args.warmup_duration:
            await drive(call, args.concurrency, args.warmup, args.warmup_duration)
        result = await drive(call, args.concurrency, args.count, args.duration, args.interval)
    finally:
        for channel in channels:
            await channel.close()
    ordered = sorted(result["latencies"])
    msgs, secs = len(ordered), result["secs"]
    return {
        "msgs": msgs,
        "secs": round(secs, 3),
        "rate": round(msgs / secs, 1) if secs else 0.0,
        "p50_ms": round(percentile(ordered, 0.50), 3),
        "p99_ms": round(percentile(ordered, 0.99), 3),
        "p999_ms": round(percentile(ordered, 0.999), 3),
        "cpu_secs": round(result["cpu"], 3),  # this process, timed calls only
        "errors": len(result["errors"]),
        "first_error": result["errors"][0] if result["errors"] else "",
        "latencies_ms": [round(x / 1e6, 3) for x in result["latencies"]] if args.interval else [],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", required=True, help="host:port of the server")
    parser.add_argument("--concurrency", type=int, default=32, help="RPCs in flight")
    parser.add_argument("--count", type=int, default=0, help="RPCs to time")
    parser.add_argument("--duration", type=float, default=0, help="seconds to run instead")
    parser.add_argument("--warmup", type=int, default=0, help="untimed RPCs first")
    parser.add_argument(
        "--warmup-duration", type=float, default=0, help="untimed seconds first (or --warmup N)"
    )
    parser.add_argument("--channels", type=int, default=1, help="gRPC connections")
    parser.add_argument(
        "--interval", type=float, default=0, help="seconds each caller waits between calls"
    )
    parser.add_argument("--relay", action="store_true", help="drive relay.py instead")
    args = parser.parse_args()
    if not (args.count or args.duration):
        parser.error("give --count or --duration")
    summary = asyncio.run(run(args))
    print(f"msgs={summary['msgs']} secs={summary['secs']}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
