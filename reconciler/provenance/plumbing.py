"""Git plumbing for provenance: commit files to a branch without a checkout, fetch, push.

Called only by :mod:`reconciler.provenance.store`. Every write goes through a temporary
index (``GIT_INDEX_FILE``): ``read-tree`` of the branch tip, ``update-index --cacheinfo`` for
the record, ``write-tree``, ``commit-tree`` with the tip as parent, then ``update-ref`` with
the old value (compare-and-swap). The user's work tree, index and other refs are never
touched, so this works the same in a clone with a work tree and in a bare cache mirror.

Git is run as a subprocess with a clean environment (no inherited ``GIT_DIR``/``GIT_INDEX_FILE``
from a hook, no terminal prompts, C locale so messages can be classified); GitPython opens and
validates the repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import git as gitpython

from reconciler.provenance.scrubbing import redact_url
from reconciler.structs.errors import ProvenanceError

NETWORK_TIMEOUT = 120.0
"""Seconds a fetch or push may take before the remote counts as unreachable."""

_DROP_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_PREFIX",
    "GIT_NAMESPACE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
)
_AUTHOR = re.compile(r"^\s*(?P<name>[^<>]*?)\s*<(?P<email>[^<>]*)>\s*$")
# Messages of a fetch that lost a race on a local lock: worth retrying, not "unreachable".
_LOCK_MESSAGES = ("cannot lock ref", "unable to update local ref", ".lock': File exists")
# Reasons of a rejected push that mean "the branch moved": fetch, rebuild, push again.
_RACE_MESSAGES = (
    "non-fast-forward",
    "fetch first",
    "stale info",
    "failed to update ref",
    "cannot lock ref",
    "failed to lock",
    "incorrect old value",
    "already exists",
)


class PushStatus(StrEnum):
    """How a push ended."""

    PUSHED = "pushed"
    UP_TO_DATE = "up-to-date"
    """The remote already had exactly this commit (an identical commit by another writer)."""
    REJECTED = "rejected"
    """The branch moved under the push (non-fast-forward, or a lost race): worth a retry."""
    REFUSED = "refused"
    """The remote refused for another reason (a hook, a protected or checked-out branch)."""
    UNREACHABLE = "unreachable"
    """The remote could not be reached or read (transport, auth, missing repository)."""


class RemoteUnreachable(ProvenanceError):
    """A fetch or push could not talk to the remote; the message is git's, redacted."""


class FetchRaced(ProvenanceError):
    """A fetch lost a race on a local ref lock (another process fetching); retry."""


@dataclass(frozen=True)
class PushResult:
    """The outcome of one push and git's message for it."""

    status: PushStatus
    message: str = ""


def parse_author(author: str) -> tuple[str, str]:
    """Split ``"Name <email>"``; ProvenanceError if it is not in that form."""
    m = _AUTHOR.match(author)
    if not m or not m.group("name"):
        raise ProvenanceError(f"invalid commit author {author!r}: expected 'Name <email>'")
    return m.group("name"), m.group("email")


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("hint:")]
    return redact_url(lines[-1]) if lines else ""


class GitRepo:
    """A repository (with a work tree or bare) that provenance commits into by plumbing.

    Raises ProvenanceError if ``path`` is not a git repository.
    """

    def __init__(self, path: Path) -> None:
        try:
            repo = gitpython.Repo(path)
        except (gitpython.InvalidGitRepositoryError, gitpython.NoSuchPathError) as exc:
            raise ProvenanceError(f"{path}: not a git repository") from exc
        self.path = Path(path)
        self.bare: bool = repo.bare
        self.git_dir = Path(repo.git_dir)
        self._remote_names = {r.name for r in repo.remotes}
        repo.close()
        self._env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
        self._env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "LANGUAGE": "C"})
        self._zero: str | None = None

    # ------------------------------------------------------------------ running git

    def run(
        self,
        *args: str,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``git args`` in the repository; ProvenanceError with git's message if ``check``."""
        full_env = self._env if env is None else {**self._env, **env}
        cmd = next((a for a in args if not a.startswith("-") and "=" not in a), "")
        try:
            proc = subprocess.run(
                ["git", "-C", str(self.path), *args],
                input=input,
                capture_output=True,
                env=full_env,
                check=False,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise RemoteUnreachable(f"git {cmd}: timed out after {timeout:.0f}s") from exc
        if check and proc.returncode != 0:
            detail = _last_line(proc.stderr.decode(errors="replace")) or f"exit {proc.returncode}"
            raise ProvenanceError(f"git {cmd} in {self.path}: {detail}")
        return proc

    def out(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> str:
        """Run git and return its stdout, stripped."""
        return self.run(*args, input=input, env=env).stdout.decode().strip()

    # ------------------------------------------------------------------ reading

    def has_remote(self, name: str) -> bool:
        """True if a remote of that name is configured."""
        return name in self._remote_names

    def tip(self, ref: str) -> str | None:
        """Return the commit a full ref points at, or None if the ref does not exist."""
        proc = self.run("rev-parse", "-q", "--verify", f"{ref}^{{commit}}", check=False)
        if proc.returncode != 0:
            return None
        return proc.stdout.decode().strip() or None

    @property
    def zero_oid(self) -> str:
        """The all-zero object id of this repository's hash (``update-ref``'s "must not exist")."""
        if self._zero is None:
            self._zero = "0" * len(self.hash_blob(b"", write=False))
        return self._zero

    def blob_ids(self, commit: str, paths: Sequence[str]) -> dict[str, str | None]:
        """Return the blob id of each path in a commit (None where the path is absent)."""
        if not paths:
            return {}
        lines = "".join(f"{commit}:{p}\n" for p in paths).encode()
        out = self.run(
            "cat-file", "--batch-check=%(objectname) %(objecttype)", input=lines
        ).stdout.decode()
        result: dict[str, str | None] = {}
        for path, line in zip(paths, out.splitlines(), strict=True):
            parts = line.split()
            result[path] = parts[0] if len(parts) == 2 and parts[1] == "blob" else None
        return result

    def list_blobs(self, ref: str, directory: str) -> dict[str, str]:
        """Return ``{path: blob id}`` of the files directly and below ``directory`` at ``ref``."""
        out = self.run("ls-tree", "-r", "-z", ref, "--", f"{directory.rstrip('/')}/").stdout
        blobs: dict[str, str] = {}
        for entry in out.split(b"\0"):
            if not entry:
                continue
            meta, _, path = entry.partition(b"\t")
            _mode, kind, oid = meta.decode().split()
            if kind == "blob":
                blobs[path.decode()] = oid
        return blobs

    def read_blobs(self, oids: Iterable[str]) -> dict[str, bytes]:
        """Return the contents of blobs by id (one ``cat-file --batch`` for all of them)."""
        wanted = list(dict.fromkeys(oids))
        if not wanted:
            return {}
        data = self.run("cat-file", "--batch", input="".join(f"{o}\n" for o in wanted).encode())
        buf, pos, result = data.stdout, 0, {}
        for oid in wanted:
            end = buf.index(b"\n", pos)
            header = buf[pos:end].decode().split()
            pos = end + 1
            if len(header) < 3:  # "<oid> missing"
                continue
            size = int(header[2])
            result[oid] = buf[pos : pos + size]
            pos += size + 1
        return result

    def read_file(self, ref: str, path: str) -> bytes | None:
        """Return a file's bytes at a ref, or None if the ref or the file does not exist."""
        tip = self.tip(ref)
        if tip is None:
            return None
        oid = self.blob_ids(tip, [path]).get(path)
        return None if oid is None else self.read_blobs([oid]).get(oid)

    def refs(self, *patterns: str) -> dict[str, str]:
        """Return ``{ref: commit}`` of refs matching ``for-each-ref`` patterns."""
        out = self.out("for-each-ref", "--format=%(refname) %(objectname)", *patterns)
        refs: dict[str, str] = {}
        for line in out.splitlines():
            name, _, oid = line.partition(" ")
            if name:
                refs[name] = oid
        return refs

    def checked_out_branches(self) -> set[str]:
        """Return the branches (short names) checked out in any work tree of the repository."""
        # A bare repository's own record says "bare" and names no branch: its HEAD has no
        # work tree, so only linked work trees count.
        lines = self.out("worktree", "list", "--porcelain").splitlines()
        return {ln.removeprefix("branch refs/heads/") for ln in lines if ln.startswith("branch ")}

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """True if ``ancestor`` is reachable from ``descendant``."""
        proc = self.run("merge-base", "--is-ancestor", ancestor, descendant, check=False)
        return proc.returncode == 0

    def valid_branch(self, branch: str) -> bool:
        """True if ``branch`` is a valid branch name."""
        return self.run("check-ref-format", f"refs/heads/{branch}", check=False).returncode == 0

    # ------------------------------------------------------------------ writing

    def hash_blob(self, data: bytes, *, write: bool = True) -> str:
        """Store bytes as a blob (as they are, no filters) and return its id."""
        args = ["hash-object", "--stdin", "--no-filters"] + (["-w"] if write else [])
        return self.out(*args, input=data)

    def commit_files(
        self,
        parent: str | None,
        files: Sequence[tuple[str, str, str]],
        *,
        author: str,
    ) -> list[str]:
        """Commit files on top of ``parent`` (None: an orphan root); return the new commits.

        ``files`` are ``(path, blob id, message)``: one commit per file, each on the previous,
        each adding just that path to its parent's tree. Uses a temporary index, so nothing of
        the repository but its object store is written. No ref is moved.
        """
        name, email = parse_author(author)
        tmpdir = tempfile.mkdtemp(prefix="reconciler-index-")
        env = {
            "GIT_INDEX_FILE": os.path.join(tmpdir, "index"),
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }
        commits: list[str] = []
        try:
            if parent is not None:
                self.run("read-tree", parent, env=env)
            else:
                self.run("read-tree", "--empty", env=env)
            head = parent
            for path, oid, message in files:
                self.run("update-index", "--add", "--cacheinfo", f"100644,{oid},{path}", env=env)
                tree = self.out("write-tree", env=env)
                parents = ["-p", head] if head else []
                head = self.out("commit-tree", tree, *parents, input=message.encode(), env=env)
                commits.append(head)
            return commits
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)

    def update_ref(self, ref: str, new: str, old: str | None, *, message: str) -> bool:
        """Move ``ref`` to ``new`` only if it is still at ``old`` (None: must not exist).

        Returns False if the ref moved meanwhile (another writer won the race).
        """
        proc = self.run("update-ref", "-m", message, ref, new, old or self.zero_oid, check=False)
        return proc.returncode == 0

    # ------------------------------------------------------------------ network

    def fetch_branch(self, remote: str, branch: str) -> bool:
        """Fetch ``branch`` into ``refs/remotes/<remote>/<branch>``; False if the remote lacks it.

        Raises RemoteUnreachable if the remote cannot be read, FetchRaced if a concurrent
        fetch held a local ref lock.
        """
        spec = f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}"
        return self._fetch(remote, [spec], missing_ok=True)

    def fetch_all(self, remote: str) -> None:
        """Fetch every branch of ``remote`` into ``refs/remotes/<remote>/*``."""
        self._fetch(remote, [f"+refs/heads/*:refs/remotes/{remote}/*"], missing_ok=False)

    def _fetch(self, remote: str, specs: list[str], *, missing_ok: bool) -> bool:
        proc = self.run(
            "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote, *specs,
            check=False, timeout=NETWORK_TIMEOUT,
        )  # fmt: skip
        if proc.returncode == 0:
            return True
        err = proc.stderr.decode(errors="replace")
        if missing_ok and "couldn't find remote ref" in err:
            return False
        if any(m in err for m in _LOCK_MESSAGES):
            raise FetchRaced(f"fetch from {remote}: {_last_line(err)}")
        raise RemoteUnreachable(f"fetch from {remote}: {_last_line(err)}")

    def push(self, remote: str, commit: str, branch: str) -> PushResult:
        """Push ``commit`` to ``refs/heads/<branch>`` on ``remote``, never forcing.

        Hooks are skipped (``--no-verify``): these are the reconciler's own commits. A cache
        mirror's ``remote.<name>.mirror`` (which forbids pushing one ref) is overridden.
        """
        proc = self.run(
            "-c", f"remote.{remote}.mirror=false",
            "push", "--porcelain", "--no-verify", remote, f"{commit}:refs/heads/{branch}",
            check=False, timeout=NETWORK_TIMEOUT,
        )  # fmt: skip
        out = proc.stdout.decode(errors="replace")
        err = proc.stderr.decode(errors="replace")
        for line in out.splitlines():
            fields = line.split("\t")
            if len(fields) >= 3 and fields[1].endswith(f":refs/heads/{branch}"):
                if fields[0] == "!":
                    reason = redact_url(fields[2])
                    raced = any(m in reason for m in _RACE_MESSAGES)
                    return PushResult(PushStatus.REJECTED if raced else PushStatus.REFUSED, reason)
                if fields[0] == "=":
                    return PushResult(PushStatus.UP_TO_DATE, redact_url(fields[2]))
                return PushResult(PushStatus.PUSHED, redact_url(fields[2]))
        if proc.returncode == 0:
            return PushResult(PushStatus.PUSHED)
        return PushResult(PushStatus.UNREACHABLE, f"push to {remote}: {_last_line(err)}")
