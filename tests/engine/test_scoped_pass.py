"""The scoped first pass (``reconcile(scoped=True)``, the daemon's): a push's changed pipelines
are applied before the rest of the environment, and nothing else is touched by it.

Real git (a clone of the example and its bare origin), the example's DVC pointers and the
sandbox over HTTP. Runs are kept in flight (every step takes an hour) unless a test says so.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from reconciler import engine
from reconciler.engine import preparing, scoping, sources
from reconciler.structs import labels
from reconciler.structs.changesets import Action
from tests.support import dvcrepos
from tests.workflows.world import GOOD, NS, World, make_world, status

IN_FLIGHT = {"99-in-flight": {"match": "*", "delay": 3600}}
WRITE_VERBS = ("POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION")


@pytest.fixture
def world(tmp_path: Path, sandbox: Any) -> World:
    w = make_world(tmp_path, sandbox)
    w.outcomes(IN_FLIGHT)
    return w


def requests_by_verb(world: World) -> dict[str, int]:
    out: dict[str, int] = {}
    for (verb, _resource, _code), n in world.sandbox.request_counts().items():
        out[verb.upper()] = out.get(verb.upper(), 0) + n
    return out


def applied_commit(world: World) -> str:
    ns = client.CoreV1Api(world.api).read_namespace(NS)
    return str((ns.metadata.annotations or {}).get(labels.COMMIT, ""))


def record_commits(world: World, branch: str, path: str) -> int:
    """Return how many commits of the origin's ``branch`` touched ``path``."""
    out = dvcrepos.git(world.origin, "log", "--format=%H", branch, "--", path)
    return len(out.split())


def scoped_pass_alone(world: World) -> engine.ScopedPass:
    """Run the scoped pass of the branch's newest commit, and not the full reconcile."""
    source = sources.resolve_source(world.ctx.repo, "dev", None, None)
    prepared = preparing.prepare(world.ctx, source, "dev")
    manager = world.ctx.manager_for(None)
    return scoping.first_pass(world.ctx, manager, source, prepared)


def test_a_one_pipeline_push_writes_its_new_job_before_the_full_pass(world: World) -> None:
    first = world.reconcile()
    old = status(first, "fraud-detector").run
    jobs_before = world.jobs()
    assert f"fraud-detector-{old}-prepare" in jobs_before
    applied_before = applied_commit(world)
    world.edit("pipelines/fraud-detector.yaml", "seed: 7", "seed: 8")
    sha = world.commit_and_push("fraud-detector: seed 8")
    before = requests_by_verb(world)

    scoped = scoped_pass_alone(world)

    assert scoped.skipped == "" and scoped.pipelines == ("fraud-detector",)
    after = requests_by_verb(world)
    jobs = world.jobs()
    new_jobs = set(jobs) - set(jobs_before)
    assert len(new_jobs) == 1
    (new_job,) = new_jobs
    new_run = new_job.removeprefix("fraud-detector-").removesuffix("-prepare")
    assert new_job == f"fraud-detector-{new_run}-prepare" and new_run != old
    # Nothing pruned, nothing else rewritten: every Job that was there is the same object.
    assert {n: jobs[n] for n in jobs_before} == jobs_before
    assert after.get("DELETE", 0) == before.get("DELETE", 0)
    written = {e.subject for e in scoped.changeset.entries if e.action is not Action.UNCHANGED}
    assert written and all(ref.name.startswith("fraud-detector-") for ref in written)
    writes = sum(after.get(v, 0) - before.get(v, 0) for v in WRITE_VERBS)
    assert writes == len(written)
    # The full reconcile has not run: the commit is not marked applied yet.
    assert applied_commit(world) == applied_before
    # The superseded run was recorded (once) before its Jobs may go.
    old_path = f"runs/dev/fraud-detector/{old}.yaml"
    rec = world.origin_record("experiments/fraud-detector", old_path)
    assert rec.status == "Cancelled" and rec.superseded_by == sha
    assert scoped.records == [old_path]

    # The daemon's reconcile: the scoped pass again (nothing left to write), then the full.
    out = engine.reconcile(world.ctx, "dev", scoped=True)
    assert out.ok, out.errors or str(out.changeset)
    assert out.scoped is not None and out.scoped.pipelines == ("fraud-detector",)
    assert not [e for e in out.scoped.changeset.entries if e.action is not Action.UNCHANGED]
    assert out.scoped.records == []
    final = world.jobs()
    assert final[new_job] == jobs[new_job]  # the step object was never written again
    assert f"fraud-detector-{old}-prepare" not in final  # the full pass pruned the old run
    assert {n: u for n, u in final.items() if not n.startswith("fraud-detector-")} == {
        n: u for n, u in jobs_before.items() if not n.startswith("fraud-detector-")
    }
    assert applied_commit(world) == sha
    assert record_commits(world, "experiments/fraud-detector", old_path) == 1


def test_the_daemons_reconcile_folds_the_scoped_pass_into_one_outcome(world: World) -> None:
    world.reconcile()
    world.edit("pipelines/resnet50.yaml", "lr: 0.01", "lr: 0.02")
    sha = world.commit_and_push("resnet50: lr 0.02")
    out = engine.reconcile(world.ctx, "dev", scoped=True)
    assert out.ok and out.synced_commit == sha
    assert out.scoped is not None and out.scoped.pipelines == ("resnet50",)
    new = status(out, "resnet50").run
    created = [e.subject.name for e in out.scoped.changeset.entries if e.action is Action.CREATED]
    assert created == [f"resnet50-{new}-features"]
    # Counted once in the reconcile's change set, as created (the full pass found it live).
    entries = [e for e in out.changeset.entries if e.subject.name == f"resnet50-{new}-features"]
    assert [e.action for e in entries] == [Action.CREATED]
    assert len(out.records) == 1 and out.records[0].startswith("runs/dev/resnet50/")


@pytest.mark.parametrize(
    ("path", "old", "new", "reason"),
    [
        ("overlays/dev/resource-quota.yaml", 'pods: "100"', 'pods: "120"', "environment-level"),
        ("overlays/dev/environment.yaml", "serve: true", "serve: false", "environment-level"),
        ("pipelines/kustomization.yaml", "- llm-finetune.yaml", "", "environment-level"),
    ],
)
def test_an_environment_level_change_takes_the_full_path(
    world: World, path: str, old: str, new: str, reason: str
) -> None:
    out = engine.reconcile(world.ctx, "dev", scoped=True)
    assert out.scoped is not None and "first reconcile" in out.scoped.skipped
    world.edit(path, old, new)
    world.edit("pipelines/fraud-detector.yaml", "seed: 7", "seed: 8")
    sha = world.commit_and_push("an environment-level change and a pipeline's")
    out = engine.reconcile(world.ctx, "dev", scoped=True)
    assert out.scoped is not None and reason in out.scoped.skipped
    assert out.scoped.pipelines == () and not out.scoped.changeset.entries
    assert out.ok and out.synced_commit == sha  # the full reconcile did everything
    new_run = status(out, "fraud-detector").run
    assert f"fraud-detector-{new_run}-prepare" in world.jobs()


def test_the_scoped_pass_leaves_other_pipelines_serving_alone(world: World) -> None:
    world.outcomes(GOOD)
    out = world.until(lambda o: status(o, "fraud-detector").serving is not None)
    served = status(out, "fraud-detector").serving
    assert world.deployment("fraud-detector") is not None
    world.outcomes(IN_FLIGHT)
    world.edit("pipelines/resnet50.yaml", "lr: 0.01", "lr: 0.02")
    world.commit_and_push("resnet50: lr 0.02")
    before = world.sandbox.request_counts()
    scoped = scoped_pass_alone(world)
    after = world.sandbox.request_counts()
    assert scoped.pipelines == ("resnet50",)
    written = {
        resource
        for (verb, resource, code), n in after.items()
        if verb.upper() in WRITE_VERBS and n != before.get((verb, resource, code), 0)
    }
    assert written == {"jobs"}  # resnet50's new run; no serving object, nothing pruned
    out = engine.reconcile(world.ctx, "dev", scoped=True)
    assert out.ok and status(out, "fraud-detector").serving == served


def test_a_commit_reconciled_again_is_not_prepared_again_unless_dvc_settings_change(
    world: World,
) -> None:
    world.reconcile()
    builds = world.ctx.cache.stats()["kustomize-builds"]
    world.reconcile()  # a finished step, a resync: the same commit
    assert world.ctx.cache.stats()["kustomize-builds"] == builds  # not even looked up
    local = world.work / ".dvc" / "config.local"
    local.write_text(local.read_text() if local.exists() else "")
    os.utime(local, ns=(1, 1))  # the work tree's DVC settings changed (not in the commit)
    world.reconcile()
    hits, misses = world.ctx.cache.stats()["kustomize-builds"]
    assert (hits, misses) == (builds[0] + 1, builds[1])  # prepared again (Kustomize cached)


def test_a_push_prepared_ahead_is_not_prepared_again_by_its_reconcile(world: World) -> None:
    world.reconcile()
    world.edit("pipelines/fraud-detector.yaml", "seed: 7", "seed: 8")
    world.commit_and_push("fraud-detector: seed 8")
    engine.prepare_ahead(world.ctx, "dev")  # the daemon's, as soon as it has fetched
    builds = world.ctx.cache.stats()["kustomize-builds"]
    out = engine.reconcile(world.ctx, "dev", scoped=True)
    assert world.ctx.cache.stats()["kustomize-builds"] == builds  # not even looked up
    assert out.ok and out.scoped is not None and out.scoped.pipelines == ("fraud-detector",)
    engine.prepare_ahead(world.ctx, "dev")  # the same commit again: nothing to do
    assert world.ctx.cache.stats()["kustomize-builds"] == builds


def test_a_reconcile_waiting_to_prepare_goes_on_once_another_thread_prepared_its_commit(
    world: World,
) -> None:
    world.reconcile()
    world.edit("pipelines/fraud-detector.yaml", "seed: 7", "seed: 8")
    world.commit_and_push("fraud-detector: seed 8")
    slots = world.ctx.prepare_slots = engine.PrepareSlots(1)
    source = sources.resolve_source(world.ctx.repo, "dev", None, None)
    assert slots.acquire_unless(lambda: None) is None  # the daemon's prepare-ahead thread
    other = threading.Thread(target=slots.acquire_unless, args=(lambda: None,), daemon=True)
    other.start()  # another environment's reconcile, waiting for its turn to prepare
    got: list[Any] = []
    waiter = threading.Thread(
        target=lambda: got.append(preparing.prepare_once(world.ctx, source, "dev")), daemon=True
    )
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # waiting for the slot
    ahead = preparing.prepare(world.ctx, source, "dev")  # prepared in the slot held
    builds = world.ctx.cache.stats()["kustomize-builds"]
    slots.release()
    waiter.join(30)
    other.join(30)
    assert not other.is_alive()  # the other reconcile has the slot now
    assert got == [ahead] and got[0] is ahead  # not prepared again, and not behind the other
    assert world.ctx.cache.stats()["kustomize-builds"] == builds
    slots.release()


def test_the_scoped_pass_starts_no_run_of_a_commit_the_branch_moved_past(world: World) -> None:
    world.reconcile()
    jobs_before = world.jobs()
    world.edit("pipelines/fraud-detector.yaml", "seed: 7", "seed: 8")
    world.commit_and_push("fraud-detector: seed 8")
    source = sources.resolve_source(world.ctx.repo, "dev", None, None)
    prepared = preparing.prepare(world.ctx, source, "dev")
    still_current = sources.current_check(source, None)
    world.edit("pipelines/fraud-detector.yaml", "seed: 8", "seed: 9")
    world.commit_and_push("fraud-detector: seed 9")  # pushed while the pass was on its way
    with pytest.raises(engine.Superseded):
        scoping.first_pass(world.ctx, world.ctx.manager_for(None), source, prepared, still_current)
    assert world.jobs() == jobs_before  # seed 8's run never started
    out = engine.reconcile(world.ctx, "dev", scoped=True)
    assert out.scoped is not None and out.scoped.pipelines == ("fraud-detector",)
    assert f"fraud-detector-{status(out, 'fraud-detector').run}-prepare" in world.jobs()
