"""Health and step phase of a batch/v1 Job (a run step with ``runtime: job``).

Called through the dispatch in :mod:`reconciler.health`. A Job is done when its ``Complete``
or ``Failed`` condition is True; the intermediate ``SuccessCriteriaMet`` / ``FailureTarget``
conditions (Kubernetes 1.31+) only mean the pods are still being terminated.
"""

from __future__ import annotations

from reconciler.health import conditions
from reconciler.health.states import Health, HealthStatus, StepPhase
from reconciler.structs.manifests import Manifest


def _counts(obj: Manifest) -> str:
    status = obj.get("status") or {}
    parts = [f"{status[k]} {k}" for k in ("active", "succeeded", "failed") if status.get(k)]
    return ", ".join(parts)


def health(obj: Manifest) -> HealthStatus:
    """Return the health of a Job.

    Failed=True is Degraded, Complete=True Healthy, ``spec.suspend`` Suspended; anything
    else (pods pending or running, no status yet) is Progressing.
    """
    failed = conditions.condition(obj, "Failed")
    if failed is not None and str(failed.get("status")) == "True":
        return HealthStatus(Health.DEGRADED, conditions.describe(failed) or "Job failed")
    complete = conditions.condition(obj, "Complete")
    if complete is not None and str(complete.get("status")) == "True":
        return HealthStatus(Health.HEALTHY, conditions.describe(complete) or "Job completed")
    if (obj.get("spec") or {}).get("suspend"):
        return HealthStatus(Health.SUSPENDED, "Job is suspended")
    return HealthStatus(Health.PROGRESSING, _counts(obj) or "waiting for the Job to start")


def step_phase(obj: Manifest) -> StepPhase:
    """Return the phase of a Job run step.

    Succeeded/Failed come only from the final ``Complete``/``Failed`` conditions; Running
    once the Job has started (``startTime``) or has active pods; Pending before that and
    while suspended.
    """
    if conditions.is_true(obj, "Failed"):
        return StepPhase.FAILED
    if conditions.is_true(obj, "Complete"):
        return StepPhase.SUCCEEDED
    status = obj.get("status") or {}
    if (obj.get("spec") or {}).get("suspend") and not status.get("active"):
        return StepPhase.PENDING
    if status.get("active") or status.get("ready") or status.get("startTime"):
        return StepPhase.RUNNING
    return StepPhase.PENDING
