"""Idempotency: at most one send per idempotency key, over a pluggable store."""
