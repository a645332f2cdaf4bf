"""A point in time by which all work for one request must be done, and the cancellation
that ends it early when the caller has gone."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .errors import DeadlineExceeded


class Cancellation:
    """Set once when the caller has gone (its RPC was cancelled or ended): the work still
    running for it is told at once through the hooks it registered (a session shuts its
    socket, so that a read from a silent peer ends now, not at its timeout)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._hooks: dict[int, Callable[[], None]] = {}
        self._keys = itertools.count()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            hooks = list(self._hooks.values())
        for hook in hooks:
            hook()

    @contextmanager
    def hooked(self, hook: Callable[[], None]) -> Iterator[None]:
        """Run ``hook`` if the work is cancelled while inside this block (at once if it
        already was)."""
        with self._lock:
            key = next(self._keys)
            self._hooks[key] = hook
            cancelled = self._cancelled
        try:
            if cancelled:
                hook()
            yield
        finally:
            with self._lock:
                self._hooks.pop(key, None)


@dataclass(frozen=True)
class Deadline:
    """An absolute deadline on the monotonic clock; ``None`` means no deadline. With a
    ``cancellation``, the deadline has passed as soon as that is cancelled."""

    expires_at: float | None = None
    cancellation: Cancellation | None = field(default=None, compare=False)

    @classmethod
    def after(cls, seconds: float | None, cancellation: Cancellation | None = None) -> Deadline:
        """The deadline ``seconds`` from now (none when ``seconds`` is None)."""
        return cls(None if seconds is None else time.monotonic() + seconds, cancellation)

    def remaining(self) -> float | None:
        """Seconds left, possibly negative (0 once cancelled); None without a deadline."""
        if self.cancelled():
            return 0.0
        return None if self.expires_at is None else self.expires_at - time.monotonic()

    def cancelled(self) -> bool:
        """Whether the caller has gone."""
        return self.cancellation is not None and self.cancellation.cancelled

    @contextmanager
    def on_cancel(self, hook: Callable[[], None]) -> Iterator[None]:
        """Run ``hook`` if the caller goes while inside this block."""
        if self.cancellation is None:
            yield
            return
        with self.cancellation.hooked(hook):
            yield

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
