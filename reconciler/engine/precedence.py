"""Push work first: full passes wait while another reconcile prepares a new commit.

Used by the daemon through :class:`reconciler.engine.seams.Context` (``precedence``). In
one process the environments' reconciles share the cores and one interpreter lock, so a
full pass (listing, tracking, rendering and applying a whole environment, most of a
second of CPU at 1,000 pipelines) running beside the preparation of a commit just pushed
delays that push's first write by about as much. A reconcile is *urgent* from its start
until its scoped pass is done (:meth:`Precedence.urgent`: resolving the commit, waiting
for a turn to prepare it, preparing it, the scoped pass); a full pass waits at each of its
step boundaries while any reconcile is urgent (:meth:`Precedence.wait`), at most
``limit`` seconds at a time, so a stream of pushes delays full passes (and their prunes)
but never stops them. Nothing else changes: what each pass does, and in what order within
one environment, is the same.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

WAIT_LIMIT = 10.0
"""Longest a full pass waits at one step boundary for urgent reconciles (seconds)."""


class Precedence:
    """Count the urgent reconciles; let full passes wait until there are none."""

    def __init__(self, limit: float = WAIT_LIMIT) -> None:
        self.limit = limit
        self._cond = threading.Condition()
        self._urgent = 0

    @contextlib.contextmanager
    def urgent(self) -> Iterator[None]:
        """Hold full passes back (at their next step boundary) until the block ends."""
        with self._cond:
            self._urgent += 1
        try:
            yield
        finally:
            with self._cond:
                self._urgent -= 1
                if not self._urgent:
                    self._cond.notify_all()

    def wait(self) -> float:
        """Wait while any reconcile is urgent (at most ``limit`` seconds); return the wait.

        Never call it inside :meth:`urgent` (the caller would wait for itself until the limit).
        """
        started = time.monotonic()
        with self._cond:
            self._cond.wait_for(lambda: self._urgent == 0, timeout=self.limit)
        return time.monotonic() - started
