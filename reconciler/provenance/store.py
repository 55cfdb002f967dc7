"""The provenance store: write run records to Git (outbox, commit, push) and read them back.

Called by the run engine (``batch`` around a reconcile's tracking: ``write`` when a run
ends, ``get`` before starting one), the daemon (``flush`` and :mod:`redelivery` for records
left waiting) and ``reconciler history``/``status``/``review`` (``scan``, ``records``).

Writing, for every record (see :mod:`reconciler.provenance.delivery` for the Git part)::

    outbox (atomic, durable file)  ->  one fetch of the branches  ->  one commit per branch
    on its remote tip (no checkout)  ->  one push (never forced)  ->  removed from the outbox

``write`` delivers at once; ``write_many`` delivers many records in one cycle; inside
``with store.batch():`` writes only queue (durably: a recorded run is never started again
and nothing is pruned before its record is in the outbox) and the batch delivers every
queued record when it ends, one commit per branch. A remote that cannot be reached leaves
records in the outbox (``pending``); ``flush`` delivers them later, also after a restart.

Reading goes through a :class:`~reconciler.provenance.index.RecordIndex`: inside a batch,
the batch's own (one view per reconcile, every directory listed once); otherwise a fresh one
per call. Parsed records are cached by blob id for the life of the store.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from reconciler.provenance.delivery import (
    Deliverer,
    Outcome,
    RetryPolicy,
    WriteResult,
    record_summary,
)
from reconciler.provenance.index import RecordCache, RecordIndex, RecordSummary, Scan
from reconciler.provenance.outbox import Outbox, OutboxEntry, entry_key
from reconciler.provenance.plumbing import FetchRaced, GitRepo, parse_author
from reconciler.provenance.records import RunRecord, records_dir
from reconciler.source import caches
from reconciler.structs.errors import ProvenanceError

log = logging.getLogger(__name__)

DEFAULT_AUTHOR = "reconciler <reconciler@localhost>"
RECENT_RESULTS = 10_000
SUMMARIES_TABLE = "record-summaries"
"""The table of record summaries (JSON, by blob id) in ``state_dir/cache``."""
"""Delivery results remembered, for a batch whose records another thread's flush delivered."""

__all__ = [
    "DEFAULT_AUTHOR",
    "Batch",
    "FlushResult",
    "Outcome",
    "PendingRecord",
    "ProvenanceStore",
    "RecordCache",
    "RecordIndex",
    "RecordSummary",
    "RetryPolicy",
    "Scan",
    "WriteResult",
]


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


@dataclass
class Batch:
    """The records written inside one ``with store.batch():``, and what became of them.

    ``index`` is the batch's view of the records (reads inside the batch use it);
    ``results`` are filled when the batch ends.
    """

    index: RecordIndex
    queued: list[OutboxEntry] = field(default_factory=list)
    results: list[WriteResult] = field(default_factory=list)

    @property
    def pending(self) -> int:
        """How many records of this batch are still only in the outbox."""
        return sum(r.pending for r in self.results)


class ProvenanceStore:
    """Run records of one repository: a clone with a work tree, or a bare cache mirror.

    ``remote`` is the remote to push to and fetch from; None, or a name the repository does
    not have, means records are only committed locally. ``state_dir`` holds the outbox and
    must survive restarts. ``author`` is used as commit author and committer. ``sinks`` are
    called with each record this store commits (not with records another writer committed
    first), e.g. :class:`reconciler.provenance.mlflow_sink.MlflowSink`; a sink that raises
    only logs a warning, since Git is the source of truth. ``cache`` holds parsed records
    (by default a new bounded one whose record summaries are also kept, by blob id, in
    ``state_dir/cache``, written when a batch ends).
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
        cache: RecordCache | None = None,
    ) -> None:
        self.git = GitRepo(Path(repo))
        self.author = author
        name_email = parse_author(author)
        self.remote = remote if remote and self.git.has_remote(remote) else None
        if remote and self.remote is None:
            log.info("provenance: %s has no remote %r; records are committed locally", repo, remote)
        self.outbox = Outbox(Path(state_dir) / "outbox")
        self.retry = retry or RetryPolicy()
        self.deliverer = Deliverer(self.git, self.remote, name_email, self.retry)
        self.sinks = list(sinks)
        self.content = caches.ContentCache(Path(state_dir) / "cache")
        self.cache = (
            cache
            if cache is not None
            else RecordCache(persisted=self.content.table(SUMMARIES_TABLE))
        )
        self._errors: dict[str, str] = {}
        self._delivered: OrderedDict[str, WriteResult] = OrderedDict()
        self._lock = threading.RLock()
        self._local = threading.local()

    # ------------------------------------------------------------------ writing

    def write(self, branch: str, record: RunRecord) -> WriteResult:
        """Record a finished run on ``branch``: outbox first, then commit and push.

        Inside a :meth:`batch` the record is only queued (``QUEUED``) and delivered when
        the batch ends. Never raises because Git or the remote failed: the result is then
        ``PENDING`` and the record waits in the outbox for :meth:`flush`. Raises
        ProvenanceError only for a record that cannot be serialised, an invalid branch
        name, or if even the outbox write fails. Other records pending for the same branch
        are delivered along with this one.
        """
        return self.write_many([(branch, record)])[0]

    def write_many(self, items: Iterable[tuple[str, RunRecord]]) -> list[WriteResult]:
        """Record many finished runs: all queued first, then delivered in one cycle.

        One fetch, one commit per branch and one push for all of them (see
        :meth:`write`); results are in the order of ``items``.
        """
        batch: Batch | None = getattr(self._local, "batch", None)
        items = list(items)
        pairs = [(branch, record.path, record.to_yaml()) for branch, record in items]
        summaries = [record_summary(record) for _, record in items]
        for branch, _, _ in pairs:
            if not self.git.valid_branch(branch):
                raise ProvenanceError(f"invalid provenance branch name {branch!r}")
        with self._lock:
            queued = self.outbox.put_many(pairs, summaries)
            results: list[WriteResult | None] = []
            fresh: list[OutboxEntry] = []
            for (branch, path, text), (entry, added) in zip(pairs, queued, strict=True):
                if not added and entry.text != text:
                    message = (
                        f"{path}: a different record for run {entry.run_name} is already "
                        f"queued for {branch}; kept the queued one"
                    )
                    log.error("provenance: %s", message)
                    results.append(WriteResult(branch, path, Outcome.CONFLICT, message=message))
                    continue
                results.append(None)
                fresh.append(entry)
            if batch is not None:
                for entry in fresh:
                    batch.index.note(entry)
                batch.queued.extend(fresh)
                return [
                    r or WriteResult(b, p, Outcome.QUEUED)
                    for r, (b, p, _) in zip(results, pairs, strict=True)
                ]
            delivered = self._deliver({e.branch for e in fresh})
        return [
            r
            or delivered.get(entry_key(b, p))
            or WriteResult(b, p, Outcome.PENDING, message="not delivered")
            for r, (b, p, _) in zip(results, pairs, strict=True)
        ]

    @contextlib.contextmanager
    def batch(self, branches: Iterable[str] = ()) -> Iterator[Batch]:
        """Queue every record written in this thread until the block ends, then deliver them.

        Reads in the block use one :class:`RecordIndex` (``branches`` are resolved up
        front, others on first use). Records are in the outbox (durable) as soon as
        ``write`` returns; the delivery at the end never raises for Git (results say
        ``PENDING``), and runs even if the block raised. Batches do not nest.
        """
        if getattr(self._local, "batch", None) is not None:
            raise ProvenanceError("provenance batches do not nest")
        batch = Batch(self.load(branches))
        self._local.batch = batch
        try:
            yield batch
        finally:
            self._local.batch = None
            self.content.save()
            if batch.queued:
                with self._lock:
                    delivered = self._deliver({e.branch for e in batch.queued})
                    # A flush in another thread may have delivered some of them already.
                    batch.results = [
                        delivered.get(e.key)
                        or self._delivered.get(e.key)
                        or WriteResult(e.branch, e.path, Outcome.PENDING, message="not delivered")
                        for e in batch.queued
                    ]

    def flush(self) -> FlushResult:
        """Deliver every record waiting in the outbox: one cycle for all branches."""
        with self._lock:
            entries = self.outbox.entries()
            delivered = self._deliver({e.branch for e in entries}, entries)
        return FlushResult([delivered[e.key] for e in entries if e.key in delivered])

    def pending(self) -> list[PendingRecord]:
        """Return the records waiting in the outbox, oldest first, with their last error."""
        return [
            PendingRecord(e.branch, e.path, e.run_name, e.queued_at, self._errors.get(e.key, ""))
            for e in self.outbox.entries()
        ]

    def _deliver(
        self, branches: set[str], entries: list[OutboxEntry] | None = None
    ) -> dict[str, WriteResult]:
        """Deliver the outbox entries of ``branches``; update the outbox; results by key."""
        if not branches:
            return {}
        entries = self.outbox.entries() if entries is None else entries
        batches: dict[str, list[OutboxEntry]] = {}
        for entry in entries:
            if entry.branch in branches:
                batches.setdefault(entry.branch, []).append(entry)
        results = self.deliverer.deliver(batches)
        done: list[OutboxEntry] = []
        for branch_entries in batches.values():
            for entry in branch_entries:
                result = results.get(entry.key)
                if result is None or result.pending:
                    message = result.message if result else "not delivered"
                    self._errors[entry.key] = message
                    log.warning(
                        "provenance: %s pending for %s: %s", entry.path, entry.branch, message
                    )
                    continue
                if result.outcome == Outcome.CONFLICT:
                    log.error("provenance: %s", result.message)
                done.append(entry)
                self._errors.pop(entry.key, None)
                self._delivered[entry.key] = result
                while len(self._delivered) > RECENT_RESULTS:
                    self._delivered.popitem(last=False)
                if result.outcome == Outcome.WRITTEN and self.sinks:
                    self._notify_sinks(entry)
        self.outbox.remove_many([e.key for e in done])
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

    # ------------------------------------------------------------------ reading

    def fetch(self, branches: Sequence[str] | None = None) -> None:
        """Update the remote-tracking refs of ``branches`` (every branch if None).

        A branch the remote does not have is skipped. No-op without a remote. Raises
        ProvenanceError (RemoteUnreachable) if the remote cannot be read.
        """
        if self.remote is None:
            return
        remote = self.remote
        for attempt in self.deliverer.retrying(FetchRaced):
            with attempt:
                if branches is None:
                    self.git.fetch_all(remote)
                else:
                    self.git.fetch_branches(remote, branches)

    def load(self, branches: Iterable[str] = ()) -> RecordIndex:
        """Return a view of the records (``branches`` resolved now, others on first use)."""
        index = RecordIndex(
            self.git, remote=self.remote, outbox=self.outbox.entries(), cache=self.cache
        )
        index.preload(branches)
        return index

    def _index(self) -> RecordIndex:
        batch: Batch | None = getattr(self._local, "batch", None)
        return batch.index if batch is not None else self.load()

    def branches_with_records(self, env: str, pipeline: str) -> list[str]:
        """Return every branch holding records of a pipeline in an environment, sorted.

        Looks at local branches, remote-tracking branches (as of the last fetch) and the
        outbox; used for ``provenanceBranch: "{source}"``, where each triggering branch
        carries its own records.
        """
        directory = records_dir(env, pipeline)
        prefixes = ["refs/heads/"] + ([f"refs/remotes/{self.remote}/"] if self.remote else [])
        found: set[str] = set()
        for name, oid in self.git.refs(*prefixes).items():
            short = name.removeprefix("refs/heads/")
            if self.remote:
                short = short.removeprefix(f"refs/remotes/{self.remote}/")
            if short != "HEAD" and self.git.tree_id(oid, directory) is not None:
                found.add(short)
        found |= {e.branch for e in self.outbox.entries() if e.path.startswith(directory + "/")}
        return sorted(found)

    def scan(self, branch: str, env: str, pipeline: str) -> Scan:
        """Read every record of a pipeline in an environment on ``branch``, newest first.

        Files that are not valid records are returned as errors (naming ``ref:path``) rather
        than raised, so one bad file does not hide the others.
        """
        return self._index().scan(branch, env, pipeline)

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
        return self._index().get(branch, env, pipeline, run_name)

    def summary(self, branch: str, env: str, pipeline: str, run_name: str) -> RecordSummary | None:
        """Return what the engine needs of one run's record (see :meth:`get`), or None."""
        return self._index().summary(branch, env, pipeline, run_name)
