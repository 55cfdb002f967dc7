"""The outcome of a reconcile: its change set, records, errors and each pipeline's status.

Built from what the other steps returned (nothing is read from the cluster here); every
declared pipeline has a status, one that did not render too (``RenderError``); each
pipeline's health is computed by :mod:`reconciler.health.pipelines` from its step objects
as they are after the sync and its provenance record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler import health
from reconciler.engine.seams import Outcome, Source
from reconciler.health import pipelines as pipeline_health
from reconciler.render import environments
from reconciler.render import steps as step_objects
from reconciler.runs import observing, tracking
from reconciler.structs.manifests import Manifest

if TYPE_CHECKING:
    from reconciler.apply.sync import SyncResult


def outcome_of(
    source: Source,
    prepared: environments.Prepared,
    tracked: tracking.Tracked,
    result: SyncResult,
    *,
    applied: str,
    dry_run: bool,
    duration: float,
) -> Outcome:
    """Gather what a reconcile did: changes, records, errors and each pipeline's status.

    ``applied`` is the commit the environment's Namespace says was applied after the sync.
    """
    return Outcome(
        target=prepared.target,
        commit=source.commit.sha,
        changeset=result.changeset,
        pipelines=pipeline_statuses(prepared, tracked, result.live),
        errors=[*prepared.errors, *tracked.errors],
        records=tracked.records,
        records_pending=tracked.pending,
        missing_operators=list(result.missing_operators),
        in_flight=tracked.in_flight,
        duration=duration,
        applied_commit=applied,
        dry_run=dry_run,
        unrecorded=list(tracked.unrecorded),
        prune_refused=result.prune_refused,
    )


def pipeline_statuses(
    prepared: environments.Prepared,
    tracked: tracking.Tracked,
    live: dict[tuple[str, str, str, str], Manifest],
) -> list[pipeline_health.PipelineStatus]:
    """Return each declared pipeline's status from the objects as they are after the sync.

    Its health is computed (``health.pipelines``): the run's (why it ended, from its record
    or its failed step) and, where it serves, the serving's. A pipeline that did not render
    is listed too, as ``RenderError`` with its errors (sorted by name with the others) and
    the model its kept serving object still serves (its run label and model annotation).
    """
    by_name = {(str(o.get("kind")), tracking.object_name(o)): o for o in live.values()}
    out = []
    for name, plan in sorted(prepared.run_specs.items()):
        state = tracked.states[name]
        steps = [
            pipeline_health.StepView.of(
                s.name,
                s.needs,
                by_name.get(
                    (
                        step_objects.step_group_kind(s)[1],
                        plan.object_name(s.name, state.attempt),
                    )
                ),
            )
            for s in plan.pipeline.steps
        ]
        recorded = tracked.recorded.get(name)
        status, reason = _run_status(steps, recorded)
        serve = plan.pipeline.serve
        serving_kind = "InferenceService" if serve and serve.runtime == "kserve" else "Deployment"
        out.append(
            pipeline_health.pipeline_status(
                name=name,
                run=plan.run_name(state.attempt),
                status=status,
                steps=steps,
                run_reason=reason,
                serves=serve is not None and plan.env.serve,
                serving=state.serving,
                serving_obj=by_name.get((serving_kind, name)),
                not_served_because=recorded.not_served_because if recorded else "",
                gate=plan.pipeline.promote,
            )
        )
    kept = tracking.LiveRuns.of(list(live.values())).serving  # what still serves, unrendered
    out += [
        pipeline_health.unrendered_status(
            n, e, serving=observing.serving_of(kept.get(n)), serving_obj=kept.get(n)
        )
        for n, e in prepared.failed_pipelines.items()
    ]
    return sorted(out, key=lambda p: p.name)


def _run_status(
    steps: list[pipeline_health.StepView], recorded: observing.RecordedRun | None
) -> tuple[str, str]:
    """Return the run's status and why: its record's, else folded from the live steps."""
    if recorded is not None:
        return str(recorded.status), recorded.reason
    phases = {v.name: v.phase for v in steps if v.obj is not None}
    status, reason = observing.run_status([v.name for v in steps], phases)
    failing = next((v for v in steps if v.phase == health.StepPhase.FAILED), None)
    if failing is not None:
        reason = ": ".join(x for x in (reason, pipeline_health.failure_of(failing.obj)) if x)
    return str(status), reason
