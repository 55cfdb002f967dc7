"""Deliver records left in the outbox on a timer, backing off while the remote stays away.

Called by the daemon (its ``redeliver`` thread calls :meth:`Redelivery.tick` and sleeps for
the seconds it returns), so records queued while the remote was unreachable are pushed soon
after it returns, not only at the next reconcile. While delivery keeps failing, the wait
doubles from ``initial`` up to ``maximum`` seconds, with jitter (half the wait is random) so
that many daemons do not retry in step; once the outbox is empty it is looked at every
``initial`` seconds again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sized
from typing import Protocol

log = logging.getLogger(__name__)


class _Flushing(Protocol):
    def pending(self) -> Sized: ...

    def flush(self) -> object: ...


class Redelivery:
    """When to try the outbox again (see the module docstring); thread-safe."""

    def __init__(
        self,
        store: _Flushing,
        *,
        initial: float = 2.0,
        maximum: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.initial = initial
        self.maximum = maximum
        self.clock = clock
        self.jitter = jitter
        self.failures = 0
        """Deliveries in a row that left records waiting."""
        self._due = 0.0
        self._lock = threading.Lock()

    def delay(self) -> float:
        """Return the wait after :attr:`failures` failed deliveries (with jitter)."""
        full = min(self.maximum, self.initial * 2.0 ** max(0, self.failures - 1))
        return full / 2 + full / 2 * self.jitter()

    def tick(self) -> float:
        """Deliver waiting records if it is time; return the seconds until the next tick.

        Never raises: a failure to deliver only lengthens the wait.
        """
        with self._lock:
            now = self.clock()
            if now < self._due:
                return self._due - now
            try:
                waiting = len(self.store.pending()) > 0
                if waiting:
                    self.store.flush()
                    waiting = len(self.store.pending()) > 0
            except Exception as exc:  # an outbox or git failure: try again later
                log.warning("provenance: redelivery failed: %s", exc)
                waiting = True
            if not waiting:
                self.failures = 0
                self._due = now + self.initial
                return self.initial
            self.failures += 1
            wait = self.delay()
            self._due = now + wait
            log.info("provenance: records still waiting in the outbox; next try in %.1fs", wait)
            return wait
