"""The bare relay floor: a Python gRPC server whose one raw-bytes method (no protobuf, no
templates) sends a prebuilt message over an SMTP connection each worker thread keeps open.
Adapted from ../shared/bench/grpc_relay_rate.py (relay prebuilt, reuse conn).

usage: relay.py --port P --smtp-port S --message FILE [--workers 4]
Serves '/bench.Relay/Send' on 127.0.0.1:P until SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import smtplib
import threading
from concurrent import futures
from typing import Any

import grpc

SERVICE, METHOD = "bench.Relay", "Send"


def _identity(data: bytes) -> bytes:
    return data


def relay_handler(smtp_port: int, message: bytes) -> Any:
    """The RPC handler: sendmail() the prebuilt message on this thread's connection."""
    local = threading.local()

    def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
        smtp = getattr(local, "smtp", None)
        if smtp is None:
            smtp = local.smtp = smtplib.SMTP("127.0.0.1", smtp_port, local_hostname="bench")
        smtp.sendmail("noreply@example.com", ["user@example.org"], message)
        return b"ok"

    return handle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--message", required=True, help="file with the message's bytes")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    with open(args.message, "rb") as file:
        message = file.read()
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            METHOD: grpc.unary_unary_rpc_method_handler(
                relay_handler(args.smtp_port, message),
                request_deserializer=_identity,
                response_serializer=_identity,
            )
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    stop.wait()
    server.stop(1).wait()


if __name__ == "__main__":
    main()
