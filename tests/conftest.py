"""Shared fixtures: a real SMTP server on a free loopback port, a real gRPC server on port 0
(``tests/support/service.py``) and a real channel to it. Helpers live in tests/support/."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.server.domain.mailer import Mailer

from tests.support.service import ServerFactory, in_process_service, make_config
from tests.support.smtp import SmtpServer


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A recording aiosmtpd server on 127.0.0.1."""
    with SmtpServer() as server:
        yield server


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[ServerFactory]:
    """Starts smtp-connector on 127.0.0.1:0 with a config (a dict written to a file, or
    none) and returns a client on a real channel to it."""
    with ExitStack() as stack:

        def start(
            config: dict[str, Any] | None = None, mailer: Mailer | None = None, **settings: Any
        ) -> SmtpConnectorClient:
            service = stack.enter_context(
                in_process_service(tmp_path, config, mailer=mailer, **settings)
            )
            client = SmtpConnectorClient(f"127.0.0.1:{service.port}", timeout=10)
            stack.callback(client.close)
            return client

        yield start


@pytest.fixture
def service(smtp_server: SmtpServer, start_service: ServerFactory) -> SmtpConnectorClient:
    """smtp-connector configured for ``smtp_server``."""
    return start_service(make_config(smtp_server.port))
