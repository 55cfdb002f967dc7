"""Push work first: full passes wait while another reconcile prepares a pushed commit.

Used by the daemon through :class:`reconciler.engine.seams.Context` (``precedence``). In
one process the environments' reconciles share the cores and one interpreter lock, so a
full pass (listing, tracking, rendering and applying a whole environment, most of a
second of CPU at 1,000 pipelines) running beside the preparation of a commit just pushed
delays that push's first write by about as much. Two rules:

- a reconcile of a *push* (a commit other than the one this process last reconciled for
  that environment instance: not a first reconcile, not the same commit again) is urgent
  from the moment its commit is known until its scoped pass is done (waiting for a turn
  to prepare, preparing, the scoped pass: :meth:`Precedence.urgent`); a full pass waits
  at each of its step boundaries while any reconcile is urgent (:meth:`Precedence.wait`),
  at most ``limit`` seconds at a time, so a stream of pushes delays full passes (and
  their prunes) but never stops them;
- full passes run one at a time (:meth:`Precedence.full_pass`), the daemon's first ones
  included: when a push comes, at most one of them is in the middle of a step (the others
  notice the newer commit at their boundary), and that step is not slowed by others. A
  full pass holds its environment's live and rendered objects while it runs (most of the
  daemon's memory at its peak: at 10,000 pipelines x 3 environments, three side by side
  peaked at 1.4 GB, one at a time at 0.84 GB); preparing a commit (outside the turn)
  still overlaps another environment's pass;
- preparations take turns (:class:`PrepareSlots`: one at a time in the daemon), and a
  reconcile waiting for its turn whose commit another thread prepares meanwhile (the
  daemon prepares a pushed commit ahead, in a thread of its own) goes on as soon as that
  preparation is done, not after the preparations queued before it.

What each pass does, and in what order within one environment, is unchanged.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

WAIT_LIMIT = 10.0
"""Longest a full pass waits at one step boundary for urgent reconciles (seconds)."""


class Precedence:
    """Count the urgent reconciles; let full passes wait for them, and take turns."""

    def __init__(self, limit: float = WAIT_LIMIT) -> None:
        self.limit = limit
        self._cond = threading.Condition()
        self._urgent = 0
        self._seen: dict[str, str] = {}
        self._full = threading.Lock()

    def is_push(self, instance: str, commit: str) -> bool:
        """True if ``commit`` is new for ``instance`` (one was reconciled before, another)."""
        with self._cond:
            seen = self._seen.get(instance)
        return seen is not None and seen != commit

    def seen(self, instance: str, commit: str) -> None:
        """Remember the commit just reconciled (its scoped pass done) for ``instance``."""
        with self._cond:
            self._seen[instance] = commit

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

    @contextlib.contextmanager
    def full_pass(self) -> Iterator[None]:
        """Hold the one turn of full passes (after waiting for urgent reconciles)."""
        self.wait()
        with self._full:
            yield


class PrepareSlots:
    """At most ``limit`` preparations at once; a waiter leaves when what it needs is ready.

    A semaphore whose :meth:`acquire_unless` also returns, without a slot, once the value
    the caller would prepare is there (``ready()`` returns it): every :meth:`release`
    wakes the waiters to look again, so a reconcile whose commit another thread prepared
    does not wait for the preparations of other environments queued before it. ``ready``
    runs under this object's lock: it must be quick and take no lock that is held while
    acquiring a slot.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._free = self.limit
        self._cond = threading.Condition()

    def acquire_unless(self, ready: Callable[[], T | None]) -> T | None:
        """Return ``ready()``'s value as soon as it is not None (no slot taken), or None once
        a slot is held (the caller prepares, then calls :meth:`release`)."""
        with self._cond:
            while True:
                found = ready()
                if found is not None:
                    return found
                if self._free > 0:
                    self._free -= 1
                    return None
                self._cond.wait()

    def release(self) -> None:
        """Give a slot back and let every waiter look again (a preparation just ended)."""
        with self._cond:
            if self._free >= self.limit:
                raise RuntimeError("PrepareSlots released more often than acquired")
            self._free += 1
            self._cond.notify_all()
