"""Config reload (SIGHUP): a valid new config replaces the old one at once; an invalid one is
refused with a log line and the old one stays. Only the transports of connection settings no
profile uses any more are closed, so an unchanged SMTP connection keeps its pool."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from .domain.mailer import Mailer
from .domain.profiles import Profiles
from .errors import InvalidRequest
from .metrics import Metrics
from .rpc.health import Health
from .transport.base import ConnectionSettings

log = logging.getLogger(__name__)


class ConfigHolder(Protocol):
    """What serves with the server's config (the servicer)."""

    profiles: Profiles | None


def connections(profiles: Profiles | None) -> set[ConnectionSettings]:
    """The connection settings a config uses."""
    if profiles is None:
        return set()
    return {loaded.connection for loaded in profiles.configs.values()}


class Reloader:
    """Reloads the config through ``load`` and applies it."""

    def __init__(
        self,
        load: Callable[[], Profiles | None],
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
            self._count("rejected")
            if isinstance(exc, InvalidRequest):
                fields = "; ".join(
                    f"{v.field or '(config)'}: {v.description}" for v in exc.violations
                )
                why = f"{exc.message} [{fields}]" if fields else exc.message
            else:
                why = str(exc)
            log.error("config reload rejected, the old config stays active: %s", why)
            return False
        except Exception:
            # A reload must never take a running server down, whatever went wrong.
            self._count("rejected")
            log.exception("config reload failed unexpectedly, the old config stays active")
            return False
        old = self._holder.profiles
        self._holder.profiles = new
        self._health.show(new)
        vanished = connections(old) - connections(new)
        # Sends in flight keep the transport they hold; later ones get a new one.
        for settings in vanished:
            self._mailer.retire(settings)
        log.info(
            "config reloaded; %s",
            f"closed the connections of {len(vanished)} changed SMTP settings"
            if vanished
            else "SMTP connection settings unchanged, connections kept",
        )
        self._count("applied")
        return True

    def _count(self, result: str) -> None:
        if self._metrics is not None:
            self._metrics.config_reloads.labels(result=result).inc()
