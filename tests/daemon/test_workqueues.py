"""The work queue with real threads: per-key exclusivity, parallelism, backoff, delays."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import defaultdict

import pytest

from reconciler.daemon import outcomes, workqueues
from tests.daemon.helpers import wait_for


class Recorder:
    """A reconcile function that records concurrency and call times per key."""

    def __init__(self, *, seconds: float = 0.0, fail: frozenset[str] = frozenset()) -> None:
        self.seconds = seconds
        self.fail = fail
        self.lock = threading.Lock()
        self.active: dict[str, int] = defaultdict(int)
        self.max_active_per_key: dict[str, int] = defaultdict(int)
        self.max_active_total = 0
        self.calls: dict[str, list[float]] = defaultdict(list)

    def __call__(self, key: str) -> outcomes.ReconcileOutcome:
        with self.lock:
            self.calls[key].append(time.monotonic())
            self.active[key] += 1
            self.max_active_per_key[key] = max(self.max_active_per_key[key], self.active[key])
            self.max_active_total = max(self.max_active_total, sum(self.active.values()))
        time.sleep(self.seconds)
        with self.lock:
            self.active[key] -= 1
        if key in self.fail:
            return outcomes.failed("boom")
        return outcomes.succeeded()

    def count(self, key: str) -> int:
        with self.lock:
            return len(self.calls[key])


def run_workers(
    queue: workqueues.WorkQueue, fn: outcomes.ReconcileFn, count: int = 4
) -> workqueues.Workers:
    workers = workqueues.Workers(queue, fn, count=count)
    workers.start()
    return workers


def test_one_key_is_never_reconciled_twice_at_once_but_keys_run_in_parallel() -> None:
    queue = workqueues.WorkQueue()
    rec = Recorder(seconds=0.05)
    workers = run_workers(queue, rec, count=4)
    try:
        for _ in range(10):
            queue.add_all(["a", "b", "c", "d"])
            time.sleep(0.01)
        assert wait_for(
            lambda: rec.count("a") >= 2 and not queue.processing() and not queue.depth(), 5
        )
    finally:
        queue.shutdown()
        assert workers.join(2)
    assert max(rec.max_active_per_key.values()) == 1
    assert rec.max_active_total > 1  # environments in parallel
    # Ten adds of "a" while it was queued or in flight coalesce into a few reconciles.
    assert rec.count("a") < 10


def test_an_add_while_processing_reconciles_again_afterwards() -> None:
    queue = workqueues.WorkQueue()
    rec = Recorder(seconds=0.1)
    workers = run_workers(queue, rec, count=2)
    try:
        queue.add("a")
        assert wait_for(lambda: "a" in queue.processing(), 2)
        queue.add("a")  # a new commit arrived during the reconcile
        assert wait_for(lambda: rec.count("a") == 2, 2)
    finally:
        queue.shutdown()
        workers.join(2)
    assert rec.max_active_per_key["a"] == 1


def test_failures_back_off_exponentially_per_key_and_others_go_on() -> None:
    queue = workqueues.WorkQueue(backoff=workqueues.Backoff(base=0.04, cap=10))
    rec = Recorder(fail=frozenset({"bad"}))

    def reconcile(key: str) -> outcomes.ReconcileOutcome:
        out = rec(key)
        return outcomes.requeue_after(0.005) if key == "good" else out

    workers = run_workers(queue, reconcile, count=2)
    try:
        queue.add_all(["bad", "good"])
        assert wait_for(lambda: rec.count("bad") >= 5, 5)
    finally:
        queue.shutdown()
        workers.join(2)
    times = rec.calls["bad"][:5]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # The n-th retry waits at least half of base * 2**(n-1): 0.02, 0.04, 0.08, 0.16.
    for n, gap in enumerate(gaps, start=1):
        assert gap >= 0.04 * 2 ** (n - 1) / 2 - 0.005, gaps
    assert gaps[-1] > gaps[0]
    assert rec.count("good") > rec.count("bad")  # the healthy key was not held up


def test_a_raising_reconcile_counts_as_a_failure() -> None:
    queue = workqueues.WorkQueue(backoff=workqueues.Backoff(base=0.01, cap=0.05))
    seen: list[outcomes.ReconcileOutcome] = []

    def reconcile(key: str) -> outcomes.ReconcileOutcome:
        raise RuntimeError("engine bug")

    workers = workqueues.Workers(
        queue, reconcile, count=1, on_outcome=lambda key, out, secs: seen.append(out)
    )
    workers.start()
    try:
        queue.add("x")
        assert wait_for(lambda: len(seen) >= 2, 5)
    finally:
        queue.shutdown()
        workers.join(2)
    assert not seen[0].ok
    assert "engine bug" in seen[0].error
    assert queue.failures("x") >= 2


def test_success_forgets_failures() -> None:
    queue = workqueues.WorkQueue(backoff=workqueues.Backoff(base=0.01, cap=0.02))
    attempts = {"n": 0}

    def reconcile(key: str) -> outcomes.ReconcileOutcome:
        attempts["n"] += 1
        return outcomes.failed("flaky") if attempts["n"] < 3 else outcomes.succeeded()

    workers = run_workers(queue, reconcile, count=1)
    try:
        queue.add("x")
        assert wait_for(lambda: attempts["n"] >= 3 and not queue.processing(), 5)
    finally:
        queue.shutdown()
        workers.join(2)
    assert queue.failures("x") == 0


def test_backoff_delay_is_jittered_within_half_to_full_and_capped() -> None:
    backoff = workqueues.Backoff(base=1.0, cap=30.0)
    rng = random.Random(7)
    for failures in range(1, 12):
        ceiling = min(30.0, 2.0 ** (failures - 1))
        delays = [backoff.delay(failures, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len({round(d, 6) for d in delays}) > 1  # jitter


def test_add_after_keeps_the_earliest_time_and_add_supersedes_it() -> None:
    queue = workqueues.WorkQueue()
    queue.add_after("a", 30)
    queue.add_after("a", 0.05)  # earlier wins
    assert queue.get(timeout=0.01) is None
    assert queue.get(timeout=2) == "a"
    queue.done("a")
    queue.add_after("b", 30)
    queue.add("b")  # an immediate add replaces the pending delayed one
    assert queue.get(timeout=0.5) == "b"
    queue.done("b")
    assert queue.get(timeout=0.1) is None


def test_shutdown_wakes_getters_and_stops_handing_out_keys() -> None:
    queue = workqueues.WorkQueue()
    got: list[str | None] = []
    t = threading.Thread(target=lambda: got.append(queue.get()))
    t.start()
    time.sleep(0.05)
    queue.shutdown()
    t.join(2)
    assert got == [None]
    queue.add("late")
    assert queue.get(timeout=0.01) is None
    assert queue.depth() == 0


def test_a_closed_gate_holds_work_until_it_opens() -> None:
    queue = workqueues.WorkQueue()
    gate = threading.Event()
    rec = Recorder()
    workers = workqueues.Workers(queue, rec, count=2, gate=gate)
    workers.start()
    try:
        queue.add("prod")
        time.sleep(0.3)
        assert rec.count("prod") == 0  # a standby does not write
        gate.set()
        assert wait_for(lambda: rec.count("prod") == 1, 2)
    finally:
        queue.shutdown()
        workers.join(2)


@pytest.mark.parametrize("seconds", [-1.0, 0.0, 2.5])
def test_requeue_after_outcome(seconds: float) -> None:
    out = outcomes.requeue_after(seconds, commit="abc", applied=3)
    assert out.ok and out.requeue_after == max(0.0, seconds)
    assert (out.commit, out.applied) == ("abc", 3)


def test_feeder_queues_everything_first_then_on_change_trigger_and_resync() -> None:
    queue = workqueues.WorkQueue()
    changes = iter([True, False, False, False, False, False, False, False])
    fetches: list[float] = []

    def fetch() -> bool:
        fetches.append(time.monotonic())
        return next(changes, False)

    feeder = workqueues.Feeder(
        queue,
        fetch=fetch,
        list_targets=lambda: ["prod", "staging", "exp@exp/a"],
        interval=30,
        resync=30,
        select=lambda keys: [k for k in keys if not k.startswith("exp")],
    )
    stop = threading.Event()
    t = threading.Thread(target=feeder.run, args=(stop,))
    t.start()
    try:
        assert wait_for(lambda: queue.depth() == 2, 2)
        got = {queue.get(0.1), queue.get(0.1)}
        assert got == {"prod", "staging"}
        queue.done("prod")
        queue.done("staging")
        feeder.trigger()  # a webhook or a refs watch: fetch now, queue everything
        assert wait_for(lambda: len(fetches) == 2 and queue.depth() == 2, 2)
    finally:
        stop.set()
        feeder.wake()
        t.join(2)
    assert not t.is_alive()
