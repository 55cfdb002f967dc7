"""The engine: one reconcile of one environment instance, joining the stages.

    source (commit, tree) -> render (overlay, datasets, run specs) -> live state (one list
    per kind) -> runs (observe, record finished runs) -> render objects -> apply/prune ->
    health

The daemon schedules ``reconcile``; the one-shot commands (``plan``, ``sync``, ``status``,
``retry``) call the same functions. Nothing here is remembered between calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler import health
from reconciler.provenance import records as prov_records
from reconciler.render import environments, overlays
from reconciler.render.runspecs import RunSpec
from reconciler.runs import observing, recording, tracking
from reconciler.source import repos
from reconciler.specs import branches, loading, validation
from reconciler.specs.models import Environment, Promote
from reconciler.structs import labels
from reconciler.structs.changesets import ChangeSet
from reconciler.structs.errors import ReconcilerError, SpecError, SpecErrors
from reconciler.structs.manifests import Manifest
from reconciler.structs.runs import RunState, ServedModel


def branch_hint(repo: Path, ref: str | None) -> str | None:
    """Return the branch a ``--ref`` (or the work tree) stands for, if it is a branch."""
    if ref is not None:
        name = ref.removeprefix("refs/heads/").removeprefix("origin/")
        try:
            repos.branch_ref(repo, name)
            return name
        except ReconcilerError:
            return None
    try:
        return repos.current_branch(repos.find_root(repo))
    except ReconcilerError:
        return None


def prepare_target(
    root: Path, env_name: str, *, branch: str | None, check_remote: bool = False
) -> environments.Prepared:
    """Load ``overlays/<env_name>`` from a tree and plan its runs for a branch.

    Raises SpecErrors if the Environment itself is broken, RenderError if Kustomize
    fails, ReconcilerError if a branch-pattern environment gets no matching branch.
    Errors of single pipelines are in ``Prepared.errors`` (those pipelines are left out).
    """
    if env_name not in overlays.environment_names(root):
        known = ", ".join(overlays.environment_names(root)) or "none"
        raise ReconcilerError(f"no environment {env_name!r} (overlays/{env_name}); known: {known}")
    overlay = overlays.load_overlay(root, env_name)
    if overlay.env is None:
        raise SpecErrors(overlay.errors)
    env = overlay.env
    if env.is_pattern:
        if branch is None or not branches.branch_matches(env, branch):
            raise ReconcilerError(
                f"environment {env.name!r} is for branches {env.branch!r}: "
                f"pass --branch (or --ref) with a matching branch name"
            )
        target = environments.target_for(env, branch)
    else:
        target = environments.target_for(env, env.branch)
    return environments.prepare(root, overlay, target, check_remote=check_remote)


# --------------------------------------------------------------------------- reconcile


RETRY_ANNOTATION_PREFIX = "reconciler.ml/retry."
REQUEUE_IN_FLIGHT = 2.0


def provenance_branch(template: str, *, pipeline: str, source: str) -> str:
    """Resolve an Environment's provenanceBranch (``{pipeline}``, ``{source}``)."""
    return template.replace("{pipeline}", pipeline).replace("{source}", source)


def trigger_of(repo: Path, commit: repos.Commit) -> prov_records.Trigger:
    """Return why a commit starts a run: revert, dataset-change (only .dvc files) or push."""
    if commit.subject.startswith('Revert "'):
        return prov_records.Trigger.REVERT
    paths = [p for p in repos.changed_paths(repo, commit.sha) if not p.startswith("runs/")]
    if paths and all(p.endswith(".dvc") for p in paths):
        return prov_records.Trigger.DATASET_CHANGE
    return prov_records.Trigger.PUSH


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


@dataclass
class Outcome:
    """The result of one reconcile of one environment instance."""

    target: environments.Target
    commit: str
    changeset: ChangeSet = field(default_factory=ChangeSet)
    pipelines: list[PipelineStatus] = field(default_factory=list)
    errors: list[SpecError] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    records_pending: int = 0
    """Records written to the outbox whose push failed (they are pushed later)."""
    missing_operators: list[str] = field(default_factory=list)
    in_flight: bool = False
    duration: float = 0.0
    applied_commit: str = ""
    """The commit the live environment was last synced to (its Namespace annotation)."""
    dry_run: bool = False
    """True when nothing was written: the change set is what a sync would do."""

    @property
    def ok(self) -> bool:
        """True if the environment rendered and synced without any failure."""
        return not self.errors and not self.changeset.failed and not self.missing_operators

    @property
    def pending_changes(self) -> int:
        """Return the number of objects a sync would still create, configure or delete.

        After a real sync the changes were made: only failed and conflicting ones remain.
        """
        if not self.dry_run:
            return sum(1 for e in self.changeset.entries if e.action in ("failed", "conflict"))
        changing = ("created", "configured", "deleted")
        return sum(1 for e in self.changeset.entries if e.action in changing)

    @property
    def in_sync(self) -> bool:
        """True if the cluster holds what ``commit`` renders (nothing pending, applied)."""
        if not self.dry_run:
            return self.ok
        return self.pending_changes == 0 and self.applied_commit == self.commit

    @property
    def synced_commit(self) -> str:
        """Return the commit the cluster now holds: ``commit`` after a clean real sync."""
        return self.commit if not self.dry_run and self.ok else self.applied_commit

    def runs_by_state(self) -> dict[str, int]:
        """Count pipelines by run status."""
        out: dict[str, int] = {}
        for p in self.pipelines:
            out[p.status] = out.get(p.status, 0) + 1
        return out


@dataclass
class Context:
    """What a reconcile needs from outside: the repository, clusters and provenance.

    ``manager_for(context)`` returns the ResourceManager for a kubeconfig context (None: the
    default context); ``provenance`` is a ProvenanceStore on the same repository.
    """

    repo: Path
    manager_for: Callable[[str | None], Any]
    provenance: Any
    check_remote: bool = False


def live_kinds(prepared: environments.Prepared) -> set[tuple[str, str]]:
    """Return the ``(group, kind)`` kinds an environment can own, without rendering them.

    The Namespace, the overlay's own objects, step kinds and, where serving is on, the
    serving kinds its pipelines use (the ApplySet parent adds kinds no longer rendered).
    """
    kinds = {("", "Namespace"), ("batch", "Job")}
    kinds |= {tracking.group_kind(o) for o in prepared.overlay.objects}
    for plan in prepared.run_specs.values():
        if any(s.runtime == "kubeflow" for s in plan.pipeline.steps):
            kinds.add(("kubeflow.org", "PyTorchJob"))
        serve = plan.pipeline.serve
        if serve is None or not prepared.env.serve:
            continue
        if serve.runtime == "kserve":
            kinds.add(("serving.kserve.io", "InferenceService"))
            continue
        kinds |= {("apps", "Deployment"), ("", "Service")}
        if serve.autoscale is not None:
            kinds.add(("autoscaling", "HorizontalPodAutoscaler"))
        if serve.ingress_host:
            kinds.add(("networking.k8s.io", "Ingress"))
    return kinds


def current_attempts(prepared: environments.Prepared, namespace: Manifest | None) -> dict[str, int]:
    """Return each pipeline's current attempt: the retried one if it names the current run."""
    requests = retry_attempts(namespace)
    out: dict[str, int] = {}
    for name, plan in prepared.run_specs.items():
        rid, n = requests.get(name, ("", 1))
        out[name] = n if rid == plan.run_id else 1
    return out


def retry_attempts(namespace: Manifest | None) -> dict[str, tuple[str, int]]:
    """Read ``reconciler retry`` requests from the environment Namespace's annotations.

    ``reconciler retry`` writes ``reconciler.ml/retry.<pipeline>: <run-id>:<attempt>`` with
    its own field manager, so the reconciler's apply never removes it.

    Returns ``{pipeline: (run_id, attempt)}``.
    """
    out: dict[str, tuple[str, int]] = {}
    ann = ((namespace or {}).get("metadata") or {}).get("annotations") or {}
    for key, value in ann.items():
        if key.startswith(RETRY_ANNOTATION_PREFIX) and ":" in str(value):
            rid, _, n = str(value).partition(":")
            if n.isdigit():
                out[key[len(RETRY_ANNOTATION_PREFIX) :]] = (rid, int(n))
    return out


def resolve_source(
    repo: Path, env_name: str, branch: str | None, ref: str | None
) -> tuple[str, repos.Commit]:
    """Return the branch an environment instance follows and the commit to render.

    Without ``ref``: the newest commit of the branch that touched anything outside
    ``runs/``. With ``ref``: that commit, for the branch it names (or the environment's).
    """
    if branch is None and ref is not None:
        branch = branch_hint(repo, ref)
    if branch is None:
        branch = default_branch(repo, env_name)
    if ref is not None:
        return branch, repos.commit_info(repo, ref)
    return branch, repos.spec_commit(repo, repos.branch_ref(repo, branch))


def _annotation(obj: Manifest | None, key: str) -> str:
    return str((((obj or {}).get("metadata") or {}).get("annotations") or {}).get(key, ""))


def reconcile(
    ctx: Context,
    env_name: str,
    branch: str | None = None,
    *,
    ref: str | None = None,
    dry_run: bool = False,
    allow_empty: bool = False,
    diff: bool = False,
) -> Outcome:
    """Reconcile one environment instance once: render, record finished runs, apply, prune.

    ``branch`` is the concrete branch (required for a branch-pattern environment; default
    the environment's own branch); ``ref`` renders another commit for that branch's
    environment instance (plan of a commit not yet on the branch). Raises SpecErrors/RenderError when the environment
    itself does not render: then nothing is applied and nothing is pruned. A pipeline that
    fails to render keeps its live objects. Records are written (to the outbox, then git)
    before any object of a finished run is pruned; with ``dry_run`` nothing is written.
    """
    from reconciler.apply import applysets
    from reconciler.apply import sync as sync_mod
    from reconciler.cluster import clients

    started = time.monotonic()
    root_repo = repos.find_root(ctx.repo)
    branch, commit = resolve_source(root_repo, env_name, branch, ref)
    with repos.checkout_tree(root_repo, commit.sha) as (root, _):
        prepared = prepare_target(root, env_name, branch=branch, check_remote=ctx.check_remote)
    env = prepared.env
    target = prepared.target
    outcome = Outcome(
        target=target, commit=commit.sha, errors=list(prepared.errors), dry_run=dry_run
    )
    manager = ctx.manager_for(env.cluster_context)
    applyset = applysets.applyset_for(env.name, target.namespace)
    # Live state: one list per kind, selected by the ApplySet.
    live = manager.list_live(applyset, live_kinds(prepared))
    namespace_obj = live.get(("", "Namespace", "", target.namespace))
    outcome.applied_commit = _annotation(namespace_obj, labels.COMMIT)
    tracker = tracking.RunTracker(
        env=env.name,
        namespace=target.namespace,
        server=clients.server_url(manager.client),
        source=recording.SourceFacts(
            repo=repos.remote_url(root_repo) or root_repo.name,
            ref=branch,
            commit=commit.sha,
            trigger=trigger_of(root_repo, commit),
        ),
        provenance=ctx.provenance,
        branch_for=lambda p: provenance_branch(env.provenance_branch, pipeline=p, source=branch),
        list_pods=lambda: manager.list("v1", "Pod", namespace=target.namespace, label_selector=""),
        dry_run=dry_run,
    )
    tracked = tracker.track(
        prepared.run_specs,
        current_attempts(prepared, namespace_obj),
        tracking.LiveRuns.of(list(live.values())),
        ignore=prepared.failed_pipelines,
    )
    outcome.records, outcome.records_pending = tracked.records, tracked.pending
    outcome.errors.extend(tracked.errors)
    outcome.in_flight = tracked.in_flight
    desired = environments.render_objects(prepared, tracked.states, commit=commit.sha)
    keep_names = frozenset(tracked.protected)

    def keep(obj: Manifest) -> bool:
        return str((obj.get("metadata") or {}).get("name", "")) in keep_names

    result = sync_mod.sync_objects(
        manager,
        applyset=applyset,
        desired=desired,
        options=sync_mod.SyncOptions(
            dry_run=dry_run,
            allow_empty=allow_empty,
            diff=diff,
            failed_pipelines=frozenset(prepared.failed_pipelines),
            keep=keep,
        ),
        live=live,
    )
    outcome.changeset = result.changeset
    outcome.missing_operators = list(result.missing_operators)
    for name, plan in sorted(prepared.run_specs.items()):
        outcome.pipelines.append(
            _pipeline_status(plan, tracked.states[name], tracked.recorded_status[name], result.live)
        )
    outcome.duration = time.monotonic() - started
    return outcome


def environments_at(repo: Path, ref: str = "HEAD") -> list[Environment]:
    """Return the Environments declared at a commit (``overlays/<env>/environment.yaml``).

    Broken or missing Environment files are skipped here; ``validate`` reports them.
    """
    out: list[Environment] = []
    sha = repos.resolve(repo, ref)
    listing = repos.git(repo, "ls-tree", "--name-only", f"{sha}:{overlays.OVERLAYS_DIR}")
    for name in sorted(listing.decode().split()):
        path = f"{overlays.OVERLAYS_DIR}/{name}/{overlays.ENVIRONMENT_FILE}"
        content = repos.read_file(repo, sha, path)
        if content is None:
            continue
        try:
            doc = loading.load_document(content, path=path)
            out.append(validation.parse_environment(doc, path=path))
        except SpecErrors:
            continue
    return out


def default_branch(repo: Path, env_name: str, ref: str = "HEAD") -> str:
    """Return the branch a fixed-branch environment renders from, as HEAD declares it."""
    for env in environments_at(repo, ref):
        if env.name == env_name:
            if env.is_pattern:
                raise ReconcilerError(
                    f"environment {env_name!r} is for branches {env.branch!r}: name the branch"
                )
            return env.branch
    raise ReconcilerError(
        f"no environment {env_name!r} at {ref} (overlays/{env_name}/environment.yaml)"
    )


def discover_targets(
    repo: Path, *, only: Iterable[str] | None = None, ref: str = "HEAD"
) -> list[environments.Target]:
    """Return every environment instance to reconcile: one per fixed-branch environment,
    one per matching branch for a branch pattern (environments declared at ``ref``)."""
    wanted = set(only) if only else None
    out: list[environments.Target] = []
    for env in environments_at(repo, ref):
        if wanted is not None and env.name not in wanted:
            continue
        if env.is_pattern:
            for b in repos.branches(repo):
                if branches.branch_matches(env, b):
                    try:
                        out.append(environments.target_for(env, b))
                    except ValueError:
                        continue
        else:
            out.append(environments.target_for(env, env.branch))
    return out


def _pipeline_status(
    plan: RunSpec, state: RunState, recorded: str, live: dict[Any, Manifest]
) -> PipelineStatus:
    by_name = {
        (str(o.get("kind")), str((o.get("metadata") or {}).get("name"))): o for o in live.values()
    }
    phases = {}
    steps = []
    for s in plan.pipeline.steps:
        kind = "PyTorchJob" if s.runtime == "kubeflow" else "Job"
        obj = by_name.get((kind, plan.object_name(s.name, state.attempt)))
        if obj is not None:
            phases[s.name] = health.step_phase(obj)
        times = (obj or {}).get("status") or {}
        steps.append(
            StepStatus(
                name=s.name,
                needs=s.needs,
                phase=str(phases.get(s.name, health.StepPhase.PENDING)),
                started=str(times.get("startTime") or ""),
                finished=str(times.get("completionTime") or ""),
            )
        )
    if recorded:
        status = recorded
    else:
        st, _ = observing.run_status([s.name for s in plan.pipeline.steps], phases)
        status = str(st)
    serving_health = health.HealthStatus(health.Health.HEALTHY, "no serving")
    if plan.pipeline.serve is not None and plan.env.serve and state.serving is not None:
        kind = "InferenceService" if plan.pipeline.serve.runtime == "kserve" else "Deployment"
        serving_health = health.health_of(by_name.get((kind, plan.pipeline.name)))
    return PipelineStatus(
        name=plan.pipeline.name,
        run=plan.run_name(state.attempt),
        status=status,
        serving=state.serving,
        health=str(serving_health.status),
        reason=serving_health.reason,
        steps=tuple(steps),
        gate=plan.pipeline.promote,
    )


RETRY_FIELD_MANAGER = "reconciler-retry"


@dataclass(frozen=True)
class RetryRequest:
    """A retry that was requested: the pipeline, its run id and the new attempt."""

    pipeline: str
    run_id: str
    attempt: int
    previous_status: str

    @property
    def run(self) -> str:
        """The run name of the new attempt."""
        return f"{self.run_id}-{self.attempt}"


def request_retry(
    ctx: Context, env_name: str, pipeline: str, branch: str | None = None
) -> RetryRequest:
    """Ask for a new attempt of a pipeline's current run (``reconciler retry``).

    Only a finished run (recorded Succeeded, Failed or Cancelled) can be retried; a
    running or never-started one raises ReconcilerError. The request is an annotation on
    the environment's Namespace, written with its own field manager, so it survives the
    reconciler's applies and any restart; the next reconcile starts attempt N+1.
    """
    from reconciler.structs.manifests import ObjectRef

    root_repo = repos.find_root(ctx.repo)
    branch = branch or default_branch(root_repo, env_name)
    commit = repos.spec_commit(root_repo, repos.branch_ref(root_repo, branch))
    with repos.checkout_tree(root_repo, commit.sha) as (root, _):
        prepared = prepare_target(root, env_name, branch=branch, check_remote=ctx.check_remote)
    plan = prepared.run_specs.get(pipeline)
    if plan is None:
        if pipeline in prepared.failed_pipelines:
            raise ReconcilerError(
                f"pipeline {pipeline!r} does not render in {env_name!r}: fix it first"
            )
        raise ReconcilerError(f"no pipeline {pipeline!r} in environment {env_name!r}")
    env = prepared.env
    manager = ctx.manager_for(env.cluster_context)
    ns = manager.get(ObjectRef("", "Namespace", "", prepared.target.namespace, "v1"))
    if ns is None:
        raise ReconcilerError(
            f"namespace {prepared.target.namespace!r} does not exist: sync {env_name!r} first"
        )
    rid, n = retry_attempts(ns).get(pipeline, ("", 1))
    attempt = n if rid == plan.run_id else 1
    pbranch = provenance_branch(env.provenance_branch, pipeline=pipeline, source=branch)
    record = ctx.provenance.get(pbranch, env.name, pipeline, plan.run_name(attempt))
    if record is None:
        raise ReconcilerError(
            f"run {plan.run_name(attempt)} of {pipeline!r} in {env_name!r} has not finished: "
            "only a finished run can be retried"
        )
    request = RetryRequest(pipeline, plan.run_id, attempt + 1, str(record.status))
    body = {
        "metadata": {
            "annotations": {RETRY_ANNOTATION_PREFIX + pipeline: f"{plan.run_id}:{attempt + 1}"}
        }
    }
    manager.call(
        "PATCH",
        f"/api/v1/namespaces/{prepared.target.namespace}",
        query=[("fieldManager", RETRY_FIELD_MANAGER)],
        body=body,
        content_type="application/merge-patch+json",
    )
    return request


def live_plan(ctx: Context) -> Callable[[Environment, str, str], list[str]]:
    """Return review's live part: the changes a dry-run sync of a commit would make.

    Nothing is written, not even a record; only changes are listed (``Kind/ns/name action``).
    """

    def plan(env: Environment, branch: str, sha: str) -> list[str]:
        out = reconcile(ctx, env.name, branch, ref=sha, dry_run=True)
        return [str(e) for e in out.changeset.entries if e.action != "unchanged"]

    return plan
