"""Pipeline health (run + serving) from YAML fixtures: never Healthy for what is not."""

from __future__ import annotations

from reconciler.health import Health, StepPhase, step_phase
from reconciler.health.pipelines import StepView, pipeline_status
from reconciler.structs.runs import ServedModel
from tests.health.test_health import load

MODEL = ServedModel(run="2e40f02e", model_uri="s3://models/fraud-detector/2e40f02e/model.joblib")


def steps(*fixtures: str | None) -> list[StepView]:
    out = []
    for i, name in enumerate(fixtures):
        obj = load(name) if name else None
        out.append(StepView(f"step{i}", obj, step_phase(obj)))
    return out


def test_unreadable_step_status_is_unknown_not_pending() -> None:
    assert step_phase(load("job-unreadable.yaml")) is StepPhase.UNKNOWN
    got = pipeline_status(
        name="p", run="r", status="Pending", steps=steps("job-unreadable.yaml"),
        serves=False, serving=None, serving_obj=None,
    )  # fmt: skip
    assert (got.health, got.reason) == ("Unknown", "cannot read the status of step step0")


def test_run_not_started_in_the_cluster_is_missing() -> None:
    got = pipeline_status(
        name="p", run="r", status="Pending", steps=steps(None, None),
        serves=True, serving=None, serving_obj=None,
    )  # fmt: skip
    assert (got.health, got.reason) == ("Missing", "run r not started in the cluster")
    assert got.serving_health == "Progressing"


def test_failed_run_is_degraded_with_its_reason() -> None:
    got = pipeline_status(
        name="p", run="r", status="Failed", steps=steps("job-succeeded.yaml", "job-failed.yaml"),
        run_reason="step step1 failed: OOMKilled", serves=False, serving=None, serving_obj=None,
    )  # fmt: skip
    assert (got.health, got.run_reason) == ("Degraded", "step step1 failed: OOMKilled")
    assert got.reason == "run r failed: step step1 failed: OOMKilled"


def test_a_run_that_failed_its_gate_leaves_serving_missing() -> None:
    got = pipeline_status(
        name="p", run="r", status="Succeeded", steps=steps("job-succeeded.yaml"),
        serves=True, serving=None, serving_obj=None,
        not_served_because="run r not promoted: accuracy 0.5 < 0.9",
    )  # fmt: skip
    assert (got.health, got.serving_health) == ("Missing", "Missing")
    assert got.reason == "no model served: run r not promoted: accuracy 0.5 < 0.9"


def test_served_model_health_is_the_serving_objects() -> None:
    ok = pipeline_status(
        name="p", run="r", status="Succeeded", steps=steps("job-succeeded.yaml"),
        serves=True, serving=MODEL, serving_obj=load("deployment-healthy.yaml"),
    )  # fmt: skip
    assert (ok.health, ok.serving_health) == ("Healthy", "Healthy")
    gone = pipeline_status(
        name="p", run="r", status="Succeeded", steps=steps("job-succeeded.yaml"),
        serves=True, serving=MODEL, serving_obj=None,
    )  # fmt: skip
    assert (gone.health, gone.reason) == ("Missing", "serving object for run 2e40f02e not found")
    rolling = pipeline_status(
        name="p", run="r", status="Running", steps=steps("job-running.yaml"),
        serves=True, serving=MODEL, serving_obj=load("deployment-degraded.yaml"),
    )  # fmt: skip
    assert Health(rolling.health) is Health.DEGRADED
