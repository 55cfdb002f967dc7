"""Health and step phase of a kubeflow.org/v1 PyTorchJob (a step with ``runtime: kubeflow``).

Called through the dispatch in :mod:`reconciler.health`. The Kubeflow training operator
appends conditions ``Created``, ``Running``, ``Restarting``, ``Succeeded``, ``Failed`` and
``Suspended``; the terminal ones win over whatever else is still True.
"""

from __future__ import annotations

from reconciler.health import conditions
from reconciler.health.states import Health, HealthStatus, StepPhase
from reconciler.structs.manifests import Manifest


def health(obj: Manifest) -> HealthStatus:
    """Return the health of a PyTorchJob.

    Failed is Degraded, Succeeded Healthy, Suspended Suspended; Created, Running and
    Restarting are Progressing, as is a job the operator has not picked up yet.
    """
    for type_, state in (
        ("Failed", Health.DEGRADED),
        ("Succeeded", Health.HEALTHY),
        ("Suspended", Health.SUSPENDED),
        ("Restarting", Health.PROGRESSING),
        ("Running", Health.PROGRESSING),
        ("Created", Health.PROGRESSING),
    ):
        c = conditions.condition(obj, type_)
        if c is not None and str(c.get("status")) == "True":
            return HealthStatus(state, conditions.describe(c) or f"PyTorchJob {type_.lower()}")
    return HealthStatus(Health.PROGRESSING, "waiting for the training operator")


def step_phase(obj: Manifest) -> StepPhase:
    """Return the phase of a PyTorchJob run step (Suspended and Created are Pending)."""
    if conditions.is_true(obj, "Failed"):
        return StepPhase.FAILED
    if conditions.is_true(obj, "Succeeded"):
        return StepPhase.SUCCEEDED
    if conditions.is_true(obj, "Suspended"):
        return StepPhase.PENDING
    if conditions.is_true(obj, "Running") or conditions.is_true(obj, "Restarting"):
        return StepPhase.RUNNING
    return StepPhase.PENDING
