"""What the engine needs from outside and what it hands back: Context, Source and Outcome.

Built by the CLI (``reconciler.cli.contexts`` for one-shot commands, the daemon's wiring
for ``reconciler run``) and returned by :func:`reconciler.engine.reconcile`. Nothing here
does I/O; the types are concrete (the resource manager, the provenance store), imported
for type checking only so that importing the engine stays cheap.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.engine.precedence import Precedence, PrepareSlots
from reconciler.health.pipelines import PipelineStatus
from reconciler.render.environments import Prepared, Target
from reconciler.source import caches, repos
from reconciler.structs import memos
from reconciler.structs.changesets import ChangeSet
from reconciler.structs.errors import ReconcilerError, RecordError, SpecError

if TYPE_CHECKING:
    from reconciler.apply.manager import ResourceManager
    from reconciler.provenance.store import ProvenanceStore

ManagerFor = Callable[[str | None], "ResourceManager"]
"""Return the resource manager of a kubeconfig context (None: the default context)."""


class Superseded(ReconcilerError):
    """An interruptible reconcile stopped before applying: its branch has a newer commit."""


PREPARED_KEPT = 8
"""Prepared environment instances :func:`prepared_memo` keeps (two per instance: the
commit reconciled now and the one before it, for four environment instances)."""


def prepared_memo(limit: int = PREPARED_KEPT) -> memos.Memo[tuple[str, ...], Prepared]:
    """Return a memo of environment instances prepared at a commit (least recently used out).

    Keyed by what preparing reads (see :func:`reconciler.engine.preparing.prepared_key`):
    the commit (its files are fixed), the environment instance, and the DVC settings of
    the work tree that names local remotes; preparing with ``check_remote`` (which asks
    the remotes, whose answer may change) is never kept. The engine reuses what it
    prepared before: the commit a push moved the branch from (its run specs judge the
    superseded runs and tell what the push changed), and the same commit reconciled again
    (a finished step, a resync). A kept value is never mutated afterwards by the engine.
    """
    return memos.Memo(limit)


@dataclass
class Context:
    """What a reconcile needs from outside: the repository, clusters and provenance.

    ``manager_for(context)`` returns the ResourceManager for a kubeconfig context (None:
    the default context); ``provenance`` is a ProvenanceStore on the same repository;
    ``check_remote`` also asks each DVC remote whether it holds the data (``validate``);
    ``cache`` holds what render derived from content (Kustomize output by tree id, parsed
    documents, pipeline names, valid documents): in memory for the daemon's life, and in
    the state directory for one-shot commands.
    """

    repo: Path
    manager_for: ManagerFor
    provenance: ProvenanceStore
    check_remote: bool = False
    cache: caches.ContentCache = field(default_factory=caches.ContentCache)
    prepared: memos.Memo[tuple[str, ...], Prepared] = field(default_factory=prepared_memo)
    """Environment instances prepared at earlier commits (in memory, for the process's life)."""
    prepare_slots: PrepareSlots | None = None
    """How many environment instances may be prepared at once (None: any number). Preparing
    is CPU-bound (Kustomize, parsing): on a machine of few cores, several at once only make
    each one later, so the daemon lets them take turns and the first environment a push
    concerns starts its runs soonest; a reconcile waiting for a turn goes on as soon as
    another thread has prepared its commit."""
    precedence: Precedence | None = None
    """Lets full passes take turns and wait while another reconcile prepares a pushed commit
    (the daemon: see :mod:`reconciler.engine.precedence`); None: none waits for another."""
    files: Path | None = None
    """A work tree holding the repository's files when ``repo`` has none of its own (the
    daemon following a clone's remote through a mirror): DVC remotes inside the repository
    are named there, as ``sync`` in that clone names them. None: ``repo``."""

    def urgent(self, instance: str, commit: str) -> contextlib.AbstractContextManager[object]:
        """Return a context during which full passes wait, for a reconcile of a pushed commit
        (nothing without ``precedence``, or for a commit this instance had last)."""
        if self.precedence is None or not self.precedence.is_push(instance, commit):
            return contextlib.nullcontext()
        return self.precedence.urgent()

    def reached(self, instance: str, commit: str) -> None:
        """Note that ``instance``'s reconcile of ``commit`` got past its scoped pass."""
        if self.precedence is not None:
            self.precedence.seen(instance, commit)

    def full_pass(self) -> contextlib.AbstractContextManager[object]:
        """Return a context holding the turn of full passes (nothing without ``precedence``)."""
        if self.precedence is None:
            return contextlib.nullcontext()
        return self.precedence.full_pass()

    def full_pass_turn(self) -> None:
        """Wait while another reconcile is urgent (a full pass's step boundary)."""
        if self.precedence is not None:
            self.precedence.wait()


@dataclass(frozen=True)
class Source:
    """The commit a reconcile renders: repository root, the branch it stands for, commit."""

    repo: Path
    branch: str
    commit: repos.Commit
    files: Path | None = None
    """Where DVC remotes inside the repository are named (``Context.files``); None: repo."""


@dataclass
class ScopedPass:
    """What a reconcile's scoped first pass did (see :mod:`reconciler.engine.scoping`).

    ``skipped`` says why there was none ("" when it ran): the environment's first
    reconcile, an environment-level change, a pipeline removed or renamed, a render error,
    nothing changed... ``pipelines`` are the pipelines it applied (their objects only, no
    prune), ``changeset`` what it wrote, ``records`` the records of runs it finished.
    """

    pipelines: tuple[str, ...] = ()
    skipped: str = ""
    changeset: ChangeSet = field(default_factory=ChangeSet)
    records: list[str] = field(default_factory=list)
    records_pending: int = 0
    seconds: float = 0.0


@dataclass
class Outcome:
    """The result of one reconcile of one environment instance."""

    target: Target
    commit: str
    changeset: ChangeSet = field(default_factory=ChangeSet)
    pipelines: list[PipelineStatus] = field(default_factory=list)
    errors: list[SpecError | RecordError] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    records_pending: int = 0
    """Records written to the outbox whose push failed (they are pushed later)."""
    missing_operators: list[str] = field(default_factory=list)
    in_flight: bool = False
    duration: float = 0.0
    applied_commit: str = ""
    """The commit the live environment was last synced to (its Namespace annotation)."""
    dry_run: bool = False
    """True when nothing was written: the change set is what a sync would do."""
    unrecorded: list[str] = field(default_factory=list)
    """In a dry run: the finished runs (``<pipeline> run <run>``) a sync would record."""
    prune_refused: bool = False
    """True when the prune guard kept objects Git no longer has (not applied in full)."""
    scoped: ScopedPass | None = None
    """The scoped first pass, when one was asked for (its writes are in ``changeset`` too)."""

    @property
    def ok(self) -> bool:
        """True if the environment rendered and synced without any failure."""
        return not self.errors and not self.changeset.failed and not self.missing_operators

    @property
    def pending_changes(self) -> int:
        """Return the number of objects a sync would still create, configure or delete.

        After a real sync the changes were made: only failed and conflicting ones remain.
        """
        if not self.dry_run:
            return sum(1 for e in self.changeset.entries if e.action in ("failed", "conflict"))
        changing = ("created", "configured", "deleted")
        return sum(1 for e in self.changeset.entries if e.action in changing)

    @property
    def in_sync(self) -> bool:
        """True if the cluster holds what ``commit`` renders (nothing pending, applied)."""
        if not self.dry_run:
            return self.ok and not self.prune_refused
        return (
            self.pending_changes == 0 and self.applied_commit == self.commit and not self.unrecorded
        )

    @property
    def synced_commit(self) -> str:
        """Return the commit the cluster now holds: ``commit`` after a clean real sync."""
        if not self.dry_run and self.ok and not self.prune_refused:
            return self.commit
        return self.applied_commit

    def runs_by_state(self) -> dict[str, int]:
        """Count pipelines by run status."""
        out: dict[str, int] = {}
        for p in self.pipelines:
            out[p.status] = out.get(p.status, 0) + 1
        return out
