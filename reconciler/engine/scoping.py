"""A reconcile's scoped first pass: the pipelines a push changed, applied before the rest.

Called by :func:`reconciler.engine.reconciling.reconcile` with ``scoped=True`` (the daemon),
between preparing the new commit and listing the environment. Its steps::

    scope   compare the commit with the one last applied (the Namespace's annotation):
            the pipelines whose run spec changed (pipeline document after the overlay,
            datasets, environment), or no scoped pass and why
    list    the ApplySet parent and those pipelines' objects only (one label-selected
            LIST per kind they use), not the environment
    track   their runs, as the full reconcile tracks them (superseded runs recorded once,
            in the outbox; their commits and push follow the sync)
    sync    their objects, nothing pruned, the parent never shrunk

then the full reconcile follows as without it (prune, health, the other pipelines, the
commit marked applied): it finds the new step objects live (frozen, no second write) and
the records written (no second record). The pass reuses the engine's own steps
(:func:`~reconciler.engine.stages.track_runs`, :func:`~reconciler.engine.stages.sync`,
:func:`~reconciler.render.environments.pipelines_objects`), so a pipeline's objects are
exactly those the full reconcile renders for it.

There is no scoped pass, and the full reconcile alone runs, whenever anything about it is
uncertain: the environment was never applied in full (first reconcile), the new commit or
the one applied has a render error, a path under ``overlays/`` or a kustomization file
changed (the Environment, the overlay's objects, overlay-wide patches), the Environment,
its target or the overlay's objects differ, a pipeline was removed or renamed, more than
:data:`MAX_SHARE` of the pipelines changed (nothing to gain; one changed pipeline always
qualifies), or the pass itself fails.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reconciler.engine import preparing, stages
from reconciler.engine.reporting import report
from reconciler.engine.seams import Context, Outcome, ScopedPass, Source, Superseded
from reconciler.render import environments
from reconciler.source import repos
from reconciler.specs import branches
from reconciler.structs import labels
from reconciler.structs.changesets import Action
from reconciler.structs.errors import ReconcilerError
from reconciler.structs.manifests import Manifest, ObjectRef

if TYPE_CHECKING:
    from reconciler.apply.manager import LiveObjects, ResourceManager

log = logging.getLogger(__name__)

MAX_SHARE = 0.25
"""Above this share of an environment's pipelines changed, the full reconcile alone runs."""

KUSTOMIZATION_NAMES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})


@dataclass(frozen=True)
class Scope:
    """The pipelines a commit changed since the commit applied, or why there is no scope.

    ``kinds``: the ``(group, kind)`` kinds their objects can have, at either commit.
    """

    pipelines: frozenset[str] = frozenset()
    applied: str = ""
    kinds: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    reason: str = ""


def first_pass(
    ctx: Context,
    manager: ResourceManager,
    source: Source,
    prepared: environments.Prepared,
    still_current: Callable[[], None] = lambda: None,
) -> ScopedPass:
    """Apply the objects of the pipelines ``source``'s commit changed; see the module docstring.

    ``still_current`` is called between tracking and applying, as in the full reconcile
    (it raises :class:`Superseded` once the branch moved on: no run of a stale commit is
    started). Never raises for the pass itself (a failure is logged and the full reconcile
    follows, which makes whatever the pass did not); :class:`Superseded` propagates.
    """
    started = time.monotonic()
    try:
        namespace = manager.get(ObjectRef("", "Namespace", "", prepared.target.namespace, "v1"))
        scope = scope_of(ctx, source, prepared, namespace)
        if scope.reason or namespace is None:
            return _skipped(prepared, scope.reason, started)
        live = list_scoped(manager, prepared, scope, namespace)
        if live is None:
            return _skipped(prepared, "no ApplySet parent yet", started)
        # The records of the runs it finishes (the superseded ones) are in the outbox
        # before anything is applied, and delivered once its new objects are.
        with stages.tracking_runs(
            ctx, manager, source, prepared, live, dry_run=False, only=scope.pipelines
        ) as tracked:
            still_current()
            desired = environments.pipelines_objects(prepared, scope.pipelines, tracked.states)
            result = stages.sync(
                manager, prepared, desired, live, tracked, False, False, False, prune=False
            )
    except Superseded:
        raise
    except ReconcilerError as exc:
        log.warning(
            "scoped pass failed; the full reconcile follows: %s",
            exc,
            extra={"env": prepared.env.name, "commit": source.commit.sha},
        )
        return _skipped(prepared, f"failed: {exc}", started)
    report(source, prepared, desired, live, result, scoped=True)
    return ScopedPass(
        pipelines=tuple(sorted(scope.pipelines)),
        changeset=result.changeset,
        records=list(tracked.records),
        records_pending=tracked.pending,
        seconds=time.monotonic() - started,
    )


def _skipped(prepared: environments.Prepared, reason: str, started: float) -> ScopedPass:
    log.debug("no scoped pass: %s", reason, extra={"env": prepared.env.name})
    return ScopedPass(skipped=reason, seconds=time.monotonic() - started)


def scope_of(
    ctx: Context, source: Source, prepared: environments.Prepared, namespace: Manifest | None
) -> Scope:
    """Return the pipelines whose run spec differs from the commit applied, or why none.

    ``namespace`` is the environment's live Namespace (its ``reconciler.ml/commit`` names
    the commit applied in full). The commit applied is prepared from ``ctx.prepared`` (this
    process reconciled it) or through the content cache.
    """
    env, target = prepared.env, prepared.target
    if namespace is None:
        return Scope(reason="the environment has no Namespace yet (first reconcile)")
    owner = branches.owner_problem(
        namespace, env=env.name, branch=target.branch if target.pattern else None
    )
    if owner:
        return Scope(reason=owner)
    applied = stages.commit_of(namespace)
    if not applied:
        return Scope(reason="no commit was applied in full yet (first reconcile)")
    if applied == source.commit.sha:
        return Scope(reason="the commit is applied already")
    if prepared.errors or prepared.failed_pipelines:
        return Scope(reason="the commit has render errors")
    try:
        paths = repos.changed_between(source.repo, applied, source.commit.sha)
    except (ReconcilerError, KeyError, ValueError) as exc:
        return Scope(reason=f"the commit applied ({applied[:12]}) cannot be read: {exc}")
    level = next((p for p in paths if environment_level(p)), None)
    if level is not None:
        return Scope(reason=f"environment-level change ({level})")
    try:
        previous = preparing.prepared_at(ctx, source, env.name, applied)
    except ReconcilerError as exc:
        return Scope(reason=f"the commit applied ({applied[:12]}) does not render: {exc}")
    if previous.errors or previous.failed_pipelines:
        return Scope(reason="the commit applied had render errors")
    if previous.env != env or previous.target != target:
        return Scope(reason="the Environment changed")
    if previous.overlay.objects != prepared.overlay.objects:
        return Scope(reason="the overlay's objects changed")
    gone = sorted(set(previous.run_specs) - set(prepared.run_specs))
    if gone:
        return Scope(reason=f"pipelines removed or renamed: {', '.join(gone)}")
    changed = frozenset(
        name for name, spec in prepared.run_specs.items() if previous.run_specs.get(name) != spec
    )
    if not changed:
        return Scope(reason="no pipeline changed")
    if len(changed) > max(1.0, MAX_SHARE * len(prepared.run_specs)):
        return Scope(reason=f"{len(changed)} of {len(prepared.run_specs)} pipelines changed")
    kinds: set[tuple[str, str]] = set()
    for specs in (previous.run_specs, prepared.run_specs):
        for name in changed & set(specs):
            kinds |= stages.pipeline_kinds(specs[name], serve=env.serve)
    return Scope(pipelines=changed, applied=applied, kinds=frozenset(kinds))


def environment_level(path: str) -> bool:
    """True for a changed path that concerns the whole environment, not single pipelines.

    Anything under ``overlays/`` (the Environment, the overlay's objects and patches) and
    any kustomization file (what the overlays include and patch).
    """
    name = path.rsplit("/", 1)[-1]
    return path.startswith("overlays/") or name in KUSTOMIZATION_NAMES


def list_scoped(
    manager: ResourceManager,
    prepared: environments.Prepared,
    scope: Scope,
    namespace: Manifest,
) -> LiveObjects | None:
    """List the scoped pipelines' live objects: one LIST per kind they use, by pipeline label.

    The result stands for the whole environment in the sync (it claims every kind the
    ApplySet parent lists, so nothing else is listed: the pass prunes nothing, and its
    desired objects are all of those pipelines). The Namespace is the one read already.
    None if the ApplySet parent does not exist (nothing was applied by us yet). Raises
    ClusterError if a list fails.
    """
    from reconciler.apply import applysets

    target = prepared.target
    applyset = applysets.applyset_for(prepared.env.name, target.namespace)
    manager.discovery.forget_missing()
    parent = manager.get(applyset.parent_ref)
    if parent is None:
        return None
    names = ",".join(sorted(scope.pipelines))
    live = manager.list_kinds(
        scope.kinds,
        namespaces=[target.namespace],
        label_selector=f"{applyset.selector},{labels.PIPELINE} in ({names})",
    )
    if live.failures:
        raise live.failures[0].error
    live.parent = parent
    live.parent_read = True
    live.kinds |= set(applysets.parent_group_kinds(parent))
    live.namespaces |= {target.namespace, *applysets.parent_namespaces(parent)}
    if applyset.owns(namespace):
        live[ObjectRef.of(namespace).key] = namespace
    else:
        live.foreign_namespace = namespace
    return live


def fold_into(outcome: Outcome, first: ScopedPass) -> None:
    """Add what the scoped pass did to the full reconcile's outcome.

    An object the pass created or configured, which the full pass then found unchanged,
    counts once, as the pass's entry; records it wrote join ``records``. Its failures are
    not added: the full pass tried those objects again and reports its own.
    """
    outcome.scoped = first
    outcome.records[:0] = first.records
    outcome.records_pending += first.records_pending
    index = {e.subject.key: i for i, e in enumerate(outcome.changeset.entries)}
    for entry in first.changeset.entries:
        if entry.action not in (Action.CREATED, Action.CONFIGURED):
            continue
        at = index.get(entry.subject.key)
        if at is None:
            outcome.changeset.entries.append(entry)
        elif outcome.changeset.entries[at].action is Action.UNCHANGED:
            outcome.changeset.entries[at] = entry
