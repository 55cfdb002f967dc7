"""Health of live objects: one module per kind, one dispatch table, an ordered state enum.

Called by the engine (``status``, serving promotion) and the run engine (``step_phase``).
Modelled on gitops-engine's ``pkg/health``: ``job``, ``pytorchjob``, ``trainjob``, ``deployment``,
``inferenceservice`` and ``hpa`` each export ``health(obj)``; kinds without a module fall
back to ``conditions.health`` (kstatus conventions); ``states`` holds the ordered
:class:`Health` enum (Healthy < Suspended < Progressing < Missing < Degraded < Unknown);
``pipelines`` folds a pipeline's run and serving into one status (what ``status`` prints).

Usage::

    from reconciler import health
    health.health_of(live)          # HealthStatus(Health.PROGRESSING, "1 active")
    health.step_phase(job)          # StepPhase.RUNNING
    health.worst(map(health.health_of, objs))
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler.health import (
    conditions,
    deployment,
    hpa,
    inferenceservice,
    job,
    pytorchjob,
    trainjob,
)
from reconciler.health.states import Health, HealthStatus, StepPhase, worst
from reconciler.structs.manifests import Manifest, group_kind_of

__all__ = [
    "HEALTH_CHECKS",
    "Health",
    "HealthStatus",
    "StepPhase",
    "health_of",
    "step_phase",
    "worst",
]

HealthCheck = Callable[[Manifest], HealthStatus]

HEALTH_CHECKS: dict[tuple[str, str], HealthCheck] = {
    ("batch", "Job"): job.health,
    ("kubeflow.org", "PyTorchJob"): pytorchjob.health,
    ("trainer.kubeflow.org", "TrainJob"): trainjob.health,
    ("apps", "Deployment"): deployment.health,
    ("serving.kserve.io", "InferenceService"): inferenceservice.health,
    ("autoscaling", "HorizontalPodAutoscaler"): hpa.health,
}
"""The one dispatch table: (API group, kind) -> health check; others use conditions."""

_STEP_PHASES: dict[tuple[str, str], Callable[[Manifest], StepPhase]] = {
    ("batch", "Job"): job.step_phase,
    ("kubeflow.org", "PyTorchJob"): pytorchjob.step_phase,
    ("trainer.kubeflow.org", "TrainJob"): trainjob.step_phase,
}


def health_of(obj: Manifest | None) -> HealthStatus:
    """Return the health of a live object.

    None (the object is not in the cluster) is Missing; an object being deleted is
    Progressing ("pending deletion"); a malformed status that a check cannot read is
    Unknown with the error, never an exception.
    """
    if obj is None:
        return HealthStatus(Health.MISSING, "not found in the cluster")
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return HealthStatus(Health.PROGRESSING, "pending deletion")
    check = HEALTH_CHECKS.get(group_kind_of(obj), conditions.health)
    try:
        return check(obj)
    except (TypeError, ValueError, AttributeError) as exc:
        return HealthStatus(Health.UNKNOWN, f"cannot read status: {exc}")


def step_phase(obj: Manifest | None) -> StepPhase:
    """Return the phase of a run step object (a Job, a PyTorchJob or a TrainJob).

    None (not created yet, or deleted) is Pending; a status that cannot be read is
    Unknown (not Pending forever: ``status`` says so). Raises ValueError for any other
    kind: only Jobs, PyTorchJobs and TrainJobs are run steps.
    """
    if obj is None:
        return StepPhase.PENDING
    func = _STEP_PHASES.get(group_kind_of(obj))
    if func is None:
        raise ValueError(f"{obj.get('kind')} is not a run step kind (Job, PyTorchJob, TrainJob)")
    try:
        return func(obj)
    except (TypeError, ValueError, AttributeError):
        return StepPhase.UNKNOWN
