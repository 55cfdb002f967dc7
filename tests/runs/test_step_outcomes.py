"""What a finished step leaves behind: metrics, or the reason it failed, in its own words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.runs import step_metrics
from tests.workflows.world import make_world, status


def test_metrics_are_a_json_object() -> None:
    parsed = step_metrics.parse_termination_message('{"accuracy": 0.95, "epochs": 3}')
    assert parsed.values == {"accuracy": 0.95, "epochs": 3} and parsed.error == ""


def test_words_are_not_a_parse_error() -> None:
    """A log tail (FallbackToLogsOnError) is the step's message, not broken metrics."""
    parsed = step_metrics.parse_termination_message("RuntimeError: CUDA out of memory")
    assert parsed.values == {} and parsed.error == ""


def test_broken_json_is_a_parse_error() -> None:
    assert step_metrics.parse_termination_message('{"accuracy": ').error.startswith(
        "termination message is not JSON"
    )
    assert "not an object" in step_metrics.parse_termination_message("[1, 2]").error


def test_failure_reason_keeps_the_containers_reason_exit_code_and_message_tail() -> None:
    oom = {"reason": "OOMKilled", "exitCode": 137}
    assert step_metrics.failure_reason(oom) == "OOMKilled, exit code 137"
    error = {"reason": "Error", "exitCode": 1, "message": "x" * 1000 + "\nCUDA out of memory"}
    reason = step_metrics.failure_reason(error)
    assert reason.startswith("Error, exit code 1: ...") and reason.endswith("CUDA out of memory")
    assert len(reason) < 340
    assert step_metrics.failure_reason({}, "DeadlineExceeded") == "DeadlineExceeded"
    metrics = {"reason": "Error", "exitCode": 2, "message": '{"loss": 9.1}'}
    assert step_metrics.failure_reason(metrics) == "Error, exit code 2"


def test_a_failed_run_is_recorded_with_its_steps_reason(tmp_path: Path, sandbox: Any) -> None:
    world = make_world(tmp_path, sandbox)
    world.outcomes(
        {
            "10-fraud-train": {
                "match": "*/fraud-detector-*-train",
                "outcome": "Failed",
                "message": "Traceback (most recent call last):\nMemoryError: features too big",
            }
        }
    )
    out = world.until(lambda o: status(o, "fraud-detector").status == "Failed")
    run = status(out, "fraud-detector").run
    rec = world.origin_record("experiments/fraud-detector", f"runs/dev/fraud-detector/{run}.yaml")
    assert rec.reason.startswith("step train failed: ")
    assert rec.reason.endswith("MemoryError: features too big")
    train = next(s for s in rec.steps if s.name == "train")
    assert "_parseError" not in train.metrics
    assert train.reason.endswith("MemoryError: features too big")


def test_metrics_json_under_the_artifacts_passes_the_gate(tmp_path: Path, sandbox: Any) -> None:
    """An image that never writes /dev/termination-log reports through metrics.json."""
    world = make_world(tmp_path, sandbox)
    root = tmp_path / "artifacts"
    world.edit(
        "overlays/dev/environment.yaml",
        "artifactRoot: s3://ml-artifacts/dev",
        f"artifactRoot: {root.as_uri()}",
    )
    world.edit(
        "pipelines/fraud-detector.yaml",
        "  serve:\n",
        "  promote: {metric: auc, min: 0.9}\n  serve:\n",
    )
    world.commit_and_push("Artifacts on a local store, a gate on auc")
    world.outcomes({"10-fraud-eval": {"match": "*/fraud-detector-*-evaluate", "message": ""}})
    run = status(world.reconcile(), "fraud-detector").run
    evaluate = root / "fraud-detector" / run / "evaluate"
    evaluate.mkdir(parents=True)
    (evaluate / "metrics.json").write_text('{"auc": 0.97}')
    served = world.until(lambda o: status(o, "fraud-detector").serving is not None)
    assert status(served, "fraud-detector").serving.run == run  # type: ignore[union-attr]
    rec = world.origin_record("experiments/fraud-detector", f"runs/dev/fraud-detector/{run}.yaml")
    step = next(s for s in rec.steps if s.name == "evaluate")
    assert step.metrics == {"auc": 0.97}
    assert rec.promotion.promoted and rec.promotion.value == 0.97, rec.promotion
