"""A run superseded, or removed, between two of its steps is Cancelled with its own plan.

Regression: with a 3-step pipeline, a commit arriving after step 1 finished and before
step 2 started left the old run recorded Succeeded ("all steps succeeded", 1 live step of
3), with an empty spec and no commit: its step list was read from the live objects.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from reconciler.provenance.records import RunRecord
from tests.support import dvcrepos
from tests.workflows.world import GOOD, NS, World, make_world, status

PIPELINE = "fraud-detector"
BRANCH = f"experiments/{PIPELINE}"


@pytest.fixture
def world(tmp_path: Path, sandbox: Any) -> World:
    w = make_world(tmp_path, sandbox)
    w.outcomes(GOOD)
    return w


def wait_succeeded(world: World, job: str) -> None:
    """Wait (without reconciling, so no next step starts) until a Job has succeeded."""
    batch = client.BatchV1Api(world.api)
    deadline = time.monotonic() + 60
    while not (batch.read_namespaced_job_status(job, NS).status.succeeded or 0):
        assert time.monotonic() < deadline, f"{job} did not succeed"
        time.sleep(0.1)


def first_step_done(world: World) -> tuple[str, str]:
    """Start the pipeline's run, let its first step finish; return (commit, run)."""
    sha = dvcrepos.git(world.work, "rev-parse", "HEAD").strip()
    run = status(world.reconcile(), PIPELINE).run
    wait_succeeded(world, f"{PIPELINE}-{run}-prepare")
    assert not any(n.endswith("-train") and run in n for n in world.jobs())
    return sha, run


def assert_cancelled_with_its_plan(rec: RunRecord, *, commit: str, by: str) -> None:
    assert rec.status == "Cancelled", (rec.status, rec.reason)
    assert rec.superseded_by == by
    assert rec.source.commit == commit
    assert rec.source.spec_path == f"pipelines/{PIPELINE}.yaml" and rec.source.spec_sha256
    # The resolved spec of the old run (after the overlay), not the new one's.
    assert rec.spec and rec.spec["spec"]["params"]["max_depth"] == 6
    assert [s.name for s in rec.steps] == ["prepare"]
    assert rec.steps[0].status == "Succeeded"


def test_run_superseded_between_steps_is_cancelled_with_spec_and_commit(world: World) -> None:
    first, old = first_step_done(world)
    world.edit(f"pipelines/{PIPELINE}.yaml", "max_depth: 6", "max_depth: 12")
    second = world.commit_and_push("Deeper trees")
    new = status(world.reconcile(), PIPELINE).run
    assert new != old
    rec = world.origin_record(BRANCH, f"runs/dev/{PIPELINE}/{old}.yaml")
    assert_cancelled_with_its_plan(rec, commit=first, by=second)
    jobs = world.jobs()
    assert not any(old in n for n in jobs)  # recorded, then pruned
    assert f"{PIPELINE}-{new}-prepare" in jobs


def test_run_of_a_removed_pipeline_between_steps_is_cancelled_with_its_plan(world: World) -> None:
    first, old = first_step_done(world)
    world.edit("pipelines/kustomization.yaml", f"  - {PIPELINE}.yaml\n", "")
    second = world.commit_and_push(f"Remove {PIPELINE}")
    world.reconcile()
    rec = world.origin_record(BRANCH, f"runs/dev/{PIPELINE}/{old}.yaml")
    assert_cancelled_with_its_plan(rec, commit=first, by=second)
    assert rec.reason == "pipeline removed from the environment"
