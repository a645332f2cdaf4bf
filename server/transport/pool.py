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

How many sessions it opens follows the destination (``concurrency.AdaptiveLimit``): a few at
first, one more for each send that succeeded while others queued, up to the cap, fewer after
the provider refused one. Set-up stays off the callers' path where it can: the next session
is opened in the background as soon as the last idle one is taken, a retired session's QUIT
is said in the background, and with ``keep_warm`` one session is kept open (NOOP every
``noop_interval``) and re-opened in the background when the server closes it. A caller opens
a session itself only when none is established, so a configuration error reaches it as such.

The lock guards only the bookkeeping (idle list, counts); every network step runs outside it.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..deadline import Deadline
from ..errors import DeadlineExceeded, Reason, SmtpConnectorError, SmtpError, SmtpUnavailable
from ..settings import setting_default
from .base import ConnectionSettings, Envelope, SendReceipt, Stage, Transport
from .concurrency import AdaptiveLimit
from .session import SmtpSession, SmtpTransport, create_ssl_context, deliver, open_session
from .slots import LONG_WAIT

log = logging.getLogger(__name__)

# Sessions one pool opens in the background at once.
_PARALLEL_OPENS = 8
# Background re-opens after failures: the first waits this long, then twice as long, up to
# the cap; the warm keeper gives up after _KEEPER_ATTEMPTS until a send succeeds again.
_BACKOFF_FIRST, _BACKOFF_CAP = 1.0, 300.0
_KEEPER_ATTEMPTS = 3


@dataclass(frozen=True)
class PoolLimits:
    """How many sessions a pool keeps, how long and for how many messages."""

    # The settings' defaults (nodemailer's for its pool, which Logto-style configs expect).
    max_connections: int = setting_default("pool_max_connections")
    max_messages: int = setting_default("pool_max_messages")
    idle_timeout: float = setting_default("pool_idle_timeout")
    acquire_timeout: float = setting_default("pool_acquire_timeout")
    keep_warm: bool = setting_default("pool_keep_warm")
    noop_interval: float = setting_default("pool_noop_interval")


@dataclass
class _Pooled:
    """A session with its usage: messages sent on it and when it was last returned."""

    session: SmtpSession
    messages: int = 0
    idle_since: float = 0.0
    checked_at: float = field(default_factory=time.monotonic)  # last NOOP or use


@dataclass(frozen=True)
class PoolStats:
    """What the metrics show of one pool."""

    destination: str
    established: int  # sessions open: idle or busy
    busy: int
    limit: int  # the connections the pool may hold now
    learned_cap: int  # 0: none learned
    rtt: float  # seconds


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
            keep_warm=limits.keep_warm,
            noop_interval=limits.noop_interval,
        )
        self._context = context or create_ssl_context(settings)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._idle: list[_Pooled] = []  # most recently used last
        self._count = 0  # sessions that exist or are being opened: idle + busy + opening
        self._opening = 0  # of them, being opened
        self._background = 0  # of those, opened in the background
        self._waiting = 0  # sends waiting for a session
        self._failures = 0  # background opens failed in a row
        self._retry_at = 0.0  # no background open before this
        self.concurrency = AdaptiveLimit(self.limits.max_connections)
        self._closed = False
        self._reaper: threading.Thread | None = None
        self._keeper: threading.Thread | None = None
        self._stopping = threading.Event()  # wakes the reaper and the keeper when closing
        self.opened = 0  # sessions opened over the pool's life (for tests and stats)
        if self.limits.keep_warm:
            self._start_keeper()

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
            if reused and session.closed_by_peer():  # dropped while idle: no round trip lost
                self._discard(pooled)
                self._log_replaced()
                continue
            session.deadline = deadline
            try:
                receipt = deliver(session, envelope, data)
            except SmtpError as exc:
                self._discard(pooled)
                if reused and _server_closed_it(exc):
                    self._log_replaced()
                    continue
                raise
            except BaseException:
                self._discard(pooled)
                raise
            pooled.messages += 1
            self._checkin(pooled, rtt=_session_rtt(session))
            return receipt

    def _log_replaced(self) -> None:
        log.info(
            "pooled connection to %s was closed by the server while idle; replacing it",
            self.settings.address,
        )

    def waits_long(self) -> bool:
        """Whether a send here waits on the network long enough to lend its CPU slot."""
        return self.concurrency.wait > LONG_WAIT

    def usage(self) -> tuple[int, int]:
        """Sessions open (idle, busy or being opened) and sessions busy now, for metrics."""
        with self._lock:
            return self._count, self._count - len(self._idle)

    def stats(self) -> PoolStats:
        """The pool's connections, its current limit and what it learned, for metrics."""
        with self._lock:
            established = self._count - self._opening
            return PoolStats(
                destination=_destination(self.settings),
                established=established,
                busy=established - len(self._idle),
                limit=self.concurrency.target(),
                learned_cap=self.concurrency.learned_cap or 0,
                rtt=self.concurrency.rtt,
            )

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
        """An idle session (reused=True) or a freshly opened one; waits while the pool is full.
        Opens one itself only when no session is established (so that its error is the
        caller's); otherwise it waits for the next session free or opened in the background."""
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
                        pooled = self._idle.pop()
                        if not self._idle and self._in_demand():
                            self._open_ahead()  # the next send would wait: open one now
                        return pooled, True
                    room = self._count < self.concurrency.target()
                    established = self._count - self._opening
                    if room and not established and not self._background:
                        self._count += 1
                        self._opening += 1
                        break
                    if room and established:
                        self._open_ahead()
                    self._waiting += 1
                    try:
                        self._wait_for_room(deadline, wait_until)
                    finally:
                        self._waiting -= 1
        finally:
            # Dropped without QUIT: a polite goodbye would cost this request a round trip
            # (the reaper says QUIT to the sessions it closes).
            for pooled in expired:
                pooled.session.close()
        try:
            session = open_session(self.settings, self._context, deadline)
        except SmtpError as exc:
            if self._refused_beside_others(exc):
                return self._checkout(deadline)  # wait for the sessions that did open
            raise
        except BaseException:
            with self._lock:
                self._opening -= 1
            self._release_slot()
            raise
        self._opened(session)
        return _Pooled(session), False

    def _refused_beside_others(self, exc: SmtpError) -> bool:
        """Release the slot of a session this caller failed to open; True when the provider
        refused it for the connections other callers opened at the same time (the pool
        learns the lower cap, and the caller waits for one of those)."""
        with self._lock:
            self._opening -= 1
            self._count -= 1
            others = self._count
            refused = _is_refusal(exc) and others > 0
            if refused:
                self.concurrency.refused(max(1, self._count - self._opening))
            self._changed.notify_all()
        return refused

    def _opened(self, session: SmtpSession) -> None:
        """Count a session that was just opened and learn the path's round-trip time."""
        rtt = _session_rtt(session)
        with self._lock:
            self.opened += 1
            self._opening -= 1
            self.concurrency.observe_rtt(rtt)
        self._start_reaper()

    def _wait_for_room(self, deadline: Deadline, wait_until: float) -> None:
        """Waits (lock held, released while waiting) until a session may be free."""
        left = wait_until - time.monotonic()
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded(
                f"the request's deadline ran out while all {self._count} "
                f"connections to {self.settings.address} were busy; the message was not sent"
            )
        if left <= 0:
            raise SmtpUnavailable(
                f"all {self._count} connections to {self.settings.address} "
                f"stayed busy for {self.limits.acquire_timeout:g}s; the message was not sent",
                stage=Stage.CONNECT,
                reason=Reason.SMTP_TEMPORARY_FAILURE,
            )
        self._changed.wait(left if remaining is None else min(left, remaining))

    def _checkin(self, pooled: _Pooled, *, rtt: float | None = None) -> None:
        """Return a healthy session, or retire it when it has sent its share or we close;
        a send that succeeded (its socket's round-trip time now ``rtt``) while others
        waited lets the pool grow by one."""
        with self._lock:
            keep = not self._closed and pooled.messages < self.limits.max_messages
            if rtt is not None:
                self.concurrency.observe_rtt(rtt)
                self._failures = 0
                if self._waiting:
                    busy = self._count - self._opening - len(self._idle)  # this one included
                    self.concurrency.grow(demand=busy + self._waiting)
            if keep:
                pooled.idle_since = pooled.checked_at = time.monotonic()
                self._idle.append(pooled)
            else:
                self._count -= 1
                self._open_ahead()  # renewed in the background, not by the next caller
            self._changed.notify()
        if not keep:
            _in_background(pooled.session.quit, f"smtp-quit {self.settings.address}")

    def _discard(self, pooled: _Pooled) -> None:
        """Drop a session that failed: its state is unknown, so it is never reused."""
        pooled.session.close()
        self._release_slot()

    def _release_slot(self) -> None:
        with self._lock:
            self._count -= 1
            self._changed.notify()

    def _take_expired(self) -> list[_Pooled]:
        """Idle sessions past the idle timeout, removed from the pool (lock held); with
        ``keep_warm`` the most recently used one stays when nothing else is open."""
        cutoff = time.monotonic() - self.limits.idle_timeout
        expired = [p for p in self._idle if p.idle_since <= cutoff]
        if expired and self.limits.keep_warm and len(expired) == self._count - self._opening:
            expired.pop()  # the newest, kept warm
        if expired:
            self._idle = [p for p in self._idle if p not in expired]
            self._count -= len(expired)
            self.concurrency.shrink(self._count - self._opening)
            self._changed.notify_all()
        return expired

    @staticmethod
    def _quit_all(sessions: list[_Pooled]) -> None:
        for pooled in sessions:
            pooled.session.quit()

    # -- opening sessions in the background ------------------------------------------------

    def _in_demand(self) -> bool:
        """Whether sends overlap: another session is busy or a send waits (lock held)."""
        busy = self._count - self._opening - len(self._idle)
        return busy >= 2 or self._waiting > 0

    def _open_ahead(self) -> bool:
        """Start opening one session in the background if the limit leaves room, none is
        being opened beyond what may run at once, and no failure asks to wait (lock held)."""
        if (
            self._closed
            or self._count >= self.concurrency.target()
            or self._background >= _PARALLEL_OPENS
            or time.monotonic() < self._retry_at
        ):
            return False
        self._count += 1
        self._opening += 1
        self._background += 1
        _in_background(self._open_one, f"smtp-open {self.settings.address}")
        return True

    def _open_one(self) -> None:
        """Open a session for the pool (a background thread); failures are logged, make later
        attempts wait, and a refusal teaches the pool a lower cap."""
        settings = self.settings
        deadline = Deadline.after(
            settings.connect_timeout + settings.greeting_timeout + settings.socket_timeout
        )
        try:
            session = open_session(settings, self._context, deadline)
        except SmtpConnectorError as exc:
            self._open_failed(exc)
            return
        except BaseException:
            self._open_failed(None)
            raise
        self._opened(session)
        with self._lock:
            self._background -= 1
            if self._closed:
                self._count -= 1
                keep = False
            else:
                self._idle.append(_Pooled(session, idle_since=time.monotonic()))
                keep = True
            self._changed.notify()
        if not keep:
            session.quit()

    def _open_failed(self, exc: SmtpConnectorError | None) -> None:
        with self._lock:
            self._opening -= 1
            self._background -= 1
            self._count -= 1
            self._failures += 1
            delay = min(_BACKOFF_CAP, _BACKOFF_FIRST * 2 ** (self._failures - 1))
            self._retry_at = time.monotonic() + delay
            established = self._count - self._opening
            refused = isinstance(exc, SmtpError) and _is_refusal(exc)
            if refused and established:
                self.concurrency.refused(established)
            self._changed.notify_all()
        if refused and established:
            log.warning(
                "%s refused one more connection with %d open: keeping at most %d (%s)",
                self.settings.address,
                established,
                established,
                exc,
            )
        else:
            log.warning(
                "opening a connection to %s in the background failed (next try in %.0f s): %s",
                self.settings.address,
                delay,
                exc or "an unexpected error",
            )

    # -- closing idle sessions and keeping one warm in the background ----------------------

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

    def _start_keeper(self) -> None:
        self._keeper = threading.Thread(
            target=self._keep_warm, name=f"smtp-pool-warm {self.settings.address}", daemon=True
        )
        self._keeper.start()

    def _keep_warm(self) -> None:
        """Keeps one authenticated session open: NOOPs it when it has been idle for the
        interval, and re-opens one in the background when none is open (the server closed
        it), with backoff; after a few failures in a row it waits for a send to succeed
        (the provider is down: no traffic at all meanwhile)."""
        interval = self.limits.noop_interval
        tick = max(min(interval / 4, 5.0), 0.02)
        while not self._stopping.is_set():
            pooled = self._warm_session(interval)
            if pooled is None:
                self._stopping.wait(tick)
                continue
            if _noop(pooled.session):
                pooled.checked_at = time.monotonic()
                with self._lock:
                    self._idle.append(pooled)
                    self._changed.notify()
            else:
                log.info("the warm connection to %s was closed: re-opening", self.settings.address)
                self._discard(pooled)
                with self._lock:
                    self._open_ahead()

    def _warm_session(self, interval: float) -> _Pooled | None:
        """The idle session due for a NOOP (or that the server closed), taken out of the
        idle list; starts a background open when none is open (and the backoff allows)."""
        with self._lock:
            if self._closed:
                return None
            if self._count == 0:
                if self._failures < _KEEPER_ATTEMPTS:
                    self._open_ahead()
                return None
            if not self._idle:
                return None
            newest = self._idle[-1]
            due = time.monotonic() - newest.checked_at >= interval
            if not due and not newest.session.closed_by_peer():
                return None
            return self._idle.pop()


def _destination(settings: ConnectionSettings) -> str:
    """The pool's name in metrics: user@host:port (no secret)."""
    return f"{settings.user}@{settings.address}" if settings.user else settings.address


def _in_background(work: Callable[[], object], name: str) -> None:
    """Run ``work`` on a daemon thread of its own (opens and QUITs: bounded by the socket
    timeouts and by the pool's limit on parallel opens)."""
    threading.Thread(target=work, name=name, daemon=True).start()


def _session_rtt(session: SmtpSession) -> float:
    return session.round_trip_time()


def _noop(session: SmtpSession) -> bool:
    """NOOP on an idle session; whether the server answered 250."""
    return session.noop(Deadline.after(session.settings.socket_timeout))


def _is_refusal(exc: SmtpError) -> bool:
    """Whether a failed open means the provider allows no more connections now: 421 before
    the session began, "too many connections", or a refused or reset connect."""
    text = str(exc).lower()
    if "too many" in text:
        return True
    if exc.stage in (Stage.CONNECT, Stage.GREETING, Stage.EHLO) and exc.smtp_code == 421:
        return True
    if exc.reason is Reason.SMTP_CONNECT_FAILED and "refused" in text:
        return True
    return exc.reason is Reason.SMTP_CONNECTION_LOST and exc.stage == Stage.GREETING


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
