"""Leader election on a Lease in the sandbox: CAS, release, expiry, lose and re-acquire,
and two real daemon processes where the leader is killed with SIGKILL."""

from __future__ import annotations

import datetime as dt
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from reconciler.daemon.leaderelection import Attempt, LeaderElector, LeaseConfig
from tests.daemon.helpers import Harness, read_records, wait_for

NS = "reconciler-system"
FAST = {"lease_duration": 1.0, "renew_deadline": 0.6, "retry_period": 0.1}


@pytest.fixture
def api(sandbox: Any) -> Iterator[client.ApiClient]:
    api_client = sandbox.api_client()
    client.CoreV1Api(api_client).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=NS))
    )
    yield api_client


def lease(api: client.ApiClient, name: str) -> client.V1Lease:
    return client.CoordinationV1Api(api).read_namespaced_lease(name, NS)


def elector(api: client.ApiClient, identity: str, name: str = "leader", **kw: Any) -> LeaderElector:
    cfg = LeaseConfig(name=name, namespace=NS, identity=identity, **{**FAST, **kw})
    return LeaderElector(api, cfg)


def test_create_hold_release_and_take_over(api: client.ApiClient) -> None:
    a, b = elector(api, "a"), elector(api, "b")
    assert a.try_acquire_or_renew() is Attempt.LEADING  # creates the lease
    first = lease(api, "leader")
    assert first.spec.holder_identity == "a"
    assert first.spec.lease_duration_seconds == 1
    assert first.spec.lease_transitions == 0
    assert b.try_acquire_or_renew() is Attempt.HELD_BY_OTHER
    time.sleep(0.01)
    assert a.try_acquire_or_renew() is Attempt.LEADING  # renew
    renewed = lease(api, "leader")
    assert renewed.spec.renew_time > first.spec.renew_time
    assert renewed.spec.acquire_time == first.spec.acquire_time
    assert renewed.metadata.resource_version != first.metadata.resource_version
    assert a.release()
    assert lease(api, "leader").spec.holder_identity in (None, "")
    assert b.try_acquire_or_renew() is Attempt.LEADING  # no waiting for expiry
    taken = lease(api, "leader")
    assert taken.spec.holder_identity == "b"
    assert taken.spec.lease_transitions == 1
    assert a.try_acquire_or_renew() is Attempt.HELD_BY_OTHER
    assert not a.release()  # not ours


def test_an_expired_lease_is_taken_once_its_duration_passed_unrenewed(
    api: client.ApiClient,
) -> None:
    a, b = elector(api, "a"), elector(api, "b")
    assert a.try_acquire_or_renew() is Attempt.LEADING
    assert b.try_acquire_or_renew() is Attempt.HELD_BY_OTHER  # observed now
    time.sleep(0.5)
    assert b.try_acquire_or_renew() is Attempt.HELD_BY_OTHER  # not yet expired
    time.sleep(0.6)
    assert b.try_acquire_or_renew() is Attempt.LEADING
    assert lease(api, "leader").spec.holder_identity == "b"


def test_racing_candidates_never_both_win(api: client.ApiClient) -> None:
    for round_ in range(8):
        name = f"race-{round_}"
        ghost = elector(api, "ghost", name=name)
        assert ghost.try_acquire_or_renew() is Attempt.LEADING
        assert ghost.release()
        candidates = [elector(api, f"c{i}", name=name) for i in range(3)]
        results: list[Attempt] = []
        barrier = threading.Barrier(len(candidates))

        def campaign(e: LeaderElector, barrier: threading.Barrier, out: list[Attempt]) -> None:
            barrier.wait()
            out.append(e.try_acquire_or_renew())

        threads = [
            threading.Thread(target=campaign, args=(e, barrier, results)) for e in candidates
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count(Attempt.LEADING) == 1, results
        winner = lease(api, name).spec.holder_identity
        assert winner in {"c0", "c1", "c2"}


def test_the_leader_steps_down_when_another_holder_appears_and_later_leads_again(
    api: client.ApiClient,
) -> None:
    events: list[str] = []
    e = elector(api, "me")
    e.on_started = lambda: events.append("started")
    e.on_stopped = lambda: events.append("stopped")
    e.start()
    try:
        assert wait_for(e.leading.is_set, 5)
        # Another writer takes the lease (e.g. an operator's kubectl, or a split brain).
        api_ = client.CoordinationV1Api(api)
        current = api_.read_namespaced_lease("leader", NS)
        current.spec.holder_identity = "intruder"
        current.spec.renew_time = dt.datetime.now(dt.UTC).replace(microsecond=1)
        api_.replace_namespaced_lease("leader", NS, current)
        assert wait_for(lambda: not e.leading.is_set(), 5)
        # The intruder never renews: after the lease duration it is ours again.
        assert wait_for(e.leading.is_set, 5)
    finally:
        e.stop()
    assert events == ["started", "stopped", "started"]
    assert lease(api, "leader").spec.holder_identity in (None, "")  # released on stop


def test_lease_timing_must_be_consistent() -> None:
    with pytest.raises(ValueError, match="retry period < renew deadline < lease duration"):
        LeaseConfig(lease_duration=5, renew_deadline=10, retry_period=2)


# -- two daemon processes ----------------------------------------------------------------


@pytest.mark.slow
def test_standby_takes_over_after_the_leader_is_killed(sandbox: Any, tmp_path: Path) -> None:
    client.CoreV1Api(sandbox.api_client()).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=NS))
    )
    duration = 2.0
    args = ("--leader-elect", "--kubeconfig", str(sandbox.kubeconfig), "--lease",
            f"{duration},1.5,0.25", "--requeue-after", "0.2", "--targets", "prod")  # fmt: skip
    first = Harness(tmp_path, "first", *args)
    second = Harness(tmp_path, "second", *args)
    try:
        first.wait_healthy()
        second.wait_healthy()

        def leader() -> Harness | None:
            gauges = {h: h.metric("reconciler_leader") for h in (first, second)}
            leaders = [h for h, v in gauges.items() if v == 1.0]
            return leaders[0] if len(leaders) == 1 else None

        lead = wait_for(leader, 10)
        assert lead is not None, first.output() + second.output()
        standby = second if lead is first else first
        assert wait_for(lambda: len(read_records(lead.records)) >= 3, 10)
        time.sleep(0.5)
        assert read_records(standby.records) == []  # only the leader writes
        holder = client.CoordinationV1Api(sandbox.api_client()).read_namespaced_lease(
            "reconciler-leader", NS
        )
        assert holder.spec.holder_identity.split("_")[0]  # host name part

        killed_at = time.monotonic()
        lead.terminate(signal.SIGKILL)
        lead.proc.wait(5)
        assert wait_for(lambda: standby.metric("reconciler_leader") == 1.0, duration * 3)
        took = time.monotonic() - killed_at
        assert wait_for(lambda: read_records(standby.records), 5)
        print(f"standby took over {took:.2f}s after SIGKILL (lease duration {duration}s)")
        # Expiry drives the takeover: the lease duration plus a retry period or two of
        # observation (bounded generously here; the figure is printed above).
        assert took < 2 * duration
        assert standby.proc.poll() is None
    finally:
        first.close()
        second.close()
