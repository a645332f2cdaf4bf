"""smtp-connector in this process, with every part of it reachable (``Service``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smtp_connector.server.app import Service, build_service
from smtp_connector.server.settings import Settings


@contextmanager
def started_service(tmp_path: Path, config: dict[str, Any], **settings: Any) -> Iterator[Service]:
    """A started server on 127.0.0.1:0 with ``config`` as its config file; stopped after."""
    path = tmp_path / "service-config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    service = build_service(Settings(address="127.0.0.1:0", config=path, **settings))
    service.server.start()
    try:
        yield service
    finally:
        service.server.stop(None)
        service.mailer.close()
