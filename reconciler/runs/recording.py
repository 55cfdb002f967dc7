"""Build the provenance record of a run that has just finished (or was cancelled).

Called by the engine with the run spec (for the current run) and the live step objects
and pods. For an older run, superseded before it finished, the run spec is no longer known:
the record is built from what its objects carry (images, resources, the RUN_ID, PARAMS_JSON
and DATASET_* env vars of their pod templates).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.provenance import records as rec
from reconciler.render.runspecs import RunSpec
from reconciler.runs import promotion, step_metrics
from reconciler.runs.observing import Finishing
from reconciler.structs.manifests import Manifest, ObjectRef
from reconciler.structs.runs import RunStatus, split_run_name

JOB_NAME_LABELS = (
    "jobset.sigs.k8s.io/jobset-name",  # a TrainJob's pods (its JobSet has the TrainJob's name)
    "batch.kubernetes.io/job-name",
    "job-name",
    "training.kubeflow.org/job-name",
)
MASTER_LABEL = "training.kubeflow.org/replica-type"
RANK_ZERO_LABELS = {
    "jobset.sigs.k8s.io/job-index": "0",
    "batch.kubernetes.io/job-completion-index": "0",
}
"""A TrainJob's first node (rank 0) speaks for the step, as a PyTorchJob's master does."""


@dataclass(frozen=True)
class SourceFacts:
    """Where the current spec came from: repo URL (redacted), branch, commit, trigger."""

    repo: str
    ref: str
    commit: str
    trigger: rec.Trigger


def parse_time(value: Any) -> datetime | None:
    """Parse an RFC 3339 timestamp as the API server writes it (None if absent or bad)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def pods_by_job(pods: Sequence[Manifest]) -> dict[str, list[Manifest]]:
    """Index pods by the name of the Job/PyTorchJob that owns them."""
    out: dict[str, list[Manifest]] = {}
    for pod in pods:
        lab = (pod.get("metadata") or {}).get("labels") or {}
        for key in JOB_NAME_LABELS:
            if key in lab:
                out.setdefault(lab[key], []).append(pod)
                break
    return out


def _terminated(pod: Manifest) -> dict[str, Any]:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated")
        if term:
            return {**term, "imageID": cs.get("imageID", "")}
    return {}


def step_pod(pods: Sequence[Manifest]) -> Manifest | None:
    """Return the pod whose termination message speaks for a step (a PyTorchJob's master,
    a TrainJob's rank-0 node)."""
    if not pods:
        return None

    def is_master(p: Manifest) -> bool:
        lab = (p.get("metadata") or {}).get("labels") or {}
        if str(lab.get(MASTER_LABEL, "")).lower() == "master":
            return True
        return all(lab.get(k) == v for k, v in RANK_ZERO_LABELS.items())

    masters = [p for p in pods if is_master(p)]
    candidates = masters or list(pods)
    finished = [p for p in candidates if _terminated(p)]
    pool = finished or candidates
    return max(pool, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp", "")))


def _template_container(obj: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = obj.get("spec") or {}
    trainer = spec.get("trainer")
    if isinstance(trainer, dict):  # a TrainJob: its trainer is the node container
        return {**trainer, "resources": trainer.get("resourcesPerNode") or {}}
    template = spec.get("template")
    if template is None:
        replicas: dict[str, Any] = spec.get("pytorchReplicaSpecs") or {}
        first: dict[str, Any] = replicas.get("Master") or next(iter(replicas.values()), {})
        template = first.get("template")
    containers = ((template or {}).get("spec") or {}).get("containers") or [{}]
    return dict(containers[0])


def _env_of(container: Mapping[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env") or [] if "value" in e}


def _condition_time(obj: Manifest, *types: str) -> datetime | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") in types and c.get("status") == "True":
            t = parse_time(c.get("lastTransitionTime"))
            if t:
                return t
    return None


def step_record(
    name: str,
    obj: Manifest,
    phase: str,
    pods: Sequence[Manifest],
    artifacts_uri: str | None = None,
) -> rec.StepRecord:
    """Return one step's record: outcome, image and digest, resources, object, metrics.

    Metrics come from the termination message; a step that succeeded without any there
    is read from ``metrics.json`` under its ``artifacts_uri``.
    """
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    container = _template_container(obj)
    pod = step_pod(pods)
    term = _terminated(pod) if pod else {}
    parsed = step_metrics.parse_termination_message(term.get("message"))
    if not parsed.values and not parsed.error and phase == "Succeeded":
        parsed = step_metrics.read_metrics_file(artifacts_uri)
    values: dict[str, Any] = dict(parsed.values)
    if parsed.error:
        values["_parseError"] = parsed.error
    digest = str(term.get("imageID") or "")
    if "@" in digest:
        digest = digest.split("@", 1)[1]
    started = parse_time(status.get("startTime")) or parse_time(meta.get("creationTimestamp"))
    finished = (
        parse_time(status.get("completionTime"))
        or _condition_time(obj, "Complete", "Succeeded", "Failed")
        or parse_time(term.get("finishedAt"))
    )
    reason = ""
    if phase == "Failed":
        condition = next(
            (
                str(c.get("reason") or c.get("message") or "")
                for c in status.get("conditions") or []
                if c.get("type") == "Failed"
            ),
            "",
        )
        reason = step_metrics.failure_reason(term, condition or "failed")
    return rec.StepRecord(
        name=name,
        status=str(phase),
        reason=reason,
        image=str(container.get("image", "")),
        digest=digest,
        resources=dict(container.get("resources") or {}),
        object=ObjectRef.of(obj),
        uid=str(meta.get("uid", "")),
        started=started,
        finished=finished,
        metrics=values,
    )


def build_record(
    finishing: Finishing,
    *,
    env: str,
    pipeline: str,
    run_spec: RunSpec | None,
    pods: Mapping[str, Sequence[Manifest]],
    source: SourceFacts,
    server: str,
    namespace: str,
    superseded_by: str | None = None,
    now: datetime | None = None,
) -> rec.RunRecord:
    """Return the record of a finished (or cancelled) run.

    ``pods`` maps a step object's name to its pods (``pods_by_job``). With ``run_spec`` (the
    current run) the record carries the resolved spec, params, datasets and model; without
    it they are read back from the objects' pod templates.
    """
    run_id, attempt = split_run_name(finishing.run)
    steps: list[rec.StepRecord] = []
    for name in sorted(finishing.objects):
        obj = finishing.objects[name]
        obj_name = (obj.get("metadata") or {}).get("name", "")
        steps.append(
            step_record(
                name,
                obj,
                str(finishing.phases.get(name, "")),
                pods.get(obj_name, ()),
                run_spec.artifacts_uri(name, attempt) if run_spec is not None else None,
            )
        )
    if run_spec is not None:
        order = {s.name: i for i, s in enumerate(run_spec.ordered_steps())}
        steps.sort(key=lambda s: order.get(s.name, len(order)))
    created = min(
        (
            t
            for t in (
                parse_time((o.get("metadata") or {}).get("creationTimestamp"))
                for o in finishing.objects.values()
            )
            if t
        ),
        default=None,
    )
    started = min((s.started for s in steps if s.started), default=created)
    finished = max((s.finished for s in steps if s.finished), default=None)
    if finishing.status == RunStatus.CANCELLED or finished is None:
        finished = now or datetime.now(UTC)
    flat: dict[str, Any] = {}
    for s in steps:
        flat.update({k: v for k, v in s.metrics.items() if not k.startswith("_")})
    any_template = (
        _template_container(next(iter(finishing.objects.values()))) if finishing.objects else {}
    )
    env_vars = _env_of(any_template)
    if run_spec is not None:
        p = run_spec.pipeline
        decision = promotion.decide(
            p.promote, flat, succeeded=finishing.status == RunStatus.SUCCEEDED
        )
        datasets = [
            rec.DatasetRecord(name=n, path=f.path, md5=f.md5, size=f.size, remote=f.url)
            for n, f in sorted(run_spec.datasets.items())
        ]
        spec, params = dict(p.raw), dict(p.params)
        model: str | None = run_spec.model_uri(attempt)
        spec_path, spec_sha = p.path, p.spec_sha256
    else:
        decision = promotion.decide(None, flat, succeeded=False)
        try:
            params = json.loads(env_vars.get("PARAMS_JSON", "{}"))
        except ValueError:
            params = {}
        datasets = [
            rec.DatasetRecord(
                name=k[len("DATASET_") : -len("_MD5")].lower(),
                md5=v,
                remote=env_vars.get(k[: -len("_MD5")] + "_URL", ""),
            )
            for k, v in sorted(env_vars.items())
            if k.startswith("DATASET_") and k.endswith("_MD5")
        ]
        spec, spec_path, spec_sha = {}, "", ""
        model = env_vars.get("MODEL_OUTPUT") or None
    trigger = rec.Trigger.RETRY if attempt > 1 else source.trigger
    reason = finishing.reason
    failed = next((s for s in steps if s.status == "Failed" and s.reason), None)
    if finishing.status == RunStatus.FAILED and failed is not None:
        reason = f"step {failed.name} failed: {failed.reason}"  # the step's own words
    return rec.RunRecord(
        run=run_id,
        attempt=attempt,
        pipeline=pipeline,
        env=env,
        status=finishing.status,
        reason=reason,
        trigger=trigger,
        superseded_by=superseded_by if finishing.status == RunStatus.CANCELLED else None,
        source=rec.SourceInfo(
            repo=source.repo,
            ref=source.ref,
            commit=source.commit if run_spec is not None else "",
            spec_path=spec_path,
            spec_sha256=spec_sha,
        ),
        spec=spec,
        params=params,
        datasets=datasets,
        steps=steps,
        cluster=rec.ClusterInfo(server=server, namespace=namespace),
        created=created,
        started=started,
        finished=finished,
        model_output=model,
        promotion=rec.Promotion(
            promoted=decision.promoted,
            metric=decision.metric or None,
            value=decision.value,
            threshold=decision.threshold,
            reason=decision.reason,
        ),
    )
