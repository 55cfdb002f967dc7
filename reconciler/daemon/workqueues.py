"""The work queue of environment keys, the workers that drain it, and the feeder that fills it.

Used by :mod:`reconciler.daemon.loop`. Modelled on client-go's workqueue:

- a key is queued at most once (adds while queued coalesce);
- a key is never processed by two workers at once: an add while it is being processed is
  remembered and the key is queued again when the worker is done with it;
- delayed adds (:meth:`WorkQueue.add_after`) keep only the earliest time per key, and an
  immediate add supersedes a pending delayed one;
- failures back off exponentially per key, with jitter (:class:`Backoff`); a success forgets
  the key's failures; other keys are not held up.

:class:`Workers` run a reconcile function over the queue in parallel (up to a count), and
:class:`Feeder` decides when every target is queued again: after a fetch that changed a
ref, when triggered (webhook, refs watch), and on the periodic resync that corrects drift.
"""

from __future__ import annotations

import heapq
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from reconciler.daemon import memory
from reconciler.daemon.outcomes import FetchFn, ListTargetsFn, ReconcileFn, ReconcileOutcome

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Per-key exponential backoff with "equal jitter".

    The n-th consecutive failure waits between half and all of ``min(cap, base * 2**(n-1))``
    seconds, so retries of keys that failed together spread out.
    """

    base: float = 1.0
    cap: float = 300.0

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Return the wait before retrying after ``failures`` consecutive failures (>= 1)."""
        exp = min(max(failures, 1) - 1, 62)
        ceiling = min(self.cap, self.base * (2.0**exp))
        return ceiling / 2 + (rng or random).random() * ceiling / 2


class WorkQueue:
    """A thread-safe queue of keys with per-key exclusivity, delays and backoff."""

    def __init__(self, *, backoff: Backoff | None = None, rng: random.Random | None = None) -> None:
        self.backoff = backoff or Backoff()
        self._rng = rng or random.Random()
        self._cond = threading.Condition()
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._waiting: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._failures: dict[str, int] = {}
        self._shutting_down = False

    def add(self, key: str) -> None:
        """Queue ``key`` now; a no-op if it is already queued or the queue is shut down."""
        with self._cond:
            self._waiting.pop(key, None)
            self._add_locked(key)

    def add_all(self, keys: Iterable[str]) -> None:
        """Queue every key now."""
        for key in keys:
            self.add(key)

    def add_after(self, key: str, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds; an earlier pending time for it wins.

        Ignored if the key is already queued for now (that reconcile decides what follows).
        """
        if delay <= 0:
            self.add(key)
            return
        ready_at = time.monotonic() + delay
        with self._cond:
            if self._shutting_down or (key in self._dirty and key not in self._processing):
                return
            current = self._waiting.get(key)
            if current is not None and current <= ready_at:
                return
            self._waiting[key] = ready_at
            heapq.heappush(self._heap, (ready_at, key))
            self._cond.notify_all()

    def add_rate_limited(self, key: str) -> float:
        """Count a failure of ``key`` and queue it after its backoff; return the delay."""
        with self._cond:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            delay = self.backoff.delay(failures, self._rng)
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        """Reset the failure count of ``key`` (after a success)."""
        with self._cond:
            self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        """Return the number of consecutive failures of ``key``."""
        with self._cond:
            return self._failures.get(key, 0)

    def get(self, timeout: float | None = None) -> str | None:
        """Take the next key, waiting up to ``timeout`` seconds (forever if None).

        Returns None on timeout or once the queue is shut down (queued keys are then left
        alone: shutting down means taking no more work). The caller must call
        :meth:`done` with the key when finished.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._shutting_down:
                    return None
                self._promote_due_locked()
                if self._queue:
                    key = self._queue.popleft()
                    self._dirty.discard(key)
                    self._processing.add(key)
                    return key
                now = time.monotonic()
                waits = [] if deadline is None else [deadline - now]
                if self._heap:
                    waits.append(self._heap[0][0] - now)
                if deadline is not None and now >= deadline:
                    return None
                self._cond.wait(max(0.0, min(waits)) if waits else None)

    def done(self, key: str) -> None:
        """Mark ``key`` finished; if it was added meanwhile, queue it again."""
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty and not self._shutting_down:
                self._queue.append(key)
                self._cond.notify()

    def shutdown(self) -> None:
        """Stop handing out keys; wakes every waiting :meth:`get`."""
        with self._cond:
            self._shutting_down = True
            self._cond.notify_all()

    @property
    def shutting_down(self) -> bool:
        """True once :meth:`shutdown` was called."""
        with self._cond:
            return self._shutting_down

    def depth(self) -> int:
        """Return the number of keys queued for now (not delayed, not being processed)."""
        with self._cond:
            return len(self._queue)

    def processing(self) -> set[str]:
        """Return the keys being processed right now."""
        with self._cond:
            return set(self._processing)

    def _add_locked(self, key: str) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._cond.notify()

    def _promote_due_locked(self) -> None:
        now = time.monotonic()
        while self._heap and self._heap[0][0] <= now:
            ready_at, key = heapq.heappop(self._heap)
            if self._waiting.get(key) == ready_at:  # else superseded by an earlier time or add()
                del self._waiting[key]
                self._add_locked(key)


OutcomeHook = Callable[[str, ReconcileOutcome, float], None]
"""Called by a worker after each reconcile with the key, its outcome and its duration."""


class Workers:
    """Threads that take keys from a queue and reconcile them, up to ``count`` at once.

    A reconcile that raises counts as a failure (logged with its traceback). While
    ``gate`` is given and not set (a standby without the leader lease), workers take
    nothing. Threads are daemonic: a reconcile still running when :meth:`join` gives up
    is abandoned with the process.
    """

    def __init__(
        self,
        queue: WorkQueue,
        reconcile: ReconcileFn,
        *,
        count: int = 4,
        gate: threading.Event | None = None,
        on_outcome: OutcomeHook | None = None,
    ) -> None:
        self.queue = queue
        self.reconcile = reconcile
        self.count = max(1, count)
        self.gate = gate
        self.on_outcome = on_outcome
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._busy_lock = threading.Lock()

    def start(self) -> None:
        """Start the worker threads."""
        for i in range(self.count):
            thread = threading.Thread(target=self._work, name=f"reconcile-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds in all for the workers; True if all have ended."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def _work(self) -> None:
        while not self.queue.shutting_down:
            if self.gate is not None and not self.gate.wait(0.2):
                continue
            key = self.queue.get(timeout=0.5)
            if key is None:
                continue
            try:
                if self.gate is not None and not self.gate.is_set():
                    self.queue.add(key)  # lost the lease meanwhile: leave it to the leader
                    continue
                self._process(key)
            finally:
                self.queue.done(key)

    def _process(self, key: str) -> None:
        started = time.monotonic()
        with self._busy_lock:
            self._busy += 1
        try:
            outcome = self.reconcile(key)
        except Exception as exc:  # a bug or an unexpected error: back off, keep going
            log.exception("reconcile of %s raised", key, extra={"env": key})
            outcome = ReconcileOutcome(ok=False, error=f"{type(exc).__name__}: {exc}")
        finally:
            with self._busy_lock:
                self._busy -= 1
                idle = self._busy == 0
        if idle:  # a trim locks the allocator's heaps: never while another reconcile runs
            memory.release_free_memory()  # what the reconciles allocated and freed, to the OS
        if outcome.ok:
            self.queue.forget(key)
            if outcome.requeue_after is not None:
                self.queue.add_after(key, outcome.requeue_after)
        else:
            self.queue.add_rate_limited(key)
        if self.on_outcome is not None:
            self.on_outcome(key, outcome, time.monotonic() - started)


MAIN_THREAD_SLICE = 0.5
"""Longest the feeder (the daemon's main thread) blocks at once, so signals are handled."""


class Feeder:
    """Fill the queue: fetch on each tick or trigger, queue the targets on change or resync.

    ``select`` picks this daemon's targets from all those listed (``--env``, ``--shard``). After a fetch that changed
    something, and after a trigger (webhook, refs watch of a local repository, whose fetch
    may report nothing new), ``affected`` (if given) picks the targets whose branch has a
    new spec commit: a push to one branch reconciles the environments that follow it, not
    every other one, and a commit of run records alone (``runs/``) none. A resync queues
    every target. A fetch
    that raises is logged and reported to ``on_fetch`` as an error; targets are still
    queued on resync (the cluster may have drifted even if Git is unreachable).
    """

    def __init__(
        self,
        queue: WorkQueue,
        *,
        fetch: FetchFn,
        list_targets: ListTargetsFn,
        interval: float,
        resync: float,
        select: Callable[[list[str]], list[str]] = lambda keys: keys,
        on_fetch: Callable[[Exception | None], None] | None = None,
        on_targets: Callable[[list[str]], None] | None = None,
        affected: Callable[[list[str]], list[str]] | None = None,
    ) -> None:
        self.queue = queue
        self.fetch = fetch
        self.list_targets = list_targets
        self.interval = interval
        self.resync = resync
        self.select = select
        self.on_fetch = on_fetch
        self.on_targets = on_targets
        self.affected = affected
        self._wake = threading.Event()
        self._forced = False
        self._polled = False

    def trigger(self) -> None:
        """Fetch now (webhook, refs watch) and queue the targets ``affected`` picks.

        A local repository's change has already happened when its refs watch fires, so the
        fetch may well report nothing new; ``affected`` compares with what it saw before
        (without it, every target is queued).
        """
        self._forced = True
        self._wake.set()

    def poll(self) -> None:
        """Fetch now; queue the targets only if the fetch says something changed."""
        self._polled = True
        self._wake.set()

    def wake(self) -> None:
        """Interrupt :meth:`run` (used on shutdown)."""
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Feed the queue until ``stop`` is set; the first round fetches and queues everything."""
        next_fetch = next_resync = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            forced, self._forced = self._forced, False
            polled, self._polled = self._polled, False
            changed = forced
            fetched = False
            if forced or polled or now >= next_fetch:
                fetched = self._fetch()
                changed = fetched or changed
                next_fetch = now + self.interval
            resync_due = now >= next_resync
            if changed or resync_due:
                every = self.targets()
                moved = self._affected(every)
                keys = every if resync_due else moved
                if keys is every:
                    next_resync = now + self.resync
                self.queue.add_all(keys)
                if fetched:
                    log.info(
                        "source changed: %d of %d environments queued",
                        len(keys),
                        len(every),
                        extra={"seconds": round(time.monotonic() - now, 3)},
                    )
            # Wait in short slices: this is the main thread, and a SIGTERM that the kernel
            # delivers to another thread runs its Python handler only once this thread
            # wakes up (a long wait here once kept a daemon deaf to SIGTERM for minutes).
            due = min(next_fetch, next_resync) - time.monotonic()
            if self._wake.wait(min(MAIN_THREAD_SLICE, max(0.0, due))):
                self._wake.clear()

    def _affected(self, keys: list[str]) -> list[str]:
        if self.affected is None:
            return keys
        try:
            return self.affected(keys)
        except Exception:
            log.exception("finding the environments a change affects failed; queueing all")
            return keys

    def targets(self) -> list[str]:
        """Return the selected targets; an error listing them is logged and yields none."""
        try:
            keys = self.select(self.list_targets())
        except Exception:
            log.exception("listing the environments to reconcile failed")
            return []
        if self.on_targets is not None:
            self.on_targets(keys)
        return keys

    def _fetch(self) -> bool:
        try:
            changed = self.fetch()
        except Exception as exc:
            log.error("git fetch failed: %s", exc)
            if self.on_fetch is not None:
                self.on_fetch(exc)
            return False
        if self.on_fetch is not None:
            self.on_fetch(None)
        return changed
