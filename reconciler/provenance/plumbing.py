"""Git plumbing for provenance: commit files to branches without a checkout, fetch, push.

Called only by :mod:`reconciler.provenance.delivery` and the store's readers. Objects are
read and commits built in-process (:class:`reconciler.source.objects.Repository`): a commit
is the parent's tree plus the new records, written to the object store with no index file
and no work tree. Refs move only through git's own ref transactions (``update-ref --stdin``
with the expected old values: compare-and-swap), and the network is git's own ``fetch`` and
``push`` (the user's credential helpers and ssh settings), all run through
:mod:`reconciler.source.git` (clean environment, C locale, no prompts, timeouts, whole
messages with credentials redacted). The user's work tree, index and other refs are never
touched, so this works the same in a clone with a work tree and in a bare cache mirror.

Every network operation covers many branches at once: one ``ls-remote`` and one ``fetch``
for the branches a delivery needs, one ``push`` for every branch it commits to.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pygit2

from reconciler.source import git as gitcmd
from reconciler.source import objects
from reconciler.structs.errors import ProvenanceError, SourceError

log = logging.getLogger(__name__)

NETWORK_TIMEOUT = 120.0
"""Seconds a fetch or push may take before the remote counts as unreachable."""
PUSH_BATCH_ENV = "RECONCILER_PUSH_BATCH"
DEFAULT_PUSH_BATCH = 1000
"""Branches per ``git push`` unless ``RECONCILER_PUSH_BATCH`` says otherwise."""

_LEARNED_BATCH: dict[tuple[str, str], int] = {}
"""(repository, remote) -> the most branches one push was seen to be allowed, learned from
remotes that refused larger pushes (see :meth:`GitRepo.push`); kept for the process."""
STAGING_REFS = "refs/reconciler/push"
"""Where a push's commits are named for the length of one ``git push`` (see :meth:`GitRepo.push`)."""

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
    """How a push of one branch ended."""

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
    """A fetch or push could not talk to the remote; the message is git's whole, redacted."""


class FetchRaced(ProvenanceError):
    """A fetch lost a race on a local ref lock (another process fetching); retry."""


@dataclass(frozen=True)
class PushResult:
    """The outcome of pushing one branch and git's message for it."""

    status: PushStatus
    message: str = ""


def push_batch() -> int:
    """Return ``RECONCILER_PUSH_BATCH`` (branches per ``git push``), else 1,000.

    A server that limits how many branches one push may update (GitHub's push policy)
    needs a batch no larger than its limit. ProvenanceError if it is not a whole number
    of at least 1.
    """
    raw = os.environ.get(PUSH_BATCH_ENV, "").strip()
    if not raw:
        return DEFAULT_PUSH_BATCH
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ProvenanceError(f"{PUSH_BATCH_ENV}={raw!r}: expected a whole number of at least 1")
    return value


def _host() -> str:
    """This host's name as a ref name component (letters, digits, '.', '_' kept)."""
    return re.sub(r"[^A-Za-z0-9._]", "_", socket.gethostname()).strip(".") or "host"


def _staging_id() -> str:
    """``<host>-<pid>-<random>``: a staging prefix no other push uses."""
    return f"{_host()}-{os.getpid()}-{secrets.token_hex(4)}"


def _alive(pid: int) -> bool:
    """True if a process with that id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's: alive
        return True
    return True


def parse_author(author: str) -> tuple[str, str]:
    """Split ``"Name <email>"``; ProvenanceError if it is not in that form."""
    m = _AUTHOR.match(author)
    if not m or not m.group("name"):
        raise ProvenanceError(f"invalid commit author {author!r}: expected 'Name <email>'")
    return m.group("name"), m.group("email")


class GitRepo(objects.Repository):
    """A repository (with a work tree or bare) that provenance commits into by plumbing.

    Raises ProvenanceError if ``path`` is not a git repository.
    """

    def __init__(self, path: Path) -> None:
        try:
            super().__init__(path)
        except SourceError as exc:
            raise ProvenanceError(str(exc)) from exc

    def run(
        self, *args: str, input: bytes | None = None, timeout: float = gitcmd.LOCAL_TIMEOUT
    ) -> bytes:
        """Run ``git args`` in the repository; return stdout (GitError with git's message)."""
        return gitcmd.run(args, repo=self.path, input=input, timeout=timeout).stdout

    # ------------------------------------------------------------------ reading

    def has_remote(self, name: str) -> bool:
        """True if a remote of that name is configured."""
        return name in self.remotes()

    def checked_out_branches(self) -> set[str]:
        """Return the branches (short names) checked out in any work tree of the repository."""
        # A bare repository's own record says "bare" and names no branch: its HEAD has no
        # work tree, so only linked work trees count.
        lines = self.run("worktree", "list", "--porcelain").decode().splitlines()
        return {ln.removeprefix("branch refs/heads/") for ln in lines if ln.startswith("branch ")}

    @staticmethod
    def valid_branch(branch: str) -> bool:
        """True if ``branch`` is a valid branch name."""
        return bool(branch) and pygit2.reference_is_valid_name(f"refs/heads/{branch}")

    # ------------------------------------------------------------------ writing

    def update_refs(self, updates: Sequence[tuple[str, str, str | None]], *, message: str) -> bool:
        """Move refs in one transaction, each only if it is still at its old value.

        ``updates`` are ``(ref, new, old)``; ``old`` None means "must not exist yet".
        Returns False (and moves nothing) if any ref moved meanwhile.
        """
        if not updates:
            return True
        zero = self.zero_oid
        lines = "".join(f"update {ref}\0{new}\0{old or zero}\0" for ref, new, old in updates)
        proc = gitcmd.run(
            ["update-ref", "-z", "--stdin", "-m", message],
            repo=self.path,
            input=lines.encode(),
            check=False,
        )
        return proc.returncode == 0

    def update_ref(self, ref: str, new: str, old: str | None, *, message: str) -> bool:
        """Move one ref only if it is still at ``old`` (None: must not exist)."""
        return self.update_refs([(ref, new, old)], message=message)

    def housekeep(self) -> None:
        """Let git pack loose objects and refs, as git does after its own commits.

        Commits built in-process leave every blob, tree and commit as a loose object, and
        every branch moved as a loose ref: thousands of records are tens of thousands of
        files, each read (a stat, an open, a read) by every later look-up. ``git gc
        --auto`` packs them once there are more than ``gc.auto`` (6,700 by default) and
        costs a directory listing below that; it honours the repository's ``gc.auto``
        (``0`` turns it off) and ``gc.pruneExpire`` (nothing unreachable is pruned that git
        would keep). It runs in the foreground, as every git the reconciler starts
        (:mod:`reconciler.source.git`; seconds, once per several thousand objects). A
        failure is logged, never raised: the records are written.
        """
        try:
            gitcmd.run(["gc", "--auto", "--quiet"], repo=self.path)
        except SourceError as exc:
            log.warning("git gc --auto in %s failed (records are written): %s", self.path, exc)

    # ------------------------------------------------------------------ network

    def remote_heads(self, remote: str, branches: Iterable[str]) -> dict[str, str]:
        """Return ``{branch: tip}`` of the given branches that exist on ``remote``.

        Raises RemoteUnreachable with git's whole message if the remote cannot be read.
        """
        wanted = set(branches)
        if not wanted:
            return {}
        # Name the refs when they are few (protocol v2 then lists only those); list every
        # head when there are many, rather than build a huge command line.
        patterns = [f"refs/heads/{b}" for b in sorted(wanted)] if len(wanted) <= 200 else []
        try:
            out = gitcmd.run(
                ["ls-remote", "--heads", remote, *patterns],
                repo=self.path,
                timeout=NETWORK_TIMEOUT,
            ).stdout.decode(errors="replace")
        except gitcmd.GitError as exc:
            raise RemoteUnreachable(f"fetch from {remote}: {exc.stderr or exc}") from exc
        heads: dict[str, str] = {}
        for line in out.splitlines():
            oid, _, ref = line.partition("\t")
            branch = ref.removeprefix("refs/heads/")
            if branch in wanted:
                heads[branch] = oid
        return heads

    def fetch_branches(self, remote: str, branches: Iterable[str]) -> dict[str, str]:
        """Bring the remote-tracking refs of ``branches`` up to date; return their remote tips.

        Branches the remote does not have are left out of the result. Only branches whose
        tracking ref differs from the remote are fetched (one ``git fetch`` for all of
        them). Raises RemoteUnreachable if the remote cannot be read, FetchRaced if a
        concurrent fetch held a local ref lock.
        """
        heads = self.remote_heads(remote, branches)
        stale = [b for b, oid in heads.items() if self.tip(f"refs/remotes/{remote}/{b}") != oid]
        if stale:
            specs = "".join(f"+refs/heads/{b}:refs/remotes/{remote}/{b}\n" for b in sorted(stale))
            self._fetch(remote, specs)
        return heads

    def fetch_branch(self, remote: str, branch: str) -> bool:
        """Fetch one branch into ``refs/remotes/<remote>/<branch>``; False if the remote lacks it."""
        return branch in self.fetch_branches(remote, [branch])

    def fetch_all(self, remote: str) -> None:
        """Fetch every branch of ``remote`` into ``refs/remotes/<remote>/*``."""
        self._fetch(remote, f"+refs/heads/*:refs/remotes/{remote}/*\n")

    def _fetch(self, remote: str, refspecs: str) -> None:
        try:
            gitcmd.run(
                ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--stdin", remote],
                repo=self.path,
                input=refspecs.encode(),
                timeout=NETWORK_TIMEOUT,
            )
        except gitcmd.GitError as exc:
            message = exc.stderr or str(exc)
            if any(m in message for m in _LOCK_MESSAGES):
                raise FetchRaced(f"fetch from {remote}: {message}") from exc
            raise RemoteUnreachable(f"fetch from {remote}: {message}") from exc

    def push(self, remote: str, commits: Mapping[str, str]) -> dict[str, PushResult]:
        """Push ``{branch: commit}`` to ``remote``, never forcing; return a result per branch.

        One ``git push`` per :func:`push_batch` branches; each branch succeeds or fails on
        its own (not atomic). Hooks are skipped (``--no-verify``): these are the
        reconciler's own commits. A cache mirror's ``remote.<name>.mirror`` (which forbids
        pushing single refs) is overridden.

        The commits are named under a staging prefix of this push
        (:data:`STAGING_REFS`/<host>-<pid>-<random>/<branch>, removed when the push
        ends) and pushed by one pattern refspec, ``<prefix>/*:refs/heads/*``: git matches
        each explicit refspec against every ref the remote advertises, a pattern through
        an index, so thousands of explicit refspecs to a remote of 10,000 branches took
        about 12 ms per branch (33 s for 2,800), the pattern 2 ms. Staging refs left by a
        process of this host that has died are removed first.

        A remote that refuses every branch of a push alike (a host's limit on the refs one
        push may update, such as a pre-receive hook counting them) is asked again with half
        as many, down to one branch: when fewer pass, the rest of the branches go at that
        size, and this repository remembers it for this remote for the life of the process.
        When one branch alone is refused the same way, the refusal is not about the count:
        the whole batch gets that answer, after at most log2(batch) more pushes, not one
        push per branch.
        """
        results: dict[str, PushResult] = {}
        pending = sorted(commits)
        learned = (str(self.path), remote)
        batch = push_batch()
        batch = min(batch, _LEARNED_BATCH.get(learned, batch))
        self._drop_stale_staging()
        while pending:
            chunk = pending[:batch]
            got = self._push_batch(remote, {b: commits[b] for b in chunk})
            size = len(chunk)
            while size > 1 and _refused_alike(got):
                reason = next(iter(got.values())).message
                size //= 2
                log.warning(
                    "provenance: %s refused all %d branches of a push (%s); trying %d at a time",
                    remote, len(chunk), reason, size,
                )  # fmt: skip
                tried = self._push_batch(remote, {b: commits[b] for b in chunk[:size]})
                if not _refused_alike(tried) or next(iter(tried.values())).message != reason:
                    got, batch = tried, size
                    _LEARNED_BATCH[learned] = size
                    break
                if size == 1:  # refused alone as well: not about how many were pushed
                    got = {b: PushResult(PushStatus.REFUSED, reason) for b in chunk}
            results.update(got)
            pending = [b for b in pending if b not in got]
        return results

    def _push_batch(self, remote: str, commits: Mapping[str, str]) -> dict[str, PushResult]:
        prefix = f"{STAGING_REFS}/{_staging_id()}"
        staged = [(f"{prefix}/{b}", c, None) for b, c in commits.items()]
        if not self.update_refs(staged, message="reconciler: staged for push"):
            message = f"push to {remote}: could not name the commits under {prefix}"
            return {b: PushResult(PushStatus.UNREACHABLE, message) for b in commits}
        try:
            proc = gitcmd.run(
                ["-c", f"remote.{remote}.mirror=false", "push", "--porcelain", "--no-verify",
                 remote, f"{prefix}/*:refs/heads/*"],
                repo=self.path,
                check=False,
                timeout=NETWORK_TIMEOUT,
            )  # fmt: skip
        finally:
            self._delete_refs(ref for ref, _, _ in staged)
        by_ref = {f"refs/heads/{b}": b for b in commits}
        results: dict[str, PushResult] = {}
        for line in proc.stdout.decode(errors="replace").splitlines():
            fields = line.split("\t")
            if len(fields) < 3:
                continue
            branch = by_ref.get(fields[1].rpartition(":")[2])
            if branch is None:
                continue
            reason = gitcmd.redact(fields[2])
            if fields[0] == "!":
                raced = any(m in reason for m in _RACE_MESSAGES)
                status = PushStatus.REJECTED if raced else PushStatus.REFUSED
                results[branch] = PushResult(status, reason)
            elif fields[0] == "=":
                results[branch] = PushResult(PushStatus.UP_TO_DATE, reason)
            else:
                results[branch] = PushResult(PushStatus.PUSHED, reason)
        message = gitcmd.message_of(proc.stderr) or f"exit {proc.returncode}"
        if proc.returncode == 0:
            message = "git push did not report this branch"  # kept pending: delivered later
        for branch in commits:
            if branch not in results:
                results[branch] = PushResult(PushStatus.UNREACHABLE, f"push to {remote}: {message}")
        return results

    def _drop_stale_staging(self) -> None:
        """Remove the staging refs of pushes by processes of this host that have died."""
        host = _host()
        stale = []
        for ref in self.handle.references:
            if not ref.startswith(STAGING_REFS + "/"):
                continue
            owner = ref[len(STAGING_REFS) + 1 :].split("/", 1)[0].rsplit("-", 2)
            mine = len(owner) == 3 and owner[0] == host and owner[1].isdigit()
            if mine and not _alive(int(owner[1])):
                stale.append(ref)
        self._delete_refs(stale)

    def _delete_refs(self, refs: Iterable[str]) -> None:
        """Delete refs in one transaction (best effort: logged if it fails)."""
        lines = "".join(f"delete {ref}\0\0" for ref in refs)
        if not lines:
            return
        proc = gitcmd.run(
            ["update-ref", "-z", "--stdin"], repo=self.path, input=lines.encode(), check=False
        )
        if proc.returncode != 0:
            log.warning(
                "provenance: could not remove staging refs: %s", gitcmd.message_of(proc.stderr)
            )


def _refused_alike(results: Mapping[str, PushResult]) -> bool:
    """Whether the remote refused every branch of a push with one and the same reason."""
    answers = {(r.status, r.message) for r in results.values()}
    return len(answers) == 1 and next(iter(answers))[0] == PushStatus.REFUSED
