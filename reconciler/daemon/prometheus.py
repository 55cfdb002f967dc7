"""Every Prometheus metric of the daemon, in one registry, in one place.

Built once by :mod:`reconciler.daemon.loop` and served on ``/metrics`` by
:mod:`reconciler.daemon.httpserver`. Each daemon gets its own registry (not the global
default), so two daemons in one process (tests) do not share counters.

Names (all prefixed ``reconciler_``):

=====================================  =========  ==========================================
reconcile_duration_seconds             histogram  per env and result (ok, error)
reconciles_total                       counter    per env and result
last_applied_commit_info               info       per env: the commit last applied in full
objects_applied_total                  counter    per env
objects_pruned_total                   counter    per env
runs                                   gauge      per env and state: pipelines by their current
                                                  run's state (Pending, Running, Succeeded,
                                                  Failed, Cancelled) or RenderError
provenance_push_failures_total         counter
git_fetches_total                      counter
git_fetch_errors_total                 counter
webhook_requests_total                 counter    per HTTP status code
leader                                 gauge      1 while holding the lease (or not electing)
workqueue_depth                        gauge      keys queued for now
workqueue_retries_total                counter    rate-limited requeues after a failure
live_cache_objects                     gauge      live objects held by watches (--cache-objects)
live_cache_reads_total                 counter    per result: hit (from memory), miss (listed)
=====================================  =========  ==========================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from reconciler.daemon.outcomes import ReconcileOutcome

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The Content-Type of :meth:`Metrics.render` (Prometheus text format)."""

_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

LiveCacheStats = Callable[[], Mapping[str, int]]
"""Return the live cache's ``objects``, ``hits`` and ``misses`` (the wiring's; see
``reconciler.cluster.livecache``)."""


class _LiveCacheCollector:
    """Reads the live cache's figures at each scrape (zeros while there is no cache)."""

    def __init__(self) -> None:
        self.source: LiveCacheStats | None = None

    def collect(self) -> Iterator[Metric]:
        stats = self.source() if self.source is not None else {}
        yield GaugeMetricFamily(
            "reconciler_live_cache_objects",
            "Live objects the daemon keeps by watches between passes.",
            value=stats.get("objects", 0),
        )
        reads = CounterMetricFamily(
            "reconciler_live_cache_reads",
            "Reads of a collection by result: hit (from memory) or miss (listed).",
            labels=["result"],
        )
        reads.add_metric(["hit"], stats.get("hits", 0))
        reads.add_metric(["miss"], stats.get("misses", 0))
        yield reads


class Metrics:
    """The daemon's metrics and the few methods that update them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.reconcile_duration = Histogram(
            "reconciler_reconcile_duration_seconds",
            "Time spent reconciling one environment.",
            ["env", "result"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.reconciles = Counter(
            "reconciler_reconciles",
            "Reconciles by environment and result.",
            ["env", "result"],
            registry=r,
        )
        self.last_applied_commit = Info(
            "reconciler_last_applied_commit",
            "The commit last applied in full to an environment (its Namespace's "
            "reconciler.ml/commit annotation).",
            ["env"],
            registry=r,
        )
        self.objects_applied = Counter(
            "reconciler_objects_applied", "Objects created or configured.", ["env"], registry=r
        )
        self.objects_pruned = Counter(
            "reconciler_objects_pruned", "Owned objects deleted by pruning.", ["env"], registry=r
        )
        self.runs = Gauge(
            "reconciler_runs",
            "Pipelines by the state of their current run (RenderError: the spec does not render).",
            ["env", "state"],
            registry=r,
        )
        self.provenance_push_failures = Counter(
            "reconciler_provenance_push_failures", "Provenance pushes that failed.", registry=r
        )
        self.git_fetches = Counter("reconciler_git_fetches", "Fetches of the source.", registry=r)
        self.git_fetch_errors = Counter(
            "reconciler_git_fetch_errors", "Fetches of the source that failed.", registry=r
        )
        self.webhook_requests = Counter(
            "reconciler_webhook_requests",
            "Webhook requests by response code.",
            ["code"],
            registry=r,
        )
        self.leader = Gauge(
            "reconciler_leader", "1 while this process holds the leader lease.", registry=r
        )
        self.workqueue_depth = Gauge(
            "reconciler_workqueue_depth", "Keys waiting to be reconciled now.", registry=r
        )
        self.workqueue_retries = Counter(
            "reconciler_workqueue_retries", "Requeues after a failed reconcile.", registry=r
        )
        self.live_cache = _LiveCacheCollector()
        r.register(self.live_cache)
        self._run_states: dict[str, set[str]] = {}

    def observe_reconcile(self, env: str, outcome: ReconcileOutcome, seconds: float) -> None:
        """Record one reconcile of ``env``: duration, result, commit, counts, runs by state.

        The applied commit is the outcome's ``applied_commit`` (what the Namespace records as
        applied in full), never the commit a failed reconcile rendered. States an
        environment reported before but not now are set to 0 (not left stale).
        """
        result = "ok" if outcome.ok else "error"
        self.reconcile_duration.labels(env, result).observe(seconds)
        self.reconciles.labels(env, result).inc()
        if not outcome.ok:
            self.workqueue_retries.inc()
        if outcome.applied_commit:
            self.last_applied_commit.labels(env).info({"commit": outcome.applied_commit})
        if outcome.applied:
            self.objects_applied.labels(env).inc(outcome.applied)
        if outcome.pruned:
            self.objects_pruned.labels(env).inc(outcome.pruned)
        if outcome.provenance_push_failures:
            self.provenance_push_failures.inc(outcome.provenance_push_failures)
        if outcome.runs_by_state or env in self._run_states:
            seen = self._run_states.setdefault(env, set())
            for state in seen - set(outcome.runs_by_state):
                self.runs.labels(env, state).set(0)
            for state, count in outcome.runs_by_state.items():
                self.runs.labels(env, state).set(count)
            seen.update(outcome.runs_by_state)

    def observe_fetch(self, error: Exception | None) -> None:
        """Record one fetch of the source and whether it failed."""
        self.git_fetches.inc()
        if error is not None:
            self.git_fetch_errors.inc()

    def render(self) -> bytes:
        """Return every metric in the Prometheus text format."""
        return generate_latest(self.registry)
