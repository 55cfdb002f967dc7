"""kill -9 of ``reconciler sync`` and of the daemon at random points, across commits.

Runs are in flight throughout (a slow ``train`` step), new commits supersede them every few
rounds, and each process is killed with SIGKILL at a random moment (while it renders,
records, pushes or applies). Afterwards one clean reconcile converges, and:

- every run ever seen live has exactly one record, written by exactly one commit (0 lost,
  0 doubled);
- no Job was created twice (same name, new uid) and no finished run started again
  (0 duplicate runs or Jobs);
- serving objects, once up, never went away (0 wrong prunes), and the sandbox served no
  DELETE of a Deployment or InferenceService.
"""

from __future__ import annotations

import random
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.chaos import support
from tests.chaos.conftest import Figures
from tests.workflows.world import GOOD, World, make_world

SYNC_KILLS = 16
DAEMON_KILLS = 8
SEED = 12


@pytest.fixture
def world(tmp_path: Path, sandbox: Any) -> World:
    w = make_world(tmp_path, sandbox)
    w.outcomes({**GOOD, "05-slow-train": {"match": "*/*-train", "delay": 2.5}})
    return w


class Watch:
    """Snapshots of the cluster between kills: runs seen, Job uids, serving presence."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.seen: dict[str, set[str]] = {}
        self.uids: dict[str, str] = {}
        self.duplicate_jobs = 0
        self.served: set[str] = set()
        self.wrong_prunes = 0

    def snapshot(self) -> None:
        for pipeline, runs in support.live_runs(self.world).items():
            self.seen.setdefault(pipeline, set()).update(runs)
        for name, uid in self.world.jobs().items():
            if self.uids.setdefault(name, uid) != uid:
                self.duplicate_jobs += 1
                self.uids[name] = uid
        present = support.serving_present(self.world)
        self.wrong_prunes += len(self.served - present)
        self.served |= present


def new_commit(world: World, round_: int) -> None:
    path = world.work / "pipelines/fraud-detector.yaml"
    path.write_text(re.sub(r"seed: \d+", f"seed: {100 + round_}", path.read_text(), count=1))
    world.commit_and_push(f"Round {round_}")


def test_kill9_sync_and_daemon_at_random_points(
    world: World, sandbox: Any, tmp_path: Path, figures: Figures
) -> None:
    rng = random.Random(SEED)
    state = tmp_path / "state"  # the outbox the in-process store uses too
    env = support.process_env(sandbox.kubeconfig, state)
    log = tmp_path / "processes.log"
    watch = Watch(world)
    # One clean sync sets the time scale: kills land anywhere from start-up to the end.
    started = time.monotonic()
    assert support.spawn(["sync", "--env", "dev"], cwd=world.work, env=env, log=log).wait() == 0
    scale = time.monotonic() - started
    watch.snapshot()
    kills = {"sync": 0, "daemon": 0}
    finished = rounds = 0
    while (kills["sync"] < SYNC_KILLS or kills["daemon"] < DAEMON_KILLS) and rounds < 60:
        rounds += 1
        if rounds % 4 == 0:
            new_commit(world, rounds)
        kind = "sync" if kills["sync"] < SYNC_KILLS else "daemon"
        if kind == "sync":
            proc = support.spawn(["sync", "--env", "dev"], cwd=world.work, env=env, log=log)
            delay = rng.uniform(0.1, 1.1) * scale
        else:
            args = ["run", "--repo", str(world.work), "--env", "dev", "--interval", "1s",
                    "--listen", f"127.0.0.1:{support.free_port()}", "--log-format", "json"]  # fmt: skip
            proc = support.spawn(args, cwd=world.work, env=env, log=log)
            delay = rng.uniform(0.3, 2.5) * scale
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills[kind] += 1
        else:
            finished += 1
        proc.wait()
        watch.snapshot()
    killed = kills["sync"] + kills["daemon"]
    out = support.converge(world, timeout=180)
    watch.snapshot()
    counts = sandbox.request_counts()
    serving_deletes = sum(
        n for (verb, res, _), n in counts.items()
        if verb.upper() == "DELETE" and res in ("deployments", "inferenceservices")
    )  # fmt: skip
    records = support.check_records(world, watch.seen)
    live = support.live_runs(world)
    extra_runs = sum(len(runs) - 1 for runs in live.values())
    current = {p.name: p.run for p in out.pipelines}
    figures.update(
        sync_kills=kills["sync"], daemon_kills=kills["daemon"], completed_before_kill=finished,
        commits=rounds // 4, clean_sync_seconds=round(scale, 1),
        runs_seen=sum(len(r) for r in watch.seen.values()), **records,
        duplicate_jobs=watch.duplicate_jobs, extra_live_runs=extra_runs,
        wrong_prunes=watch.wrong_prunes + serving_deletes,
    )  # fmt: skip
    figures.report()
    assert killed >= 20, f"only {killed} processes were still running when killed"
    assert records["lost_records"] == 0 and records["doubled_records"] == 0
    assert watch.duplicate_jobs == 0
    assert extra_runs == 0 and all(live[p] == {current[p]} for p in live)
    assert watch.wrong_prunes == 0 and serving_deletes == 0
    ns = client.CoreV1Api(world.api).read_namespace("ml-dev")
    assert ns.metadata.annotations["reconciler.ml/commit"] == out.commit
