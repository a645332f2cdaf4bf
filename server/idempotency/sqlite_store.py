"""An idempotency store in an embedded SQLite file, so keys survive a restart."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import IdempotencyStoreUnavailable
from .store import Record, State

_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    token TEXT NOT NULL,
    lease_until REAL NOT NULL,
    body BLOB NOT NULL,
    expires_at REAL NOT NULL
)
"""
_PURGE_EVERY = 60.0  # seconds between sweeps of expired keys


class SqliteStore:
    """Keys in one table of a SQLite file (WAL mode); claims are ``BEGIN IMMEDIATE``
    transactions, so processes sharing the file on one machine also agree."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._next_purge = 0.0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                path, timeout=10.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise IdempotencyStoreUnavailable(
                f"cannot open the idempotency store {path}: {exc}"
            ) from None

    def claim(self, key: str, record: Record, ttl: float) -> Record | None:
        now = time.time()
        with self._transaction() as db:
            if now >= self._next_purge:
                db.execute("DELETE FROM idempotency_keys WHERE expires_at <= ?", (now,))
                self._next_purge = now + _PURGE_EVERY
            else:
                db.execute(
                    "DELETE FROM idempotency_keys WHERE key = ? AND expires_at <= ?", (key, now)
                )
            row = db.execute(
                "SELECT fingerprint, state, token, lease_until, body FROM idempotency_keys "
                "WHERE key = ?",
                (key,),
            ).fetchone()
            if row is not None:
                return Record(row[0], State(row[1]), row[2], row[3], bytes(row[4]))
            db.execute(
                "INSERT INTO idempotency_keys VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, *_columns(record), now + ttl),
            )
            return None

    def finish(self, key: str, token: str, record: Record, ttl: float) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM idempotency_keys WHERE key = ? AND token = ?", (key, token))
            db.execute(
                "INSERT OR IGNORE INTO idempotency_keys VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, *_columns(record), time.time() + ttl),
            )

    def release(self, key: str, token: str) -> None:
        with self._transaction() as db:
            db.execute(
                "DELETE FROM idempotency_keys WHERE key = ? AND token = ? AND state = ?",
                (key, token, State.PENDING.value),
            )

    def wait(self, key: str, timeout: float) -> None:
        time.sleep(timeout)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise IdempotencyStoreUnavailable(
                    f"the idempotency store {self.path} failed: {exc}"
                ) from None


def _columns(record: Record) -> tuple[str, str, str, float, bytes]:
    return (
        record.fingerprint,
        record.state.value,
        record.token,
        record.lease_until,
        record.body,
    )
