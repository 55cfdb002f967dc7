"""A commit that touches only ``runs/`` queues no environment in the daemon.

Regression: every push (the clone's refs watch, a webhook) queued every environment, and a
poll queued those whose branch *tip* moved, so a commit of run records alone on a followed
branch started a reconcile (and a render) of the same spec commit. Now the daemon compares
each branch's spec commit (the newest one touching anything outside ``runs/``).
Real git (a clone, its bare origin, pushes) and the daemon's own wiring on the sandbox.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from reconciler.cli import wiring
from reconciler.daemon import loop, workqueues
from tests.support import dvcrepos


def test_only_a_new_spec_commit_queues_its_environments(tmp_path: Path, sandbox: Any) -> None:
    work = dvcrepos.copy_example_repo(tmp_path / "work")
    options = loop.DaemonOptions(
        repo=str(work), state_dir=tmp_path / "state", kubeconfig=str(sandbox.kubeconfig)
    )
    parts = wiring.daemon_parts(options, ui=False)
    affected = parts["affected"]
    assert affected is not None
    parts["fetch"]()
    keys = parts["list_targets"]()
    assert sorted(affected(keys)) == sorted(keys) == ["dev", "prod", "staging"]

    (work / "runs" / "dev" / "x").mkdir(parents=True)
    (work / "runs" / "dev" / "x" / "a.yaml").write_text("run: a\n")
    dvcrepos.commit_all(work, "Run records only")
    dvcrepos.git(work, "push", "-q", "origin", "main")
    parts["fetch"]()
    assert affected(keys) == []

    spec = work / "pipelines" / "fraud-detector.yaml"
    spec.write_text(spec.read_text().replace("seed: 7", "seed: 8"))
    dvcrepos.commit_all(work, "A new seed")
    dvcrepos.git(work, "push", "-q", "origin", "main")
    parts["fetch"]()
    assert sorted(affected(keys)) == ["dev", "prod", "staging"]


def test_a_trigger_queues_only_what_affected_picks() -> None:
    queue = workqueues.WorkQueue()
    feeder = workqueues.Feeder(
        queue,
        fetch=lambda: False,
        list_targets=lambda: ["dev", "prod"],
        interval=3600,
        resync=3600,
        affected=lambda keys: [],
    )
    stop = threading.Event()
    t = threading.Thread(target=feeder.run, args=(stop,))
    t.start()
    try:
        deadline = time.monotonic() + 5
        while queue.depth() < 2 and time.monotonic() < deadline:  # first round: everything
            time.sleep(0.02)
        assert {queue.get(0.1), queue.get(0.1)} == {"dev", "prod"}
        queue.done("dev")
        queue.done("prod")
        feeder.trigger()  # a webhook or refs watch that brought no new spec commit
        time.sleep(0.5)
        assert queue.depth() == 0
    finally:
        stop.set()
        feeder.wake()
        t.join(2)
