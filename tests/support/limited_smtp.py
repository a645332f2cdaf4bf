"""A provider-like aiosmtpd server for the pool's adaptive tests: it takes its time over each
message, refuses connections beyond a limit (421 at the greeting, as Postfix's
``smtpd_client_connection_count_limit`` and the providers do), counts the connections it
holds, and can drop them all (as a provider does at its idle limit)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from tests.support.smtp import free_port


class _Handler:
    def __init__(self, owner: LimitedSmtpServer) -> None:
        self.owner = owner

    async def handle_NOOP(self, server: Any, session: Any, envelope: Any, arg: str) -> str:
        self.owner.noops += 1
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.owner.delay:
            await asyncio.sleep(self.owner.delay)  # a provider's processing, or its distance
        self.owner.received += 1
        return "250 2.0.0 Ok: queued"


class LimitedSmtpServer:
    """aiosmtpd on 127.0.0.1 holding at most ``limit`` connections (0: no limit)."""

    def __init__(self, *, limit: int = 0, delay: float = 0.0) -> None:
        self.port = free_port()
        self.limit = limit
        self.delay = delay
        self.live = 0  # connections open now
        self.peak = 0  # the most ever open at once
        self.accepted = 0
        self.refused = 0
        self.received = 0
        self.noops = 0
        self._protocols: set[SMTP] = set()
        self._lock = threading.Lock()
        owner = self

        class Limited(SMTP):
            refusing = False

            def connection_made(self, transport: Any) -> None:
                with owner._lock:
                    if owner.limit and owner.live >= owner.limit:
                        owner.refused += 1
                        self.refusing = True
                    else:
                        owner.live += 1
                        owner.accepted += 1
                        owner.peak = max(owner.peak, owner.live)
                        owner._protocols.add(self)
                if self.refusing:
                    transport.write(b"421 4.7.0 Too many connections from your host\r\n")
                    transport.close()
                    return
                super().connection_made(transport)

            def connection_lost(self, error: Exception | None) -> None:
                if self.refusing:
                    return
                with owner._lock:
                    owner.live -= 1
                    owner._protocols.discard(self)
                super().connection_lost(error)

        class LimitedController(Controller):
            def factory(self) -> SMTP:
                return Limited(self.handler, **self.SMTP_kwargs)

        self._controller = LimitedController(_Handler(self), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> LimitedSmtpServer:
        self._controller.start()
        with self._lock:  # the controller's own readiness check connected once
            self.accepted = self.peak = 0
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.drop_all()
        self._controller.stop()

    def drop_all(self) -> None:
        """Close every connection from the server's side, as at a provider's idle limit."""
        loop = self._controller.loop

        async def close() -> None:
            for protocol in list(self._protocols):
                transport = protocol.transport
                if isinstance(transport, asyncio.Transport):
                    transport.write(b"421 4.4.2 idle timeout, closing\r\n")
                    transport.close()
            await asyncio.sleep(0.01)

        if loop.is_running():
            asyncio.run_coroutine_threadsafe(close(), loop).result(5)
