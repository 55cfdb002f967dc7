"""Health per kind from YAML fixtures (testdata/<kind>-<state>.yaml), one assertion each."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.health import Health, HealthStatus, StepPhase, health_of, step_phase, worst
from reconciler.structs.manifests import Manifest

TESTDATA = Path(__file__).parent / "testdata"


def load(name: str) -> Manifest:
    data: Manifest = yaml.safe_load((TESTDATA / name).read_text())
    return data


def test_job_pending() -> None:
    assert health_of(load("job-pending.yaml")).status is Health.PROGRESSING


def test_job_running() -> None:
    assert health_of(load("job-running.yaml")).status is Health.PROGRESSING


def test_job_succeeded() -> None:
    assert health_of(load("job-succeeded.yaml")).status is Health.HEALTHY


def test_job_failed() -> None:
    assert health_of(load("job-failed.yaml")) == HealthStatus(
        Health.DEGRADED, "BackoffLimitExceeded: Job has reached the specified backoff limit"
    )


def test_job_failing_is_not_done_yet() -> None:
    assert health_of(load("job-failing.yaml")).status is Health.PROGRESSING


def test_job_suspended() -> None:
    assert health_of(load("job-suspended.yaml")).status is Health.SUSPENDED


def test_job_terminating() -> None:
    assert health_of(load("job-terminating.yaml")) == HealthStatus(
        Health.PROGRESSING, "pending deletion"
    )


@pytest.mark.parametrize(
    ("fixture", "phase"),
    [
        ("job-pending.yaml", StepPhase.PENDING),
        ("job-running.yaml", StepPhase.RUNNING),
        ("job-succeeded.yaml", StepPhase.SUCCEEDED),
        ("job-failed.yaml", StepPhase.FAILED),
        ("job-failing.yaml", StepPhase.RUNNING),
        ("job-suspended.yaml", StepPhase.PENDING),
        ("pytorchjob-new.yaml", StepPhase.PENDING),
        ("pytorchjob-created.yaml", StepPhase.PENDING),
        ("pytorchjob-running.yaml", StepPhase.RUNNING),
        ("pytorchjob-restarting.yaml", StepPhase.RUNNING),
        ("pytorchjob-succeeded.yaml", StepPhase.SUCCEEDED),
        ("pytorchjob-failed.yaml", StepPhase.FAILED),
        ("pytorchjob-suspended.yaml", StepPhase.PENDING),
    ],
)
def test_step_phase(fixture: str, phase: StepPhase) -> None:
    assert step_phase(load(fixture)) is phase


def test_step_phase_of_an_unreadable_status_is_unknown() -> None:
    assert step_phase(load("job-unreadable.yaml")) is StepPhase.UNKNOWN


def test_step_phase_of_a_missing_step_is_pending() -> None:
    assert step_phase(None) is StepPhase.PENDING


def test_step_phase_refuses_other_kinds() -> None:
    with pytest.raises(ValueError, match="Deployment is not a run step kind"):
        step_phase(load("deployment-healthy.yaml"))


def test_pytorchjob_new() -> None:
    assert health_of(load("pytorchjob-new.yaml")).status is Health.PROGRESSING


def test_pytorchjob_created() -> None:
    assert health_of(load("pytorchjob-created.yaml")).status is Health.PROGRESSING


def test_pytorchjob_running() -> None:
    assert health_of(load("pytorchjob-running.yaml")).status is Health.PROGRESSING


def test_pytorchjob_restarting() -> None:
    assert health_of(load("pytorchjob-restarting.yaml")).status is Health.PROGRESSING


def test_pytorchjob_succeeded() -> None:
    assert health_of(load("pytorchjob-succeeded.yaml")).status is Health.HEALTHY


def test_pytorchjob_failed() -> None:
    assert health_of(load("pytorchjob-failed.yaml")).status is Health.DEGRADED


def test_pytorchjob_suspended() -> None:
    assert health_of(load("pytorchjob-suspended.yaml")).status is Health.SUSPENDED


def test_deployment_healthy() -> None:
    assert health_of(load("deployment-healthy.yaml")).status is Health.HEALTHY


def test_deployment_progressing() -> None:
    assert health_of(load("deployment-progressing.yaml")).status is Health.PROGRESSING


def test_deployment_unobserved_generation() -> None:
    assert health_of(load("deployment-unobserved.yaml")).status is Health.PROGRESSING


def test_deployment_degraded() -> None:
    assert health_of(load("deployment-degraded.yaml")).status is Health.DEGRADED


def test_deployment_paused() -> None:
    assert health_of(load("deployment-paused.yaml")).status is Health.SUSPENDED


def test_deployment_autoscaled_without_replicas() -> None:
    assert health_of(load("deployment-autoscaled.yaml")).status is Health.HEALTHY


def test_deployment_unreadable_status_is_unknown() -> None:
    assert health_of(load("deployment-unknown.yaml")).status is Health.UNKNOWN


def test_inferenceservice_healthy() -> None:
    assert health_of(load("inferenceservice-healthy.yaml")).status is Health.HEALTHY


def test_inferenceservice_progressing() -> None:
    assert health_of(load("inferenceservice-progressing.yaml")).status is Health.PROGRESSING


def test_inferenceservice_new() -> None:
    assert health_of(load("inferenceservice-new.yaml")).status is Health.PROGRESSING


def test_inferenceservice_degraded() -> None:
    assert "Back-off pulling image" in health_of(load("inferenceservice-degraded.yaml")).reason


def test_inferenceservice_stopped() -> None:
    assert health_of(load("inferenceservice-stopped.yaml")).status is Health.SUSPENDED


def test_hpa_healthy() -> None:
    assert health_of(load("hpa-healthy.yaml")).status is Health.HEALTHY


def test_hpa_degraded() -> None:
    assert health_of(load("hpa-degraded.yaml")).status is Health.DEGRADED


def test_hpa_progressing() -> None:
    assert health_of(load("hpa-progressing.yaml")).status is Health.PROGRESSING


def test_configmap_without_status_is_healthy() -> None:
    assert health_of(load("configmap-healthy.yaml")).status is Health.HEALTHY


def test_localqueue_active_is_healthy() -> None:
    assert health_of(load("localqueue-healthy.yaml")).status is Health.HEALTHY


def test_clusterqueue_inactive_is_degraded() -> None:
    assert health_of(load("clusterqueue-degraded.yaml")).status is Health.DEGRADED


def test_namespace_terminating() -> None:
    assert health_of(load("namespace-terminating.yaml")).status is Health.PROGRESSING


def test_missing_object() -> None:
    assert health_of(None).status is Health.MISSING


def test_order_matches_gitops_engine() -> None:
    assert sorted(Health, reverse=True) == [
        Health.UNKNOWN,
        Health.DEGRADED,
        Health.MISSING,
        Health.PROGRESSING,
        Health.SUSPENDED,
        Health.HEALTHY,
    ]


def test_is_worse() -> None:
    assert Health.DEGRADED.is_worse(Health.MISSING) and not Health.HEALTHY.is_worse(
        Health.SUSPENDED
    )


def test_worst_folds_many_statuses() -> None:
    statuses = [health_of(load(f)) for f in ("job-running.yaml", "hpa-degraded.yaml")]
    assert worst([*statuses, health_of(None)]).status is Health.DEGRADED


def test_worst_of_nothing_is_healthy() -> None:
    assert worst([]).status is Health.HEALTHY


@pytest.mark.parametrize(
    ("fixture", "health", "phase"),
    [
        ("trainjob-new.yaml", HealthStatus(Health.PROGRESSING, "waiting for the Trainer controller"), StepPhase.PENDING),
        ("trainjob-suspended.yaml", HealthStatus(Health.SUSPENDED, "Suspended: TrainJob is suspended"), StepPhase.PENDING),
        ("trainjob-running.yaml", HealthStatus(Health.PROGRESSING, "running (1 active jobs)"), StepPhase.RUNNING),
        ("trainjob-complete.yaml", HealthStatus(Health.HEALTHY, "JobSetCompleted: jobset completed successfully"), StepPhase.SUCCEEDED),
        (
            "trainjob-failed.yaml",
            HealthStatus(Health.DEGRADED, "DeadlineExceeded: TrainJob exceeded its activeDeadlineSeconds"),
            StepPhase.FAILED,
        ),
    ],
)  # fmt: skip
def test_trainjob_health_and_phase(fixture: str, health: HealthStatus, phase: StepPhase) -> None:
    obj = load(fixture)
    assert health_of(obj) == health
    assert step_phase(obj) is phase


def test_every_fixture_is_used() -> None:
    source = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    unused = [p.name for p in TESTDATA.glob("*.yaml") if p.name not in source]
    assert unused == []
