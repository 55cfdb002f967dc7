"""One reconcile of one environment instance, as the named steps of the data path.

    resolve source -> prepare -> list live -> track runs -> render -> sync
    -> mark applied -> outcome

:func:`reconcile` is those steps and nothing else; each step is a plain function
(:mod:`.stages`; resolving the source is :mod:`.sources`, the log lines
:mod:`.reporting`, the outcome :mod:`.outcomes`), which the one-shot commands (``plan``,
``sync``, ``status``, ``retry``) and the daemon share through :func:`reconcile`. Nothing is remembered between calls: run state is derived every
time from the cluster and the provenance records.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from reconciler.cluster import api
from reconciler.engine import scoping
from reconciler.engine.outcomes import outcome_of
from reconciler.engine.preparing import prepare_once
from reconciler.engine.reporting import report
from reconciler.engine.seams import Context, Outcome
from reconciler.engine.sources import always_current, current_check, resolve_source
from reconciler.engine.stages import (
    applied_commit,
    list_live,
    mark_applied,
    sync,
    synced_cleanly,
    track_runs,
)
from reconciler.render import environments

if TYPE_CHECKING:
    pass

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
    scoped: bool = False,
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
    reconcile of the commit before it. ``scoped`` (the daemon) first applies the objects
    of the pipelines the commit changed since the commit last applied, and only those
    (:mod:`.scoping`: their new runs start before the rest of the environment is even
    listed), then reconciles the whole environment as without it; the outcome says what
    that first pass did (``Outcome.scoped``). With ``ctx.precedence`` (the daemon), full
    passes take turns and wait at their step boundaries while another reconcile prepares
    a pushed commit or runs its scoped pass (:mod:`.precedence`). What the full pass lists
    stays out of the garbage collector's walks until it ends
    (:func:`reconciler.cluster.api.decoded_bodies_frozen`): a daemon's heap is walked
    once per pass, not at every collection the pass triggers.
    """
    started = time.monotonic()
    source = resolve_source(ctx.repo, env_name, branch, ref, files=ctx.files)
    still_current = current_check(source, ref) if interruptible else always_current
    instance = f"{env_name}@{source.branch}"
    with ctx.urgent(instance, source.commit.sha):  # a push: full passes wait for its first
        # A turn to prepare (unless prepared before): by then the branch may have moved on.
        prepared = prepare_once(ctx, source, env_name, before=still_current)
        still_current()
        manager = ctx.manager_for(prepared.env.cluster_context)
        first = None
        if scoped and not dry_run and ref is None:
            first = scoping.first_pass(ctx, manager, source, prepared, still_current)
    turn = ctx.full_pass()  # one at a time, each step after the pushes prepared
    ctx.reached(instance, source.commit.sha)
    # What the pass lists is held to its end: out of the collector's walks until then.
    with turn, api.decoded_bodies_frozen():
        still_current()
        live = list_live(manager, prepared)
        ctx.full_pass_turn()
        still_current()
        tracked = track_runs(ctx, manager, source, prepared, live, dry_run=dry_run)
        ctx.full_pass_turn()
        still_current()
        desired = environments.render_objects(
            prepared, tracked.states, commit=applied_commit(prepared, live)
        )
        result = sync(manager, prepared, desired, live, tracked, dry_run, allow_empty, diff)
        ctx.cache.save()  # what the sync found in sync (the manager's ``verified``)
        ns_key = ("", "Namespace", "", prepared.target.namespace)
        if live.foreign_namespace is not None and ns_key not in result.live:
            result.live[ns_key] = live.foreign_namespace  # used as it is: what status reads
        if not dry_run and not prepared.errors and not tracked.errors and synced_cleanly(result):
            mark_applied(manager, prepared, result, source.commit.sha)
    if not dry_run:
        report(source, prepared, desired, live, result)
    outcome = outcome_of(
        source,
        prepared,
        tracked,
        result,
        applied=applied_commit(prepared, result.live),
        dry_run=dry_run,
        duration=time.monotonic() - started,
    )
    if first is not None:
        scoping.fold_into(outcome, first)
    return outcome


def prepare_ahead(ctx: Context, env_name: str, branch: str | None = None) -> None:
    """Prepare the environment instance at its branch's commit, before its reconcile starts.

    The daemon calls this (from a thread of its own) for the environments a push moved, as
    soon as it has fetched: the reconcile of the commit before may still be finishing its
    step (it stops at the next boundary) and the environment's queue waits for it, while
    preparing the new commit reads only the commit. The reconcile then finds it in
    ``ctx.prepared`` (or waits for the prepare slot this holds and finds it then; the
    content cache is written to disk after the slot is given back). Nothing
    is kept when preparing checks the remotes (``ctx.check_remote``), or for a commit
    prepared before. Raises what :func:`reconcile` raises when the source or the commit
    does not render (the reconcile meets and reports the same).
    """
    if ctx.check_remote:
        return
    source = resolve_source(ctx.repo, env_name, branch, None, files=ctx.files)
    try:
        prepare_once(ctx, source, env_name, save=False)
    finally:  # the slot is free: the reconcile goes on while the cache is written
        ctx.cache.save()
