"""Fold live step objects and provenance records into run states and runs to record.

Called by the engine once per pipeline per reconcile. Pure: the engine lists the objects
and looks up the records; this module decides.

Rules (design.md, "Runs"):
- A run with a record (Succeeded, Failed or Cancelled) is final: it is never started again.
- A run whose step failed is Failed; nothing after the failed step starts.
- A run whose steps all succeeded is Succeeded.
- A live, unfinished run of an older spec is superseded: recorded Cancelled, then pruned.
- A run's steps come from its run spec (for an older run: the run spec of the commit last applied,
  ``run_spec_of``), never from the objects that happen to be live: a run superseded after its
  first step and before its second has one live object, all succeeded, and is still
  Cancelled. An older run whose run spec is unknown is never Succeeded (Failed if a step
  failed, else Cancelled).
- Serving follows the newest promoted attempt of the current run; until there is one it
  stays on the model the live serving object has; with neither, there is no serving.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.render.runspecs import RunSpec
from reconciler.structs import labels
from reconciler.structs.manifests import Manifest
from reconciler.structs.runs import RunState, RunStatus, ServedModel, StepPhase, split_run_name

PhaseFn = Callable[[Manifest], StepPhase]
RunSpecFn = Callable[[str], "RunSpec | None"]
"""``run_spec_of(run_name)``: an older run's run spec, or None if it is not known."""


@dataclass(frozen=True)
class RecordedRun:
    """What the engine needs from a provenance record: status and promotion.

    ``reason`` says why the run ended (``reasons.run_reason``), ``not_served_because`` why
    it is not served (failure or promotion gate; "" if promoted).
    """

    run: str
    status: RunStatus
    promoted: bool
    model_uri: str
    reason: str = ""
    not_served_because: str = ""


@dataclass
class Finishing:
    """A run that has just finished (or must be cancelled) and has no record yet."""

    run: str
    status: RunStatus
    reason: str
    objects: dict[str, Manifest]
    phases: dict[str, StepPhase]
    current: bool
    run_spec: RunSpec | None = None
    """The run's own run spec (the current one's, or an older run's when it is known)."""


@dataclass
class Observation:
    """The result for one pipeline: its state, and the runs to record before pruning."""

    state: RunState
    finishing: list[Finishing] = field(default_factory=list)
    in_flight: bool = False
    protected: set[str] = field(default_factory=set)
    """Object names that must not be pruned this reconcile (unrecorded older runs)."""


def group_by_run(objs: Sequence[Manifest]) -> dict[str, dict[str, Manifest]]:
    """Group a pipeline's live step objects as ``{run name: {step: object}}``."""
    out: dict[str, dict[str, Manifest]] = defaultdict(dict)
    for o in objs:
        lab = (o.get("metadata") or {}).get("labels") or {}
        run, step = lab.get(labels.RUN), lab.get(labels.STEP)
        if run and step:
            out[run][step] = o
    return dict(out)


def run_status(spec_steps: Sequence[str], phases: Mapping[str, StepPhase]) -> tuple[RunStatus, str]:
    """Return the status of a run from its steps' phases, and a reason."""
    failed = sorted(s for s, p in phases.items() if p == StepPhase.FAILED)
    if failed:
        return RunStatus.FAILED, f"step {failed[0]} failed"
    if spec_steps and all(phases.get(s) == StepPhase.SUCCEEDED for s in spec_steps):
        return RunStatus.SUCCEEDED, "all steps succeeded"
    if any(p in (StepPhase.RUNNING, StepPhase.SUCCEEDED) for p in phases.values()):
        return RunStatus.RUNNING, "running"
    return RunStatus.PENDING, "pending"


def older_run_status(
    run_spec: RunSpec | None, phases: Mapping[str, StepPhase], reason: str
) -> tuple[RunStatus, str]:
    """Return the status of a run that is no longer current, from its run spec's steps.

    Without a run spec its steps are unknown, so it is never Succeeded. A run that has not
    finished is Cancelled with ``reason``.
    """
    steps = [s.name for s in run_spec.pipeline.steps] if run_spec is not None else []
    status, why = run_status(steps, phases)
    if not status.finished:
        return RunStatus.CANCELLED, reason
    return status, why


def run_spec_for_run(run_spec: RunSpec | None, run: str) -> RunSpec | None:
    """Return ``run_spec`` if it is the run spec of ``run`` (same run id), else None."""
    if run_spec is not None and split_run_name(run)[0] == run_spec.run_id:
        return run_spec
    return None


def serving_of(obj: Manifest | None) -> ServedModel | None:
    """Return the model a live serving object serves (run label, model annotation)."""
    if obj is None:
        return None
    meta = obj.get("metadata") or {}
    run = (meta.get("labels") or {}).get(labels.RUN)
    model = (meta.get("annotations") or {}).get(labels.MODEL)
    if run and model:
        return ServedModel(run=run, model_uri=model)
    return None


def observe(
    run_spec: RunSpec,
    *,
    attempt: int,
    live_steps: Sequence[Manifest],
    record_of: Callable[[str], RecordedRun | None],
    phase_of: PhaseFn,
    live_serving: Manifest | None,
    run_spec_of: RunSpecFn | None = None,
) -> Observation:
    """Decide a pipeline's run state and what to record.

    ``live_steps`` are the pipeline's step objects in the cluster (any run);
    ``record_of(run_name)`` looks a run up in provenance; ``run_spec_of(run_name)`` gives an
    older run's run spec when it is known.
    """
    current = run_spec.run_name(attempt)
    by_run = group_by_run(live_steps)
    step_names = [s.name for s in run_spec.pipeline.steps]
    obs = Observation(state=RunState(run=current, attempt=attempt))
    # Older runs of this pipeline still in the cluster.
    for run, objs in sorted(by_run.items()):
        if run == current:
            continue
        phases = {s: phase_of(o) for s, o in objs.items()}
        if record_of(run) is not None:
            continue  # already final: prune freely
        older = run_spec_of(run) if run_spec_of is not None else None
        status, reason = older_run_status(older, phases, "superseded by a newer run")
        obs.finishing.append(
            Finishing(run, status, reason, objs, phases, current=False, run_spec=older)
        )
        obs.protected |= {(o.get("metadata") or {}).get("name", "") for o in objs.values()}
    # The current run.
    objs = by_run.get(current, {})
    phases = {s: phase_of(o) for s, o in objs.items()}
    rec = record_of(current)
    succeeded = frozenset(s for s, p in phases.items() if p == StepPhase.SUCCEEDED)
    failed = any(p == StepPhase.FAILED for p in phases.values())
    recorded = rec is not None
    if not recorded:
        status, reason = run_status(step_names, phases)
        if status.finished:
            obs.finishing.append(
                Finishing(current, status, reason, objs, phases, current=True, run_spec=run_spec)
            )
        else:
            obs.in_flight = True
    # Serving: newest promoted attempt of the current run id, else what is live.
    serving: ServedModel | None = None
    serves = run_spec.pipeline.serve is not None and run_spec.env.serve
    for n in range(attempt if serves else 0, 0, -1):
        r = rec if n == attempt else record_of(run_spec.run_name(n))
        if r is not None and r.status == RunStatus.SUCCEEDED and r.promoted:
            serving = ServedModel(run=r.run, model_uri=r.model_uri)
            break
    if serving is None and serves:
        serving = serving_of(live_serving)
    obs.state = RunState(
        run=current,
        attempt=attempt,
        recorded=recorded,
        live_steps=frozenset(objs),
        succeeded_steps=succeeded,
        failed=failed,
        serving=serving,
        live_objects=objs,
    )
    return obs
