"""CPU slots: how many service calls run Python code at once, apart from the threads that
only wait on the network.

A send towards a remote provider spends most of its time waiting for replies and almost none
computing. The service executor runs ``workers`` calls at once, each holding a slot. A send
whose SMTP exchange will wait long (the pool measured its exchanges waiting more than
``LONG_WAIT``) gives its slot back for the exchange (``waiting_on_the_network``) and
the executor may start one more thread meanwhile, so many sends wait on many connections
while at most ``workers`` threads compete for the GIL with work to do; it takes a slot again
for the rest of the call. Towards a nearby relay the exchange is shorter than a thread
hand-off, so the slot is kept and the executor stays at ``workers`` threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# An exchange waiting longer than this on the network is worth a thread of its own (a thread
# hand-off through the GIL costs tens of microseconds, a convoy of them far more).
LONG_WAIT = 0.002

_held = threading.local()  # the CpuSlots whose slot this thread holds, if any


class CpuSlots:
    """``count`` slots; a thread holds at most one. ``lend``/``reclaim`` tell the executor
    that a thread stopped (or resumed) needing CPU, so it may run one more call meanwhile."""

    def __init__(
        self,
        count: int,
        lend: Callable[[], None] | None = None,
        reclaim: Callable[[], None] | None = None,
    ) -> None:
        self.count = count
        self._semaphore = threading.Semaphore(count)
        self._lend = lend
        self._reclaim = reclaim

    def acquire(self) -> None:
        self._semaphore.acquire()
        _held.slots = self

    def release(self) -> None:
        if getattr(_held, "slots", None) is self:
            _held.slots = None
            self._semaphore.release()

    @contextmanager
    def lent(self) -> Iterator[None]:
        """This thread's slot given back for the block (it holds one)."""
        self.release()
        if self._lend is not None:
            self._lend()
        try:
            yield
        finally:
            if self._reclaim is not None:
                self._reclaim()
            self.acquire()


@contextmanager
def waiting_on_the_network(long: bool = True) -> Iterator[None]:
    """Give this thread's CPU slot back while the block waits ``long`` on the network
    (nothing when the wait is short or the thread holds no slot: a caller outside the
    service executor)."""
    slots: CpuSlots | None = getattr(_held, "slots", None)
    if slots is None or not long:
        yield
        return
    with slots.lent():
        yield
