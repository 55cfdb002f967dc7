"""20% of API requests fail (500, 429 with Retry-After, connection resets, slow answers).

The engine reconciles the example's ``dev`` environment through :class:`FaultProxy` in
front of the sandbox, as the daemon would (reconcile, wait, reconcile), across a commit
that supersedes the runs in flight. Then: converged (every run recorded, serving up), no
live object pruned by mistake (the sandbox served no DELETE of a serving object, and the
Jobs deleted were all of superseded, recorded runs), and no crash loop (every failed
reconcile is a reported error, never an exception of another kind, and they never come
in long streaks).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from reconciler import engine
from reconciler.apply.manager import ResourceManager
from reconciler.cluster import api, clients
from reconciler.structs.changesets import Action
from reconciler.structs.errors import ReconcilerError
from tests.chaos import support
from tests.chaos.conftest import Figures
from tests.chaos.faultproxy import FaultProxy
from tests.workflows.world import GOOD, World, make_world, status

RATE = 0.2
MAX_RECONCILES = 120


@pytest.fixture
def proxy(sandbox: Any) -> Any:
    p = FaultProxy(sandbox.url, rate=RATE, seed=3).start()
    yield p
    p.stop()


@pytest.fixture
def world(tmp_path: Path, sandbox: Any, proxy: FaultProxy) -> World:
    w = make_world(tmp_path, sandbox)
    w.outcomes({**GOOD, "05-train": {"match": "*/*-train", "delay": 1.0}})
    kubeconfig = support.kubeconfig_for(proxy.url, tmp_path / "proxy-kubeconfig")
    retry = api.RetryPolicy(attempts=4, initial=0.05, maximum=1.0, timeout=10)
    manager = ResourceManager(clients.load_client(kubeconfig=str(kubeconfig)), retry=retry)
    w.ctx = engine.Context(repo=w.work, manager_for=lambda _c: manager, provenance=w.ctx.provenance)
    return w


def done(o: engine.Outcome) -> bool:
    finished = all(p.status in ("Succeeded", "Failed", "Cancelled") for p in o.pipelines)
    served = all(status(o, name).serving is not None for name in support.SERVED)
    return finished and served and not o.records_pending and not o.errors


def test_converges_through_20_percent_api_faults(
    world: World, sandbox: Any, proxy: FaultProxy, figures: Figures
) -> None:
    failures = streak = longest = reconciles = 0
    deleted: list[str] = []
    committed = False
    converged_at = None
    start = time.monotonic()
    while reconciles < MAX_RECONCILES:
        reconciles += 1
        try:
            out = engine.reconcile(world.ctx, "dev")
        except ReconcilerError:
            failures += 1
            streak += 1
            longest = max(longest, streak)
            time.sleep(0.2)
            continue
        streak = 0
        deleted += [str(e.subject) for e in out.changeset.entries if e.action is Action.DELETED]
        if out.changeset.failed or out.errors:
            failures += 1
        if not committed and reconciles >= 3:
            world.edit("pipelines/fraud-detector.yaml", "max_depth: 6", "max_depth: 9")
            world.commit_and_push("Deeper trees, under faults")
            committed = True
        elif committed and done(out):
            converged_at = reconciles
            break
        time.sleep(0.3)
    counts = sandbox.request_counts()
    serving_deletes = sum(
        n for (verb, res, _), n in counts.items()
        if verb.upper() == "DELETE" and res in ("deployments", "inferenceservices", "services")
    )  # fmt: skip
    seen = {"fraud-detector": set(), "resnet50": set(), "llm-finetune": set()}
    for name in deleted:
        _kind, _ns, job = name.split("/", 2)
        for p in seen:
            if job.startswith(p + "-"):
                seen[p].add(job[len(p) + 1 :].rsplit("-", 1)[0])
    unrecorded_deletes = sum(
        1 for p, runs in seen.items() for r in runs
        if f"runs/dev/{p}/{r}.yaml" not in support.record_files(world, p)
    )  # fmt: skip
    figures.update(
        requests=sum(proxy.counts.values()), faults=sum(proxy.counts[f] for f in ("500", "429", "reset", "slow")),
        **{f"fault_{k}": proxy.counts[k] for k in ("500", "429", "reset", "slow")},
        reconciles=reconciles, failed_reconciles=failures, longest_failure_streak=longest,
        converged_after=converged_at, seconds=round(time.monotonic() - start, 1),
        serving_deletes=serving_deletes, deletes_of_unrecorded_runs=unrecorded_deletes,
    )  # fmt: skip
    figures.report()
    assert converged_at is not None, f"not converged after {reconciles} reconciles"
    faults = figures["faults"] / max(figures["requests"], 1)
    assert 0.1 < faults < 0.3 and min(proxy.counts[f] for f in ("500", "429", "reset", "slow"))
    assert serving_deletes == 0 and unrecorded_deletes == 0
    assert longest < 10
