"""Read run records: each branch's tips resolved once, each directory listed once, each
record parsed once per blob id.

Called by :class:`reconciler.provenance.store.ProvenanceStore` (``load``, ``get``,
``scan``) for the run engine, ``history``, ``status`` and review. A :class:`RecordIndex` is one
consistent view of some branches (made per reconcile); a :class:`RecordCache` holds parsed
records by Git blob id and lives as long as the store (the daemon keeps it between
reconciles): a record that did not change is never read or parsed again. Records are
content-addressed, so the cache needs no invalidation; it is bounded (least recently used
out).

Sources, first one wins per path: the remote-tracking ref (as of the last fetch), the local
branch, then the outbox (written but not yet in Git), so a run with a queued record is never
started again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.provenance.outbox import OutboxEntry
from reconciler.provenance.plumbing import GitRepo
from reconciler.provenance.records import (
    Promotion,
    RunRecord,
    StepRecord,
    _promotion_from,
    _promotion_to_dict,
    _step_from_dict,
    _step_to_dict,
    record_path,
    records_dir,
)
from reconciler.source.objects import BLOB_MODES as _BLOB_MODES
from reconciler.structs.errors import ProvenanceError
from reconciler.structs.runs import RunStatus

DEFAULT_RECORDS = 2048
"""Parsed records a cache keeps in full."""
DEFAULT_SUMMARIES = 200_000
"""Record summaries a cache keeps (a few hundred bytes each)."""


@dataclass(frozen=True)
class RecordSummary:
    """What the run engine needs to know of a record, with the record's own field names.

    The run, its status and why it ended (``reason``, ``superseded_by``, the failed steps
    in ``steps``: only those, as a failure reason reads them), its promotion and model. Kept
    for every record a store has read, so it stays small.
    """

    path: str
    run: str
    attempt: int
    run_name: str
    status: RunStatus
    reason: str
    superseded_by: str | None
    promotion: Promotion | None
    promoted: bool
    model_output: str | None
    steps: tuple[StepRecord, ...] = ()

    @classmethod
    def of(cls, record: RunRecord) -> RecordSummary:
        """Summarise a parsed record."""
        return cls(
            path=record.path,
            run=record.run,
            attempt=record.attempt,
            run_name=record.run_name,
            status=record.status,
            reason=record.reason,
            superseded_by=record.superseded_by,
            promotion=record.promotion,
            promoted=record.promoted,
            model_output=record.model_output,
            steps=tuple(s for s in record.steps if s.status == RunStatus.FAILED),
        )

    def to_json(self) -> dict[str, Any]:
        """Return the summary as JSON data (:meth:`from_json` reads it back exactly)."""
        return {
            "path": self.path,
            "run": self.run,
            "attempt": self.attempt,
            "run_name": self.run_name,
            "status": str(self.status),
            "reason": self.reason,
            "superseded_by": self.superseded_by,
            "promotion": _promotion_to_dict(self.promotion),
            "promoted": self.promoted,
            "model_output": self.model_output,
            "steps": [{**_step_to_dict(s), "metrics": s.metrics} for s in self.steps],
        }

    @classmethod
    def from_json(cls, data: Any) -> RecordSummary:
        """Read :meth:`to_json`'s data; KeyError/TypeError/ValueError if it is not that."""
        steps = []
        for item in data["steps"]:
            step = _step_from_dict(item)
            step.metrics = dict(item.get("metrics") or {})
            steps.append(step)
        return cls(
            path=str(data["path"]),
            run=str(data["run"]),
            attempt=int(data["attempt"]),
            run_name=str(data["run_name"]),
            status=RunStatus(data["status"]),
            reason=str(data["reason"]),
            superseded_by=data["superseded_by"],
            promotion=_promotion_from(data["promotion"]),
            promoted=bool(data["promoted"]),
            model_output=data["model_output"],
            steps=tuple(steps),
        )


@dataclass(frozen=True)
class Scan:
    """Records read for one pipeline, newest first, and the files that could not be parsed.

    ``origins`` maps a record's path to where it was read: ``remote`` (the remote-tracking
    ref), ``local`` (the local branch) or ``outbox`` (written, not yet in Git/pushed).
    """

    records: list[RunRecord]
    errors: list[ProvenanceError]
    origins: dict[str, str] = field(default_factory=dict)


class RecordCache:
    """Parsed records and their summaries by blob id, least recently used out; thread-safe.

    ``persisted`` (a :class:`~reconciler.source.caches.Table` the store writes to its state
    directory) keeps summaries as JSON beyond the process: the next ``reconciler sync``
    parses only records it has not seen.
    """

    def __init__(
        self,
        *,
        records: int = DEFAULT_RECORDS,
        summaries: int = DEFAULT_SUMMARIES,
        persisted: MutableMapping[str, Any] | None = None,
    ):
        self.max_records = records
        self.max_summaries = summaries
        self.persisted = persisted
        self._records: OrderedDict[str, RunRecord] = OrderedDict()
        self._summaries: OrderedDict[str, RecordSummary] = OrderedDict()
        self._lock = threading.Lock()
        self.parsed = 0
        """Records parsed so far (a figure for benchmarks and tests)."""

    def record(self, oid: str, read: Callable[[], bytes], where: str) -> RunRecord:
        """Return the record of blob ``oid``, parsing ``read()`` on a miss.

        Raises ProvenanceError naming ``where`` if the bytes are not a record. A record is
        returned as a fresh copy only in the sense that callers must not modify it.
        """
        with self._lock:
            found = self._records.get(oid)
            if found is not None:
                self._records.move_to_end(oid)
                return found
        record = RunRecord.from_yaml(read(), path=where)
        summary = RecordSummary.of(record)
        with self._lock:
            self.parsed += 1
            self._put(self._records, oid, record, self.max_records)
            self._put(self._summaries, oid, summary, self.max_summaries)
        if self.persisted is not None:
            self.persisted[oid] = summary.to_json()
        return record

    def summary(self, oid: str, read: Callable[[], bytes], where: str) -> RecordSummary:
        """Return the summary of blob ``oid`` (parsing the record once on a miss)."""
        with self._lock:
            found = self._summaries.get(oid)
            if found is not None:
                self._summaries.move_to_end(oid)
                return found
        kept = self.persisted.get(oid) if self.persisted is not None else None
        if kept is not None:
            try:
                summary = RecordSummary.from_json(kept)
            except (KeyError, TypeError, ValueError, ProvenanceError):
                pass  # not what this version writes: parse the record again
            else:
                with self._lock:
                    self._put(self._summaries, oid, summary, self.max_summaries)
                return summary
        return RecordSummary.of(self.record(oid, read, where))

    @staticmethod
    def _put(table: OrderedDict[str, Any], oid: str, value: object, limit: int) -> None:
        table[oid] = value
        table.move_to_end(oid)
        while len(table) > max(0, limit):
            table.popitem(last=False)

    def __len__(self) -> int:
        return len(self._summaries)


@dataclass(frozen=True)
class _Source:
    """Where one record file was found: origin, a ``ref:path`` label, blob id, outbox text."""

    origin: str
    where: str
    oid: str
    text: bytes | None = None


class RecordIndex:
    """A view of the records on provenance branches, read lazily, each part once.

    Made by ``ProvenanceStore.load``. Branch tips are resolved on first use of a branch and
    kept for the life of the index (one consistent view per reconcile); each records
    directory (``runs/<env>/<pipeline>``) is listed once; each record is parsed once per
    blob id, in the shared :class:`RecordCache`. Records queued while the index is in use
    (:meth:`note`) are visible at once.
    """

    def __init__(
        self,
        git: GitRepo,
        *,
        remote: str | None,
        outbox: Iterable[OutboxEntry],
        cache: RecordCache,
    ) -> None:
        self.git = git
        self.remote = remote
        self.cache = cache
        self._outbox: dict[str, dict[str, OutboxEntry]] = {}
        for entry in outbox:
            self._outbox.setdefault(entry.branch, {})[entry.path] = entry
        self._tips: dict[str, list[tuple[str, str, str]]] = {}
        self._dirs: dict[tuple[str, str], dict[str, _Source]] = {}
        self._lock = threading.RLock()

    def preload(self, branches: Iterable[str]) -> None:
        """Resolve the tips of ``branches`` now (one pass over the refs)."""
        for branch in dict.fromkeys(branches):
            self._branch_tips(branch)

    def note(self, entry: OutboxEntry) -> None:
        """Make a record queued after this index was made visible to it."""
        with self._lock:
            self._outbox.setdefault(entry.branch, {}).setdefault(entry.path, entry)
            directory = entry.path.rsplit("/", 1)[0]
            listed = self._dirs.get((entry.branch, directory))
            if listed is not None and entry.path not in listed:
                listed[entry.path] = _outbox_source(self.git, entry)

    # ------------------------------------------------------------------ lookups

    def get(self, branch: str, env: str, pipeline: str, run_name: str) -> RunRecord | None:
        """Return the record of one run, or None; ProvenanceError if it cannot be parsed."""
        source = self._source(branch, env, pipeline, run_name)
        return None if source is None else self._record(source)

    def summary(self, branch: str, env: str, pipeline: str, run_name: str) -> RecordSummary | None:
        """Return what the engine needs of one run's record, or None (see :meth:`get`)."""
        source = self._source(branch, env, pipeline, run_name)
        if source is None:
            return None
        return self.cache.summary(source.oid, lambda: self._bytes(source), source.where)

    def scan(self, branch: str, env: str, pipeline: str) -> Scan:
        """Read every record of a pipeline on ``branch``, newest first; bad files as errors."""
        listing = self._directory(branch, records_dir(env, pipeline))
        records: list[RunRecord] = []
        errors: list[ProvenanceError] = []
        for source in listing.values():
            try:
                records.append(self._record(source))
            except ProvenanceError as exc:
                errors.append(exc)
        records.sort(key=lambda r: (r.sort_time, r.attempt, r.run_name), reverse=True)
        return Scan(records, errors, {p: s.origin for p, s in listing.items()})

    # ------------------------------------------------------------------ reading

    def _source(self, branch: str, env: str, pipeline: str, run_name: str) -> _Source | None:
        path = record_path(env, pipeline, run_name)
        return self._directory(branch, path.rsplit("/", 1)[0]).get(path)

    def _record(self, source: _Source) -> RunRecord:
        return self.cache.record(source.oid, lambda: self._bytes(source), source.where)

    def _bytes(self, source: _Source) -> bytes:
        if source.text is not None:
            return source.text
        return self.git.read_blob(source.oid) or b""

    def _branch_tips(self, branch: str) -> list[tuple[str, str, str]]:
        """Return ``(origin, label, commit)`` of the refs a branch is read from, in order."""
        with self._lock:
            found = self._tips.get(branch)
            if found is None:
                refs = [("remote", f"refs/remotes/{self.remote}/{branch}")] if self.remote else []
                refs.append(("local", f"refs/heads/{branch}"))
                found = []
                for origin, ref in refs:
                    tip = self.git.tip(ref)
                    if tip is not None:
                        label = ref.removeprefix("refs/heads/").removeprefix("refs/remotes/")
                        found.append((origin, label, tip))
                self._tips[branch] = found
            return found

    def _directory(self, branch: str, directory: str) -> dict[str, _Source]:
        """Return ``{path: source}`` of the ``.yaml`` files directly in a records directory."""
        with self._lock:
            listed = self._dirs.get((branch, directory))
            if listed is not None:
                return listed
            listed = {}
            for origin, label, tip in self._branch_tips(branch):
                tree = self.git.tree_of(tip, directory)
                if tree is None:
                    continue
                for item in tree:
                    name = str(item.name)
                    if name.endswith(".yaml") and item.filemode in _BLOB_MODES:
                        path = f"{directory}/{name}"
                        listed.setdefault(path, _Source(origin, f"{label}:{path}", str(item.id)))
            for path, entry in self._outbox.get(branch, {}).items():
                if path.rsplit("/", 1)[0] == directory and path not in listed:
                    listed[path] = _outbox_source(self.git, entry)
            self._dirs[(branch, directory)] = listed
            return listed


def _outbox_source(git: GitRepo, entry: OutboxEntry) -> _Source:
    data = entry.text.encode()
    return _Source("outbox", f"outbox:{entry.path}", git.hash_blob(data, write=False), data)
