"""The status of one pipeline in one environment: its current run, the model served, health.

Called by the engine at the end of every reconcile (``sync``, ``plan``, ``status`` and the
daemon print or export it). The run status comes from the run engine (a recorded status,
else folded from the live steps); this module adds the serving health, read from the live
serving object with the per-kind checks of this package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler import health
from reconciler.health.status import Health, HealthStatus
from reconciler.specs.models import Promote
from reconciler.structs.manifests import Manifest
from reconciler.structs.runs import ServedModel


@dataclass(frozen=True)
class StepStatus:
    """One step of a pipeline's current run: its place in the DAG, phase and times.

    ``started``/``finished`` are the step object's ``status.startTime`` and
    ``status.completionTime`` (RFC 3339, ``""`` when unknown or the object is gone).
    """

    name: str
    needs: tuple[str, ...]
    phase: str
    started: str = ""
    finished: str = ""


@dataclass
class PipelineStatus:
    """One pipeline after a reconcile: its current run, run status, serving model, health.

    ``steps`` is the current run's step DAG; ``gate`` the promotion gate (``None``: every
    Succeeded run is served).
    """

    name: str
    run: str
    status: str
    serving: ServedModel | None
    health: str
    reason: str = ""
    steps: tuple[StepStatus, ...] = ()
    gate: Promote | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form used by ``status`` and logs."""
        return {
            "pipeline": self.name,
            "run": self.run,
            "status": self.status,
            "serving": None
            if self.serving is None
            else {"run": self.serving.run, "model": self.serving.model_uri},
            "health": self.health,
            "reason": self.reason,
        }


def serving_health(
    *, serves: bool, serving: ServedModel | None, live: Manifest | None
) -> HealthStatus:
    """Return the health of a pipeline's serving.

    ``serves``: the pipeline declares ``serve`` and the environment serves; ``serving``: the
    model it should serve now (None: no run to serve yet); ``live``: the serving object in
    the cluster (a Deployment or an InferenceService), if any (None is Missing).
    """
    if not serves or serving is None:
        return HealthStatus(Health.HEALTHY, "no serving")
    return health.health_of(live)


def step_status(name: str, needs: tuple[str, ...], obj: Manifest | None) -> StepStatus:
    """Return a step's status from its live object (None: not created yet, or gone)."""
    times = (obj or {}).get("status") or {}
    return StepStatus(
        name=name,
        needs=needs,
        phase=str(health.step_phase(obj)),
        started=str(times.get("startTime") or ""),
        finished=str(times.get("completionTime") or ""),
    )


def pipeline_status(
    *,
    name: str,
    run: str,
    status: str,
    serves: bool,
    serving: ServedModel | None,
    live_serving: Manifest | None,
    steps: tuple[StepStatus, ...] = (),
    gate: Promote | None = None,
) -> PipelineStatus:
    """Return a pipeline's status line: run, run status, the model served and its health."""
    serving_state = serving_health(serves=serves, serving=serving, live=live_serving)
    return PipelineStatus(
        name=name,
        run=run,
        status=status,
        serving=serving,
        health=str(serving_state.status),
        reason=serving_state.reason,
        steps=steps,
        gate=gate,
    )
