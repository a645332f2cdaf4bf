"""Shared fixtures: a real SMTP server on a free loopback port, a real gRPC server on port 0
and a real channel to it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.server.app import create_mailer, create_server
from smtp_connector.server.domain.mailer import Mailer
from smtp_connector.server.idempotency import Idempotency, open_idempotency
from smtp_connector.server.settings import Settings

from tests.support.smtp import SmtpServer

CHINESE_SUBJECT = "您的验证码"


def make_config(smtp_port: int, **overrides: Any) -> dict[str, Any]:
    """A Logto-style config for the test SMTP server, with a template per common usage."""
    config: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": smtp_port,
        "username": "",
        "password": "",
        "fromEmail": "Logto <noreply@example.com>",
        "templates": [
            {
                "usageType": "Register",
                "contentType": "text/plain",
                "subject": CHINESE_SUBJECT,
                "content": "Your code is {{code}} for {{ application.name }}.",
            },
            {
                "usageType": "SignIn",
                "contentType": "text/html",
                "subject": "Sign in to {{application.name}}",
                "content": "<p>Code: <b>{{ code }}</b> for {{application.name}}</p>",
            },
            {
                "usageType": "Generic",
                "contentType": "text/plain",
                "subject": "Your code",
                "content": "Code {{code}}",
            },
        ],
    }
    config.update(overrides)
    return config


def inline_on_loopback(*ports: int) -> dict[str, Any]:
    """Settings that let inline configs reach test SMTP servers on loopback at ``ports``, or
    at any port when none is named (the inline-config guard refuses them by default)."""
    return {
        "allow_inline_config": True,
        "inline_allowed_networks": ["127.0.0.0/8"],
        "inline_allowed_ports": list(ports or range(1, 65536)),
    }


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A recording aiosmtpd server on 127.0.0.1."""
    with SmtpServer() as server:
        yield server


ServerFactory = Callable[..., SmtpConnectorClient]


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[ServerFactory]:
    """Starts smtp-connector on 127.0.0.1:0 with a config (a dict written to a file, or
    none) and returns a client on a real channel to it."""
    started: list[tuple[Any, SmtpConnectorClient, Mailer, Idempotency]] = []

    def start(
        config: dict[str, Any] | None = None, mailer: Mailer | None = None, **settings: Any
    ) -> SmtpConnectorClient:
        if config is not None:
            path = tmp_path / f"config-{len(started)}.json"
            path.write_text(json.dumps(config), encoding="utf-8")
            settings["config"] = path
        options = Settings(address="127.0.0.1:0", **settings)
        mailer = mailer or create_mailer(options)
        idempotency = open_idempotency(options)
        server, port = create_server(options, mailer=mailer, idempotency=idempotency)
        server.start()
        client = SmtpConnectorClient(f"127.0.0.1:{port}", timeout=10)
        started.append((server, client, mailer, idempotency))
        return client

    yield start
    for server, client, mailer, idempotency in started:
        client.close()
        server.stop(None)
        mailer.close()
        idempotency.close()


@pytest.fixture
def service(smtp_server: SmtpServer, start_service: ServerFactory) -> SmtpConnectorClient:
    """smtp-connector configured for ``smtp_server``."""
    return start_service(make_config(smtp_server.port))
