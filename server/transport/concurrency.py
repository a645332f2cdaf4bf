"""How many SMTP connections one destination gets: slow start, back-off and a learned cap.

After Postfix's scheduler (``initial_destination_concurrency``,
``default_destination_concurrency_limit``, its positive and negative feedback): a pool starts
with a few connections and takes one more each time a send succeeded while other sends were
queued for a connection, up to a cap. Two things bound the growth:

- the cap: the config's ``maxConnections`` (a hard cap, never exceeded), the server's
  ``pool_max_connections``, and a lower cap learned when the provider refused a connection
  (``421``, "too many connections", a refused or reset connect) while others were open:
  the number open then, remembered for ``REMEMBER`` seconds, then probed again one up;
- usefulness: a connection adds throughput only while a message waits longer on the network
  than the process works on it. With the path's round-trip time ``rtt`` (the kernel's own
  smoothed figure for the pool's sockets, which no thread scheduling or GIL wait inflates, as
  they would any time measured in Python) and ``CPU_PER_MESSAGE`` of work,
  ``(2 rtt + cpu) / cpu`` connections keep the process busy; beyond that they only add
  threads fighting over the GIL. So a nearby relay keeps a handful of connections and a
  provider 50 ms away may use the whole cap. A process already using its core does not grow.

When the pool idles it shrinks back (the idle sessions close; the limit follows them).
The class is plain bookkeeping: the pool calls it under its own lock.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

# Connections a pool starts with: one for each of the service's 4 CPU slots, so a nearby relay
# never makes a send wait for a connection (Postfix's initial_destination_concurrency is 5;
# nodemailer opens up to its 5 at once).
INITIAL = 4
# The process's CPU time per message, the unit the round-trip time is weighed against
# (server CPU a message at 32 in flight, docs/performance.md).
CPU_PER_MESSAGE = 0.001
# Round trips a message takes on a pooled connection (PIPELINING: envelope, then content).
ROUND_TRIPS = 2
# Above this share of a core the process is busy: more connections would not help.
BUSY = 0.85
# How long a cap learned from a refusal holds before one more connection is tried.
REMEMBER = 600.0


class CpuMeter:
    """The share of one core this process used lately (one Python process uses at most
    about one, the GIL's); read at most every ``PERIOD`` seconds."""

    PERIOD = 0.25

    def __init__(self) -> None:
        self._at = time.monotonic()
        self._cpu = time.process_time()
        self._busy = 0.0

    def busy(self) -> float:
        now = time.monotonic()
        if now - self._at >= self.PERIOD:
            cpu = time.process_time()
            self._busy = (cpu - self._cpu) / (now - self._at)
            self._at, self._cpu = now, cpu
        return self._busy


PROCESS_CPU = CpuMeter()


@dataclass
class AdaptiveLimit:
    """The connection target of one pool: ``limit`` grows from ``INITIAL`` towards ``cap()``."""

    hard_cap: int
    limit: int = INITIAL
    learned_cap: int | None = None
    learned_at: float = 0.0
    rtt: float = 0.0  # seconds: the kernel's smoothed TCP round-trip time
    wait: float = 0.0  # seconds a message's exchange waits on the network
    refusals: int = 0
    _clock: object = field(default=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        self.limit = min(self.limit, self.hard_cap)

    def now(self) -> float:
        clock = self._clock
        assert callable(clock)
        return float(clock())

    def cap(self) -> int:
        """The most connections allowed now: the hard cap, or the learned one while it holds."""
        if self.learned_cap is not None and self.now() - self.learned_at >= REMEMBER:
            # Probe again, one connection more than the provider allowed last time.
            self.learned_cap += 1
            self.learned_at = self.now()
            if self.learned_cap >= self.hard_cap:
                self.learned_cap = None
        if self.learned_cap is None:
            return self.hard_cap
        return min(self.hard_cap, self.learned_cap)

    def useful(self) -> int:
        """Connections that still add throughput at this round-trip time."""
        needed = math.ceil((self.wait + CPU_PER_MESSAGE) / CPU_PER_MESSAGE)
        return max(INITIAL, needed)

    def target(self) -> int:
        """The connections the pool may hold now."""
        return max(1, min(self.limit, self.cap()))

    def grow(self, demand: int) -> bool:
        """A send succeeded while others queued (``demand``: the sends holding or waiting for
        a connection): one connection more, if it can help, never more than the demand, and
        only while the process has CPU to spare (a busy one is not waiting for connections)."""
        ceiling = min(self.cap(), self.useful(), demand)
        if self.limit < ceiling and PROCESS_CPU.busy() < BUSY:
            self.limit += 1
            return True
        return False

    def refused(self, established: int) -> None:
        """The provider refused a connection while ``established`` others were open."""
        self.refusals += 1
        self.learned_cap = max(1, established)
        self.learned_at = self.now()
        self.limit = min(self.limit, self.learned_cap)

    def shrink(self, established: int) -> None:
        """Idle sessions were closed: the limit follows what is left, down to the start."""
        self.limit = max(min(INITIAL, self.hard_cap), min(self.limit, established))

    def observe_rtt(self, seconds: float) -> None:
        """A session's TCP round-trip time (smoothed over the sessions as TCP smooths its
        own, 1/8 new); a message waits two of them."""
        if seconds <= 0:
            return
        self.rtt = seconds if not self.rtt else self.rtt + (seconds - self.rtt) / 8
        self.wait = ROUND_TRIPS * self.rtt
