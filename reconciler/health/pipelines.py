"""Health of one pipeline in one environment: its current run and, where it serves, its model.

Called by the engine after every reconcile (``Outcome.pipelines``), which ``reconciler
status``, ``plan``, ``sync``, the daemon's logs and the web page print. Computed, never
assumed, with the states of :mod:`reconciler.health.states`, folded with :func:`worst`:

run
    Succeeded is Healthy; Failed or Cancelled is Degraded (with why: the failing step's own
    reason); Running is Progressing; a run with no step object in the cluster is Missing (an
    environment never synced, or a dry run before the first apply); a step whose status
    cannot be read is Unknown, never Pending forever.
serving (only where the pipeline serves in this environment)
    the live serving object's own health (Missing when it is not in the cluster); with no
    model to serve yet: Progressing while the run is in flight, Missing once it has ended
    without a promoted model (it failed, or failed its promotion gate), as gitops-engine
    reports a declared object that is absent.
a spec that does not render (:func:`unrendered_status`)
    status ``RenderError``, health Unknown (it could not be compared with the cluster; its
    live objects are kept as they are), with its errors as ``file:line:col: field: message``
    and the model its kept serving object still serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.health import conditions
from reconciler.health.states import Health, HealthStatus, StepPhase, worst
from reconciler.specs.models import Promote
from reconciler.structs.errors import SpecError
from reconciler.structs.manifests import Manifest
from reconciler.structs.runs import RunStatus, ServedModel


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

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "name": self.name,
            "needs": list(self.needs),
            "phase": self.phase,
            "started": self.started or None,
            "finished": self.finished or None,
        }


@dataclass
class PipelineStatus:
    """One pipeline after a reconcile: current run, run status, served model, health.

    ``health`` is the worst of the run's and the serving's health and ``reason`` says why;
    ``run_reason`` is why the run ended as it did (empty while it runs); ``serving_health``
    is empty where the pipeline does not serve. ``steps`` is the current run's step DAG;
    ``gate`` the promotion gate (None: every Succeeded run is served). ``errors``: why the
    pipeline's spec does not render (status ``RenderError``, ``run`` empty).
    """

    name: str
    run: str
    status: str
    serving: ServedModel | None
    health: str
    reason: str = ""
    run_reason: str = ""
    serving_health: str = ""
    steps: tuple[StepStatus, ...] = ()
    gate: Promote | None = None
    errors: tuple[SpecError, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form used by ``status``, ``plan``, ``sync`` and logs."""
        return {
            "pipeline": self.name,
            "run": self.run,
            "status": self.status,
            "runReason": self.run_reason,
            "serving": None
            if self.serving is None
            else {"run": self.serving.run, "model": self.serving.model_uri},
            "servingHealth": self.serving_health or None,
            "health": self.health,
            "reason": self.reason,
            "steps": [s.to_dict() for s in self.steps],
            "gate": None
            if self.gate is None
            else {"metric": self.gate.metric, "min": self.gate.min},
            "errors": [e.to_dict() for e in self.errors],
        }


@dataclass(frozen=True)
class StepView:
    """One step of the current run as the cluster shows it (``obj`` None: not created)."""

    name: str
    obj: Manifest | None
    phase: StepPhase
    needs: tuple[str, ...] = ()

    @classmethod
    def of(cls, name: str, needs: Sequence[str], obj: Manifest | None) -> StepView:
        """Return the view of a step from its live object (None: not created, or gone)."""
        from reconciler.health import step_phase

        return cls(name, obj, step_phase(obj), tuple(needs))


def step_status(view: StepView) -> StepStatus:
    """Return the display form of a step: phase (Pending when not created) and times."""
    times = (view.obj or {}).get("status") or {}
    times = times if isinstance(times, dict) else {}
    return StepStatus(
        name=view.name,
        needs=view.needs,
        phase=str(view.phase),
        started=str(times.get("startTime") or ""),
        finished=str(times.get("completionTime") or ""),
    )


def run_health(run: str, status: str, steps: Sequence[StepView], reason: str) -> HealthStatus:
    """Return the health of a pipeline's current run (see the module docstring)."""
    unreadable = [s.name for s in steps if s.phase == StepPhase.UNKNOWN]
    if status == RunStatus.SUCCEEDED:
        return HealthStatus(Health.HEALTHY, f"run {run} succeeded")
    if status == RunStatus.FAILED:
        return HealthStatus(Health.DEGRADED, f"run {run} failed: {reason or 'a step failed'}")
    if status == RunStatus.CANCELLED:
        return HealthStatus(Health.DEGRADED, f"run {run} cancelled: {reason or 'superseded'}")
    if unreadable:
        return HealthStatus(
            Health.UNKNOWN, f"cannot read the status of step {', '.join(unreadable)}"
        )
    running = [s.name for s in steps if s.phase == StepPhase.RUNNING]
    if running:
        return HealthStatus(Health.PROGRESSING, f"run {run}: step {', '.join(running)} running")
    if not any(s.obj is not None for s in steps):
        return HealthStatus(Health.MISSING, f"run {run} not started in the cluster")
    waiting = [s.name for s in steps if s.obj is not None and s.phase == StepPhase.PENDING]
    detail = f"step {', '.join(waiting)} waiting to start" if waiting else "next step to start"
    return HealthStatus(Health.PROGRESSING, f"run {run}: {detail}")


def serving_health(
    *,
    run: str,
    status: str,
    serving: ServedModel | None,
    serving_obj: Manifest | None,
    not_served_because: str,
) -> HealthStatus:
    """Return the health of a pipeline's serving where it serves (see the module docstring).

    ``not_served_because`` is why the current run is not served (its promotion decision or
    failure), used when no model is served at all.
    """
    from reconciler.health import health_of

    if serving is None:
        if status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):
            why = not_served_because or f"run {run} ended {status}"
            return HealthStatus(Health.MISSING, f"no model served: {why}")
        return HealthStatus(Health.PROGRESSING, f"no model yet: waiting for run {run}")
    found = health_of(serving_obj)
    if found.status == Health.MISSING:
        return HealthStatus(Health.MISSING, f"serving object for run {serving.run} not found")
    return found


def pipeline_status(
    *,
    name: str,
    run: str,
    status: str,
    steps: Sequence[StepView],
    run_reason: str = "",
    serves: bool,
    serving: ServedModel | None,
    serving_obj: Manifest | None,
    not_served_because: str = "",
    gate: Promote | None = None,
) -> PipelineStatus:
    """Return a pipeline's status with its health computed from the run and the serving.

    ``steps`` are the current run's steps in spec order; ``gate`` its promotion gate.
    """
    from_run = run_health(run, status, steps, run_reason)
    parts = [from_run]
    from_serving = None
    if serves:
        from_serving = serving_health(
            run=run,
            status=status,
            serving=serving,
            serving_obj=serving_obj,
            not_served_because=not_served_because,
        )
        parts.append(from_serving)
    overall = worst(parts)
    return PipelineStatus(
        name=name,
        run=run,
        status=status,
        serving=serving,
        health=str(overall.status),
        reason=overall.reason,
        run_reason=run_reason if status in (RunStatus.FAILED, RunStatus.CANCELLED) else "",
        serving_health=str(from_serving.status) if from_serving is not None else "",
        steps=tuple(step_status(v) for v in steps),
        gate=gate,
    )


RENDER_ERROR = "RenderError"
"""The status of a pipeline whose spec does not render (no run can be derived)."""


def unrendered_status(
    name: str,
    errors: Sequence[SpecError],
    *,
    serving: ServedModel | None = None,
    serving_obj: Manifest | None = None,
) -> PipelineStatus:
    """Return the status of a pipeline whose spec does not render: RenderError, Unknown.

    Nothing about its run can be derived (the run id needs the spec), so ``run`` is empty;
    the reason names the first error's file, line and field, and how many more there are.
    ``serving`` is what its live serving object (``serving_obj``, kept as it is) still
    serves, read from that object's run label and model annotation: the row says what is
    actually served, with that object's own health as ``serving_health``. None (no serving
    object, or one without the label and annotation): nothing is said to be served.
    """
    from reconciler.health import health_of

    ordered = tuple(sorted(set(errors)))
    first = str(ordered[0]) if ordered else "its spec does not render"
    more = f" (and {len(ordered) - 1} more)" if len(ordered) > 1 else ""
    return PipelineStatus(
        name=name,
        run="",
        status=RENDER_ERROR,
        serving=serving,
        health=str(Health.UNKNOWN),
        reason=f"does not render, live objects kept as they are: {first}{more}",
        serving_health=str(health_of(serving_obj).status) if serving is not None else "",
        errors=ordered,
    )


def failure_of(obj: Manifest | None) -> str:
    """Return why a live step object failed, from its ``Failed`` condition ("" if none)."""
    if obj is None:
        return ""
    failed = conditions.condition(obj, "Failed")
    if failed is None or str(failed.get("status")) != "True":
        return ""
    return conditions.describe(failed)
