"""What an idempotency store keeps for a key, and the protocol every store implements."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class State(StrEnum):
    """Where a key stands."""

    PENDING = "pending"  # a call is sending under this key
    SENT = "sent"  # the message was accepted; ``body`` is the serialized response
    UNKNOWN = "unknown"  # the message may have been accepted; ``body`` is the error message


@dataclass(frozen=True)
class Record:
    """What a store keeps for one key. ``token`` identifies the claim of a pending record;
    ``lease_until`` (wall-clock seconds) is when a pending claim is presumed dead."""

    fingerprint: str
    state: State
    token: str = ""
    lease_until: float = 0.0
    body: bytes = b""


class IdempotencyStore(Protocol):
    """Where keys live: in this process, in a SQLite file, or in a store shared by replicas.

    Keys reach a store already hashed. Every method raises IdempotencyStoreUnavailable when
    the store cannot be used."""

    def claim(self, key: str, record: Record, ttl: float) -> Record | None:
        """Store the pending ``record`` unless the key has a live record; None when claimed,
        else the record found."""
        ...

    def finish(self, key: str, token: str, record: Record, ttl: float) -> None:
        """Replace the claim ``token`` with the final ``record``, kept ``ttl`` seconds."""
        ...

    def release(self, key: str, token: str) -> None:
        """Drop the claim ``token`` (nothing was sent)."""
        ...

    def wait(self, key: str, timeout: float) -> None:
        """Return when the key may have changed, or after ``timeout`` seconds."""
        ...

    def close(self) -> None:
        """Release the store's connections."""
        ...
