"""The engine: one reconcile of one environment instance, joining the stages.

    source (commit, tree) -> render (overlay, datasets, run plans) -> live state (one list
    per kind) -> runs (observe, record finished runs) -> render objects -> apply/prune ->
    health

The daemon schedules ``reconcile``; the one-shot commands (``plan``, ``sync``, ``status``,
``retry``) call the same functions. Nothing here is remembered between calls.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.render import environments, overlays
from reconciler.source import repos
from reconciler.specs import validation
from reconciler.structs.errors import ReconcilerError, SpecErrors


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
        if branch is None or not validation.branch_matches(env, branch):
            raise ReconcilerError(
                f"environment {env.name!r} is for branches {env.branch!r}: "
                f"pass --branch (or --ref) with a matching branch name"
            )
        target = environments.target_for(env, branch)
    else:
        target = environments.target_for(env, env.branch)
    return environments.prepare(root, overlay, target, check_remote=check_remote)
