"""Config reload (SIGHUP): a valid new config replaces the old one at once; an invalid one is
refused with a log line and the old one stays. Only the transport of connection settings that
are no longer used is closed, so an unchanged SMTP connection keeps its pool."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from .errors import InvalidConfig, InvalidRequest
from .health import Health
from .mailer import LoadedConfig, Mailer
from .metrics import Metrics

log = logging.getLogger(__name__)


class ConfigHolder(Protocol):
    """What serves with the server's config (the servicer)."""

    @property
    def server_config(self) -> LoadedConfig | None: ...

    def use_config(self, loaded: LoadedConfig | None) -> None: ...


class Reloader:
    """Reloads the config through ``load`` and applies it."""

    def __init__(
        self,
        load: Callable[[], LoadedConfig | None],
        holder: ConfigHolder,
        mailer: Mailer,
        health: Health,
        metrics: Metrics | None = None,
    ) -> None:
        self._load = load
        self._holder = holder
        self._mailer = mailer
        self._health = health
        self._metrics = metrics

    def reload(self) -> bool:
        """Load the config again; True when the new one was applied."""
        try:
            new = self._load()
        except (InvalidRequest, OSError) as exc:
            fields = ""
            if isinstance(exc, InvalidConfig):
                fields = "; ".join(
                    f"{v.field or '(config)'}: {v.description}" for v in exc.violations
                )
            why = exc.message if isinstance(exc, InvalidRequest) else str(exc)
            log.error("config reload rejected, the old config stays active: %s %s", why, fields)
            self._count("rejected")
            return False
        old = self._holder.server_config
        self._holder.use_config(new)
        self._health.set_serving(new is not None)
        if old is not None and (new is None or new.connection != old.connection):
            # Sends in flight keep the transport they hold; later ones get a new one.
            self._mailer.retire(old.connection)
            log.info("config reloaded; SMTP connection settings changed, old connections closed")
        else:
            log.info("config reloaded; SMTP connection settings unchanged, connections kept")
        self._count("applied")
        return True

    def _count(self, result: str) -> None:
        if self._metrics is not None:
            self._metrics.config_reloads.labels(result=result).inc()
