"""Idempotency: at most one send per idempotency key, over a pluggable store.

``store`` defines what a store keeps and the protocol it implements; ``memory_store``,
``sqlite_store`` and ``redis_store`` implement it; ``keys`` checks a key and fingerprints the
request; ``engine`` runs a send under a key and opens the store the settings name.
"""

from .engine import Idempotency, StoreSettings, open_idempotency
from .keys import MAX_KEY_LENGTH, check_key, fingerprint
from .store import IdempotencyStore, Record, State

__all__ = [
    "MAX_KEY_LENGTH",
    "Idempotency",
    "IdempotencyStore",
    "Record",
    "State",
    "StoreSettings",
    "check_key",
    "fingerprint",
    "open_idempotency",
]
