"""Health and step phase of a Kubeflow Trainer TrainJob (a step with ``runtime: trainjob``).

Called through the dispatch in :mod:`reconciler.health`. Trainer v2 sets three condition
types on ``trainer.kubeflow.org/v1alpha1`` TrainJobs: ``Suspended`` (True while Kueue holds
the job, False with reason ``Resumed`` once admitted), ``Complete`` and ``Failed`` (reasons
such as ``DeadlineExceeded`` or the JobSet's failure). There is no Running condition: the
child Jobs' counts in ``status.jobsStatus`` (one entry per replicated job, with ``active``,
``ready``, ``succeeded``, ``failed``) say whether training runs.
"""

from __future__ import annotations

from typing import Any

from reconciler.health import conditions
from reconciler.health.states import Health, HealthStatus, StepPhase
from reconciler.structs.manifests import Manifest


def _active_jobs(obj: Manifest) -> int:
    status = obj.get("status") or {}
    jobs: Any = status.get("jobsStatus") if isinstance(status, dict) else None
    if not isinstance(jobs, list):
        return 0
    return sum(int(j.get("active") or 0) for j in jobs if isinstance(j, dict))


def health(obj: Manifest) -> HealthStatus:
    """Return the health of a TrainJob.

    Failed is Degraded, Complete Healthy, Suspended Suspended; a job with active child Jobs
    is Progressing ("running"), as is one the Trainer controller has not started yet.
    """
    for type_, state in (
        ("Failed", Health.DEGRADED),
        ("Complete", Health.HEALTHY),
        ("Suspended", Health.SUSPENDED),
    ):
        c = conditions.condition(obj, type_)
        if c is not None and str(c.get("status")) == "True":
            return HealthStatus(state, conditions.describe(c) or f"TrainJob {type_.lower()}")
    active = _active_jobs(obj)
    if active:
        return HealthStatus(Health.PROGRESSING, f"running ({active} active jobs)")
    return HealthStatus(Health.PROGRESSING, "waiting for the Trainer controller")


def step_phase(obj: Manifest) -> StepPhase:
    """Return the phase of a TrainJob run step (Suspended, or nothing active yet, is Pending)."""
    if conditions.is_true(obj, "Failed"):
        return StepPhase.FAILED
    if conditions.is_true(obj, "Complete"):
        return StepPhase.SUCCEEDED
    if conditions.is_true(obj, "Suspended"):
        return StepPhase.PENDING
    return StepPhase.RUNNING if _active_jobs(obj) else StepPhase.PENDING
