"""The development mailbox: a local SMTP server that keeps every message as an .eml file.

aiosmtpd logs each SMTP command at INFO and, at DEBUG, every line of every message it
receives: the verification codes the messages exist to carry. So its logger never goes
below INFO (the command trace, shown only when the server logs at DEBUG): the content of a
message is in its .eml file, never in the log.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
import time
from itertools import count
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

log = logging.getLogger(__name__)
# aiosmtpd's own logger.
_AIOSMTPD_LOG = logging.getLogger("mail.log")


class MailboxHandler:
    """aiosmtpd handler that writes each message it accepts into ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._sequence = count(1)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """Store the message atomically (a reader never sees half a file)."""
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{next(self._sequence):06d}.eml"
        with tempfile.NamedTemporaryFile(dir=self.folder, suffix=".tmp", delete=False) as tmp:
            tmp.write(envelope.original_content or envelope.content)
        Path(tmp.name).rename(self.folder / name)
        log.info("dev mailbox: stored %s for %s", name, ", ".join(envelope.rcpt_tos))
        return "250 2.0.0 stored in the development mailbox"


class DevMailbox:
    """An aiosmtpd server on loopback (no TLS, no AUTH) that stores what it receives."""

    def __init__(self, folder: Path, host: str, port: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._controller = Controller(
            MailboxHandler(folder), hostname=host, port=port, enable_SMTPUTF8=True
        )

    def start(self) -> None:
        """Start listening; an address in use is an OSError saying what to do about it."""
        debug = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
        _AIOSMTPD_LOG.setLevel(logging.INFO if debug else logging.WARNING)
        try:
            self._controller.start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise OSError(exc.errno, address_in_use(self._address())) from None
        log.info(
            "dev mailbox listening on %s:%d, storing messages in %s",
            self._controller.hostname,
            self._controller.port,
            self.folder.resolve(),
        )

    def stop(self) -> None:
        """Stop listening."""
        self._controller.stop()

    def _address(self) -> str:
        host = self._controller.hostname
        return (
            f"[{host}]:{self._controller.port}"
            if ":" in host
            else f"{host}:{self._controller.port}"
        )


def address_in_use(address: str) -> str:
    """What to do when the development mailbox's address is taken: most often by the mailbox
    of another smtp-connector (a second `make run`)."""
    return (
        f"the development mailbox (--dev-mailbox) cannot listen on {address}: the address is "
        "in use, most likely by another smtp-connector with its dev mailbox (a `make run` in "
        "another terminal): stop that one (Ctrl-C), or give this one another address with "
        "--dev-mailbox-address HOST:PORT (SMTP_CONNECTOR_DEV_MAILBOX_ADDRESS), a config whose "
        "port is that one, and another --address (SMTP_CONNECTOR_ADDRESS) for the gRPC server"
    )
