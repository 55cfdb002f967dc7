"""Which commit a reconcile renders, and whether it is still the branch's newest.

The first step of :func:`reconciler.engine.reconciling.reconcile`: a branch (named, or the
one an environment follows) resolved to the newest commit that touched anything outside
``runs/`` (provenance commits never trigger a render), or the commit ``--ref`` names. The
daemon's reconciles also get a check that raises :class:`Superseded` once the branch moved
on, so a push never waits for the reconcile of the commit before it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.engine.seams import Source, Superseded
from reconciler.provenance import records as prov_records
from reconciler.render import environments
from reconciler.source import repos
from reconciler.structs.errors import ReconcilerError

if TYPE_CHECKING:
    pass


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
        return always_current
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


def always_current() -> None:
    return None


def trigger_of(repo: Path, commit: repos.Commit) -> prov_records.Trigger:
    """Return why a commit starts a run: revert, dataset-change (only .dvc files) or push."""
    if commit.subject.startswith('Revert "'):
        return prov_records.Trigger.REVERT
    paths = [p for p in repos.changed_paths(repo, commit.sha) if not p.startswith("runs/")]
    if paths and all(p.endswith(".dvc") for p in paths):
        return prov_records.Trigger.DATASET_CHANGE
    return prov_records.Trigger.PUSH
