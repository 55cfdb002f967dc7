"""One reconcile of one environment instance, as the named steps of the data path.

    resolve source -> prepare -> list live -> track runs -> render -> sync
    -> mark applied -> outcome

:func:`reconcile` is those steps and nothing else; each step is a plain function below,
which the one-shot commands (``plan``, ``sync``, ``status``, ``retry``) and the daemon share
through :func:`reconcile`. Nothing is remembered between calls: run state is derived every
time from the cluster and the provenance records.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import health
from reconciler.engine.seams import Context, Outcome, Source, Superseded
from reconciler.health import pipelines as pipeline_health
from reconciler.provenance import records as prov_records
from reconciler.render import environments, overlays, serving
from reconciler.render import steps as step_objects
from reconciler.render.runspecs import RunSpec
from reconciler.runs import observing, recording, retries, tracking
from reconciler.source import caches, repos
from reconciler.specs import branches, provenance_branches
from reconciler.structs import labels
from reconciler.structs.changesets import Action
from reconciler.structs.errors import ReconcilerError, SpecError, SpecErrors
from reconciler.structs.manifests import Manifest, ObjectRef

if TYPE_CHECKING:
    from reconciler.apply.manager import LiveObjects, ResourceManager
    from reconciler.apply.sync import SyncResult

log = logging.getLogger(__name__)

REQUEUE_IN_FLIGHT = 2.0
"""Seconds after which an environment with runs in flight is reconciled again."""


def reconcile(
    ctx: Context,
    env_name: str,
    branch: str | None = None,
    *,
    ref: str | None = None,
    dry_run: bool = False,
    allow_empty: bool = False,
    diff: bool = False,
    interruptible: bool = False,
) -> Outcome:
    """Reconcile one environment instance once: render, record finished runs, apply, prune.

    ``branch`` is the concrete branch (required for a branch-pattern environment; default
    the environment's own branch); ``ref`` renders another commit for that branch's
    environment instance (plan of a commit not yet on the branch). Raises
    SpecErrors/RenderError when the environment itself does not render: then nothing is
    applied and nothing is pruned. A pipeline that fails to render keeps its live objects.
    Records are written (to the outbox, then git) before any object of a finished run is
    pruned; with ``dry_run`` nothing is written, not even a record. ``interruptible``
    (the daemon) raises :class:`Superseded` between steps, before anything is applied, once
    the branch has a newer commit to render: a push never waits for the end of a
    reconcile of the commit before it.
    """
    started = time.monotonic()
    source = resolve_source(ctx.repo, env_name, branch, ref, files=ctx.files)
    still_current = current_check(source, ref) if interruptible else _always_current
    prepared = prepare(ctx, source, env_name)
    still_current()
    manager = ctx.manager_for(prepared.env.cluster_context)
    live = list_live(manager, prepared)
    tracked = track_runs(ctx, manager, source, prepared, live, dry_run=dry_run)
    still_current()
    desired = environments.render_objects(
        prepared, tracked.states, commit=applied_commit(prepared, live)
    )
    result = sync(manager, prepared, desired, live, tracked, dry_run, allow_empty, diff)
    ctx.cache.save()  # what the sync found in sync (the manager's ``verified``)
    ns_key = ("", "Namespace", "", prepared.target.namespace)
    if live.foreign_namespace is not None and ns_key not in result.live:
        result.live[ns_key] = live.foreign_namespace  # used as it is: still what status reads
    if not dry_run and not prepared.errors and not tracked.errors and synced_cleanly(result):
        mark_applied(manager, prepared, result, source.commit.sha)
    if not dry_run:
        report(source, prepared, desired, live, result)
    return outcome_of(
        source,
        prepared,
        tracked,
        result,
        dry_run=dry_run,
        duration=time.monotonic() - started,
    )


# -- resolve source ---------------------------------------------------------------------


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


def resolve_source(
    repo: Path, env_name: str, branch: str | None, ref: str | None, *, files: Path | None = None
) -> Source:
    """Return the branch an environment instance follows and the commit to render.

    Without ``ref``: the newest commit of the branch that touched anything outside
    ``runs/`` (provenance commits never trigger a render). With ``ref``: that commit, for
    the branch it names (or the environment's).
    """
    root = repos.find_root(repo)
    if branch is None and ref is not None:
        branch = branch_hint(root, ref)
    if branch is None:
        branch = environments.default_branch(root, env_name)
    if ref is not None:
        return Source(root, branch, repos.commit_info(root, ref), files)
    return Source(root, branch, repos.spec_commit(root, repos.branch_ref(root, branch)), files)


def current_check(source: Source, ref: str | None) -> Callable[[], None]:
    """Return a check that raises :class:`Superseded` once ``source``'s branch moved on.

    Costs one ref read while the branch tip is unchanged; a tip that moved only by
    provenance commits (``runs/``) is still current. A fixed ``ref`` never moves.
    """
    if ref is not None:
        return _always_current
    branch_ref = repos.branch_ref(source.repo, source.branch)
    tip = repos.resolve(source.repo, branch_ref)

    def check() -> None:
        nonlocal tip
        now = repos.resolve(source.repo, branch_ref)
        if now == tip:
            return
        newer = repos.spec_commit(source.repo, branch_ref).sha
        if newer != source.commit.sha:
            raise Superseded(
                f"{source.branch} moved to {newer[:12]} while {source.commit.sha[:12]} was "
                "being reconciled"
            )
        tip = now

    return check


def _always_current() -> None:
    return None


def trigger_of(repo: Path, commit: repos.Commit) -> prov_records.Trigger:
    """Return why a commit starts a run: revert, dataset-change (only .dvc files) or push."""
    if commit.subject.startswith('Revert "'):
        return prov_records.Trigger.REVERT
    paths = [p for p in repos.changed_paths(repo, commit.sha) if not p.startswith("runs/")]
    if paths and all(p.endswith(".dvc") for p in paths):
        return prov_records.Trigger.DATASET_CHANGE
    return prov_records.Trigger.PUSH


# -- prepare ----------------------------------------------------------------------------


def prepare_target(
    root: Path,
    env_name: str,
    *,
    branch: str | None,
    check_remote: bool = False,
    source: Path | None = None,
    commit: str | None = None,
    cache: caches.ContentCache | None = None,
    tree: str | None = None,
    files: Path | None = None,
) -> environments.Prepared:
    """Load ``overlays/<env_name>`` from a tree and plan its runs for a branch.

    ``source`` and ``commit``: the repository and commit the tree holds; ``files``, where
    its DVC remotes inside the repository are named (see :func:`environments.prepare`).

    Raises SpecErrors if the Environment itself is broken, RenderError if Kustomize
    fails, ReconcilerError if a branch-pattern environment gets no matching branch.
    Errors of single pipelines are in ``Prepared.errors`` (those pipelines are left out).
    ``cache`` keeps what is derived from content; ``tree``, the Git tree id of ``root``
    (an exported commit), keys Kustomize's output there.
    """
    names = overlays.environment_names(root)
    if env_name not in names:
        known = ", ".join(names) or "none"
        raise ReconcilerError(f"no environment {env_name!r} (overlays/{env_name}); known: {known}")
    overlay = overlays.load_overlay(root, env_name, cache=cache, tree=tree)
    if overlay.env is None:
        raise SpecErrors(overlay.errors)
    env = overlay.env
    if env.is_pattern and (branch is None or not branches.branch_matches(env, branch)):
        raise ReconcilerError(
            f"environment {env.name!r} is for branches {env.branch!r}: "
            f"pass --branch (or --ref) with a matching branch name"
        )
    target = environments.target_for(env, branch if env.is_pattern and branch else env.branch)
    return environments.prepare(
        root,
        overlay,
        target,
        check_remote=check_remote,
        source=source,
        commit=commit,
        files=files,
    )


def prepare(ctx: Context, source: Source, env_name: str) -> environments.Prepared:
    """Prepare the environment instance at the source commit (Kustomize, specs, datasets).

    What is derived from content goes into ``ctx.cache`` (written to disk, if it has a
    directory, before this returns).
    """
    with repos.checkout_tree(source.repo, source.commit.sha) as (root, _):
        try:
            return prepare_target(
                root,
                env_name,
                branch=source.branch,
                check_remote=ctx.check_remote,
                source=source.repo,
                commit=source.commit.sha,
                files=source.files,
                cache=ctx.cache,
                tree=repos.tree_id(source.repo, source.commit.sha),
            )
        finally:
            ctx.cache.save()


# -- list live --------------------------------------------------------------------------


def live_kinds(prepared: environments.Prepared) -> set[tuple[str, str]]:
    """Return the ``(group, kind)`` kinds an environment can own, without rendering them.

    The Namespace, the overlay's own objects, step kinds and, where serving is on, the
    serving kinds its pipelines use (the ApplySet parent adds kinds no longer rendered).
    """
    kinds = {("", "Namespace"), ("batch", "Job")}
    kinds |= {tracking.group_kind(o) for o in prepared.overlay.objects}
    for plan in prepared.run_specs.values():
        kinds |= {step_objects.step_group_kind(s) for s in plan.pipeline.steps}
        serve = plan.pipeline.serve
        if serve is not None and prepared.env.serve:
            kinds |= serving.serving_kinds(serve)
    return kinds


def list_live(manager: ResourceManager, prepared: environments.Prepared) -> LiveObjects:
    """List the environment's live members: the ApplySet parent and one LIST per kind."""
    from reconciler.apply import applysets

    applyset = applysets.applyset_for(prepared.env.name, prepared.target.namespace)
    live = manager.list_live(applyset, live_kinds(prepared))
    target = prepared.target
    if ("", "Namespace", "", target.namespace) not in live:
        # Not ours: a Namespace someone else made is used as it is (its annotations still
        # carry the commit applied and retry requests); None if it does not exist yet.
        live.foreign_namespace = manager.get(ObjectRef("", "Namespace", "", target.namespace, "v1"))
    owner = branches.owner_problem(
        namespace_of(prepared, live),
        env=prepared.env.name,
        branch=target.branch if target.pattern else None,
    )
    if owner:  # another branch's namespace: nothing is applied, nothing pruned
        locator = prepared.overlay.locators.get(prepared.env.path)
        line, col = locator.position("spec.namespace") if locator is not None else (0, 0)
        raise SpecErrors([SpecError(prepared.env.path, line, col, "spec.namespace", owner)])
    return live


def namespace_of(
    prepared: environments.Prepared, live: Mapping[tuple[str, str, str, str], Manifest]
) -> Manifest | None:
    """Return the environment's live Namespace (ours, or one used as it is), if it exists."""
    ours = live.get(("", "Namespace", "", prepared.target.namespace))
    return ours if ours is not None else getattr(live, "foreign_namespace", None)


def applied_commit(
    prepared: environments.Prepared, live: Mapping[tuple[str, str, str, str], Manifest]
) -> str:
    """Return the commit last applied to the environment: its Namespace's annotation.

    ``reconciler.ml/commit`` names the commit whose every object was applied (see
    :func:`mark_applied`); "" if the environment was never synced cleanly.
    """
    meta = (namespace_of(prepared, live) or {}).get("metadata") or {}
    return str((meta.get("annotations") or {}).get(labels.COMMIT, ""))


# -- track runs -------------------------------------------------------------------------


def track_runs(
    ctx: Context,
    manager: ResourceManager,
    source: Source,
    prepared: environments.Prepared,
    live: LiveObjects,
    *,
    dry_run: bool,
) -> tracking.Tracked:
    """Fold live step objects and records into run states; record the runs that finished."""
    from reconciler.cluster import clients

    env, target = prepared.env, prepared.target
    namespace = namespace_of(prepared, live)
    applied = applied_commit(prepared, live)
    tracker = tracking.RunTracker(
        env=env.name,
        namespace=target.namespace,
        server=clients.server_url(manager.client),
        source=recording.SourceFacts(
            repo=repos.pod_url(source.repo),
            ref=source.branch,
            commit=source.commit.sha,
            trigger=trigger_of(source.repo, source.commit),
        ),
        provenance=ctx.provenance,
        branch_for=lambda p: provenance_branches.branch_for(env, p, source.branch),
        list_pods=lambda: manager.list("v1", "Pod", namespace=target.namespace, label_selector=""),
        dry_run=dry_run,
        applied_commit=applied,
        run_spec_at_applied=run_specs_at(
            source, prepared.env.name, applied, prepared, cache=ctx.cache
        ),
    )
    # One view of the records for the whole tracking, and one delivery of every record it
    # writes (one commit per provenance branch, one push) when it is done.
    with ctx.provenance.batch(tracker.branch_for(p) for p in prepared.run_specs) as batch:
        tracked = tracker.track(
            prepared.run_specs,
            retries.current_attempts(prepared.run_specs, namespace),
            tracking.LiveRuns.of(list(live.values())),
            ignore=prepared.failed_pipelines,
        )
    tracked.pending += batch.pending
    return tracked


def run_specs_at(
    source: Source,
    env_name: str,
    sha: str,
    current: environments.Prepared,
    cache: caches.ContentCache | None = None,
) -> Callable[[str], RunSpec | None]:
    """Return a lookup of a pipeline's run spec at commit ``sha`` (the commit last applied).

    An older run (superseded, or of a removed pipeline) is judged and recorded with it. The
    commit is prepared once, on the first lookup (only when such a run is found), through
    ``cache`` (the commit before a push was prepared by the reconcile before: its Kustomize
    output and specs are there); the source commit's own specs are ``current``. A commit
    that no longer renders gives None.
    """
    specs: dict[str, RunSpec] | None = None

    def lookup(pipeline: str) -> RunSpec | None:
        nonlocal specs
        if specs is None:
            specs = {}
            if sha and sha == source.commit.sha:
                specs = dict(current.run_specs)
            elif sha:
                try:
                    with repos.checkout_tree(source.repo, sha) as (root, _):
                        prepared = prepare_target(
                            root,
                            env_name,
                            branch=source.branch,
                            source=source.repo,
                            commit=sha,
                            files=source.files,
                            cache=cache,
                            tree=repos.tree_id(source.repo, sha),
                        )
                    specs = dict(prepared.run_specs)
                except ReconcilerError:
                    specs = {}
        return specs.get(pipeline)

    return lookup


# -- sync -------------------------------------------------------------------------------


def sync(
    manager: ResourceManager,
    prepared: environments.Prepared,
    desired: list[Manifest],
    live: LiveObjects,
    tracked: tracking.Tracked,
    dry_run: bool,
    allow_empty: bool,
    diff: bool,
) -> SyncResult:
    """Apply the rendered objects and prune the rest, keeping what must not go yet.

    Kept from pruning: the objects of pipelines that failed to render, and the objects
    of finished runs whose record could not be written (``tracked.protected``). A step
    object already live is never written again (``frozen``): its template is immutable,
    and a commit that keeps the run id may still render it differently (a new default
    DVC remote changes the data's URL, not its md5).
    """
    from reconciler.apply import applysets
    from reconciler.apply import sync as sync_mod

    protected = frozenset(tracked.protected)

    def keep(obj: Manifest) -> bool:
        return str((obj.get("metadata") or {}).get("name", "")) in protected

    return sync_mod.sync_objects(
        manager,
        applyset=applysets.applyset_for(prepared.env.name, prepared.target.namespace),
        desired=desired,
        options=sync_mod.SyncOptions(
            dry_run=dry_run,
            allow_empty=allow_empty,
            diff=diff,
            failed_pipelines=frozenset(prepared.failed_pipelines),
            keep=keep,
            frozen=is_step_object,
        ),
        live=live,
    )


def is_step_object(obj: Manifest) -> bool:
    """True for one of a run's step objects (it carries the ``reconciler.ml/step`` label)."""
    return labels.STEP in ((obj.get("metadata") or {}).get("labels") or {})


def synced_cleanly(result: SyncResult) -> bool:
    """True if a sync left nothing undone.

    Undone: a failure, a conflict, a kind without its operator, or a prune the guard
    refused (objects Git no longer has are still live).
    """
    return result.ok and not result.missing_operators and not result.prune_refused


# -- mark applied -----------------------------------------------------------------------


def mark_applied(
    manager: ResourceManager, prepared: environments.Prepared, result: SyncResult, commit: str
) -> None:
    """Write ``commit`` into the Namespace's ``reconciler.ml/commit``: it is now applied.

    Called only after a real sync of a commit that rendered without error and left
    nothing undone, so the annotation (``status``'s applied commit, the daemon's
    ``reconciler_last_applied_commit``) never names a commit that was only partly applied.
    The sync itself renders the Namespace with the commit applied before. Costs one
    request when the commit changed, none otherwise; its entry joins the change set.
    """
    from reconciler.apply import applysets, manager_apply

    if applied_commit(prepared, result.live) == commit:
        return
    applyset = applysets.applyset_for(prepared.env.name, prepared.target.namespace)
    namespace = manager_apply.prepare(
        environments.namespace_object(
            prepared.target, commit, pod_security=prepared.env.pod_security
        ),
        applyset,
    )
    live_ns = namespace_of(prepared, result.live)
    if live_ns is not None and manager_apply.prepared_namespace(live_ns):
        # Not ours: only the annotation is written; the sync already said so in its note.
        used = manager_apply.use_foreign_namespace(manager, namespace, live_ns, dry_run=False)
        if used.entry.action is Action.FAILED:
            result.changeset.entries.append(used.entry)
        elif used.live is not None:
            result.live[ObjectRef.of(used.live).key] = used.live
        return
    for applied in manager_apply.apply_stage(
        manager, [namespace], applyset=applyset, live=result.live, ctx=manager_apply.StageContext()
    ):
        result.changeset.entries.append(applied.entry)
        if applied.live is not None and applied.entry.action is not Action.FAILED:
            result.live[ObjectRef.of(applied.live).key] = applied.live


# -- report -----------------------------------------------------------------------------


_NOTED_NAMESPACES: set[tuple[str, str]] = set()
"""(env, namespace) whose "used as it is" note this process has logged already."""


def _note_foreign_namespace(prepared: environments.Prepared, result: SyncResult) -> None:
    """Log once per process that an environment uses a Namespace it did not create."""
    from reconciler.apply.manager_apply import FOREIGN_NAMESPACE_NOTE

    key = (prepared.env.name, prepared.target.namespace)
    if key in _NOTED_NAMESPACES:
        return
    for entry in result.changeset.entries:
        if entry.subject.kind == "Namespace" and entry.message == FOREIGN_NAMESPACE_NOTE:
            _NOTED_NAMESPACES.add(key)
            log.info(
                "namespace used as it is",
                extra={"env": key[0], "namespace": key[1], "note": FOREIGN_NAMESPACE_NOTE},
            )
            return


def report(
    source: Source,
    prepared: environments.Prepared,
    desired: list[Manifest],
    live: LiveObjects,
    result: SyncResult,
) -> None:
    """Log the change set a sync applied and every run it started (INFO, one line each).

    A run started is a run whose first step object this sync created (no step object of
    that run was live before); its later steps are logged as ``step started``. The ends of
    runs are logged where they are recorded (:mod:`reconciler.runs.tracking`).
    """
    counts = result.changeset.counts()
    env = prepared.env.name
    _note_foreign_namespace(prepared, result)
    if counts["created"] or counts["configured"] or counts["deleted"]:
        log.info(
            "change set applied",
            extra={
                "env": env,
                "commit": source.commit.sha,
                "objects_created": counts["created"],
                "objects_configured": counts["configured"],
                "objects_deleted": counts["deleted"],
                "objects_failed": counts["failed"] + counts["conflict"],
            },
        )
    created = {e.subject.key for e in result.changeset.entries if e.action == "created"}
    live_runs = {_run_key(o) for o in live.values() if _run_key(o) is not None}
    for obj in desired:
        run_key = _run_key(obj)
        if run_key is None or ObjectRef.of(obj).key not in created:
            continue
        pipeline, run = run_key
        meta_labels = (obj.get("metadata") or {}).get("labels") or {}
        fields = {
            "env": env,
            "pipeline": pipeline,
            "run": run,
            "commit": source.commit.sha,
            "step": str(meta_labels.get(labels.STEP, "")),
            "kind": str(obj.get("kind", "")),
        }
        if run_key in live_runs:
            log.info("step started", extra=fields)
        else:
            live_runs.add(run_key)
            log.info("run started", extra=fields)


def _run_key(obj: Manifest) -> tuple[str, str] | None:
    """Return ``(pipeline, run)`` of a step object (None for anything else)."""
    if tracking.group_kind(obj) not in tracking.STEP_KINDS:
        return None
    meta_labels = (obj.get("metadata") or {}).get("labels") or {}
    pipeline, run = meta_labels.get(labels.PIPELINE), meta_labels.get(labels.RUN)
    return (str(pipeline), str(run)) if pipeline and run else None


# -- outcome ----------------------------------------------------------------------------


def outcome_of(
    source: Source,
    prepared: environments.Prepared,
    tracked: tracking.Tracked,
    result: SyncResult,
    *,
    dry_run: bool,
    duration: float,
) -> Outcome:
    """Gather what a reconcile did: changes, records, errors and each pipeline's status."""
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
        applied_commit=applied_commit(prepared, result.live),
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
    or its failed step) and, where it serves, the serving's.
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
    return out


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
