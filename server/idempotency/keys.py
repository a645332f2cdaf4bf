"""Idempotency keys: the length a key may have, and the digest of the request it is bound to."""

from __future__ import annotations

import hashlib

from ..errors import InvalidRequest

MAX_KEY_LENGTH = 256


def fingerprint(request: bytes) -> str:
    """The digest a key is bound to: the whole request (inline config and its secrets
    included) without the key itself, so the store never holds any of it in clear."""
    return hashlib.sha256(request).hexdigest()


def check_key(key: str) -> None:
    """Refuse keys too long to be a sensible identifier."""
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest.for_field(
            "idempotency_key", f"must be at most {MAX_KEY_LENGTH} characters"
        )
