"""The one state snapshot every viewer reads: environment views made from engine outcomes.

Who writes it: the CLI's wiring of the daemon publishes each reconcile's :class:`engine.Outcome` (or the
error that stopped it) as it happens, so the web UI adds no request to the cluster; ``reconciler
ui`` publishes the outcome of a dry-run reconcile (what ``reconciler status`` computes) every
refresh interval. Who reads it: every page, and the live-update stream (``/events``), which
waits on :meth:`SnapshotStore.wait_for_change`.

A view holds plain, display-ready values, built once per reconcile; secrets never get in
(change diffs pass :mod:`reconciler.web.redaction`). The version moves only when something a
page shows changes, not when only the reconcile's time does, so live viewers are not made to
re-render a page every few seconds while runs are in flight.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from reconciler import engine
from reconciler.queries import status as status_query
from reconciler.render import environments
from reconciler.structs.changesets import ChangeSetEntry
from reconciler.web import redaction

SyncState = Literal["Synced", "OutOfSync", "Unknown"]
Mode = Literal["applied", "planned"]
"""``applied``: outcomes of real reconciles (the daemon); ``planned``: dry runs (``ui``)."""

IN_FLIGHT = ("Pending", "Running")


@dataclass(frozen=True)
class StepView:
    """One step of a run: its needs, phase and times (RFC 3339 strings, ``""`` if unknown)."""

    name: str
    needs: tuple[str, ...]
    phase: str
    started: str = ""
    finished: str = ""

    @property
    def seconds(self) -> float | None:
        """Return how long the step ran, if both times are known."""
        start, end = parse_time(self.started), parse_time(self.finished)
        return None if start is None or end is None else (end - start).total_seconds()


@dataclass(frozen=True)
class PipelineView:
    """One pipeline in one environment instance, as its last reconcile left it."""

    name: str
    run: str
    status: str
    health: str
    health_reason: str = ""
    serving_run: str = ""
    serving_model: str = ""
    gate_metric: str = ""
    gate_min: float | None = None
    steps: tuple[StepView, ...] = ()

    @property
    def gate(self) -> str:
        """Return the promotion gate as text (``accuracy >= 0.9``; ``""`` without a gate)."""
        return f"{self.gate_metric} >= {self.gate_min:g}" if self.gate_metric else ""


@dataclass(frozen=True)
class ChangeView:
    """One object a sync would change (planned) or did not manage to change (applied)."""

    subject: str
    kind: str
    action: str
    message: str = ""
    diff: str = ""


@dataclass(frozen=True)
class EnvironmentView:
    """One environment instance (``prod``, ``exp@exp/lr-sweep``) for the pages.

    ``commit`` is the branch's newest spec commit as rendered; ``synced_commit`` what the
    cluster holds. ``failing`` means the last reconcile did not complete (``errors`` say
    why, spec errors as ``file:line:col: field: message``).
    """

    key: str
    env: str
    branch: str
    namespace: str = ""
    mode: Mode = "applied"
    sync: SyncState = "Unknown"
    sync_reason: str = "not reconciled yet"
    failing: bool = False
    health: str = "Unknown"
    health_reason: str = ""
    commit: str = ""
    synced_commit: str = ""
    in_flight: int = 0
    pending: int = 0
    reconciled_at: datetime | None = None
    duration: float | None = None
    errors: tuple[str, ...] = ()
    changes: tuple[ChangeView, ...] = ()
    pipelines: tuple[PipelineView, ...] = ()

    @property
    def state(self) -> str:
        """Return the one-word state of the overview: Failing, Synced, OutOfSync or Unknown."""
        return "Failing" if self.failing else self.sync

    @property
    def failed_runs(self) -> tuple[PipelineView, ...]:
        """Return the pipelines whose current run failed."""
        return tuple(p for p in self.pipelines if p.status == "Failed")

    def pipeline(self, name: str) -> PipelineView | None:
        """Return one pipeline's view, or None."""
        return next((p for p in self.pipelines if p.name == name), None)


@dataclass(frozen=True)
class Snapshot:
    """Every environment instance known, sorted by key, and a version that moves on change."""

    version: int = 0
    environments: tuple[EnvironmentView, ...] = ()
    updated_at: datetime | None = None
    by_key: dict[str, EnvironmentView] = field(default_factory=dict, compare=False)

    def find(self, env: str, branch: str | None) -> EnvironmentView | None:
        """Return the view of ``env`` (for ``branch`` when it is a branch-pattern instance)."""
        if branch and (view := self.by_key.get(target_key(env, branch))) is not None:
            return view
        return self.by_key.get(env)


def target_key(env: str, branch: str | None) -> str:
    """Return the work-item key of an instance: ``env`` or ``env@branch``."""
    return f"{env}@{branch}" if branch else env


def parse_time(text: str) -> datetime | None:
    """Parse an RFC 3339 time (``2024-05-01T10:00:00Z``); None for ``""`` or garbage."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _change(entry: ChangeSetEntry) -> ChangeView:
    subject = entry.subject
    return ChangeView(
        subject=str(subject),
        kind=subject.kind,
        action=str(entry.action),
        message=redaction.redact_text(entry.message),
        diff=redaction.redact_diff(str(subject), entry.diff),
    )


def _pipeline(status: engine.PipelineStatus) -> PipelineView:
    serving = status.serving
    return PipelineView(
        name=status.name,
        run=status.run,
        status=status.status,
        health=status.health,
        health_reason=redaction.redact_text(status.reason),
        serving_run=serving.run if serving else "",
        serving_model=redaction.redact_text(serving.model_uri) if serving else "",
        gate_metric=status.gate.metric if status.gate else "",
        gate_min=status.gate.min if status.gate else None,
        steps=tuple(
            StepView(s.name, tuple(s.needs), s.phase, s.started, s.finished) for s in status.steps
        ),
    )


def view_of(outcome: engine.Outcome, *, at: datetime | None = None) -> EnvironmentView:
    """Return the view of one reconcile's outcome (real or dry run).

    Sync state, health, pending changes and errors are ``reconciler status``'s answer
    (:func:`reconciler.queries.status.of_outcome`); the view adds the diffs and steps.
    """
    status = status_query.of_outcome(outcome)
    pending = set(status.pending)
    pipelines = tuple(_pipeline(p) for p in outcome.pipelines)
    return EnvironmentView(
        key=outcome.target.key,
        env=status.env,
        branch=status.branch,
        namespace=status.namespace,
        mode="planned" if outcome.dry_run else "applied",
        sync=_sync(str(status.sync)),
        sync_reason=redaction.redact_text(status.sync_reason),
        failing=bool(status.errors),
        health=str(status.health.status),
        health_reason=redaction.redact_text(status.health.reason),
        commit=status.commit,
        synced_commit=status.applied_commit,
        in_flight=sum(1 for p in pipelines if p.status in IN_FLIGHT),
        pending=len(status.pending),
        reconciled_at=at or datetime.now(UTC),
        duration=outcome.duration,
        errors=tuple(redaction.redact_text(e) for e in status.errors),
        changes=tuple(_change(e) for e in outcome.changeset.entries if str(e) in pending),
        pipelines=pipelines,
    )


def _sync(text: str) -> SyncState:
    if text == "Synced":
        return "Synced"
    return "OutOfSync" if text == "OutOfSync" else "Unknown"


def error_view(
    key: str, error: BaseException | str, *, previous: EnvironmentView | None = None
) -> EnvironmentView:
    """Return the view of an instance whose reconcile raised (the environment did not render).

    Keeps what the previous view knew (namespace, pipelines) so the page still shows the
    last known state, marked failing, with the error.
    """
    env, _, branch = key.partition("@")
    base = previous or EnvironmentView(key=key, env=env, branch=branch)
    target = environments.Target(env, branch, base.namespace, "@" in key)
    status = status_query.of_failure(target, redaction.redact_text(str(error)))
    return dataclasses.replace(
        base,
        failing=True,
        sync=_sync(str(status.sync)),
        sync_reason=status.sync_reason,
        health=str(status.health.status),
        health_reason=status.health.reason,
        errors=tuple(status.errors),
        reconciled_at=datetime.now(UTC),
    )


def _comparable(view: EnvironmentView) -> EnvironmentView:
    return dataclasses.replace(view, reconciled_at=None, duration=None)


class SnapshotStore:
    """The shared, thread-safe snapshot: writers publish views, readers take the current one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._views: dict[str, EnvironmentView] = {}
        self._snapshot = Snapshot()
        self._closed = False

    def snapshot(self) -> Snapshot:
        """Return the current snapshot (immutable; safe to read without a lock)."""
        return self._snapshot

    def expect(self, keys: Iterable[str]) -> None:
        """Declare the instances that exist; unknown ones appear as Unknown, gone ones leave."""
        wanted = set(keys)
        with self._cond:
            views = {k: v for k, v in self._views.items() if k in wanted}
            for key in wanted - views.keys():
                env, _, branch = key.partition("@")
                views[key] = EnvironmentView(key=key, env=env, branch=branch)
            self._replace(views, changed=views.keys() != self._views.keys())

    def publish(self, outcome: engine.Outcome) -> EnvironmentView:
        """Publish one reconcile's outcome; return its view."""
        view = view_of(outcome)
        self._put(view)
        return view

    def publish_error(self, key: str, error: BaseException | str) -> EnvironmentView:
        """Publish that the reconcile of ``key`` raised ``error``."""
        view = error_view(key, error, previous=self._views.get(key))
        self._put(view)
        return view

    def _put(self, view: EnvironmentView) -> None:
        with self._cond:
            old = self._views.get(view.key)
            views = dict(self._views)
            views[view.key] = view
            changed = old is None or _comparable(old) != _comparable(view)
            self._replace(views, changed=changed)

    def _replace(self, views: dict[str, EnvironmentView], *, changed: bool) -> None:
        self._views = views
        ordered = tuple(views[k] for k in sorted(views))
        version = self._snapshot.version + (1 if changed else 0)
        self._snapshot = Snapshot(
            version=version,
            environments=ordered,
            updated_at=datetime.now(UTC),
            by_key=dict(views),
        )
        if changed:
            self._cond.notify_all()

    def wait_for_change(self, version: int, timeout: float) -> int:
        """Block until the version differs from ``version`` (or ``timeout``, or close).

        Returns the current version.
        """
        with self._cond:
            self._cond.wait_for(
                lambda: self._snapshot.version != version or self._closed, timeout=timeout
            )
            return self._snapshot.version

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (live streams end)."""
        return self._closed

    def close(self) -> None:
        """Wake every waiting stream and let it end (the server is stopping)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
