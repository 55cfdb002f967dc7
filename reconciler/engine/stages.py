"""The named steps of one reconcile, each a plain function, in the order they run.

    (prepare: :mod:`.preparing`) -> list live -> track runs -> sync -> mark applied

:func:`reconciler.engine.reconciling.reconcile` calls them in that order for the whole
environment, and :mod:`reconciler.engine.scoping` for the pipelines a push changed (first
pass). Nothing is remembered between calls except through ``Context`` (the content cache,
commits already prepared).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from reconciler.engine.preparing import prepared_at
from reconciler.engine.seams import Context, Source
from reconciler.engine.sources import trigger_of
from reconciler.render import environments, serving
from reconciler.render import steps as step_objects
from reconciler.render.runspecs import RunSpec
from reconciler.runs import recording, retries, tracking, trimming
from reconciler.source import repos
from reconciler.specs import branches, provenance_branches
from reconciler.structs import labels
from reconciler.structs.changesets import Action
from reconciler.structs.errors import ReconcilerError, SpecError, SpecErrors
from reconciler.structs.manifests import Manifest, ObjectRef, group_kind_of

if TYPE_CHECKING:
    from reconciler.apply.manager import LiveObjects, ResourceManager
    from reconciler.apply.sync import SyncResult

log = logging.getLogger(__name__)


# -- list live --------------------------------------------------------------------------


def live_kinds(prepared: environments.Prepared) -> set[tuple[str, str]]:
    """Return the ``(group, kind)`` kinds an environment can own, without rendering them.

    The Namespace, the overlay's own objects, step kinds and, where serving is on, the
    serving kinds its pipelines use (the ApplySet parent adds kinds no longer rendered).
    """
    kinds = {("", "Namespace"), ("batch", "Job")}
    kinds |= {group_kind_of(o) for o in prepared.overlay.objects}
    for plan in prepared.run_specs.values():
        kinds |= pipeline_kinds(plan, serve=prepared.env.serve)
    return kinds


def pipeline_kinds(plan: RunSpec, *, serve: bool) -> set[tuple[str, str]]:
    """Return the ``(group, kind)`` kinds one pipeline's objects can have: its steps', and
    its serving's where the environment serves (``serve``)."""
    kinds = {step_objects.step_group_kind(s) for s in plan.pipeline.steps}
    if plan.pipeline.serve is not None and serve:
        kinds |= serving.serving_kinds(plan.pipeline.serve)
    return kinds


def list_live(manager: ResourceManager, prepared: environments.Prepared) -> LiveObjects:
    """List the environment's live members: the ApplySet parent and one LIST per kind.

    Step objects are held trimmed (:func:`reconciler.runs.trimming.trim`: no pod
    templates, no ``managedFields``), as each page is decoded: the sync never sends nor
    compares them (``frozen``), and recording a run reads its steps again whole. Members
    the manager's in-sync memo knows are held as thin copies
    (:mod:`reconciler.apply.thin_copies`: no ``managedFields``, no pod templates), read
    whole again only where one must be compared or applied.
    """
    from reconciler.apply import applysets

    applyset = applysets.applyset_for(prepared.env.name, prepared.target.namespace)
    live = manager.list_live(applyset, live_kinds(prepared), trim=trimming.STEP_TRIM)
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
    return commit_of(namespace_of(prepared, live))


def commit_of(namespace: Manifest | None) -> str:
    """Return the commit a Namespace's ``reconciler.ml/commit`` names ("" if none)."""
    meta = (namespace or {}).get("metadata") or {}
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
    only: frozenset[str] | None = None,
) -> tracking.Tracked:
    """Fold live step objects and records into run states; record the runs that finished.

    ``only``: track just these declared pipelines (the scoped pass; ``live`` then holds
    only their objects, and their pods are listed by their pipeline label where every
    step is a Job, whose pods carry the template's labels). The records are delivered
    (one commit per provenance branch, one push) before this returns.
    """
    with tracking_runs(ctx, manager, source, prepared, live, dry_run=dry_run, only=only) as out:
        pass
    return out


@contextlib.contextmanager
def tracking_runs(
    ctx: Context,
    manager: ResourceManager,
    source: Source,
    prepared: environments.Prepared,
    live: LiveObjects,
    *,
    dry_run: bool,
    only: frozenset[str] | None = None,
) -> Iterator[tracking.Tracked]:
    """:func:`track_runs`, with the records delivered only when the block ends.

    The records are in the outbox (durable) when the block starts; their commits and push
    wait for the block (the scoped pass applies its pipelines' new objects first: it prunes
    nothing, so no object waits for those records). ``Tracked.pending`` counts the records
    left in the outbox once the block has ended; an exception in the block still delivers.
    """
    from reconciler.cluster import clients

    env, target = prepared.env, prepared.target
    namespace = namespace_of(prepared, live)
    applied = applied_commit(prepared, live)
    run_specs = (
        prepared.run_specs
        if only is None
        else {n: p for n, p in prepared.run_specs.items() if n in only}
    )
    pod_selector = ""
    if only is not None and all(
        step_objects.step_group_kind(s) == ("batch", "Job")
        for p in run_specs.values()
        for s in p.pipeline.steps
    ):
        pod_selector = f"{labels.PIPELINE} in ({','.join(sorted(only))})"
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
        list_pods=lambda: manager.list(
            "v1",
            "Pod",
            namespace=target.namespace,
            label_selector=pod_selector,
            trim=trimming.trim_pod,
        ),
        read_whole=lambda obj: manager.get(ObjectRef.of(obj)),
        reads_at_once=manager.workers,
        dry_run=dry_run,
        applied_commit=applied,
        run_spec_at_applied=run_specs_at(ctx, source, prepared.env.name, applied, prepared),
    )
    # One view of the records for the whole tracking, and one delivery of every record it
    # writes (one commit per provenance branch, one push) when the block is done.
    with ctx.provenance.batch(tracker.branch_for(p) for p in run_specs) as batch:
        tracked = tracker.track(
            run_specs,
            retries.current_attempts(run_specs, namespace),
            tracking.LiveRuns.of(list(live.values())),
            ignore=prepared.failed_pipelines,
        )
        yield tracked
    tracked.pending += batch.pending


def run_specs_at(
    ctx: Context,
    source: Source,
    env_name: str,
    sha: str,
    current: environments.Prepared,
) -> Callable[[str], RunSpec | None]:
    """Return a lookup of a pipeline's run spec at commit ``sha`` (the commit last applied).

    An older run (superseded, or of a removed pipeline) is judged and recorded with it. The
    commit is prepared once, on the first lookup (only when such a run is found), by
    :func:`prepared_at` (the commit before a push was prepared by the reconcile before);
    the source commit's own specs are ``current``. A commit that no longer renders gives
    None.
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
                    specs = dict(prepared_at(ctx, source, env_name, sha).run_specs)
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
    *,
    prune: bool = True,
) -> SyncResult:
    """Apply the rendered objects and prune the rest, keeping what must not go yet.

    ``prune`` False (the scoped pass) deletes nothing and never shrinks the ApplySet parent.

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
            prune=prune,
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
    from reconciler.apply import applysets, manager_apply, ownership

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
    if live_ns is not None and ownership.prepared_namespace(live_ns):
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
