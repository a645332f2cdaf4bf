"""The connection pool: a transport that keeps authenticated SMTP sessions open for reuse.

One ``PooledTransport`` serves one ``ConnectionSettings``. It holds at most
``max_connections`` sessions (idle or busy), sends at most ``max_messages`` messages on each
and closes sessions left idle for ``idle_timeout`` seconds. A session goes back to the pool only
after a transaction that ended cleanly (the server's 2xx to the end of DATA ends it and resets
the server's state, RFC 5321 section 4.1.1.4), so a reuse starts with MAIL FROM: no RSET, one
round trip less a message. A session that fails is discarded, never returned. A reused session
that the server closed while it sat idle is replaced transparently, and only while that is
safe: when MAIL FROM found it dead (the connection lost, or 421). Once MAIL FROM was accepted
nothing is retried, so a message is never sent twice.

The lock guards only the bookkeeping (idle list, counts); every network step runs outside it.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..deadline import Deadline
from ..errors import DeadlineExceeded, Reason, SmtpError, SmtpUnavailable
from ..settings import setting_default
from .base import ConnectionSettings, Envelope, SendReceipt, Stage, Transport
from .session import SmtpSession, SmtpTransport, create_ssl_context, deliver, open_session

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolLimits:
    """How many sessions a pool keeps, how long and for how many messages."""

    # The settings' defaults (nodemailer's for its pool, which Logto-style configs expect).
    max_connections: int = setting_default("pool_max_connections")
    max_messages: int = setting_default("pool_max_messages")
    idle_timeout: float = setting_default("pool_idle_timeout")
    acquire_timeout: float = setting_default("pool_acquire_timeout")


@dataclass
class _Pooled:
    """A session with its usage: messages sent on it and when it was last returned."""

    session: SmtpSession
    messages: int = 0
    idle_since: float = 0.0


SessionOpener = Callable[[Deadline], SmtpSession]


class PooledTransport:
    """A transport that reuses authenticated sessions; safe to share between threads."""

    def __init__(
        self,
        settings: ConnectionSettings,
        limits: PoolLimits | None = None,
        *,
        context: ssl.SSLContext | None = None,
    ) -> None:
        limits = limits or PoolLimits()
        self.settings = settings
        # A config may narrow the server's limits with nodemailer's own keys, never widen them.
        self.limits = PoolLimits(
            max_connections=min(
                settings.max_connections or limits.max_connections, limits.max_connections
            ),
            max_messages=min(settings.max_messages or limits.max_messages, limits.max_messages),
            idle_timeout=limits.idle_timeout,
            acquire_timeout=limits.acquire_timeout,
        )
        self._context = context or create_ssl_context(settings)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._idle: list[_Pooled] = []  # most recently used last
        self._count = 0  # sessions that exist or are being opened: idle + busy
        self._closed = False
        self._reaper: threading.Thread | None = None
        self._stopping = threading.Event()  # wakes the reaper when the pool closes
        self.opened = 0  # sessions opened over the pool's life (for tests and stats)

    # -- the Transport protocol -------------------------------------------------------------

    def send(self, envelope: Envelope, data: bytes, deadline: Deadline) -> SendReceipt:
        """Send on a pooled session; a stale reused session is replaced before MAIL FROM is
        accepted, never after."""
        while True:
            if deadline.expired():  # before a healthy session is spent on a lost cause
                raise DeadlineExceeded(
                    "the request's deadline ran out before the message could be sent; "
                    "the message was not sent"
                )
            pooled, reused = self._checkout(deadline)
            session = pooled.session
            session.deadline = deadline
            try:
                receipt = deliver(session, envelope, data)
            except SmtpError as exc:
                self._discard(pooled)
                if reused and _server_closed_it(exc):
                    log.info(
                        "pooled connection to %s was closed by the server while idle; replacing it",
                        self.settings.address,
                    )
                    continue
                raise
            except BaseException:
                self._discard(pooled)
                raise
            pooled.messages += 1
            self._checkin(pooled)
            return receipt

    def usage(self) -> tuple[int, int]:
        """Sessions open (idle, busy or being opened) and sessions busy now, for metrics."""
        with self._lock:
            return self._count, self._count - len(self._idle)

    def close(self) -> None:
        """Close idle sessions now and busy ones when they come back; no new sends."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._changed.notify_all()
        self._stopping.set()
        for pooled in idle:
            pooled.session.quit()

    # -- bookkeeping (under the lock) and the network steps (outside it) ------------------------

    def _checkout(self, deadline: Deadline) -> tuple[_Pooled, bool]:
        """An idle session (reused=True) or a freshly opened one; waits while the pool is full."""
        wait_until = time.monotonic() + self.limits.acquire_timeout
        expired: list[_Pooled] = []
        try:
            with self._lock:
                while True:
                    if self._closed:
                        raise SmtpUnavailable(
                            f"the connection pool for {self.settings.address} is closed "
                            "(the service is stopping); the message was not sent",
                            stage=Stage.CONNECT,
                        )
                    expired.extend(self._take_expired())
                    if self._idle:
                        return self._idle.pop(), True
                    if self._count < self.limits.max_connections:
                        self._count += 1
                        break
                    self._wait_for_room(deadline, wait_until)
        finally:
            # Dropped without QUIT: a polite goodbye would cost this request a round trip
            # (the reaper says QUIT to the sessions it closes).
            for pooled in expired:
                pooled.session.close()
        try:
            session = open_session(self.settings, self._context, deadline)
        except BaseException:
            self._release_slot()
            raise
        self._start_reaper()
        with self._lock:
            self.opened += 1
        return _Pooled(session), False

    def _wait_for_room(self, deadline: Deadline, wait_until: float) -> None:
        """Waits (lock held, released while waiting) until a session may be free."""
        left = wait_until - time.monotonic()
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded(
                f"the request's deadline ran out while all {self.limits.max_connections} "
                f"connections to {self.settings.address} were busy; the message was not sent"
            )
        if left <= 0:
            raise SmtpUnavailable(
                f"all {self.limits.max_connections} connections to {self.settings.address} "
                f"stayed busy for {self.limits.acquire_timeout:g}s; the message was not sent",
                stage=Stage.CONNECT,
                reason=Reason.SMTP_TEMPORARY_FAILURE,
            )
        self._changed.wait(left if remaining is None else min(left, remaining))

    def _checkin(self, pooled: _Pooled) -> None:
        """Return a healthy session, or retire it when it has sent its share or we close."""
        with self._lock:
            keep = not self._closed and pooled.messages < self.limits.max_messages
            if keep:
                pooled.idle_since = time.monotonic()
                self._idle.append(pooled)
            else:
                self._count -= 1
            self._changed.notify()
        if not keep:
            pooled.session.quit()

    def _discard(self, pooled: _Pooled) -> None:
        """Drop a session that failed: its state is unknown, so it is never reused."""
        pooled.session.close()
        self._release_slot()

    def _release_slot(self) -> None:
        with self._lock:
            self._count -= 1
            self._changed.notify()

    def _take_expired(self) -> list[_Pooled]:
        """Idle sessions past the idle timeout, removed from the pool (lock held)."""
        cutoff = time.monotonic() - self.limits.idle_timeout
        expired = [p for p in self._idle if p.idle_since <= cutoff]
        if expired:
            self._idle = [p for p in self._idle if p.idle_since > cutoff]
            self._count -= len(expired)
            self._changed.notify_all()
        return expired

    @staticmethod
    def _quit_all(sessions: list[_Pooled]) -> None:
        for pooled in sessions:
            pooled.session.quit()

    # -- closing idle sessions in the background ---------------------------------------------

    def _start_reaper(self) -> None:
        with self._lock:
            if self._reaper is not None or self._closed:
                return
            self._reaper = threading.Thread(
                target=self._reap, name=f"smtp-pool-reaper {self.settings.address}", daemon=True
            )
            self._reaper.start()

    def _reap(self) -> None:
        """Closes sessions idle for longer than the idle timeout; ends when the pool closes
        or holds no session (the next opened session starts it again), so that pools of
        configs no longer used keep no thread."""
        interval = max(self.limits.idle_timeout / 2, 0.05)
        while not self._stopping.wait(interval):
            with self._lock:
                expired = self._take_expired()
                done = self._count == 0
                if done:
                    self._reaper = None
            self._quit_all(expired)
            if done:
                return


def _server_closed_it(exc: SmtpError) -> bool:
    """Whether a failure on a reused session means the server had dropped it while idle, at a
    point where nothing of the message was accepted yet (MAIL FROM, the first command of a
    reuse)."""
    if exc.stage != Stage.MAIL:
        return False
    return exc.reason is Reason.SMTP_CONNECTION_LOST or exc.smtp_code == 421


def transport_factory(
    limits: PoolLimits | None = None, *, enabled: bool = True
) -> Callable[[ConnectionSettings], Transport]:
    """The Mailer's transport factory: pooled unless turned off (by the server's settings or a
    config's ``pool: false``)."""

    def create(settings: ConnectionSettings) -> Transport:
        pooled = enabled if settings.pool is None else settings.pool
        if pooled:
            return PooledTransport(settings, limits)
        return SmtpTransport(settings)

    return create
