"""``reconciler status``: sync state and health told apart, and never claimed.

Against the sandbox with the example repository: an environment never synced is OutOfSync
and Missing (not Healthy); a failed run is Degraded with the step's reason; a pipeline that
should serve but whose run failed its gate is Missing; a synced, served environment is
Synced and Healthy; ``--check`` exits 2 unless everything is; piped output keeps long URIs
whole.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from click.testing import Result

from reconciler import engine
from reconciler.cli.main import cli
from tests.support.clirunner import cli_runner
from tests.workflows.world import GOOD, World, make_world, status


def run_cli(world: World, *args: str) -> Result:
    """Run a reconciler command against the world's clone and sandbox."""
    return cli_runner().invoke(
        cli,
        [
            *args,
            "--repo",
            str(world.work),
            "--kubeconfig",
            str(world.sandbox.kubeconfig),
            "--state-dir",
            str(world.work.parent / "cli-state"),
        ],
    )


def run_status(world: World, *args: str) -> Result:
    return run_cli(world, "status", "--env", "dev", *args)


def dev_status(world: World) -> dict[str, Any]:
    result = run_status(world, "-o", "json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert isinstance(row, dict)
    return row


def test_never_synced_is_out_of_sync_and_missing(tmp_path: Path, sandbox: Any) -> None:
    world = make_world(tmp_path, sandbox)
    row = dev_status(world)
    assert row["sync"]["status"] == "OutOfSync"
    assert row["sync"]["reason"].startswith("never synced: ")
    assert row["appliedCommit"] == "" and row["pendingChanges"] > 0
    assert row["health"]["status"] == "Missing"
    assert {p["health"] for p in row["pipelines"]} == {"Missing"}
    check = run_status(world, "--check")
    assert check.exit_code == 2, check.output
    assert "sync OutOfSync (never synced" in check.stdout


def test_failed_run_is_degraded_and_an_unpromoted_model_is_missing(
    tmp_path: Path, sandbox: Any
) -> None:
    world = make_world(tmp_path, sandbox)
    world.outcomes(
        {
            **GOOD,
            "05-fraud-train": {
                "match": "*/fraud-detector-*-train",
                "outcome": "Failed",
                "message": "CUDA out of memory",
            },
            "10-resnet-eval": {"match": "*/resnet50-*-evaluate", "message": '{"accuracy": 0.5}'},
        }
    )
    world.until(
        lambda o: (
            all(p.status in ("Succeeded", "Failed") for p in o.pipelines)
            and status(o, "fraud-detector").status == "Failed"
        )
    )
    world.reconcile()
    row = dev_status(world)
    assert row["sync"]["status"] == "Synced", row["sync"]
    assert row["health"]["status"] == "Degraded"
    by_name = {p["pipeline"]: p for p in row["pipelines"]}
    fraud = by_name["fraud-detector"]
    assert (fraud["status"], fraud["health"]) == ("Failed", "Degraded")
    assert "step train failed" in fraud["runReason"]
    resnet = by_name["resnet50"]
    assert (resnet["status"], resnet["servingHealth"], resnet["health"]) == (
        "Succeeded",
        "Missing",
        "Missing",
    )
    assert "not promoted: accuracy 0.5 < 0.9" in resnet["reason"]
    assert by_name["llm-finetune"]["health"] == "Healthy"
    text = run_status(world)
    assert text.exit_code == 0
    assert "health Degraded" in text.stdout and "step train failed" in text.stdout
    assert run_status(world, "--check").exit_code == 2


def test_synced_and_served_is_healthy_and_piped_uris_are_whole(
    tmp_path: Path, sandbox: Any
) -> None:
    world = make_world(tmp_path, sandbox)
    world.outcomes(GOOD)
    out = world.until(
        lambda o: (
            all(p.status == "Succeeded" for p in o.pipelines)
            and all(p.serving is not None for p in o.pipelines if p.name != "llm-finetune")
        )
    )
    world.reconcile()
    deadline = time.monotonic() + 30
    row = dev_status(world)
    while row["health"]["status"] != "Healthy":  # serving objects become ready
        assert time.monotonic() < deadline, row
        time.sleep(0.2)
        row = dev_status(world)
    assert row["sync"] == {"status": "Synced", "reason": f"at {out.commit[:12]}"}
    text = run_status(world, "--check")
    assert text.exit_code == 0, text.output
    model = status(out, "fraud-detector").serving
    assert model is not None and model.model_uri in text.stdout  # never cut when piped
    assert "sync Synced" in text.stdout and "health Healthy" in text.stdout


def test_the_applied_commit_names_only_a_commit_applied_in_full(
    tmp_path: Path, sandbox: Any
) -> None:
    world = make_world(tmp_path, sandbox)
    first = world.reconcile()
    assert first.applied_commit == first.commit and first.synced_commit == first.commit
    assert _namespace_commit(world) == first.commit
    # A commit whose sync fails (the server refuses one object): nothing claims it applied.
    (world.work / "overlays" / "dev" / "refused.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: refused}\nspec: {unknown: 1}\n"
    )
    world.edit(
        "overlays/dev/kustomization.yaml",
        "  - network-policy.yaml\n",
        "  - network-policy.yaml\n  - refused.yaml\n",
    )
    second = world.commit_and_push("an object the server refuses")
    failed = engine.reconcile(world.ctx, "dev")
    assert failed.commit == second and not failed.ok, str(failed.changeset)
    assert failed.applied_commit == first.commit and failed.synced_commit == first.commit
    assert _namespace_commit(world) == first.commit
    result = run_status(world, "-o", "json")  # exit 1: the dry run fails that object too
    (row,) = json.loads(result.stdout)
    assert row["appliedCommit"] == first.commit and row["sync"]["status"] == "OutOfSync"


def _namespace_commit(world: World) -> str:
    from kubernetes import client

    ns = client.CoreV1Api(world.api).read_namespace("ml-dev")
    return str((ns.metadata.annotations or {}).get("reconciler.ml/commit", ""))


def test_a_finished_run_not_recorded_yet_is_out_of_sync(tmp_path: Path, sandbox: Any) -> None:
    from kubernetes import client

    world = make_world(tmp_path, sandbox)
    out = world.reconcile()
    run = status(out, "llm-finetune").run
    job = f"llm-finetune-{run}-train"
    batch = client.BatchV1Api(world.api)
    deadline = time.monotonic() + 30
    while not (batch.read_namespaced_job(job, "ml-dev").status.succeeded or 0):
        assert time.monotonic() < deadline, f"{job} did not finish"
        time.sleep(0.1)
    row = json.loads(run_status(world, "-o", "json").stdout)[0]
    assert row["sync"]["status"] == "OutOfSync", row
    assert f"llm-finetune run {run}" in row["unrecorded"]
    assert f"finished, not recorded yet: llm-finetune run {run}" in row["sync"]["reason"]
    recorded = world.reconcile()
    assert any(p.endswith(f"llm-finetune/{run}.yaml") for p in recorded.records), recorded.records
    row = json.loads(run_status(world, "-o", "json").stdout)[0]
    assert f"llm-finetune run {run}" not in row["unrecorded"]


def fraud_jobs(world: World) -> dict[str, str]:
    """Return ``{name: uid}`` of fraud-detector's Jobs."""
    return {n: u for n, u in world.jobs().items() if n.startswith("fraud-detector-")}


def test_a_pipeline_that_does_not_render_is_listed_with_its_error_and_kept(
    tmp_path: Path, sandbox: Any
) -> None:
    from reconciler.web import snapshots

    world = make_world(tmp_path, sandbox)
    world.reconcile()
    before = fraud_jobs(world)
    assert before
    world.edit("pipelines/fraud-detector.yaml", "  params:", "  paramz: {}\n  params:")
    world.commit_and_push("Typo")

    result = run_status(world, "-o", "json")
    assert result.exit_code == 1, result.output  # errors: exit 1, and still every row
    (row,) = json.loads(result.stdout)
    by_name = {p["pipeline"]: p for p in row["pipelines"]}
    assert set(by_name) == {"fraud-detector", "llm-finetune", "resnet50"}
    fraud = by_name["fraud-detector"]
    assert (fraud["status"], fraud["health"], fraud["run"]) == ("RenderError", "Unknown", "")
    (err,) = fraud["errors"]
    assert (err["path"], err["field"]) == ("pipelines/fraud-detector.yaml", "spec.paramz")
    assert err["line"] > 0
    assert "pipelines/fraud-detector.yaml:" in fraud["reason"] and "spec.paramz" in fraud["reason"]
    assert by_name["resnet50"]["status"] != "RenderError"

    text = run_status(world)
    line = next(x for x in text.stdout.splitlines() if x.strip().startswith("fraud-detector"))
    assert "RenderError" in line and "Unknown" in line, text.stdout

    synced = run_cli(world, "sync", "--env", "dev")
    assert synced.exit_code == 1, synced.output
    line = next(x for x in synced.stdout.splitlines() if x.strip().startswith("fraud-detector"))
    assert "run -" in line and "RenderError" in line and "spec.paramz" in line, synced.stdout
    planned = run_cli(world, "plan", "--env", "dev", "--format", "json")
    names = {p["pipeline"]: p["status"] for p in json.loads(planned.stdout)["pipelines"]}
    assert names["fraud-detector"] == "RenderError", planned.stdout

    out = engine.reconcile(world.ctx, "dev")  # a real sync: the broken pipeline is kept
    view = snapshots.view_of(out).pipeline("fraud-detector")
    assert view is not None and view.status == "RenderError"
    assert "spec.paramz" in view.health_reason
    assert fraud_jobs(world) == before  # same objects (same uids): never pruned, never replaced


def test_a_pipeline_whose_dataset_pointer_is_gone_names_the_field(
    tmp_path: Path, sandbox: Any
) -> None:
    world = make_world(tmp_path, sandbox)
    world.reconcile()
    before = fraud_jobs(world)
    (world.work / "datasets" / "fraud-transactions.csv.dvc").unlink()
    world.commit_and_push("Drop the fraud data pointer")
    out = engine.reconcile(world.ctx, "dev")
    fraud = status(out, "fraud-detector")
    assert fraud.status == "RenderError"
    assert [(e.path, e.field) for e in fraud.errors] == [
        ("pipelines/fraud-detector.yaml", "spec.datasets.transactions")
    ]
    assert fraud_jobs(world) == before


def test_a_pipeline_that_does_not_render_shows_the_model_it_still_serves(
    tmp_path: Path, sandbox: Any
) -> None:
    from reconciler.web import snapshots

    world = make_world(tmp_path, sandbox)
    world.outcomes(GOOD)
    served = world.until(lambda o: status(o, "fraud-detector").serving is not None)
    model = status(served, "fraud-detector").serving
    assert model is not None
    world.edit("pipelines/fraud-detector.yaml", "  params:", "  paramz: {}\n  params:")
    world.commit_and_push("Typo")

    result = run_status(world, "-o", "json")
    (row,) = json.loads(result.stdout)
    fraud = next(p for p in row["pipelines"] if p["pipeline"] == "fraud-detector")
    assert fraud["status"] == "RenderError" and fraud["run"] == ""
    assert fraud["serving"] == {"run": model.run, "model": model.model_uri}, fraud
    assert fraud["servingHealth"] in ("Healthy", "Progressing"), fraud
    text = run_status(world)
    line = next(x for x in text.stdout.splitlines() if x.strip().startswith("fraud-detector"))
    assert "RenderError" in line and model.model_uri in line, text.stdout

    out = engine.reconcile(world.ctx, "dev")  # a real sync: the serving object is kept
    view = snapshots.view_of(out).pipeline("fraud-detector")
    assert view is not None and view.status == "RenderError"
    assert (view.serving_run, view.serving_model) == (model.run, model.model_uri)
