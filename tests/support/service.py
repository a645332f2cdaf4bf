"""smtp-connector on a free loopback port for callers that need only its address (the async
client, Node.js, the examples, generic reflection tools)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smtp_connector.server.app import create_server
from smtp_connector.server.domain.mailer import Mailer
from smtp_connector.server.settings import Settings


@contextmanager
def running_service(
    config: dict[str, Any], folder: Path, *, with_reflection: bool = False
) -> Iterator[str]:
    """Runs the real server with ``config`` (written into ``folder``) on 127.0.0.1:0, with
    gRPC server reflection if asked; yields its ``host:port``."""
    path = folder / "service-config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    mailer = Mailer()
    settings = Settings(address="127.0.0.1:0", config=path, reflection=with_reflection)
    server, port = create_server(settings, mailer=mailer)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(None)
        mailer.close()
