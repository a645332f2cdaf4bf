"""A provider-like SMTP sink for latency figures: STARTTLS required, AUTH required, and the
idle limits real providers have. Every message is accepted and discarded.

usage: tls_sink.py --host H --port P --cert PEM --key PEM --user U --password-file F
                   [--idle-timeout S] [--max-session S]
  --idle-timeout  close a connection after S seconds without a command (421, as Postfix's
                  smtpd_timeout and the providers' idle limits do)
  --max-session   close any connection S seconds after it was opened, however busy or
                  NOOPed (421): a provider's session lifetime or junk-command limit, which a
                  warm connection cannot talk its way past and must survive by reconnecting
Prints 'ready' once it listens; stops on SIGTERM. aiosmtpd (TLS via the standard library)
with a certificate from trustme: fast enough at the round-trip times it is used at.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Discard:
    """Accepts every message; offers PIPELINING, as Gmail, Office 365 and Postfix do (aiosmtpd
    reads commands in order from its stream, so pipelined ones work)."""

    async def handle_EHLO(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        return "250 2.0.0 Ok: queued"


class LimitedSMTP(SMTP):  # type: ignore[misc]
    """aiosmtpd's server with a session lifetime."""

    max_session: float = 0.0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        if self.max_session:
            self._limit = asyncio.get_running_loop().call_later(self.max_session, self._expire)

    def _expire(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(b"421 4.4.2 session lifetime reached, closing\r\n")
            transport.close()

    def connection_lost(self, error: Exception | None) -> None:
        limit = getattr(self, "_limit", None)
        if limit is not None:
            limit.cancel()
        super().connection_lost(error)


def authenticator(user: str, password: str) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login.decode() == user
        ok = ok and data.password.decode() == password
        return AuthResult(success=ok, handled=False)

    return check


async def serve(args: argparse.Namespace) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    password = open(args.password_file, encoding="utf-8").read().strip()  # noqa: SIM115
    LimitedSMTP.max_session = args.max_session

    def factory() -> SMTP:
        return LimitedSMTP(
            Discard(),
            hostname="sink.bench.test",
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=authenticator(args.user, password),
            timeout=args.idle_timeout,
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, args.host, args.port, backlog=1024)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--idle-timeout", type=float, default=300.0)
    parser.add_argument("--max-session", type=float, default=0.0)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
