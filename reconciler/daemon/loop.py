"""The daemon: schedule the engine's reconcile of every environment, and nothing else.

Called by ``reconciler run`` (:mod:`reconciler.cli.run`), which parses the options into
:class:`DaemonOptions` and builds the four callables of :mod:`reconciler.daemon.outcomes`
around the engine. The data path, in :meth:`Daemon.run`::

    start    serve HTTP, watch the local repo's refs and the cluster (step objects, retry
             requests), campaign for the lease, start workers
    feed     fetch every interval or when triggered; queue the environments whose branch
             moved, all of them every resync period; the cluster watch queues the one
             whose steps changed; workers reconcile them (one key at a time each)
    shut     on SIGTERM/SIGINT: take no more work, let in-flight reconciles finish (or
             abandon them at the deadline), release the lease, flush the outbox, exit 0

Everything else lives in one module per concern: workqueues (queue, workers, feeder),
webhooks, httpserver, prometheus, watching (refs), clusterwatch (steps and Namespaces),
leaderelection, sharding, logs.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Literal, NoReturn

from reconciler.daemon import (
    clusterwatch,
    httpserver,
    leaderelection,
    logs,
    prometheus,
    sharding,
    watching,
    workqueues,
)
from reconciler.daemon import webhooks as webhooks_mod
from reconciler.daemon.outcomes import (
    AffectedFn,
    FetchFn,
    FlushFn,
    ListTargetsFn,
    NamespacesFn,
    ReadyFn,
    ReconcileFn,
    ReconcileOutcome,
    RedeliverFn,
    UiFn,
    env_name_of,
)
from reconciler.source.statedir import default_state_dir
from reconciler.structs.durations import parse_duration as parse_duration  # re-exported
from reconciler.structs.errors import ReconcilerError

log = logging.getLogger(__name__)

WATCHED_REQUEUE = 30.0
"""Seconds between reconciles of an environment with runs in flight while the cluster watch
covers its namespace (its steps' changes wake it); without the watch, the engine's own
requeue (2 s) holds."""

WATCH_COALESCE = 0.5
"""Seconds between a cluster change and the reconcile it wakes (a burst coalesces)."""


@dataclass(frozen=True)
class DaemonOptions:
    """Everything ``reconciler run`` takes, parsed; defaults are the CLI's defaults.

    ``repo`` is a local path (its refs are watched) or a URL (fetched into the state
    directory's mirror by the fetch function). ``follow`` says what a local clone stands
    for: its remote's branches (``remote``: the remote is mirrored and fetched when the
    clone's refs move, on a webhook and every ``interval``) or its own (``local``). ``envs`` restricts the environments
    (names, or exact work-item keys); ``shard`` splits them between daemons. ``state_dir``
    holds caches and the provenance outbox only (None: :func:`default_state_dir`).
    ``cache_objects`` bounds the live objects the wiring keeps by watches between passes
    (``reconciler.cluster.livecache``; 0, the default: every pass lists).
    """

    repo: str = "."
    follow: Literal["remote", "local"] = "remote"
    interval: float = 30.0
    resync: float = 300.0
    listen: str = ":8080"
    leader_elect: bool = False
    envs: tuple[str, ...] = ()
    shard: sharding.Shard = field(default_factory=sharding.Shard)
    workers: int = 4
    state_dir: Path | None = None
    log_format: logs.LogFormat = "text"
    log_level: str = "INFO"
    webhook_secret_file: Path | None = None
    webhook_secret_env: str = webhooks_mod.SECRET_ENV_VAR
    max_webhook_body: int = webhooks_mod.MAX_BODY_BYTES
    lease_name: str = leaderelection.DEFAULT_LEASE_NAME
    lease_namespace: str | None = None
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    shutdown_timeout: float = 10.0
    kubeconfig: str | None = None
    context: str | None = None
    watch_cluster: bool = True
    cache_objects: int = 0

    def resolved_state_dir(self) -> Path:
        """Return ``state_dir`` or the default."""
        return self.state_dir or default_state_dir()

    def select(self, keys: Iterable[str]) -> list[str]:
        """Return the keys of ``keys`` (every target listed) this daemon reconciles.

        ``--env`` first (by environment name or exact key), then ``--shard`` over what is
        left: the daemons of one shard set must list the same targets and share ``--env``.
        """
        chosen = [
            key
            for key in keys
            if not self.envs or env_name_of(key) in self.envs or key in self.envs
        ]
        return self.shard.select(chosen)

    def lease_config(self) -> leaderelection.LeaseConfig:
        """Return the lease this daemon campaigns for (one per shard and ``--env`` selection)."""
        return leaderelection.LeaseConfig(
            name=sharding.lease_name_for(self.lease_name, self.shard, self.envs),
            namespace=self.lease_namespace or leaderelection.default_namespace(),
            lease_duration=self.lease_duration,
            renew_deadline=self.renew_deadline,
            retry_period=self.retry_period,
        )


def _cached(check: Callable[[], bool], ttl: float) -> Callable[[], bool]:
    """Return ``check`` remembered for ``ttl`` seconds (probes come every few seconds)."""
    lock = threading.Lock()
    last: list[Any] = [0.0, False]

    def cached() -> bool:
        with lock:
            if time.monotonic() - last[0] >= ttl:
                try:
                    last[1] = bool(check())
                except Exception as exc:
                    log.warning("cluster readiness check failed: %s", exc)
                    last[1] = False
                last[0] = time.monotonic()
            return bool(last[1])

    return cached


def cluster_reachable(api_client: Any) -> ReadyFn:
    """Return a readiness check: the API server answers ``/version`` within 2 seconds."""
    from kubernetes import client

    version_api = client.VersionApi(api_client)

    def check() -> bool:
        version_api.get_code(_request_timeout=2)
        return True

    return check


class Daemon:
    """One daemon process's parts, wired together; :meth:`run` is the whole life."""

    def __init__(
        self,
        options: DaemonOptions,
        *,
        reconcile: ReconcileFn,
        list_targets: ListTargetsFn,
        fetch: FetchFn,
        flush: FlushFn,
        redeliver: RedeliverFn | None = None,
        api_client: Any = None,
        namespaces: NamespacesFn | None = None,
        affected: AffectedFn | None = None,
        cluster_ready: ReadyFn | None = None,
        ui: UiFn | None = None,
        cluster_object: clusterwatch.OnObject | None = None,
        live_cache_stats: prometheus.LiveCacheStats | None = None,
    ) -> None:
        self.options = options
        self.flush = flush
        self.redeliver = redeliver
        self.stop_event = threading.Event()
        self.abandoned = False
        """True once :meth:`shutdown` gave up waiting for the reconciles in flight."""
        self.metrics = prometheus.Metrics()
        self.metrics.live_cache.source = live_cache_stats
        self.fetched = threading.Event()
        self.reconcile = reconcile
        self.queue = workqueues.WorkQueue(
            backoff=workqueues.Backoff(options.backoff_base, options.backoff_cap)
        )
        self.metrics.workqueue_depth.set_function(self.queue.depth)
        self.feeder = workqueues.Feeder(
            self.queue,
            fetch=fetch,
            list_targets=list_targets,
            interval=options.interval,
            resync=options.resync,
            select=options.select,
            on_fetch=self._on_fetch,
            on_targets=self._on_targets,
            affected=affected,
        )
        self.namespaces = namespaces
        self.selected: frozenset[str] = frozenset()  # the targets last listed and selected
        self.cluster_watch: clusterwatch.ClusterWatch | None = None
        if options.watch_cluster and namespaces is not None and api_client is not None:
            self.cluster_watch = clusterwatch.ClusterWatch(
                api_client, self._on_cluster_change, on_object=cluster_object
            )
        self.elector: leaderelection.LeaderElector | None = None
        if options.leader_elect:
            if api_client is None:
                api_client = _load_api_client(options)
            self.elector = leaderelection.LeaderElector(
                api_client,
                options.lease_config(),
                on_started=self._on_started_leading,
                on_stopped=lambda: self.metrics.leader.set(0),
            )
        else:
            self.metrics.leader.set(1)
        if cluster_ready is None and api_client is not None:
            cluster_ready = cluster_reachable(api_client)
        readiness: dict[str, Callable[[], bool]] = {"git": self.fetched.is_set}
        if cluster_ready is not None:
            readiness["cluster"] = _cached(cluster_ready, ttl=5.0)
        # Everything that may refuse the options comes before binding the port.
        self.watcher: watching.RefsWatcher | None = None
        if _is_local(options.repo):
            # Following the remote, a local commit changes nothing until it is pushed: the
            # clone's refs moving only asks for a fetch (a push moves its origin/* refs).
            on_refs = self.feeder.trigger if options.follow == "local" else self.feeder.poll
            self.watcher = watching.RefsWatcher(Path(options.repo), on_refs)
        try:
            secret = webhooks_mod.load_secret(
                options.webhook_secret_file, options.webhook_secret_env
            )
        except OSError as exc:
            raise ReconcilerError(
                f"--webhook-secret-file {options.webhook_secret_file}: {exc.strerror or exc}"
            ) from exc
        if secret is None:
            log.warning("no webhook secret configured: POST /hooks/git answers 401")
        routes = httpserver.Routes(
            readiness=readiness,
            metrics=self.metrics.render,
            metrics_content_type=prometheus.CONTENT_TYPE,
            webhook_secret=secret,
            on_push=self.feeder.trigger,
            max_body=options.max_webhook_body,
            on_webhook=lambda code: self.metrics.webhook_requests.labels(str(code)).inc(),
            ui=ui,
        )
        try:
            self.http = httpserver.HttpServer(options.listen, routes)
        except OSError as exc:
            raise ReconcilerError(f"--listen {options.listen}: {exc.strerror or exc}") from exc
        self.workers = workqueues.Workers(
            self.queue,
            self._reconcile_one,
            count=options.workers,
            gate=self.elector.leading if self.elector is not None else None,
            on_outcome=self.metrics.observe_reconcile,
        )

    def run(self) -> int:
        """Run until :meth:`stop` (or a signal); return the exit code, 0."""
        self.start()
        self.feeder.run(self.stop_event)
        self.shutdown()
        return 0

    def start(self) -> None:
        """Serve HTTP, watch the refs, campaign for the lease and start the workers."""
        self.options.resolved_state_dir().mkdir(parents=True, exist_ok=True)
        self.http.start()
        if self.watcher is not None:
            self.watcher.start()
        if self.cluster_watch is not None:
            self.cluster_watch.start()
        if self.elector is not None:
            self.elector.start()
        self.workers.start()
        if self.redeliver is not None:
            threading.Thread(target=self._redeliver, name="redeliver", daemon=True).start()
        log.info(
            "daemon started",
            extra={"repo": _public(self.options.repo), "shard": str(self.options.shard)},
        )

    def stop(self) -> None:
        """Ask :meth:`run` to shut down (safe from a signal handler or another thread)."""
        self.stop_event.set()
        self.feeder.wake()

    def shutdown(self) -> None:
        """Stop taking work, drain or abandon, release the lease, flush, stop serving.

        Bounded by ``shutdown_timeout`` in all: in-flight reconciles get most of it; one
        still running at that point is abandoned (each write is one API call, atomic on
        the server; the next leader converges) and then the lease is not released, so no
        standby starts writing before this process is gone.
        """
        started = time.monotonic()
        budget = self.options.shutdown_timeout - 0.5
        log.info("shutting down: taking no more work")
        self.stop_event.set()
        self.queue.shutdown()
        if self.watcher is not None:
            self.watcher.stop()
        if self.cluster_watch is not None:
            self.cluster_watch.stop()
        drained = self.workers.join(timeout=budget * 0.6)
        self.abandoned = not drained
        if not drained:
            log.warning("abandoning in-flight reconciles: %s", sorted(self.queue.processing()))
        flusher = threading.Thread(target=self._flush, name="flush", daemon=True)
        flusher.start()
        if self.elector is not None:
            self.elector.stop(release=drained)
            self.metrics.leader.set(0)
        flusher.join(max(0.0, budget - (time.monotonic() - started)))
        if flusher.is_alive():
            log.warning("provenance outbox not flushed in time; its records stay in the outbox")
        self.http.stop()
        log.info("stopped", extra={"seconds": round(time.monotonic() - started, 3)})

    # -- hooks ----------------------------------------------------------------------

    def _reconcile_one(self, key: str) -> ReconcileOutcome:
        with logs.reconcile_context(key):
            started = time.monotonic()
            try:
                outcome = self.reconcile(key)
            except ReconcilerError as exc:  # bad input or an API error: no traceback
                outcome = ReconcileOutcome(ok=False, error=str(exc))
            except Exception as exc:  # a bug: keep the traceback
                log.exception("reconcile raised")
                return ReconcileOutcome(ok=False, error=f"{type(exc).__name__}: {exc}")
            fields: dict[str, Any] = {
                "seconds": round(time.monotonic() - started, 3),
                "applied": outcome.applied,
                "pruned": outcome.pruned,
            }
            if outcome.commit:
                fields["commit"] = outcome.commit
            if outcome.superseded:
                log.info("reconcile superseded: %s", outcome.superseded, extra=fields)
                return outcome
            if outcome.requeue_after is not None and self._watched(key):
                outcome = dataclasses.replace(
                    outcome, requeue_after=max(outcome.requeue_after, WATCHED_REQUEUE)
                )
            if outcome.requeue_after is not None:
                fields["requeue_after"] = outcome.requeue_after
            if outcome.ok:
                log.info("reconciled", extra=fields)
            else:
                fields["failures"] = self.queue.failures(key) + 1
                log.error("reconcile failed: %s", outcome.error, extra=fields)
            return outcome

    def _watched(self, key: str) -> bool:
        return self.cluster_watch is not None and self.cluster_watch.healthy(key)

    def _on_targets(self, keys: list[str]) -> None:
        """Remember the targets just selected; follow their namespaces with the cluster watch."""
        self.selected = frozenset(keys)
        if self.cluster_watch is None or self.namespaces is None:
            return
        selected = self.selected
        try:
            mapping = {ns: k for ns, k in self.namespaces().items() if k in selected}
        except Exception:
            log.exception("listing the environments' namespaces failed")
            return
        self.cluster_watch.set_namespaces(mapping)

    def _on_cluster_change(self, key: str) -> None:
        """A step of ``key`` changed or a retry was requested there: reconcile it soon.

        Half a second after the first change of a burst (many steps ending together), so
        the burst costs one reconcile.
        """
        if key in self.selected and not self.stop_event.is_set():
            self.queue.add_after(key, WATCH_COALESCE)

    def _on_fetch(self, error: Exception | None) -> None:
        self.metrics.observe_fetch(error)
        if error is None:
            self.fetched.set()

    def _on_started_leading(self) -> None:
        self.metrics.leader.set(1)
        self.feeder.trigger()  # queue everything again: the old leader may have left work

    def _redeliver(self) -> None:
        """Push records left in the outbox on the store's timer, while leading."""
        assert self.redeliver is not None
        while not self.stop_event.is_set():
            wait = 2.0
            if self.elector is None or self.elector.leading.is_set():
                try:
                    wait = self.redeliver()
                except Exception:
                    log.exception("provenance redelivery raised")
            self.stop_event.wait(wait)

    def _flush(self) -> None:
        try:
            self.flush()
        except Exception:
            log.exception("flushing the provenance outbox failed; its records stay there")


def _is_local(repo: str) -> bool:
    from reconciler.source import mirrors

    return not mirrors.is_url(repo)


def _public(repo: str) -> str:
    from reconciler.source import repos

    return repos.redact_url(repo)


def _load_api_client(options: DaemonOptions) -> Any:
    from reconciler.cluster import clients

    return clients.load_client(kubeconfig=options.kubeconfig, context=options.context)


@contextmanager
def handling_signals(on_signal: Callable[[], None]) -> Iterator[None]:
    """Call ``on_signal`` on the first SIGTERM or SIGINT.

    A second SIGINT (Ctrl-C pressed again) exits at once with status 1; a repeated SIGTERM
    is ignored (wrappers such as ``timeout`` may forward the one a supervisor sent). Only
    the main thread can install handlers; elsewhere this does nothing. The previous
    handlers are restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        if received:
            if signum == signal.SIGINT:
                log.warning("second interrupt: exiting now")
                os._exit(1)
            return
        received.append(signum)
        log.info("received %s", signal.Signals(signum).name)
        on_signal()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def run_daemon(
    options: DaemonOptions,
    *,
    reconcile: ReconcileFn,
    list_targets: ListTargetsFn,
    fetch: FetchFn,
    flush: FlushFn,
    redeliver: RedeliverFn | None = None,
    api_client: Any = None,
    namespaces: NamespacesFn | None = None,
    affected: AffectedFn | None = None,
    cluster_ready: ReadyFn | None = None,
    ui: UiFn | None = None,
    cluster_object: clusterwatch.OnObject | None = None,
    live_cache_stats: prometheus.LiveCacheStats | None = None,
) -> int:
    """Run the daemon in this process until SIGTERM/SIGINT; return the exit code (0).

    ``api_client`` (a kubernetes ApiClient) is used for the lease and for readiness; with
    ``--leader-elect`` and none given, one is loaded from ``kubeconfig``/``context`` (or
    the in-cluster service account). ``cluster_ready`` overrides the readiness check.
    ``ui`` answers every other GET on ``--listen`` (the web UI the CLI wires in).
    ``cluster_object`` is told of each object that wakes an environment, before it wakes
    it (the wiring's live cache then serves the pass it wakes that object as it is now);
    ``live_cache_stats`` gives that cache's figures to ``/metrics``.
    Raises ValueError for bad options (``--listen``), ReconcilerError if the repository
    or the kubeconfig cannot be used; nothing has started then.
    """
    logs.setup_logging(options.log_format, level=options.log_level)
    daemon = Daemon(
        options,
        reconcile=reconcile,
        list_targets=list_targets,
        fetch=fetch,
        flush=flush,
        redeliver=redeliver,
        api_client=api_client,
        namespaces=namespaces,
        affected=affected,
        cluster_ready=cluster_ready,
        ui=ui,
        cluster_object=cluster_object,
        live_cache_stats=live_cache_stats,
    )
    with handling_signals(daemon.stop):
        code = daemon.run()
    if daemon.abandoned:
        exit_abandoning(code)
    return code


def exit_abandoning(code: int) -> NoReturn:
    """End the process now, leaving the reconciles abandoned at shutdown where they are.

    Their threads are daemonic, but the thread pools they apply with are not: the
    interpreter's ordinary exit would wait for every request still queued there, well past
    the shutdown deadline. The exit handlers run (temporary exports are removed) and the
    logs are flushed first.
    """
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
