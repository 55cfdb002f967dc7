"""Read a Git repository: refs, commits, files, and whole trees at a commit.

Called by the engine, the CLI (``--ref``) and review. Nothing here writes to the user's work
tree, index or refs. Commits that only touch ``runs/`` (provenance records) are skipped when
looking for the commit a branch's specs come from, so they never trigger a render.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from reconciler.structs.errors import SourceError

PROVENANCE_DIR = "runs"
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def redact_url(url: str) -> str:
    """Return a URL with any ``user:password@`` removed (safe to log and record)."""
    return _CREDENTIALS.sub("", url)


def git(repo: Path, *args: str, input: bytes | None = None) -> bytes:
    """Run ``git -C repo args`` and return stdout; SourceError with git's message on failure."""
    proc = subprocess.run(
        ["git", "-C", str(repo), *args],
        input=input,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        detail = msg[-1] if msg else f"exit {proc.returncode}"
        raise SourceError(f"git {' '.join(args[:2])}: {redact_url(detail)}")
    return proc.stdout


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
    try:
        out = git(path, "rev-parse", "--show-toplevel").decode().strip()
        return Path(out)
    except SourceError:
        try:
            if git(path, "rev-parse", "--is-bare-repository").decode().strip() == "true":
                return path
        except SourceError:
            pass
    raise SourceError(f"{path}: not a git repository")


def resolve(repo: Path, ref: str) -> str:
    """Return the commit sha a ref names (branch, tag, sha, ``origin/x``); SourceError if none."""
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()
    except SourceError:
        raise SourceError(f"unknown git ref {ref!r} in {repo}") from None


def commit_info(repo: Path, ref: str) -> Commit:
    """Return the commit a ref names."""
    out = git(repo, "log", "-1", "--format=%H%x00%s%x00%at", resolve(repo, ref)).decode()
    sha, subject, t = out.rstrip("\n").split("\x00")
    return Commit(sha=sha, subject=subject, time=int(t or 0))


def spec_commit(repo: Path, ref: str) -> Commit:
    """Return the newest commit on ``ref`` that changed anything outside ``runs/``.

    Provenance commits (only ``runs/``) are skipped, so they never trigger a render. Falls
    back to the tip if every commit only touched ``runs/``.
    """
    tip = resolve(repo, ref)
    out = (
        git(repo, "log", "-1", "--format=%H", tip, "--", ".", f":(exclude){PROVENANCE_DIR}")
        .decode()
        .strip()
    )
    return commit_info(repo, out or tip)


def changed_paths(repo: Path, sha: str) -> list[str]:
    """Return the paths a commit changed against its first parent (all paths for a root)."""
    out = git(repo, "show", "--format=", "--name-only", "--no-renames", "-m", "--first-parent", sha)
    return sorted({p for p in out.decode().splitlines() if p})


def branches(repo: Path) -> list[str]:
    """Return branch names: local heads, plus ``origin``'s remote-tracking branches if any."""
    out = git(
        repo, "for-each-ref", "--format=%(refname)", "refs/heads", "refs/remotes/origin"
    ).decode()
    names: set[str] = set()
    for line in out.splitlines():
        if line.startswith("refs/heads/"):
            names.add(line[len("refs/heads/") :])
        elif line.startswith("refs/remotes/origin/") and not line.endswith("/HEAD"):
            names.add(line[len("refs/remotes/origin/") :])
    return sorted(names)


def branch_ref(repo: Path, branch: str) -> str:
    """Return the ref to read a branch from: the local head, else ``origin/<branch>``."""
    for candidate in (f"refs/heads/{branch}", f"refs/remotes/origin/{branch}"):
        try:
            git(repo, "rev-parse", "--verify", "--quiet", candidate)
            return candidate
        except SourceError:
            continue
    raise SourceError(f"no branch {branch!r} in {repo}")


def current_branch(repo: Path) -> str | None:
    """Return the checked-out branch of a work tree, or None (detached, bare)."""
    try:
        out = git(repo, "symbolic-ref", "--quiet", "--short", "HEAD").decode().strip()
    except SourceError:
        return None
    return out or None


def read_file(repo: Path, sha: str, path: str) -> bytes | None:
    """Return a file's bytes at a commit, or None if it does not exist there."""
    try:
        return git(repo, "show", f"{sha}:{path}")
    except SourceError:
        return None


def export_tree(repo: Path, sha: str, dest: Path) -> Path:
    """Write the files of a commit into ``dest`` (created) with ``git archive``; return dest.

    Members that would land outside ``dest`` (absolute paths, ``..``) are refused by the
    tarfile ``data`` filter; symlinks are kept as links so render can refuse ones that point
    out of the repository.
    """
    data = git(repo, "archive", "--format=tar", sha)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return dest


@contextlib.contextmanager
def checkout_tree(repo: Path, ref: str | None) -> Iterator[tuple[Path, Commit | None]]:
    """Yield ``(root, commit)``: the work tree itself for ``ref=None``, else an exported copy.

    The exported copy is a temporary directory removed on exit; the user's work tree is
    never touched.
    """
    if ref is None:
        root = find_root(repo)
        commit = None
        with contextlib.suppress(SourceError):
            commit = commit_info(root, "HEAD")
        yield root, commit
        return
    commit = commit_info(repo, ref)
    tmp = Path(tempfile.mkdtemp(prefix="reconciler-tree-"))
    try:
        yield export_tree(repo, commit.sha, tmp / "tree"), commit
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remote_url(repo: Path, remote: str = "origin") -> str:
    """Return a remote's URL with credentials redacted ("" if there is no such remote)."""
    try:
        return redact_url(git(repo, "remote", "get-url", remote).decode().strip())
    except SourceError:
        return ""
