"""smtp-connector in this process, the one way the tests start it (as aiosmtpd's single
``get_controller`` factory): ``in_process_service`` builds and starts the real server on
127.0.0.1:0 and hands back every part of it; the fixtures of ``tests/conftest.py`` and
``running_service`` (for callers that need only an address) are built on it. Also the
Logto-style config the tests send with, and the settings that let inline configs reach
loopback test servers."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smtp_connector.client import SmtpConnectorClient
from smtp_connector.server.app import Service, build_service
from smtp_connector.server.domain.mailer import Mailer
from smtp_connector.server.settings import Settings

_CONFIG_FILES = itertools.count()

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


# ``start_service(config=None, mailer=None, **settings)``: a client on a real channel to a
# started service (the fixture in tests/conftest.py).
ServerFactory = Callable[..., SmtpConnectorClient]


@contextmanager
def in_process_service(
    folder: Path,
    config: dict[str, Any] | None = None,
    *,
    mailer: Mailer | None = None,
    **settings: Any,
) -> Iterator[Service]:
    """smtp-connector built from ``settings`` on 127.0.0.1:0 with ``config`` (a dict written as
    a JSON file into ``folder``; none: no config), started; stopped and closed after."""
    if config is not None:
        path = folder / f"config-{next(_CONFIG_FILES)}.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        settings["config"] = path
    service = build_service(Settings(address="127.0.0.1:0", **settings), mailer=mailer)
    service.server.start()
    try:
        yield service
    finally:
        service.server.stop(None)
        service.mailer.close()
        if service.idempotency is not None:
            service.idempotency.close()


@contextmanager
def running_service(
    config: dict[str, Any], folder: Path, *, with_reflection: bool = False
) -> Iterator[str]:
    """The service with ``config``, with gRPC server reflection if asked, for callers that
    need only its ``host:port`` (the async client, Node.js, the examples, reflection tools)."""
    with in_process_service(folder, config, reflection=with_reflection) as service:
        yield f"127.0.0.1:{service.port}"
