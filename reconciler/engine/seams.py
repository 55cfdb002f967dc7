"""What the engine needs from outside and what it hands back: Context, Source and Outcome.

Built by the CLI (``reconciler.cli.contexts`` for one-shot commands, the daemon's wiring
for ``reconciler run``) and returned by :func:`reconciler.engine.reconcile`. Nothing here
does I/O; the types are concrete (the resource manager, the provenance store), imported
for type checking only so that importing the engine stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.health.pipelines import PipelineStatus
from reconciler.render.environments import Target
from reconciler.source import caches, repos
from reconciler.structs.changesets import ChangeSet
from reconciler.structs.errors import ReconcilerError, RecordError, SpecError

if TYPE_CHECKING:
    from reconciler.apply.manager import ResourceManager
    from reconciler.provenance.store import ProvenanceStore

ManagerFor = Callable[[str | None], "ResourceManager"]
"""Return the resource manager of a kubeconfig context (None: the default context)."""


class Superseded(ReconcilerError):
    """An interruptible reconcile stopped before applying: its branch has a newer commit."""


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
    files: Path | None = None
    """A work tree holding the repository's files when ``repo`` has none of its own (the
    daemon following a clone's remote through a mirror): DVC remotes inside the repository
    are named there, as ``sync`` in that clone names them. None: ``repo``."""


@dataclass(frozen=True)
class Source:
    """The commit a reconcile renders: repository root, the branch it stands for, commit."""

    repo: Path
    branch: str
    commit: repos.Commit
    files: Path | None = None
    """Where DVC remotes inside the repository are named (``Context.files``); None: repo."""


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
