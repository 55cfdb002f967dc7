"""Prepare an environment instance at a commit: the first step of a reconcile.

    export the commit's tree -> Kustomize -> specs, datasets, run ids (``Prepared``)

:func:`prepare_once` is what :func:`reconciler.engine.reconciling.reconcile` and
:func:`~reconciler.engine.reconciling.prepare_ahead` call (a commit prepared once per
process, the daemon's turns to prepare taken through ``Context.prepare_slots``);
:func:`prepared_at` prepares the commit a push moved the branch from, for the scoped pass
(:mod:`reconciler.engine.scoping`); :func:`prepare_target` is the same work on a tree
already on disk (render, review, status). What is derived from content goes to the
context's cache; nothing else is remembered between calls.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reconciler.engine.seams import Context, Source
from reconciler.render import environments, overlays
from reconciler.source import caches, repos
from reconciler.specs import branches
from reconciler.structs.errors import ReconcilerError, SpecErrors


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


def prepare(
    ctx: Context, source: Source, env_name: str, *, save: bool = True
) -> environments.Prepared:
    """Prepare the environment instance at the source commit (Kustomize, specs, datasets).

    What is derived from content goes into ``ctx.cache`` (written to disk, if it has a
    directory, before this returns; with ``save=False`` the caller writes it later).
    """
    try:
        prepared = _prepare_commit(
            ctx, source, env_name, source.commit.sha, check_remote=ctx.check_remote
        )
    finally:
        if save:
            ctx.cache.save()
    if not ctx.check_remote:
        ctx.prepared.put(prepared_key(source, env_name, source.commit.sha), prepared)
    return prepared


def prepare_once(
    ctx: Context,
    source: Source,
    env_name: str,
    *,
    before: Callable[[], None] = lambda: None,
    save: bool = True,
) -> environments.Prepared:
    """Return the environment instance at the source commit, prepared once per process.

    From ``ctx.prepared`` when this process prepared that commit before (never while
    ``ctx.check_remote``: the remotes are checked each time), else :func:`prepare` with one
    of ``ctx.prepare_slots`` held. While waiting for a slot it returns as soon as another
    thread (:func:`~reconciler.engine.reconciling.prepare_ahead`) has prepared the commit
    (:meth:`~reconciler.engine.precedence.PrepareSlots.acquire_unless`). ``before`` runs
    once the slot is held (the daemon checks there that the branch has not moved on,
    raising Superseded). ``save``: as :func:`prepare`'s.
    """
    key = prepared_key(source, env_name, source.commit.sha)

    def known() -> environments.Prepared | None:
        return ctx.prepared.get(key) if not ctx.check_remote else None

    def make() -> environments.Prepared:
        before()
        return prepare(ctx, source, env_name, save=save)

    return _known_or_made(ctx, known, make)


def _known_or_made(
    ctx: Context,
    known: Callable[[], environments.Prepared | None],
    make: Callable[[], environments.Prepared],
) -> environments.Prepared:
    """Return ``known()``'s instance, or ``make()``'s with one of ``ctx.prepare_slots`` held.

    Waiting for a slot ends as soon as ``known()`` finds the instance (another thread
    prepared it meanwhile); without slots (one-shot commands), ``known()`` is asked once.
    """
    slots = ctx.prepare_slots
    found = slots.acquire_unless(known) if slots is not None else known()
    if found is not None:
        return found
    try:
        return make()
    finally:
        if slots is not None:
            slots.release()


def _prepare_commit(
    ctx: Context, source: Source, env_name: str, sha: str, *, check_remote: bool
) -> environments.Prepared:
    """Export commit ``sha`` of ``source`` and prepare ``env_name`` there through ``ctx.cache``."""
    with repos.checkout_tree(source.repo, sha) as (root, _):
        return prepare_target(
            root,
            env_name,
            branch=source.branch,
            check_remote=check_remote,
            source=source.repo,
            commit=sha,
            files=source.files,
            cache=ctx.cache,
            tree=repos.tree_id(source.repo, sha),
        )


def prepared_key(source: Source, env_name: str, sha: str) -> tuple[str, ...]:
    """Return what preparing ``env_name`` at commit ``sha`` reads, as a key of ``ctx.prepared``.

    The commit, the environment instance, and the size and time of the DVC settings in the
    work tree that names local remotes (``source.files``, else the repository), which are
    not part of the commit: changing them prepares again.
    """
    base = source.files if source.files is not None else source.repo
    settings = []
    for name in (".dvc/config", ".dvc/config.local"):
        try:
            st = (base / name).stat()
            settings.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            settings.append(f"{name}:-")
    return (sha, env_name, source.branch, str(source.repo), *settings)


def prepared_at(ctx: Context, source: Source, env_name: str, sha: str) -> environments.Prepared:
    """Return the environment instance as commit ``sha`` of ``source``'s branch prepares it.

    From ``ctx.prepared`` when this process prepared that commit before (the commit a
    push moved the branch from, or another thread while this one waited for a slot),
    else prepared now through ``ctx.cache`` (its Kustomize output and specs are usually
    there, one of ``ctx.prepare_slots`` held) and kept.
    Raises what :func:`prepare_target` raises when the commit does not render.
    """
    key = prepared_key(source, env_name, sha)

    def make() -> environments.Prepared:
        prepared = _prepare_commit(ctx, source, env_name, sha, check_remote=False)
        ctx.prepared.put(key, prepared)
        return prepared

    return _known_or_made(ctx, lambda: ctx.prepared.get(key), make)
