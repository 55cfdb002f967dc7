"""End-to-end run workflows (design.md, "Runs" and "Provenance"), against the sandbox.

Each test is a user's story with real git (a clone and a bare origin), the example's real
DVC pointers and the sandbox over HTTP: push -> steps run in ``needs`` order -> a record
lands on the provenance branch in the origin -> serving moves; a failure is never retried
by itself; retry; the promotion gate; supersede; revert without retraining; a dataset
change; provenance-only commits; broken specs keep live objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler import engine
from reconciler.structs import labels
from reconciler.structs.errors import ReconcilerError, SpecErrors
from tests.support import dvcrepos
from tests.workflows.world import GOOD, NS, World, make_world, status


@pytest.fixture
def world(tmp_path: Path, sandbox: Any) -> World:
    w = make_world(tmp_path, sandbox)
    w.outcomes(GOOD)
    return w


def all_recorded(out: engine.Outcome) -> bool:
    return all(p.status in ("Succeeded", "Failed", "Cancelled") for p in out.pipelines)


def test_push_runs_steps_in_order_records_and_then_serves(world: World) -> None:
    first = world.reconcile()
    plans = {p.name: p.run for p in first.pipelines}
    # Only root steps start; there is no serving before a run succeeded.
    assert set(world.jobs()) == {
        f"fraud-detector-{plans['fraud-detector']}-prepare",
        f"llm-finetune-{plans['llm-finetune']}-train",
        f"resnet50-{plans['resnet50']}-features",
    }
    assert world.deployment("fraud-detector") is None
    assert world.inference_service("resnet50") is None
    out = world.until(lambda o: all_recorded(o) and status(o, "resnet50").serving is not None)
    head = dvcrepos.git(world.work, "rev-parse", "HEAD").strip()
    rid = plans["resnet50"]
    path = f"runs/dev/resnet50/{rid}.yaml"
    assert world.origin_files("experiments/resnet50") == [path]
    rec = world.origin_record("experiments/resnet50", path)
    assert rec.status == "Succeeded" and rec.trigger == "push"
    assert rec.source.commit == head and rec.source.spec_path == "pipelines/resnet50.yaml"
    assert rec.promotion is not None and rec.promotion.promoted and rec.promotion.value == 0.95
    assert rec.metrics_flat["accuracy"] == 0.95
    assert [s.name for s in rec.steps] == ["features", "train", "evaluate"]
    assert all(s.uid and s.object is not None for s in rec.steps)
    assert rec.datasets[0].md5.endswith(".dir") and rec.datasets[0].size
    assert rec.cluster.namespace == NS and rec.cluster.server.startswith(
        ("http://127.0.0.1", "https://127.0.0.1")
    )
    assert "api-key" not in rec.to_yaml() or "secretKeyRef" not in rec.to_yaml()
    # Serving follows the promoted run: KServe's STORAGE_URI and the model annotation/label.
    isvc = world.inference_service("resnet50")
    assert isvc is not None
    model = f"s3://models/resnet50/{rid}/"
    (server,) = isvc["spec"]["predictor"]["containers"]
    assert {"name": "STORAGE_URI", "value": model} in server["env"]
    assert isvc["metadata"]["annotations"][labels.MODEL] == model
    assert isvc["metadata"]["labels"][labels.RUN] == rid
    dep = world.deployment("fraud-detector")
    assert dep.metadata.annotations[labels.MODEL].startswith("s3://models/fraud-detector/")
    assert status(out, "llm-finetune").serving is None  # train only
    # The user's work tree and branch are untouched by provenance commits.
    assert dvcrepos.git(world.work, "status", "--porcelain").strip() == ""
    assert dvcrepos.git(world.work, "rev-parse", "HEAD").strip() == head
    # Nothing left to do: a further reconcile writes nothing.
    before = world.writes()
    again = world.reconcile()
    assert world.writes() == before, str(again.changeset)


def test_failed_step_fails_the_run_and_is_never_restarted_until_retry(world: World) -> None:
    world.outcomes(
        {
            **GOOD,
            "05-fraud-train": {
                "match": "*/fraud-detector-*-train",
                "outcome": "Failed",
                "message": "CUDA OOM",
            },
        }
    )
    out = world.until(lambda o: status(o, "fraud-detector").status == "Failed")
    rid = status(out, "fraud-detector").run
    jobs = world.jobs()
    assert f"fraud-detector-{rid}-evaluate" not in jobs  # nothing after a failed step
    rec = world.origin_record("experiments/fraud-detector", f"runs/dev/fraud-detector/{rid}.yaml")
    assert rec.status == "Failed" and "train" in rec.reason
    assert world.deployment("fraud-detector") is None
    # GPU burn guard: more reconciles never recreate the failed Job.
    for _ in range(3):
        world.reconcile()
    after = world.jobs()
    assert after[f"fraud-detector-{rid}-train"] == jobs[f"fraud-detector-{rid}-train"]
    assert f"fraud-detector-{rid}-evaluate" not in after
    # retry: attempt 2 of the same run id, recorded as such.
    world.outcomes(GOOD)
    req = engine.request_retry(world.ctx, "dev", "fraud-detector")
    assert (req.run_id, req.attempt) == (rid, 2)
    with pytest.raises(ReconcilerError, match="has not finished"):
        engine.request_retry(world.ctx, "dev", "fraud-detector")
    out = world.until(lambda o: status(o, "fraud-detector").status == "Succeeded")
    assert status(out, "fraud-detector").run == f"{rid}-2"
    rec2 = world.origin_record(
        "experiments/fraud-detector", f"runs/dev/fraud-detector/{rid}-2.yaml"
    )
    assert (rec2.status, rec2.attempt, rec2.trigger) == ("Succeeded", 2, "retry")
    world.until(lambda o: status(o, "fraud-detector").serving is not None)
    dep = world.deployment("fraud-detector")
    assert (
        dep.metadata.annotations[labels.MODEL] == f"s3://models/fraud-detector/{rid}-2/model.joblib"
    )


def test_a_run_that_fails_the_gate_is_recorded_and_not_served(world: World) -> None:
    world.outcomes(
        {
            **GOOD,
            "10-resnet-eval": {"match": "*/resnet50-*-evaluate", "message": '{"accuracy": 0.5}'},
        }
    )
    out = world.until(lambda o: status(o, "resnet50").status == "Succeeded")
    rid = status(out, "resnet50").run
    rec = world.origin_record("experiments/resnet50", f"runs/dev/resnet50/{rid}.yaml")
    assert rec.status == "Succeeded"
    assert rec.promotion is not None and not rec.promotion.promoted and rec.promotion.value == 0.5
    world.reconcile()
    assert world.inference_service("resnet50") is None
    # A better run of a new spec is served.
    world.outcomes(GOOD)
    world.edit("pipelines/resnet50.yaml", "lr: 0.01", "lr: 0.005")
    world.commit_and_push("Lower lr")
    out = world.until(lambda o: status(o, "resnet50").serving is not None)
    new = status(out, "resnet50").run
    assert new != rid
    assert world.inference_service("resnet50")["metadata"]["labels"][labels.RUN] == new


def test_a_newer_run_supersedes_a_running_one(world: World) -> None:
    world.outcomes({**GOOD, "01-slow": {"match": "*/resnet50-*-features", "delay": 60}})
    out = world.reconcile()
    old = status(out, "resnet50").run
    assert f"resnet50-{old}-features" in world.jobs()
    world.edit("pipelines/resnet50.yaml", "lr: 0.01", "lr: 0.02")
    sha = world.commit_and_push("Try lr 0.02")
    out = world.reconcile()
    new = status(out, "resnet50").run
    assert new != old
    rec = world.origin_record("experiments/resnet50", f"runs/dev/resnet50/{old}.yaml")
    assert rec.status == "Cancelled" and rec.superseded_by == sha
    jobs = world.jobs()
    assert f"resnet50-{old}-features" not in jobs
    assert f"resnet50-{new}-features" in jobs


def test_revert_serves_the_earlier_model_without_training(world: World) -> None:
    out = world.until(lambda o: status(o, "fraud-detector").serving is not None)
    first = status(out, "fraud-detector").serving
    world.edit("pipelines/fraud-detector.yaml", "max_depth: 6", "max_depth: 12")
    world.commit_and_push("Deeper trees")
    out = world.until(lambda o: status(o, "fraud-detector").serving not in (None, first))
    jobs_before = set(world.jobs()) | set(world.pytorchjobs())
    dvcrepos.git(world.work, "revert", "--no-edit", "HEAD")
    dvcrepos.git(world.work, "push", "-q", "origin", "HEAD")
    out = world.reconcile()
    assert status(out, "fraud-detector").run == first.run
    assert status(out, "fraud-detector").serving == first
    dep = world.deployment("fraud-detector")
    assert dep.metadata.annotations[labels.MODEL] == first.model_uri
    created = (set(world.jobs()) | set(world.pytorchjobs())) - jobs_before
    assert created == set()  # zero Jobs: the reverted spec's run is already recorded


def test_a_dataset_change_starts_a_run_recorded_as_such(world: World) -> None:
    out = world.until(lambda o: status(o, "fraud-detector").status == "Succeeded")
    old = status(out, "fraud-detector").run
    dvcrepos.dvc(world.work, "pull", "-q", "datasets/fraud-transactions.csv.dvc")
    data = world.work / "datasets" / "fraud-transactions.csv"
    data.write_text(data.read_text() + data.read_text().splitlines()[-1] + "\n")
    dvcrepos.dvc_add(world.work, ["datasets/fraud-transactions.csv"])
    dvcrepos.git(world.work, "add", "datasets/fraud-transactions.csv.dvc")
    dvcrepos.git(world.work, "commit", "-q", "-m", "New transactions from the drift monitor")
    out = world.until(
        lambda o: (
            status(o, "fraud-detector").run != old
            and status(o, "fraud-detector").status == "Succeeded"
        )
    )
    new = status(out, "fraud-detector").run
    rec = world.origin_record("experiments/fraud-detector", f"runs/dev/fraud-detector/{new}.yaml")
    assert rec.trigger == "dataset-change"
    old_rec = world.origin_record(
        "experiments/fraud-detector", f"runs/dev/fraud-detector/{old}.yaml"
    )
    assert rec.datasets[0].md5 != old_rec.datasets[0].md5


def test_commits_that_only_touch_runs_do_not_trigger_a_render(world: World) -> None:
    out = world.reconcile()
    (world.work / "runs" / "dev").mkdir(parents=True)
    (world.work / "runs" / "dev" / "note.yaml").write_text("note: hand-written\n")
    world.commit_and_push("A provenance-only commit")
    again = world.reconcile()
    assert again.commit == out.commit


def test_broken_pipeline_keeps_its_objects_and_broken_environment_prunes_nothing(
    world: World,
) -> None:
    world.reconcile()
    before = world.jobs()
    world.edit("pipelines/fraud-detector.yaml", "  params:", "  paramz: {}\n  params:")
    world.commit_and_push("Typo")
    out = engine.reconcile(world.ctx, "dev")
    assert any(
        "spec.paramz" in str(e) and "pipelines/fraud-detector.yaml:" in str(e) for e in out.errors
    )
    assert set(before) <= set(world.jobs())  # fraud-detector's Job kept, others too
    # An environment that does not render at all prunes nothing.
    world.edit("overlays/dev/kustomization.yaml", "resources:", "resources:\n  - missing.yaml")
    world.commit_and_push("Break the overlay")
    with pytest.raises((SpecErrors, ReconcilerError)):
        engine.reconcile(world.ctx, "dev")
    assert set(before) <= set(world.jobs())


def test_records_wait_in_the_outbox_while_the_remote_is_down(world: World, tmp_path: Path) -> None:
    away = tmp_path / "origin-away.git"
    world.origin.rename(away)
    out = world.until(lambda o: status(o, "llm-finetune").status == "Succeeded")
    rid = status(out, "llm-finetune").run
    assert world.ctx.provenance.pending()
    jobs = {n: u for n, u in world.jobs().items() if n.startswith("llm-finetune-")}
    world.reconcile()  # the pending record counts: the run is not started again
    assert {n: u for n, u in world.jobs().items() if n.startswith("llm-finetune-")} == jobs
    away.rename(world.origin)
    world.ctx.provenance.flush()
    assert not world.ctx.provenance.pending()
    assert f"runs/dev/llm-finetune/{rid}.yaml" in world.origin_files("experiments/llm-finetune")


def test_experiment_records_go_beside_the_branch_and_never_onto_it(world: World) -> None:
    dvcrepos.git(world.work, "checkout", "-q", "-b", "exp/lr-sweep")
    world.edit("pipelines/resnet50.yaml", "lr: 0.01", "lr: 0.02")
    dvcrepos.commit_all(world.work, "Try lr 0.02")
    dvcrepos.git(world.work, "push", "-q", "-u", "origin", "exp/lr-sweep")
    out = world.until(
        lambda o: status(o, "llm-finetune").status == "Succeeded", env="exp", branch="exp/lr-sweep"
    )
    rid = status(out, "llm-finetune").run
    assert world.origin_files("exp/lr-sweep") == []  # the engineer's branch: no records
    assert f"runs/exp/llm-finetune/{rid}.yaml" in world.origin_files("runs/exp/lr-sweep")
    # The engineer keeps pushing fast-forwards; the records branch is not an environment.
    world.edit("pipelines/resnet50.yaml", "lr: 0.02", "lr: 0.03")
    dvcrepos.commit_all(world.work, "Try lr 0.03")
    dvcrepos.git(world.work, "push", "-q", "origin", "exp/lr-sweep")
    dvcrepos.git(world.work, "fetch", "-q", "origin")
    targets = {t.branch for t in engine.discover_targets(world.work, only=["exp"])}
    assert targets == {"exp/lr-sweep"}
