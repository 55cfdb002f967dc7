"""Where a pod gets a dataset with ``dvc get``: the repository's URL and a commit per dataset.

Called by :func:`reconciler.render.environments.prepare` when it knows the Git repository
and the commit it renders (the engine, ``render``, ``review``). A step then gets
``DVC_REPO_URL`` and, per dataset, ``DATASET_<NAME>_REV`` and ``DATASET_<NAME>_DVC_PATH``,
so that in the pod::

    dvc get --rev "$DATASET_TRAIN_REV" "$DVC_REPO_URL" "$DATASET_TRAIN_DVC_PATH"

fetches the very data the run id was computed from (DVC reads the pointer at that commit
and the remote from that commit's ``.dvc/config``; the pod needs read access to the Git
repository and to the DVC remote).

The commit must not change while a run lives: step objects are immutable templates, and
a run keeps its id across commits that do not change its inputs (a README edit). So the
commit is not the one rendered but the oldest commit of the newest unbroken stretch of
history, ending at the rendered one, in which the pointer named the same md5 and
``.dvc/config`` (where ``dvc get`` finds the remote) was the same: commits that leave both
alone, or rewrite the pointer with the same md5, keep it. (A changed ``.dvc/config`` moves
the data's URL too, ``DATASET_<NAME>_URL``.) It is a commit where the pointer has exactly
that md5, reachable from the branch the environment follows.
A dataset whose pointer at the rendered commit does not have the md5 the run uses (an
uncommitted change in a work tree) gets no ``_REV``.

``render`` of the work tree (no ``--ref``) names the commit as a pod would see it: HEAD's,
the same stretch as a render of HEAD, since only committed, pushed data can be fetched by
``dvc get``; :func:`worktree_notes` says on stderr what the work tree changes about that (a
pointer modified relative to HEAD gets no ``_REV``; a changed ``.dvc/config`` moves
``_URL`` but not what ``dvc get`` at HEAD reads; no commit at all names nothing).
"""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.source import repos
from reconciler.specs import loading
from reconciler.structs.errors import ReconcilerError, SpecErrors

DVC_CONFIG = ".dvc/config"
"""DVC's committed configuration: ``dvc get`` reads the remote from it at the commit."""


@dataclass(frozen=True)
class DatasetSource:
    """A dataset as ``dvc get`` names it: a commit and the data's path in the repository."""

    rev: str
    """Full commit sha: the oldest of the newest stretch with the pointer's md5."""
    path: str
    """Repository-relative path of the data (the pointer's output: ``datasets/imagenet-mini``)."""


@dataclass(frozen=True)
class DvcSources:
    """The repository URL pods use and each dataset's source (absent: unknown)."""

    repo_url: str | None = None
    datasets: Mapping[str, DatasetSource] = field(default_factory=dict)


def dvc_sources(repo: Path, commit: str, pointers: Mapping[str, tuple[str, str]]) -> DvcSources:
    """Return the sources of ``name -> (pointer path, md5)`` at ``commit`` of ``repo``.

    The repository's URL is named whenever there are pointers, even if no commit holds one
    (a pointer modified in the work tree): it does not depend on the data. One walk of the
    history for the pointers not seen yet at this commit (results are cached: commits
    never change). Never raises: a dataset whose history cannot be read is left out.
    """
    if not pointers:
        return DvcSources()
    root = _resolved(str(repo))
    wanted = {(p, m) for p, m in pointers.values()}
    todo = {(p, m) for p, m in wanted if (root, commit, p, m) not in _CACHE}
    if todo:
        found = _walk(Path(root), commit, todo)
        if len(_CACHE) + len(found) > MAX_CACHED:
            _CACHE.clear()
        _CACHE.update({(root, commit, p, m): v for (p, m), v in found.items()})
    out: dict[str, DatasetSource] = {}
    for name, (pointer, md5) in sorted(pointers.items()):
        source = _CACHE.get((root, commit, pointer, md5))
        if source is not None:
            out[name] = source
    url = None
    if pointers:
        try:
            url = repos.pod_url(repo)
        except ReconcilerError:
            url = None
    return DvcSources(repo_url=url, datasets=out)


@functools.lru_cache(maxsize=64)
def _resolved(repo: str) -> str:
    """Return the repository's real path (asked once per process and path: every
    pipeline of every preparation asks)."""
    return str(Path(repo).resolve())


def worktree_notes(
    repo: Path,
    head: str | None,
    worktree: Path,
    unnamed: Mapping[str, Sequence[str]],
) -> list[str]:
    """Return what a render of the work tree cannot name as a render of a commit does.

    ``head`` is HEAD's commit (None: the repository has no commit yet); ``worktree`` the
    copy of the work tree rendered; ``unnamed`` maps each pointer that got no source
    (``dvc_sources`` left it out) to the variables left out with it. One note per pointer
    (new, or modified relative to HEAD), one if ``.dvc/config`` differs from HEAD's.
    """
    if head is None:
        if not unnamed:
            return []
        return [
            "the repository has no commit yet: DVC_REPO_URL, DATASET_*_REV and "
            "DATASET_*_DVC_PATH are left out (a pod can `dvc get` only data whose pointer "
            "is committed and pushed)"
        ]
    notes = []
    short = head[:12]
    for pointer, names in sorted(unnamed.items()):
        at_head = repos.read_file(repo, head, pointer)
        what = "not committed" if at_head is None else f"modified relative to HEAD ({short})"
        notes.append(
            f"{pointer}: {what}: {', '.join(names)} left out (a pod can `dvc get` only data "
            "whose pointer is committed and pushed: commit and push it)"
        )
    config = worktree / DVC_CONFIG
    here = config.read_bytes() if config.is_file() else None
    if here != repos.read_file(repo, head, DVC_CONFIG):
        notes.append(
            f"{DVC_CONFIG}: modified relative to HEAD ({short}): DATASET_*_URL name the work "
            "tree's remotes, while `dvc get --rev DATASET_*_REV` reads HEAD's"
        )
    return notes


def dataset_source(repo: Path, commit: str, pointer: str, md5: str) -> DatasetSource | None:
    """Return the source of one dataset (None if its pointer at ``commit`` lacks ``md5``)."""
    return dvc_sources(repo, commit, {"_": (pointer, md5)}).datasets.get("_")


MAX_CACHED = 4096
_CACHE: dict[tuple[str, str, str, str], DatasetSource | None] = {}


def _walk(
    root: Path, commit: str, pointers: set[tuple[str, str]]
) -> dict[tuple[str, str], DatasetSource | None]:
    """Find each pointer's stretch in one walk of the history of its files and the config."""
    paths = sorted({p for p, _ in pointers} | {DVC_CONFIG})
    try:
        config = repos.read_file(root, commit, DVC_CONFIG)
        history = repos.path_commits(root, commit, paths)
    except ReconcilerError:
        return dict.fromkeys(pointers)
    out: dict[tuple[str, str], DatasetSource | None] = {}
    for pointer, md5 in pointers:
        found: DatasetSource | None = None
        for sha, changed in history:
            if pointer not in changed and DVC_CONFIG not in changed:
                continue
            content = repos.read_file(root, sha, pointer)
            parsed = _output(content, pointer) if content is not None else None
            if (
                parsed is None
                or parsed[0] != md5
                or repos.read_file(root, sha, DVC_CONFIG) != config
            ):
                break
            found = DatasetSource(rev=sha, path=found.path if found else parsed[1])
        out[(pointer, md5)] = found
    return out


def _output(content: bytes, pointer: str) -> tuple[str, str] | None:
    """Return ``(md5, repository-relative data path)`` of a pointer's only output."""
    try:
        doc: Any = loading.load_document(content, path=pointer)
    except SpecErrors:
        return None
    outs = doc.get("outs") if isinstance(doc, Mapping) else None
    if not isinstance(outs, list) or len(outs) != 1 or not isinstance(outs[0], Mapping):
        return None
    md5, path = outs[0].get("md5"), outs[0].get("path")
    if not isinstance(md5, str) or not isinstance(path, str):
        return None
    data = posixpath.normpath(posixpath.join(posixpath.dirname(pointer), path))
    return md5, data
