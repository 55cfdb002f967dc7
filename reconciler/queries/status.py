"""Each environment instance's sync state and health, as Argo CD users know them.

Called by ``reconciler status`` (from a dry-run reconcile: nothing is written, not even a
record) and by the web page (from the daemon's last outcome of each environment). Two
separate answers, never folded into one word:

sync (does the cluster match Git?)
    Synced: the Namespace says the branch's commit was applied and a dry run changes
    nothing; OutOfSync: something would change, a newer commit was never applied, or a
    finished run is not recorded yet
    (an environment never synced with changes pending is OutOfSync, never Healthy);
    Unknown: the environment could not be compared (it does not render, the cluster
    cannot be reached).
health (is what runs there well?)
    The worst health of its pipelines (:mod:`reconciler.health.pipelines`): a failed run is
    Degraded, a pipeline that should serve but has no model is Missing, a step whose status
    cannot be read is Unknown; Unknown as well when the environment could not be compared.

``--check`` fails (:attr:`EnvironmentStatus.problem`) when an environment is not Synced
and Healthy, or reported errors.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reconciler import engine
from reconciler.health import Health, HealthStatus, worst
from reconciler.render import environments
from reconciler.structs.errors import ReconcilerError, SpecErrors

PENDING_ACTIONS = ("created", "configured", "deleted")


class SyncState(StrEnum):
    """Whether the cluster matches Git (Argo CD's names)."""

    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    UNKNOWN = "Unknown"


@dataclass
class EnvironmentStatus:
    """One environment instance: where Git is, what was applied, sync state and health."""

    env: str
    branch: str
    namespace: str
    sync: SyncState
    health: HealthStatus
    commit: str = ""
    applied_commit: str = ""
    pending: list[str] = field(default_factory=list)
    """``Kind/ns/name action`` of every change a sync would make."""
    pipelines: list[engine.PipelineStatus] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unrecorded: list[str] = field(default_factory=list)
    """``<pipeline> run <run>`` of each finished run a sync would still record."""

    @property
    def sync_reason(self) -> str:
        """Why the sync state is what it is, in words."""
        if self.sync == SyncState.UNKNOWN:
            return "; ".join(self.errors[:1]) or "not compared"
        if not self.applied_commit:
            return f"never synced: {len(self.pending)} change(s) pending"
        parts = []
        if self.applied_commit != self.commit:
            parts.append(f"applied {self.applied_commit[:12]}, branch at {self.commit[:12]}")
        if self.pending:
            parts.append(f"{len(self.pending)} change(s) pending")
        if self.unrecorded:
            parts.append(f"finished, not recorded yet: {', '.join(self.unrecorded)}")
        return "; ".join(parts) or f"at {self.commit[:12]}"

    @property
    def problem(self) -> bool:
        """True if ``status --check`` should fail: not Synced, not Healthy, or errors."""
        return (
            self.sync != SyncState.SYNCED
            or self.health.status != Health.HEALTHY
            or bool(self.errors)
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (``status -o json`` and the web page)."""
        return {
            "env": self.env,
            "branch": self.branch,
            "namespace": self.namespace,
            "commit": self.commit,
            "appliedCommit": self.applied_commit,
            "sync": {"status": str(self.sync), "reason": self.sync_reason},
            "health": self.health.to_dict(),
            "inSync": self.sync == SyncState.SYNCED,
            "pendingChanges": len(self.pending),
            "pending": self.pending,
            "unrecorded": self.unrecorded,
            "pipelines": [p.to_dict() for p in self.pipelines],
            "errors": self.errors,
        }


def of_outcome(outcome: engine.Outcome) -> EnvironmentStatus:
    """Return the status an engine outcome shows (a dry run's, or the daemon's last sync's).

    A pending change, or a branch commit other than the applied one, is OutOfSync; after a
    real sync, what failed or conflicted is pending (``Outcome.in_sync``).
    """
    t = outcome.target
    actions = PENDING_ACTIONS if outcome.dry_run else ("failed", "conflict")
    pending = [str(e) for e in outcome.changeset.entries if e.action in actions]
    in_sync = outcome.in_sync
    errors = [str(e) for e in outcome.errors] + [
        f"missing operator: {op}" for op in outcome.missing_operators
    ]
    errors += [str(e) for e in outcome.changeset.entries if e.action in ("failed", "conflict")]
    health = worst(
        HealthStatus(Health(p.health), f"{p.name}: {p.reason}") for p in outcome.pipelines
    )
    if health.status == Health.HEALTHY:
        health = HealthStatus(Health.HEALTHY)
    return EnvironmentStatus(
        env=t.env,
        branch=t.branch,
        namespace=t.namespace,
        sync=SyncState.SYNCED if in_sync else SyncState.OUT_OF_SYNC,
        health=health,
        commit=outcome.commit,
        applied_commit=outcome.synced_commit,
        pending=pending,
        pipelines=list(outcome.pipelines),
        errors=errors,
        unrecorded=list(outcome.unrecorded),
    )


def of_failure(target: environments.Target, error: str) -> EnvironmentStatus:
    """Return the status of an environment that could not be compared: Unknown, Unknown."""
    return EnvironmentStatus(
        env=target.env,
        branch=target.branch,
        namespace=target.namespace,
        sync=SyncState.UNKNOWN,
        health=HealthStatus(Health.UNKNOWN, error),
        errors=[error],
    )


def environment_statuses(
    ctx: engine.Context, *, only: Iterable[str] | None = None
) -> list[EnvironmentStatus]:
    """Return the status of every environment instance (or of ``only``), by dry-run reconcile.

    Read-only: nothing is applied and no record is written. Raises ReconcilerError if the
    repository cannot be read or ``only`` names no environment instance.
    """
    wanted = list(only or [])
    targets = engine.discover_targets(ctx.repo, only=wanted or None)
    if not targets:
        raise ReconcilerError(
            "no environment instances found" + (f" for {', '.join(wanted)}" if wanted else "")
        )
    out = []
    for t in targets:
        try:
            outcome = engine.reconcile(ctx, t.env, t.branch, dry_run=True)
        except SpecErrors as e:
            out.append(of_failure(t, "; ".join(str(x) for x in e.errors)))
            continue
        except ReconcilerError as e:
            out.append(of_failure(t, str(e)))
            continue
        out.append(of_outcome(outcome))
    return out
