"""Two daemons with leader election: one writes at a time, the standby takes over a kill -9.

Both run ``reconciler run --leader-elect`` against the sandbox. Exactly one reports
``reconciler_leader 1``; the leader is killed with SIGKILL while runs are in flight; the
standby takes over and finishes them. Afterwards every run is recorded once and no Job was
created twice.
"""

from __future__ import annotations

import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.chaos import support
from tests.chaos.conftest import Figures
from tests.workflows.world import GOOD, World, make_world


@pytest.fixture
def world(tmp_path: Path, sandbox: Any) -> World:
    w = make_world(tmp_path, sandbox)
    w.outcomes({**GOOD, "05-slow-train": {"match": "*/*-train", "delay": 3.0}})
    client.CoreV1Api(w.api).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name="reconciler-system"))
    )
    return w


def leader_gauge(port: int) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("reconciler_leader "):
            return float(line.split()[1])
    return None


def test_two_daemons_one_leader_and_a_takeover(
    world: World, sandbox: Any, tmp_path: Path, figures: Figures
) -> None:
    daemons = []
    for name in ("a", "b"):
        port = support.free_port()
        env = support.process_env(sandbox.kubeconfig, tmp_path / f"state-{name}")
        args = ["run", "--repo", str(world.work), "--env", "dev", "--interval", "1s",
                "--leader-elect", "--listen", f"127.0.0.1:{port}", "--log-format", "json"]  # fmt: skip
        proc = support.spawn(args, cwd=world.work, env=env, log=tmp_path / f"{name}.log")
        daemons.append((proc, port))
    try:

        def one_leader() -> tuple[Any, int] | None:
            gauges = [(d, leader_gauge(d[1])) for d in daemons]
            leaders = [d for d, g in gauges if g == 1.0]
            both_up = all(g is not None for _, g in gauges)
            return leaders[0] if both_up and len(leaders) == 1 else None

        leader = support.wait_for(one_leader, 90)
        assert leader is not None, [(tmp_path / f"{n}.log").read_text()[-2000:] for n in "ab"]
        standby = next(d for d in daemons if d is not leader)
        assert support.wait_for(lambda: support.live_runs(world), 60)  # runs in flight
        both_leaders = sum(leader_gauge(p) == 1.0 for _, p in daemons) > 1
        seen = support.live_runs(world)
        uids = world.jobs()
        killed_at = time.monotonic()
        leader[0].send_signal(signal.SIGKILL)
        leader[0].wait()
        took_over = support.wait_for(lambda: leader_gauge(standby[1]) == 1.0, 60, every=0.1)
        takeover = time.monotonic() - killed_at
        for p, runs in support.live_runs(world).items():
            seen.setdefault(p, set()).update(runs)
        recreated = sum(1 for n, u in world.jobs().items() if n in uids and uids[n] != u)

        def settled() -> bool:  # the standby finished every run and serves
            live = support.live_runs(world)
            return support.serving_present(world) == set(support.SERVED) and all(
                f"runs/dev/{p}/{r}.yaml" in support.record_files(world, p)
                for p, runs in live.items()
                for r in runs
            )

        finished = support.wait_for(settled, 180, every=1.0)
        for p, runs in support.live_runs(world).items():
            seen.setdefault(p, set()).update(runs)
        records = support.check_records(world, seen)
        figures.update(takeover_seconds=round(takeover, 1), two_leaders_seen=both_leaders,
                       recreated_jobs=recreated, **records)  # fmt: skip
        figures.report()
        assert took_over and not both_leaders and standby[0].poll() is None
        assert recreated == 0
        assert records["lost_records"] == 0 and records["doubled_records"] == 0
        assert finished
    finally:
        for proc, _ in daemons:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
