"""The provenance store: write run records to Git (outbox, commit, push) and read them back.

Called by the run engine (``write`` when a run ends, ``fetch`` + ``get``/``records`` before
starting one, ``flush`` on every reconcile) and by ``reconciler history``/``status``.

Writing, for one branch (the environment's provenance branch, already resolved)::

    outbox (atomic file)  ->  fetch the branch  ->  commit the record on the remote tip
    (plumbing, no checkout)  ->  push (never forced)  ->  remove from the outbox

A push rejected because the branch moved (another reconciler pushed first) fetches the new
tip and commits the record again on it, with exponential backoff and full jitter, a bounded
number of times. Every commit's parent is the tip it was built on and every push is a
fast-forward, so history stays linear. Before committing, the tip is checked for the record's
path: the same bytes mean it is already there (no new commit); different bytes mean another
writer recorded this run differently: the existing record is kept and a conflict reported.
So no record is lost or written twice. A remote that cannot be reached leaves the record in
the outbox (``pending``), and ``flush`` delivers it later, also after a restart.

Without a remote the record is committed to the local branch with a compare-and-swap
``update-ref``. A branch that does not exist yet starts as an orphan root commit holding only
``runs/`` (so it never shares history with, or triggers a render of, the spec branches).

Reading merges three sources, first one wins per path: the remote-tracking ref (as of the
last fetch), the local branch, and the outbox, so a record written but not yet pushed is
visible and a run is never started twice.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from reconciler.provenance.outbox import Outbox, OutboxEntry, entry_key
from reconciler.provenance.plumbing import (
    FetchRaced,
    GitRepo,
    PushStatus,
    RemoteUnreachable,
    parse_author,
)
from reconciler.provenance.records import RunRecord, record_path, records_dir
from reconciler.structs.errors import ProvenanceError

log = logging.getLogger(__name__)

DEFAULT_AUTHOR = "reconciler <reconciler@localhost>"


class Outcome(StrEnum):
    """What became of one record."""

    WRITTEN = "written"
    """Committed (and pushed, when there is a remote)."""
    UNCHANGED = "unchanged"
    """The branch already held this exact record: no new commit."""
    CONFLICT = "conflict"
    """The branch (or the outbox) already held a different record for this run; it was kept."""
    PENDING = "pending"
    """Waiting in the outbox (remote unreachable, or lost every retry); ``flush`` delivers it."""


@dataclass(frozen=True)
class WriteResult:
    """The outcome of delivering one record; ``commit`` is the commit that holds it, if any."""

    branch: str
    path: str
    outcome: Outcome
    commit: str | None = None
    message: str = ""
    attempts: int = 1
    """Fetch-commit-push cycles it took (more than 1: the branch moved under a push)."""

    @property
    def pending(self) -> bool:
        """True if the record is still only in the outbox."""
        return self.outcome == Outcome.PENDING

    @property
    def stored(self) -> bool:
        """True if the branch now holds a record for this run (this one or an earlier one)."""
        return self.outcome != Outcome.PENDING


@dataclass(frozen=True)
class FlushResult:
    """The outcome of one ``flush``: one result per record that was pending."""

    results: list[WriteResult] = field(default_factory=list)

    @property
    def pending(self) -> int:
        """How many records are still waiting."""
        return sum(r.pending for r in self.results)

    @property
    def delivered(self) -> int:
        """How many records left the outbox (written, already there, or conflicting)."""
        return sum(r.stored for r in self.results)


@dataclass(frozen=True)
class PendingRecord:
    """A record waiting in the outbox, and why (the last delivery error, if one was seen)."""

    branch: str
    path: str
    run_name: str
    queued_at: datetime
    last_error: str = ""


@dataclass(frozen=True)
class RetryPolicy:
    """How often a lost push race is retried: ``attempts`` in all, with full-jitter backoff.

    The n-th wait is uniform in ``[0, min(maximum, initial * 2**n)]`` seconds.
    """

    attempts: int = 10
    initial: float = 0.05
    maximum: float = 2.0


@dataclass(frozen=True)
class Scan:
    """Records read for one pipeline, newest first, and the files that could not be parsed.

    ``origins`` maps a record's path to where it was read: ``remote`` (the remote-tracking
    ref), ``local`` (the local branch) or ``outbox`` (written, not yet in Git/pushed).
    """

    records: list[RunRecord]
    errors: list[ProvenanceError]
    origins: dict[str, str] = field(default_factory=dict)


class _Retry(Exception):
    """Internal: the branch moved (push rejected, ref CAS lost, fetch lock race)."""


class ProvenanceStore:
    """Run records of one repository: a clone with a work tree, or a bare cache mirror.

    ``remote`` is the remote to push to and fetch from; None, or a name the repository does
    not have, means records are only committed locally. ``state_dir`` holds the outbox and
    must survive restarts. ``author`` is used as commit author and committer. ``sinks`` are
    called with each record this store commits (not with records another writer committed
    first), e.g. :class:`reconciler.provenance.mlflow_sink.MlflowSink`; a sink that raises
    only logs a warning, since Git is the source of truth.
    """

    def __init__(
        self,
        repo: Path,
        *,
        remote: str | None = "origin",
        state_dir: Path,
        author: str = DEFAULT_AUTHOR,
        retry: RetryPolicy | None = None,
        sinks: Sequence[Callable[[RunRecord], object]] = (),
    ) -> None:
        self.git = GitRepo(Path(repo))
        parse_author(author)
        self.author = author
        self.remote = remote if remote and self.git.has_remote(remote) else None
        if remote and self.remote is None:
            log.info("provenance: %s has no remote %r; records are committed locally", repo, remote)
        self.outbox = Outbox(Path(state_dir) / "outbox")
        self.retry = retry or RetryPolicy()
        self.sinks = list(sinks)
        self._errors: dict[str, str] = {}
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ writing

    def write(self, branch: str, record: RunRecord) -> WriteResult:
        """Record a finished run on ``branch``: outbox first, then commit and push.

        Never raises because Git or the remote failed: the result is then ``PENDING`` and the
        record waits in the outbox for :meth:`flush`. Raises ProvenanceError only for a record
        that cannot be serialised, an invalid branch name, or if even the outbox write fails.
        Other records pending for the same branch are delivered along with this one.
        """
        text = record.to_yaml()
        path = record.path
        if not self.git.valid_branch(branch):
            raise ProvenanceError(f"invalid provenance branch name {branch!r}")
        with self._lock:
            entry, added = self.outbox.put(branch, path, text)
            if not added and entry.text != text:
                message = (
                    f"{path}: a different record for run {record.run_name} is already queued "
                    f"for {branch}; kept the queued one"
                )
                log.error("provenance: %s", message)
                return WriteResult(branch, path, Outcome.CONFLICT, message=message)
            results = self._deliver(branch, self.outbox.entries(branch))
        return next(
            (r for r in results if r.path == path),
            WriteResult(branch, path, Outcome.PENDING, message="not delivered"),
        )

    def flush(self) -> FlushResult:
        """Deliver every record waiting in the outbox, branch by branch, oldest first."""
        with self._lock:
            results: list[WriteResult] = []
            entries = self.outbox.entries()
            for branch in dict.fromkeys(e.branch for e in entries):
                results.extend(self._deliver(branch, [e for e in entries if e.branch == branch]))
        return FlushResult(results)

    def pending(self) -> list[PendingRecord]:
        """Return the records waiting in the outbox, oldest first, with their last error."""
        return [
            PendingRecord(e.branch, e.path, e.run_name, e.queued_at, self._errors.get(e.key, ""))
            for e in self.outbox.entries()
        ]

    def _deliver(self, branch: str, entries: list[OutboxEntry]) -> list[WriteResult]:
        """Put the entries on the branch; remove the delivered ones from the outbox."""
        if not entries:
            return []
        try:
            if self.remote is not None:
                results = self._deliver_remote(self.remote, branch, entries)
            else:
                results = self._deliver_local(branch, entries)
        except ProvenanceError as exc:  # an unexpected git failure: keep them queued
            results = [_pending(branch, e, str(exc)) for e in entries]
        for entry, result in zip(entries, results, strict=True):
            if result.pending:
                self._errors[entry.key] = result.message
                log.warning("provenance: %s pending for %s: %s", entry.path, branch, result.message)
                continue
            if result.outcome == Outcome.CONFLICT:
                log.error("provenance: %s", result.message)
            self.outbox.remove(entry.key)
            self._errors.pop(entry.key, None)
            if result.outcome == Outcome.WRITTEN and self.sinks:
                self._notify_sinks(entry)
        return results

    def _notify_sinks(self, entry: OutboxEntry) -> None:
        """Hand a committed record to every sink; a failing sink only logs a warning."""
        try:
            record = RunRecord.from_yaml(entry.text, path=entry.path)
        except ProvenanceError as exc:
            log.warning("provenance: sinks skipped for %s: %s", entry.path, exc)
            return
        for sink in self.sinks:
            try:
                sink(record)
            except Exception as exc:
                log.warning("provenance: sink %r failed for %s: %s", sink, entry.path, exc)

    def _retrying(self) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(max(1, self.retry.attempts)),
            wait=wait_random_exponential(multiplier=self.retry.initial, max=self.retry.maximum),
            retry=retry_if_exception_type(_Retry),
            reraise=True,
        )

    def _deliver_local(self, branch: str, entries: list[OutboxEntry]) -> list[WriteResult]:
        """Commit to the local branch with compare-and-swap; no remote involved."""
        if branch in self.git.checked_out_branches():
            message = (
                f"branch {branch} is checked out in a work tree of {self.git.path}; committing "
                "to it would leave that work tree out of date (configure a remote, or a "
                "provenance branch that is not checked out)"
            )
            return [_pending(branch, e, message) for e in entries]
        ref = f"refs/heads/{branch}"
        try:
            for attempt in self._retrying():
                with attempt:
                    base = self.git.tip(ref)
                    tip, results = self._commit_on(branch, base, entries)
                    if tip is not None and not self.git.update_ref(
                        ref, tip, base, message="reconciler: provenance"
                    ):
                        raise _Retry(f"{ref} moved while committing")
                    return _with_attempts(results, attempt.retry_state.attempt_number)
        except _Retry as exc:
            return [_pending(branch, e, f"gave up after retries: {exc}") for e in entries]
        raise AssertionError("unreachable")  # pragma: no cover

    def _deliver_remote(
        self, remote: str, branch: str, entries: list[OutboxEntry]
    ) -> list[WriteResult]:
        """Fetch, commit on the remote tip, push; on rejection start over on the new tip."""
        tracking = f"refs/remotes/{remote}/{branch}"
        try:
            for attempt in self._retrying():
                with attempt:
                    try:
                        present = self.git.fetch_branch(remote, branch)
                    except FetchRaced as exc:
                        raise _Retry(str(exc)) from exc
                    before = self.git.tip(tracking)
                    base = before if present else None
                    tip, results = self._commit_on(branch, base, entries)
                    if tip is None:
                        self._advance_local(branch, base)
                        return _with_attempts(results, attempt.retry_state.attempt_number)
                    pushed = self.git.push(remote, tip, branch)
                    if pushed.status == PushStatus.REJECTED:
                        log.info(
                            "provenance: push of %s rejected (%s), retrying", branch, pushed.message
                        )
                        raise _Retry(f"push to {remote} rejected: {pushed.message}")
                    if pushed.status == PushStatus.UNREACHABLE:
                        return [_pending(branch, e, pushed.message) for e in entries]
                    if pushed.status == PushStatus.REFUSED:
                        message = f"push to {remote} refused: {pushed.message}"
                        return [_pending(branch, e, message) for e in entries]
                    if pushed.status == PushStatus.UP_TO_DATE:
                        # Another writer made the very same commits (same parent, record,
                        # author and second) and pushed them first: they are not ours.
                        results = [
                            dataclasses.replace(r, outcome=Outcome.UNCHANGED)
                            if r.outcome == Outcome.WRITTEN
                            else r
                            for r in results
                        ]
                    current = self.git.tip(tracking)
                    if current != tip:
                        self.git.update_ref(tracking, tip, current, message="reconciler: pushed")
                    self._advance_local(branch, tip)
                    return _with_attempts(results, attempt.retry_state.attempt_number)
        except RemoteUnreachable as exc:
            return [_pending(branch, e, str(exc)) for e in entries]
        except _Retry as exc:
            return [_pending(branch, e, f"gave up after retries: {exc}") for e in entries]
        raise AssertionError("unreachable")  # pragma: no cover

    def _commit_on(
        self, branch: str, base: str | None, entries: list[OutboxEntry]
    ) -> tuple[str | None, list[WriteResult]]:
        """Build one commit per new record on ``base``; return the new tip (None if no commit).

        A record whose path already exists at ``base`` is not committed: ``UNCHANGED`` if the
        bytes are the same, ``CONFLICT`` (existing record kept) if not.
        """
        existing = self.git.blob_ids(base, [e.path for e in entries]) if base else {}
        decided: dict[str, WriteResult] = {}
        to_commit: list[tuple[OutboxEntry, str]] = []
        for entry in entries:
            oid = self.git.hash_blob(entry.text.encode())
            current = existing.get(entry.path)
            if current == oid:
                decided[entry.key] = WriteResult(branch, entry.path, Outcome.UNCHANGED, base)
            elif current is not None:
                decided[entry.key] = WriteResult(
                    branch,
                    entry.path,
                    Outcome.CONFLICT,
                    base,
                    f"{entry.path}: {branch} already holds a different record for run "
                    f"{entry.run_name}; kept it (a record is never written twice)",
                )
            else:
                to_commit.append((entry, oid))
        commits = self.git.commit_files(
            base,
            [(e.path, oid, _commit_message(e)) for e, oid in to_commit],
            author=self.author,
        )
        for (entry, _), commit in zip(to_commit, commits, strict=True):
            decided[entry.key] = WriteResult(branch, entry.path, Outcome.WRITTEN, commit)
        return (commits[-1] if commits else None), [decided[e.key] for e in entries]

    def _advance_local(self, branch: str, tip: str | None) -> None:
        """Fast-forward the local branch to a pushed tip, when that is safe.

        Only if it is not checked out anywhere and the move is a fast-forward; a missing
        local branch is created only in a bare repository (a cache mirror), never in a
        user's clone.
        """
        if tip is None:
            return
        ref = f"refs/heads/{branch}"
        current = self.git.tip(ref)
        if current == tip or branch in self.git.checked_out_branches():
            return
        if current is None and not self.git.bare:
            return
        if current is not None and not self.git.is_ancestor(current, tip):
            return
        self.git.update_ref(ref, tip, current, message="reconciler: provenance fast-forward")

    # ------------------------------------------------------------------ reading

    def fetch(self, branches: Sequence[str] | None = None) -> None:
        """Update the remote-tracking refs of ``branches`` (every branch if None).

        A branch the remote does not have is skipped. No-op without a remote. Raises
        ProvenanceError (RemoteUnreachable) if the remote cannot be read.
        """
        if self.remote is None:
            return
        remote = self.remote
        for attempt in self._retrying():
            with attempt:
                try:
                    if branches is None:
                        self.git.fetch_all(remote)
                    else:
                        for branch in dict.fromkeys(branches):
                            self.git.fetch_branch(remote, branch)
                except FetchRaced as exc:
                    raise _Retry(str(exc)) from exc

    def _read_refs(self, branch: str) -> list[str]:
        refs = [f"refs/remotes/{self.remote}/{branch}"] if self.remote else []
        return [*refs, f"refs/heads/{branch}"]

    def branches_with_records(self, env: str, pipeline: str) -> list[str]:
        """Return every branch holding records of a pipeline in an environment, sorted.

        Looks at local branches, remote-tracking branches (as of the last fetch) and the
        outbox; used for ``provenanceBranch: "{source}"``, where each triggering branch
        carries its own records.
        """
        directory = records_dir(env, pipeline)
        patterns = ["refs/heads/"] + ([f"refs/remotes/{self.remote}/"] if self.remote else [])
        refs = self.git.refs(*patterns)
        found: set[str] = set()
        if refs:
            names = list(refs)
            lines = "".join(f"{refs[n]}:{directory}\n" for n in names).encode()
            out = (
                self.git.run("cat-file", "--batch-check=%(objecttype)", input=lines)
                .stdout.decode()
                .splitlines()
            )
            for name, kind in zip(names, out, strict=True):
                if kind.strip() == "tree":
                    short = name.removeprefix("refs/heads/")
                    if self.remote:
                        short = short.removeprefix(f"refs/remotes/{self.remote}/")
                    if short != "HEAD":
                        found.add(short)
        found |= {e.branch for e in self.outbox.entries() if e.path.startswith(directory + "/")}
        return sorted(found)

    def scan(self, branch: str, env: str, pipeline: str) -> Scan:
        """Read every record of a pipeline in an environment on ``branch``, newest first.

        Files that are not valid records are returned as errors (naming ``ref:path``) rather
        than raised, so one bad file does not hide the others.
        """
        directory = records_dir(env, pipeline)
        texts: dict[str, tuple[str, bytes]] = {}
        origins: dict[str, str] = {}
        for ref in self._read_refs(branch):
            tip = self.git.tip(ref)
            if tip is None:
                continue
            blobs = {
                p: oid
                for p, oid in self.git.list_blobs(tip, directory).items()
                if p.endswith(".yaml") and "/" not in p[len(directory) + 1 :]
            }
            contents = self.git.read_blobs(blobs.values())
            short = ref.removeprefix("refs/heads/").removeprefix("refs/remotes/")
            for path, oid in blobs.items():
                texts.setdefault(path, (f"{short}:{path}", contents.get(oid, b"")))
                origins.setdefault(path, "remote" if ref.startswith("refs/remotes/") else "local")
        for entry in self.outbox.entries(branch):
            if entry.path.startswith(directory + "/"):
                texts.setdefault(entry.path, (f"outbox:{entry.path}", entry.text.encode()))
                origins.setdefault(entry.path, "outbox")
        records: list[RunRecord] = []
        errors: list[ProvenanceError] = []
        for where, data in texts.values():
            try:
                records.append(RunRecord.from_yaml(data, path=where))
            except ProvenanceError as exc:
                errors.append(exc)
        records.sort(key=lambda r: (r.sort_time, r.attempt, r.run_name), reverse=True)
        return Scan(records, errors, origins)

    def records(self, branch: str, env: str, pipeline: str) -> list[RunRecord]:
        """Return every record of a pipeline in an environment, newest (finished) first.

        Raises ProvenanceError naming the file if any record cannot be parsed.
        """
        scan = self.scan(branch, env, pipeline)
        if scan.errors:
            raise scan.errors[0]
        return scan.records

    def get(self, branch: str, env: str, pipeline: str, run_name: str) -> RunRecord | None:
        """Return the record of one run (run name, e.g. ``abc123`` or ``abc123-2``), or None.

        Looks at the remote-tracking ref, the local branch, then the outbox. Raises
        ProvenanceError naming the file if the record exists but cannot be parsed (so a
        corrupt record never looks like a run that still has to be started).
        """
        path = record_path(env, pipeline, run_name)
        for ref in self._read_refs(branch):
            tip = self.git.tip(ref)
            if tip is None:
                continue
            oid = self.git.blob_ids(tip, [path]).get(path)
            if oid is not None:
                data = self.git.read_blobs([oid]).get(oid, b"")
                short = ref.removeprefix("refs/heads/").removeprefix("refs/remotes/")
                return RunRecord.from_yaml(data, path=f"{short}:{path}")
        entry = self.outbox.get(entry_key(branch, path))
        if entry is not None:
            return RunRecord.from_yaml(entry.text, path=f"outbox:{path}")
        return None


def _with_attempts(results: list[WriteResult], attempts: int) -> list[WriteResult]:
    return [dataclasses.replace(r, attempts=attempts) for r in results]


def _pending(branch: str, entry: OutboxEntry, message: str) -> WriteResult:
    return WriteResult(branch, entry.path, Outcome.PENDING, message=message)


def _commit_message(entry: OutboxEntry) -> str:
    """Return the commit message of a record: a subject line and trailers."""
    try:
        rec = RunRecord.from_yaml(entry.text, path=entry.path)
    except ProvenanceError:
        return f"provenance: {entry.path}\n"
    lines = [
        f"provenance: {rec.pipeline} {rec.run_name} {rec.status} in {rec.env}",
        "",
        f"Run: {rec.run}",
        f"Attempt: {rec.attempt}",
        f"Record: {entry.path}",
    ]
    if rec.source.commit:
        lines.append(f"Source-Commit: {rec.source.commit}")
    return "\n".join(lines) + "\n"
