"""The default idempotency store: a bounded LRU in this process, each record with a TTL."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from .store import Record, State


class MemoryStore:
    """Keys in a dict ordered by last use; the least recently used go first once ``max_keys``
    are held. Keys live as long as the process: a restart forgets them."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._records: OrderedDict[str, tuple[Record, float]] = OrderedDict()
        self._changed = threading.Condition()

    def __len__(self) -> int:
        return len(self._records)

    def claim(self, key: str, record: Record, ttl: float) -> Record | None:
        now = time.monotonic()
        with self._changed:
            found = self._records.get(key)
            if found is not None and found[1] > now:
                self._records.move_to_end(key)
                return found[0]
            self._put(key, record, now + ttl)
            return None

    def finish(self, key: str, token: str, record: Record, ttl: float) -> None:
        with self._changed:
            found = self._records.get(key)
            # Gone (evicted) or still our claim: either way this outcome is the key's.
            if found is None or found[0].token == token:
                self._put(key, record, time.monotonic() + ttl)
            self._changed.notify_all()

    def release(self, key: str, token: str) -> None:
        with self._changed:
            found = self._records.get(key)
            if found is not None and found[0].state is State.PENDING and found[0].token == token:
                del self._records[key]
            self._changed.notify_all()

    def wait(self, key: str, timeout: float) -> None:
        with self._changed:
            self._changed.wait(timeout)

    def close(self) -> None:
        with self._changed:
            self._records.clear()

    def _put(self, key: str, record: Record, expires_at: float) -> None:
        self._records[key] = (record, expires_at)
        self._records.move_to_end(key)
        while len(self._records) > self.max_keys:
            self._records.popitem(last=False)
        # Expired records at the cold end go too, so memory follows the traffic down.
        now = time.monotonic()
        while self._records:
            oldest = next(iter(self._records.values()))
            if oldest[1] > now:
                break
            self._records.popitem(last=False)
