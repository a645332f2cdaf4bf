"""A point in time by which all work for one request must be done."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .errors import DeadlineExceeded


@dataclass(frozen=True)
class Deadline:
    """An absolute deadline on the monotonic clock; ``None`` means no deadline."""

    expires_at: float | None = None

    @classmethod
    def after(cls, seconds: float | None) -> Deadline:
        """The deadline ``seconds`` from now (none when ``seconds`` is None)."""
        return cls(None if seconds is None else time.monotonic() + seconds)

    def remaining(self) -> float | None:
        """Seconds left, possibly negative; None without a deadline."""
        return None if self.expires_at is None else self.expires_at - time.monotonic()

    def expired(self) -> bool:
        """Whether the deadline has passed."""
        left = self.remaining()
        return left is not None and left <= 0

    def timeout(self, limit: float) -> float:
        """The smaller of ``limit`` and the time left; DeadlineExceeded when none is left."""
        left = self.remaining()
        if left is None:
            return limit
        if left <= 0:
            raise DeadlineExceeded("the request's deadline ran out; the message was not sent")
        return min(limit, left)
