"""Slowing a test SMTP server down, so that sends are still in flight when a test acts."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from tests.support.smtp import SmtpServer


class SlowData:
    """Makes ``server`` wait ``seconds`` before answering DATA, counting arrivals."""

    def __init__(self, server: SmtpServer, seconds: float) -> None:
        self.arrived = 0
        self._changed = threading.Condition()
        original = server.handler.handle_DATA

        async def handle_DATA(smtp: Any, session: Any, envelope: Any) -> str:
            with self._changed:
                self.arrived += 1
                self._changed.notify_all()
            await asyncio.sleep(seconds)
            return await original(smtp, session, envelope)

        # aiosmtpd looks the hook up on the handler instance.
        setattr(server.handler, "handle_DATA", handle_DATA)  # noqa: B010

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Wait until ``count`` messages reached DATA."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.arrived >= count, timeout):
                raise AssertionError(f"only {self.arrived} of {count} sends reached DATA")
