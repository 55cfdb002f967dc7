"""What the daemon schedules and what it gets back: the seam between the daemon and the engine.

The daemon never reconciles anything itself. It is handed four plain callables (built by
``reconciler.cli.wiring`` around ``reconciler.engine``) and only decides *when* to call them:

- :data:`ReconcileFn` reconciles one work item (an environment instance key such as
  ``"prod"`` or ``"exp@exp/lr-sweep"``) and returns a :class:`ReconcileOutcome`;
- :data:`ListTargetsFn` returns the keys that exist now (called after a fetch and on resync);
- :data:`FetchFn` fetches the Git source and says whether any ref changed;
- :data:`FlushFn` pushes the provenance outbox (called once on shutdown).

An outcome may ask to be called again soon (:func:`requeue_after`): the engine does that
while an environment has runs in flight, so the next step and the serving switch follow a
finished step within seconds instead of waiting for the next resync.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, NotRequired, TypedDict


@dataclass(frozen=True)
class ReconcileOutcome:
    """The result of one reconcile of one work item.

    ``ok`` False means the item is retried with per-key exponential backoff (``error`` is
    logged); ``requeue_after`` is honoured only when ``ok`` is True. ``applied``/``pruned``
    count objects written and deleted, ``runs_by_state`` is the number of runs per state
    (``{"Running": 1, "Succeeded": 4}``) for the runs gauge, ``commit`` the commit this
    reconcile rendered, ``applied_commit`` the commit last applied in full (the Namespace's
    ``reconciler.ml/commit``; it equals ``commit`` only after a clean sync, and may name an
    older commit after a failed one), ``provenance_push_failures`` how many provenance
    pushes failed during this reconcile (the records stay in the outbox).
    """

    ok: bool
    requeue_after: float | None = None
    commit: str = ""
    applied_commit: str = ""
    applied: int = 0
    pruned: int = 0
    runs_by_state: dict[str, int] = field(default_factory=dict)
    error: str = ""
    provenance_push_failures: int = 0
    superseded: str = ""
    """Why the reconcile stopped before applying anything (a newer commit to reconcile)."""


def succeeded(**fields: Any) -> ReconcileOutcome:
    """Return a successful outcome; nothing more to do until the next change or resync."""
    return ReconcileOutcome(ok=True, **fields)


def requeue_after(seconds: float, **fields: Any) -> ReconcileOutcome:
    """Return a successful outcome that asks to be reconciled again after ``seconds``.

    Negative values are treated as 0 (as soon as a worker is free).
    """
    return ReconcileOutcome(ok=True, requeue_after=max(0.0, float(seconds)), **fields)


def failed(error: str, **fields: Any) -> ReconcileOutcome:
    """Return a failed outcome: the key is retried with exponential backoff and jitter."""
    return ReconcileOutcome(ok=False, error=error, **fields)


ReconcileFn = Callable[[str], ReconcileOutcome]
"""Reconcile one environment instance key; may raise (treated as a failure)."""

ListTargetsFn = Callable[[], list[str]]
"""Return the environment instance keys to reconcile now (after a fetch, on resync)."""

FetchFn = Callable[[], bool]
"""Fetch the Git source; True if any ref changed. May raise (counted as a fetch error)."""

FlushFn = Callable[[], None]
"""Push the provenance outbox; called once while shutting down."""

RedeliverFn = Callable[[], float]
"""Push records left in the provenance outbox if it is time; return seconds to the next call."""

NamespacesFn = Callable[[], dict[str, str]]
"""Return ``{namespace: key}`` of the targets :data:`ListTargetsFn` listed last (the cluster
watch follows those namespaces)."""

AffectedFn = Callable[[list[str]], list[str]]
"""Return the keys (of those given) whose branch moved since this was last asked."""

ReadyFn = Callable[[], bool]
"""Say whether a dependency (the cluster) is reachable now; used by ``/readyz``."""

UiFn = Callable[[BaseHTTPRequestHandler], None]
"""Answer one GET or HEAD that is not a probe, the metrics or the webhook (the web UI)."""


def env_name_of(key: str) -> str:
    """Return the environment name of a work-item key (``"exp@exp/lr-sweep"`` -> ``"exp"``)."""
    return key.split("@", 1)[0]


def target_of(key: str) -> tuple[str, str | None]:
    """Return a work-item key's environment and branch (``"dev"`` -> ``("dev", None)``)."""
    env, _, branch = key.partition("@")
    return env, branch or None


class DaemonParts(TypedDict):
    """The callables (and the API client) a daemon is built with; see :class:`~reconciler.daemon.loop.Daemon`.

    ``api_client`` (a kubernetes ApiClient) serves the lease, readiness and the cluster
    watch; ``namespaces`` maps the targets' namespaces to their keys (the cluster watch
    wakes an environment when its steps change or a retry is requested there); ``affected``
    picks the keys a fetched change concerns (default: all);
    ``cluster_ready`` overrides the readiness check; ``cluster_object(path, obj)`` is told
    of each object that wakes an environment, before the wake (the live cache's hint);
    ``live_cache_stats()`` gives that cache's figures (objects, hits, misses) to ``/metrics``.
    """

    reconcile: ReconcileFn
    list_targets: ListTargetsFn
    fetch: FetchFn
    flush: FlushFn
    redeliver: NotRequired[RedeliverFn | None]
    api_client: NotRequired[Any]
    namespaces: NotRequired[NamespacesFn | None]
    affected: NotRequired[AffectedFn | None]
    cluster_ready: NotRequired[ReadyFn | None]
    ui: NotRequired[UiFn | None]
    cluster_object: NotRequired[Callable[[str, dict[str, Any]], None] | None]
    live_cache_stats: NotRequired[Callable[[], Mapping[str, int]] | None]
