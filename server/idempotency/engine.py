"""Idempotency keys: a repeated send with the same key gets the first call's outcome and is
never sent again.

A call with a key first *claims* it in a store (a pending record with a lease). The claimant
sends; afterwards the record holds what a repeat must get back:

- **sent**: the serialized response of an accepted message, replayed to every repeat;
- **unknown**: the message may have been accepted (the connection died after the end of
  DATA); repeats get the same DELIVERY_STATE_UNKNOWN rather than a second copy;
- a failure that certainly sent nothing (``delivery=not_sent``: a 4xx, a 5xx, a bad request,
  a timeout before the end of DATA) is **not stored**: the claim is released so that the
  caller can fix or retry and still use the same key.

A repeat that finds a pending claim waits for it (in-flight dedup). A pending claim older
than its lease belongs to a call that never finished (its server died): its outcome is
reported unknown; a server that drains records its cut-off sends as unknown itself. A key
reused with a different request is refused (IDEMPOTENCY_KEY_REUSED).
Stores keep only hashes of keys and requests: no address, password or payload in clear,
except inside a stored response (message id, SMTP reply, accepted recipients).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..deadline import Deadline
from ..errors import (
    DeadlineExceeded,
    Delivery,
    DeliveryUnknown,
    IdempotencyKeyReused,
    IdempotencyStoreUnavailable,
    SmtpConnectorError,
)
from .keys import check_key
from .store import IdempotencyStore, Record, State

if TYPE_CHECKING:
    from pydantic import SecretStr

log = logging.getLogger(__name__)

_FIRST_POLL, _MAX_POLL = 0.005, 0.1  # seconds between looks at a pending claim
_CUT_OFF = "the server shut down while the message was being sent"


class Idempotency:
    """Runs sends under idempotency keys kept in a store."""

    def __init__(self, store: IdempotencyStore, *, ttl: float, lease: float) -> None:
        self.store = store
        self.ttl = ttl
        self.lease = lease
        self._active = 0  # runs in progress, which close() lets finish
        self._idle = threading.Condition()
        self._claims: dict[str, tuple[str, str]] = {}  # token -> stored key, fingerprint

    def run(
        self, key: str, fingerprint: str, deadline: Deadline, send: Callable[[], bytes]
    ) -> bytes:
        """The serialized response of ``send()`` for the first call with this key and this
        request, and the same response for every repeat within the TTL."""
        check_key(key)
        with self._idle:
            self._active += 1
        try:
            return self._run(key, fingerprint, deadline, send)
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def close(self, timeout: float = 60.0) -> None:
        """Close the store once the runs in progress have recorded their outcomes, waiting
        ``timeout`` seconds at most. A send still running then (its server is going down
        without it) may or may not deliver: its key records an unknown outcome, so that
        repeats say so at once instead of waiting for the claim's lease to run out."""
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout)
            cut_off = dict(self._claims)
        for token, (stored_key, fingerprint) in cut_off.items():
            record = Record(fingerprint, State.UNKNOWN, body=_CUT_OFF.encode())
            self._finish(stored_key, token, record)
        self.store.close()

    def _run(
        self, key: str, fingerprint: str, deadline: Deadline, send: Callable[[], bytes]
    ) -> bytes:
        stored_key = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        token = uuid.uuid4().hex
        found = self._claim(stored_key, fingerprint, token, deadline)
        if found is not None:
            return found
        with self._idle:
            self._claims[token] = (stored_key, fingerprint)
        try:
            return self._send_claimed(stored_key, fingerprint, token, send)
        finally:
            with self._idle:
                del self._claims[token]

    def _send_claimed(
        self, stored_key: str, fingerprint: str, token: str, send: Callable[[], bytes]
    ) -> bytes:
        """Send under a claim and record what repeats must get."""
        try:
            body = send()
        except SmtpConnectorError as exc:
            if exc.delivery is Delivery.UNKNOWN:
                outcome = Record(fingerprint, State.UNKNOWN, body=exc.message.encode())
                self._finish(stored_key, token, outcome)
            else:
                self._release(stored_key, token)
            raise
        except BaseException:
            self._release(stored_key, token)
            raise
        self._finish(stored_key, token, Record(fingerprint, State.SENT, body=body))
        return body

    def _claim(
        self, stored_key: str, fingerprint: str, token: str, deadline: Deadline
    ) -> bytes | None:
        """None once this call holds the key; the stored response when a repeat finds one."""
        poll = _FIRST_POLL
        while True:
            pending = Record(fingerprint, State.PENDING, token, time.time() + self.lease)
            try:
                found = self.store.claim(stored_key, pending, max(self.ttl, self.lease))
            except IdempotencyStoreUnavailable as exc:
                raise IdempotencyStoreUnavailable(
                    f"{exc.message}; the message was not sent"
                ) from None
            if found is None:
                return None
            if found.fingerprint != fingerprint:
                raise IdempotencyKeyReused(
                    "this idempotency key was already used for a different request (another "
                    "recipient, payload, usage type or config); use a new key for a new "
                    "message; nothing was sent"
                )
            if found.state is State.SENT:
                return found.body
            if found.state is State.UNKNOWN:
                raise DeliveryUnknown(
                    "an earlier call with this idempotency key ended with an unknown outcome: "
                    f"{found.body.decode('utf-8', 'replace')}; it was not sent again"
                )
            if found.lease_until < time.time():
                raise DeliveryUnknown(
                    "an earlier call with this idempotency key started sending and never "
                    "finished (its server may have stopped): the message may or may not have "
                    "been accepted; it was not sent again",
                    stage="idempotency",
                )
            left = deadline.remaining()
            if left is not None and left <= 0:
                raise DeadlineExceeded(
                    "the deadline ran out while an earlier call with this idempotency key was "
                    "still sending; retry with the same key to learn its outcome",
                    delivery=Delivery.UNKNOWN,
                )
            self.store.wait(stored_key, poll if left is None else min(poll, left))
            poll = min(poll * 2, _MAX_POLL)

    def _finish(self, stored_key: str, token: str, record: Record) -> None:
        try:
            self.store.finish(stored_key, token, record, self.ttl)
        except IdempotencyStoreUnavailable as exc:
            # The outcome stands; only the memory of it is lost (repeats may send again).
            log.error("could not record the outcome of an idempotent send: %s", exc.message)

    def _release(self, stored_key: str, token: str) -> None:
        try:
            self.store.release(stored_key, token)
        except IdempotencyStoreUnavailable as exc:
            # The claim stays until its lease runs out; repeats then report it unknown.
            log.error("could not release an idempotency key: %s", exc.message)


class StoreSettings(Protocol):
    """The settings an idempotency store is opened from (the server's ``Settings`` has them)."""

    @property
    def idempotency_store(self) -> str: ...
    @property
    def idempotency_sqlite_path(self) -> Path: ...
    @property
    def idempotency_redis_url(self) -> SecretStr | None: ...
    @property
    def idempotency_max_keys(self) -> int: ...
    @property
    def idempotency_ttl(self) -> float: ...
    @property
    def idempotency_lease(self) -> float: ...


def open_idempotency(settings: StoreSettings) -> Idempotency:
    """The idempotency keys the settings ask for; raises ValueError for an incomplete
    setting and IdempotencyStoreUnavailable when the store cannot be opened."""
    store: IdempotencyStore
    if settings.idempotency_store == "sqlite":
        from .sqlite_store import SqliteStore

        store = SqliteStore(settings.idempotency_sqlite_path)
    elif settings.idempotency_store == "redis":
        from .redis_store import RedisStore

        if settings.idempotency_redis_url is None:
            raise ValueError("idempotency_store is redis but idempotency_redis_url is not set")
        store = RedisStore(settings.idempotency_redis_url.get_secret_value())
    else:
        from .memory_store import MemoryStore

        store = MemoryStore(settings.idempotency_max_keys)
    return Idempotency(store, ttl=settings.idempotency_ttl, lease=settings.idempotency_lease)
