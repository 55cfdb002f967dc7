"""What the pages read from Git: run history, records, review reports, commits, branches.

Called by :mod:`reconciler.web.pages`. Every read goes through the functions the CLI uses
(:mod:`reconciler.queries.history` for ``history``, :func:`reconciler.review.reports.build_review`
for ``review``, the provenance store for records) and reads Git only, never the cluster.
Results are cached by what they are derived from: the repository's refs (one
``git for-each-ref`` per page view tells whether anything moved) and, for a review, the two
commits. A cache holds a bounded number of entries; a failed read is not cached.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from reconciler.provenance.records import RunRecord
from reconciler.provenance.store import ProvenanceStore
from reconciler.queries import history as history_query
from reconciler.review import markdown, reports
from reconciler.source import repos
from reconciler.structs.errors import ReconcilerError
from reconciler.web import redaction

T = TypeVar("T")
CACHE_ENTRIES = 256


@dataclass(frozen=True)
class CommitView:
    """One commit as the commit page shows it (subject and paths pass redaction)."""

    sha: str
    subject: str
    author: str
    date: datetime
    paths: tuple[str, ...]


class _Cache:
    """A small LRU of computed values keyed by (what, inputs, refs fingerprint)."""

    def __init__(self, size: int = CACHE_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._size = size

    def get(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                value: T = self._items[key]
                return value
        value = compute()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


class Readers:
    """Git-side reads for one repository and its provenance store.

    ``files``: the work tree holding the repository's files when ``root`` is the daemon's
    mirror of a clone's remote (``engine.Context.files``); reviews render with it.
    """

    def __init__(self, root: Path, store: ProvenanceStore, files: Path | None = None) -> None:
        self.root = root
        self.store = store
        self.files = files
        self._cache = _Cache()

    def refs_fingerprint(self) -> str:
        """Return a hash of every ref and the outbox: it changes when any record may have."""
        refs = repos.git(self.root, "for-each-ref", "--format=%(objectname) %(refname)")
        pending = ",".join(sorted(p.path for p in self.store.pending()))
        return hashlib.sha256(refs + pending.encode()).hexdigest()

    def history(self, pipeline: str, env: str) -> history_query.History:
        """Return ``reconciler history PIPELINE --env ENV``'s answer (rows newest first)."""
        key = ("history", pipeline, env, self.refs_fingerprint())
        return self._cache.get(key, lambda: history_query.collect(self.store, pipeline, only=env))

    def row(self, pipeline: str, env: str, run: str) -> history_query.Row | None:
        """Return the history row of one run (its record and branch), or None if unrecorded."""
        for h in self.history(pipeline, env).environments:
            for row in h.rows:
                if row.record.run_name == run:
                    return row
        return None

    def record(self, pipeline: str, env: str, run: str) -> RunRecord | None:
        """Return the provenance record of one run, or None."""
        row = self.row(pipeline, env, run)
        return row.record if row is not None else None

    def review(self, spec: str) -> tuple[reports.Review, str]:
        """Return the review of ``BASE..HEAD`` and its Markdown (``reconciler review``'s)."""
        base, head = reports.parse_range(spec)
        shas = (repos.resolve(self.root, base), repos.resolve(self.root, head))
        key = ("review", spec, shas, self.refs_fingerprint())

        def build() -> tuple[reports.Review, str]:
            review = reports.build_review(self.root, spec, provenance=self.store, files=self.files)
            for env in review.environments:
                for change in env.objects:
                    change.diff = redaction.redact_diff(change.ref, change.diff)
            return review, redaction.redact_text(markdown.format_markdown(review))

        return self._cache.get(key, build)

    def commit(self, sha: str) -> CommitView:
        """Return one commit (SourceError if there is no such commit)."""
        full = repos.resolve(self.root, sha)

        def build() -> CommitView:
            out = repos.git(self.root, "log", "-1", "--format=%H%x00%an%x00%at%x00%s", full)
            sha_, author, at, subject = out.decode().rstrip("\n").split("\x00", 3)
            return CommitView(
                sha=sha_,
                subject=redaction.redact_text(subject),
                author=author,
                date=datetime.fromtimestamp(int(at), UTC),
                paths=tuple(repos.changed_paths(self.root, full)),
            )

        return self._cache.get(("commit", full), build)

    def branches(self) -> list[str]:
        """Return the branches a review can name (local and ``origin``'s)."""
        return [b for b in repos.branches(self.root) if not b.startswith(("experiments/", "runs/"))]

    def head(self, branch: str) -> str:
        """Return the newest spec commit of a branch (``""`` if it cannot be read)."""
        try:
            return repos.spec_commit(self.root, repos.branch_ref(self.root, branch)).sha
        except ReconcilerError:
            return ""
