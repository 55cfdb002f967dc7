"""Read a Git repository: refs, commits, files, and whole trees at a commit.

Called by the engine, the CLI (``--ref``) and review. Nothing here writes to the user's work
tree, index or refs. Commits that only touch ``runs/`` (provenance records) are skipped when
looking for the commit a branch's specs come from, so they never trigger a render.

Objects and refs are read in-process (:mod:`reconciler.source.objects`); the one history
query that needs git's pathspec rules (:func:`spec_commit`) runs git through
:mod:`reconciler.source.git`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2

from reconciler.source import exports, objects, refusals, trees
from reconciler.source import git as gitcmd
from reconciler.structs.errors import SourceError

PROVENANCE_DIR = "runs"
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def redact_url(url: str) -> str:
    """Return a URL with any ``user:password@`` removed (safe to log and record)."""
    return _CREDENTIALS.sub("", url)


def git(repo: Path, *args: str, input: bytes | None = None) -> bytes:
    """Run ``git -C repo args`` and return stdout; SourceError with git's whole message."""
    return gitcmd.run(args, repo=repo, input=input).stdout


@functools.lru_cache(maxsize=64)
def _open(path: str, inode: int) -> objects.Repository:
    return objects.Repository(Path(path))


def open_repo(repo: Path) -> objects.Repository:
    """Return the in-process repository at ``repo``; SourceError if there is none.

    Handles are cached per path and inode, so a repository replaced at the same path is
    opened afresh.
    """
    try:
        inode = repo.stat().st_ino
    except OSError as exc:
        raise SourceError(f"{repo}: no such repository") from exc
    return _open(str(repo), inode)


@dataclass(frozen=True)
class Commit:
    """A commit: full sha, subject line, and author time (unix seconds)."""

    sha: str
    subject: str
    time: int

    @property
    def short(self) -> str:
        """The first 12 hex digits."""
        return self.sha[:12]


def find_root(path: Path) -> Path:
    """Return the top of the repository containing ``path`` (a bare repository is its own top)."""
    path = path.resolve()
    if not path.exists():
        raise SourceError(f"{path}: no such directory")
    found = pygit2.discover_repository(str(path))
    if found is None:
        raise SourceError(f"{path}: not a git repository")
    repo = open_repo(Path(found))
    return (repo.workdir or repo.git_dir).resolve()


HEAD_FALLBACKS = ("main", "master")
"""Where ``HEAD`` leads when it names a branch that does not exist (see :func:`resolve`)."""


def resolve(repo: Path, ref: str) -> str:
    """Return the commit sha a ref names (branch, tag, sha, ``origin/x``); SourceError if none.

    ``HEAD`` of a bare repository made by ``git init --bare`` names git's default branch
    (often ``master``) even when only ``main`` was pushed: a ``HEAD`` that names no commit
    falls back to ``main``, then ``master``.
    """
    handle = open_repo(repo)
    sha = handle.resolve(ref)
    if sha is None and ref == "HEAD":
        sha = next(filter(None, (handle.resolve(b) for b in HEAD_FALLBACKS)), None)
        if sha is None:
            raise SourceError(
                f"HEAD of {repo} names no commit and there is no branch "
                f"{' or '.join(HEAD_FALLBACKS)}: point it at the branch to read "
                "(git symbolic-ref HEAD refs/heads/BRANCH)"
            )
    if sha is None:
        raise SourceError(f"unknown git ref {ref!r} in {repo}")
    return sha


def commit_info(repo: Path, ref: str) -> Commit:
    """Return the commit a ref names."""
    sha, subject, when, _ = open_repo(repo).commit_info(resolve(repo, ref))
    return Commit(sha=sha, subject=subject, time=when)


def spec_commit(repo: Path, ref: str) -> Commit:
    """Return the newest commit on ``ref`` that changed anything outside ``runs/``.

    Provenance commits (only ``runs/``) are skipped, so they never trigger a render. Falls
    back to the tip if every commit only touched ``runs/``. Uses git's own history
    simplification (merges included), hence git's command line.
    """
    tip = resolve(repo, ref)
    return commit_info(repo, _spec_sha(str(repo), tip) or tip)


@functools.lru_cache(maxsize=256)
def _spec_sha(repo: str, tip: str) -> str:
    """The newest commit behind ``tip`` that touched anything outside ``runs/`` ("" if none).

    Kept by (repository, tip commit): the history behind a commit never changes, so a
    push's environments (and the daemon's check of which are affected) ask git once, not
    once each (a git process forked from the daemon costs tens of ms).
    """
    return gitcmd.output(
        ["log", "-1", "--format=%H", tip, "--", ".", f":(exclude){PROVENANCE_DIR}"],
        repo=Path(repo),
    )


def path_commits(repo: Path, sha: str, paths: Sequence[str]) -> list[tuple[str, frozenset[str]]]:
    """Return the commits reachable from ``sha`` that changed any of ``paths``.

    Newest first, each with the ones of ``paths`` it changed; one walk of the history for
    all of them, with git's own history simplification (merges included), hence git's
    command line. Paths are taken literally (no pathspec magic or globbing).
    """
    found = gitcmd.output(
        ["log", "--format=%x00%H", "--name-only", sha, "--"] + [f":(literal){p}" for p in paths],
        repo=repo,
    )
    out: list[tuple[str, frozenset[str]]] = []
    for entry in found.split("\0")[1:]:
        commit, *names = entry.split()
        out.append((commit, frozenset(names)))
    return out


def changed_paths(repo: Path, sha: str) -> list[str]:
    """Return the paths a commit changed against its first parent (all paths for a root)."""
    handle = open_repo(repo).handle
    commit = handle[resolve(repo, sha)].peel(pygit2.Commit)
    if not commit.parents:
        listing = open_repo(repo).entries(commit.tree)
        return sorted(e.path for e in listing if e.mode != objects.TREE_MODE)
    diff = commit.parents[0].tree.diff_to_tree(commit.tree)
    paths: set[str] = set()
    for delta in diff.deltas:
        paths.add(delta.old_file.path)
        paths.add(delta.new_file.path)
    return sorted(p for p in paths if p)


def changed_between(repo: Path, old: str, new: str) -> list[str]:
    """Return the paths that differ between two commits' trees (both sides of a rename)."""
    handle = open_repo(repo).handle
    before = handle[resolve(repo, old)].peel(pygit2.Commit)
    after = handle[resolve(repo, new)].peel(pygit2.Commit)
    paths: set[str] = set()
    for delta in before.tree.diff_to_tree(after.tree).deltas:
        paths.add(delta.old_file.path)
        paths.add(delta.new_file.path)
    return sorted(p for p in paths if p)


def branches(repo: Path) -> list[str]:
    """Return branch names: local heads, plus ``origin``'s remote-tracking branches if any."""
    names: set[str] = set()
    for ref in open_repo(repo).refs("refs/heads/", "refs/remotes/origin/"):
        if ref.startswith("refs/heads/"):
            names.add(ref[len("refs/heads/") :])
        elif not ref.endswith("/HEAD"):
            names.add(ref[len("refs/remotes/origin/") :])
    return sorted(names)


def branch_ref(repo: Path, branch: str) -> str:
    """Return the ref to read a branch from: the local head, else ``origin/<branch>``."""
    handle = open_repo(repo)
    for candidate in (f"refs/heads/{branch}", f"refs/remotes/origin/{branch}"):
        if handle.tip(candidate) is not None:
            return candidate
    raise SourceError(f"no branch {branch!r} in {repo}")


def current_branch(repo: Path) -> str | None:
    """Return the checked-out branch of a work tree, or None (detached, bare)."""
    handle = open_repo(repo)
    return None if handle.bare else handle.head_branch()


def read_file(repo: Path, sha: str, path: str) -> bytes | None:
    """Return a file's bytes at a commit, or None if it does not exist there."""
    commit = open_repo(repo).resolve(sha)
    return None if commit is None else open_repo(repo).read_file(commit, path)


def list_names(repo: Path, sha: str, directory: str) -> list[str]:
    """Return the names directly inside ``directory`` at a commit (empty if it is absent)."""
    return open_repo(repo).names(resolve(repo, sha), directory)


def tree_id(repo: Path, sha: str) -> str | None:
    """Return the id of a commit's root tree (the content address of all its files)."""
    return open_repo(repo).tree_id(resolve(repo, sha))


def export_tree(repo: Path, sha: str, dest: Path) -> trees.Tree:
    """Write the files of a commit into ``dest`` (created); return what was written.

    Symlinks that lead out of the repository are not written (see
    :mod:`reconciler.source.trees`); the returned tree names them.
    """
    return trees.materialise(open_repo(repo), resolve(repo, sha), dest)


WORKTREE_EXTRA_FILES = (".dvc/config.local",)
"""Ignored files of a work tree that its copy still needs (DVC's local remote settings)."""


def export_worktree(repo: Path, dest: Path) -> trees.Tree:
    """Copy the work tree's files (tracked, and untracked but not ignored) into ``dest``.

    Symlinks that lead out of the repository are not written, as for a commit.
    """
    root = find_root(repo)
    if open_repo(root).workdir is None:  # a bare repository: its work tree is HEAD
        return export_tree(root, resolve(root, "HEAD"), dest)
    listed = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    paths = [p for p in listed.decode(errors="surrogateescape").split("\0") if p]
    paths += [p for p in WORKTREE_EXTRA_FILES if (root / p).is_file()]
    return trees.materialise_worktree(root, paths, dest)


_EXPORTS = exports.Exports()


def keep_exports_in(directory: Path) -> None:
    """Keep the directories commits are exported into in ``directory`` (the state
    directory's ``trees/``), for the next process to update rather than write whole.

    For one-shot commands (each is a new process, and writing every file of a commit
    (1,000 pipeline files) was most of what preparing a commit cost it) and the daemon (its
    first export after a restart). See
    :mod:`reconciler.source.exports`.
    """
    _EXPORTS.keep_in(directory)


@contextlib.contextmanager
def checkout_tree(repo: Path, ref: str | None) -> Iterator[tuple[Path, Commit | None]]:
    """Yield ``(root, commit)``: a copy of the work tree for ``ref=None``, else of a commit.

    The copy of a work tree is a temporary directory removed on exit; that of a commit is
    a directory this process exported a commit into before (updated to this one: see
    :mod:`.exports`), or a new one, not used by anyone else until the body exits. The
    user's work tree is never touched (with ``ref=None`` its files, committed or not, are
    copied; the commit is HEAD, if any). A symlink that leads out of the repository is left
    out of the copy; if the body then fails naming that path (a render reading it), the
    error says why: ``path: symbolic link to '...' leads outside the repository: refused``.
    """
    if ref is None:
        with _checkout_worktree(repo) as checked_out:
            yield checked_out
        return
    commit = commit_info(repo, ref)
    root, written = _EXPORTS.take()
    reused = bool(written.entries) or os.path.lexists(root)
    tree: trees.Tree | None = None
    try:
        try:
            tree = trees.update(open_repo(repo), commit.sha, root, written)
        except OSError:
            if not reused:
                raise  # a new directory: nothing of an earlier reader was in the way
            # What a reader (or an earlier process) left could not be removed: this
            # directory is dropped, and the commit written whole into a new one.
            _EXPORTS.give_back(root, written)
            root, written = _EXPORTS.take_new()
            tree = trees.update(open_repo(repo), commit.sha, root, written)
        with refusals.explaining(tree):
            yield tree.root, commit
    finally:
        if tree is not None:
            tree.forget()
        _EXPORTS.give_back(root, written)


@contextlib.contextmanager
def _checkout_worktree(repo: Path) -> Iterator[tuple[Path, Commit | None]]:
    """Yield ``(root, HEAD's commit or None)``: a copy of the work tree, removed on exit."""
    commit = None
    tmp = Path(tempfile.mkdtemp(prefix="reconciler-tree-"))
    tree: trees.Tree | None = None
    try:
        with contextlib.suppress(SourceError):
            commit = commit_info(find_root(repo), "HEAD")
        tree = export_worktree(repo, tmp / "tree")
        with refusals.explaining(tree):
            yield tree.root, commit
    finally:
        if tree is not None:
            tree.forget()
        shutil.rmtree(tmp, ignore_errors=True)


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SCP_LIKE = re.compile(r"^(?P<user>[^/:@]+)(?::[^/@]*)?@(?P<rest>[^/:]+:.*)$")


def pod_url(repo: Path, remote: str = "origin") -> str:
    """Return the URL a pod clones the repository from: the remote's, without secrets.

    An ``http(s)://`` URL loses its whole userinfo (the user part is often the token
    itself); other schemes (``ssh://git@host/...``, ``git@host:org/repo``) keep the user
    name and lose any password. A remote that is a local path (the demo's, a test's) is
    a ``file://`` URL, made absolute against the repository (``dvc get`` clones a
    ``file://`` URL as it would a server's; given a plain path it reads that repository in
    place and resolves relative DVC remotes elsewhere); a repository without that remote
    (a bare repository watched in place is its own remote) is named by its own path.
    """
    url = open_repo(repo).remote_url(remote)
    if not url:
        return find_root(repo).as_uri()
    if _SCHEME.match(url):
        scheme, _, rest = url.partition("://")
        netloc, slash, path = rest.partition("/")
        userinfo, at, host = netloc.rpartition("@")
        if at:
            user = "" if scheme.lower().startswith("http") else userinfo.partition(":")[0]
            netloc = f"{user}@{host}" if user else host
        return f"{scheme}://{netloc}{slash}{path}"
    scp = _SCP_LIKE.match(url)
    if scp:
        return f"{scp.group('user')}@{scp.group('rest')}"
    if ":" in url.split("/", 1)[0]:  # host:path, no user
        return url
    return (find_root(repo) / url).resolve().as_uri()


def remote_url(repo: Path, remote: str = "origin") -> str:
    """Return a remote's URL with credentials redacted ("" if there is no such remote)."""
    return redact_url(open_repo(repo).remote_url(remote) or "")
