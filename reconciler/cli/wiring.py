"""Wire the engine into the daemon: the callables ``reconciler run`` and the demo hand it.

Called by ``reconciler run`` (:mod:`reconciler.cli.run`) and ``reconciler demo``. The daemon
itself never reconciles anything and imports nothing of the engine: :func:`daemon_parts`
builds ``reconcile`` (one environment instance through :mod:`reconciler.engine`),
``list_targets``, ``fetch`` (a mirror, or a local repository's refs) and ``flush`` (the
provenance outbox, the in-sync memo) around one repository, one set of clusters and one
provenance store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from reconciler.daemon import loop, outcomes

log = logging.getLogger(__name__)

MEMO_SAVE_EVERY = 300.0
"""Seconds between writes of the daemon's in-sync memo to the state directory (it is also
written at shutdown); a daemon killed in between loses only the entries of those minutes."""

if TYPE_CHECKING:
    from pathlib import Path

    from reconciler import engine
    from reconciler.apply.manager import ResourceManager
    from reconciler.provenance.store import ProvenanceStore


def daemon_parts(
    options: loop.DaemonOptions,
    *,
    mlflow_tracking_uri: str | None = None,
    ui: bool = True,
    ui_token: str | None = None,
) -> outcomes.DaemonParts:
    """Return the daemon's callables (reconcile, list_targets, fetch, flush) around the engine.

    With ``ui`` the parts include the web UI (``ui``), fed by every reconcile's outcome: the
    pages read that one snapshot, so viewers add no request to the cluster.
    """
    from reconciler import engine
    from reconciler.apply.manager import ResourceManager
    from reconciler.cluster import clients, livecache
    from reconciler.provenance import mlflow_sink, redelivery
    from reconciler.provenance.store import ProvenanceStore
    from reconciler.source import caches, mirrors, repos
    from reconciler.structs.errors import ReconcilerError

    state = options.resolved_state_dir()
    path, fetch = mirrors.refs_fetcher(options.repo, state / "mirrors", follow=options.follow)
    api_client = clients.load_client(kubeconfig=options.kubeconfig, context=options.context)
    cache = caches.ContentCache(state / "cache")
    # Commits are exported into the state directory's slots (as one-shot commands do), so a
    # restarted daemon updates the trees it left rather than writing every file again.
    repos.keep_exports_in(state / "trees")

    # The memo of objects found in sync (by content address: never stale) is read from the
    # state directory at start, so that a restarted daemon's first pass holds the members
    # it knows as thin copies and compares none of them again; it changes with every status
    # update of a member, so it is written at most every MEMO_SAVE_EVERY and at shutdown.
    memos = caches.ContentCache(state / "cache")  # its only tables: the memos, one per server
    unannounced: dict[str, int] = {}  # memos read, logged by the next reconcile (logging is set up)
    memo_lock = threading.Lock()

    def manager_of(client: Any) -> ResourceManager:
        server = clients.server_url(client)
        verified = memos.table(f"verified.{server}")
        if len(verified):
            with memo_lock:
                unannounced[server] = len(verified)
        cache = (
            livecache.LiveCache(
                clients.pooled_for_watches(client), max_objects=options.cache_objects
            )
            if options.cache_objects > 0
            else None
        )
        return ResourceManager(client, verified=verified, live_cache=cache)

    managers: dict[str | None, ResourceManager] = {None: manager_of(api_client)}

    def manager_for(env_context: str | None) -> ResourceManager:
        ctx_name = options.context or env_context
        if ctx_name not in managers:
            managers[ctx_name] = manager_of(
                clients.load_client(kubeconfig=options.kubeconfig, context=ctx_name)
            )
        return managers[ctx_name]

    remote = "origin" if repos.remote_url(path) else None
    store = ProvenanceStore(
        path,
        remote=remote,
        state_dir=state / "provenance",
        sinks=mlflow_sink.sinks_for(mlflow_tracking_uri),
    )
    files = _work_tree(options.repo, path)
    ctx = engine.Context(
        repo=path,
        manager_for=manager_for,
        provenance=store,
        cache=cache,
        files=files,
        prepare_slots=engine.PrepareSlots(prepare_slots()),
        precedence=engine.Precedence(),
    )
    shared, handler = _web_ui(path, store, ui_token, files) if ui else (None, None)

    def reconcile(key: str) -> outcomes.ReconcileOutcome:
        env, branch = outcomes.target_of(key)
        with memo_lock:
            for server, entries in unannounced.items():
                log.info("in-sync memo read", extra={"entries": entries, "server": server})
            unannounced.clear()
        if store.pending():
            store.flush()
        try:
            res = engine.reconcile(ctx, env, branch, interruptible=True, scoped=True)
            memos.save_at_most_every(MEMO_SAVE_EVERY)
        except engine.Superseded as exc:  # a newer commit: reconcile that one at once
            return outcomes.requeue_after(0.0, superseded=str(exc))
        except ReconcilerError as exc:
            if shared is not None:
                shared.publish_error(key, exc)
            raise
        if shared is not None:
            shared.publish(res)
        return outcome_for(res)

    ahead = PrepareAhead(lambda key: engine.prepare_ahead(ctx, *outcomes.target_of(key)))
    namespaces: dict[str, str] = {}
    branch_of: dict[str, str] = {}
    tips: dict[str, str | None] = {}

    def list_targets() -> list[str]:
        targets = engine.discover_targets(path)
        namespaces.clear()
        namespaces.update({t.namespace: t.key for t in targets})
        for manager in list(managers.values()):
            if manager.live_cache is not None:  # no watch left on a gone environment
                manager.live_cache.retain_namespaces(namespaces)
        branch_of.clear()
        branch_of.update({t.key: t.branch for t in targets})
        keys = [t.key for t in targets]
        if shared is not None:
            shared.expect(options.select(keys))
        return keys

    def affected(keys: list[str]) -> list[str]:
        """Return the keys whose branch has a new spec commit since the last call (new keys too).

        The spec commit is the newest one that touched anything outside ``runs/`` (what a
        reconcile renders): a commit of run records alone queues nothing.
        """
        out = []
        specs: dict[str, str | None] = {}
        for key in keys:
            branch = branch_of.get(key, "")
            if branch not in specs:
                try:
                    ref = repos.branch_ref(path, branch)
                    specs[branch] = repos.spec_commit(path, ref).sha if branch else None
                except ReconcilerError:
                    specs[branch] = None  # unknown: queue it, the reconcile says what is wrong
            tip = specs[branch]
            if key not in tips or tips[key] != tip or tip is None:
                out.append(key)
            tips[key] = tip
        ahead.request(options.select(out))
        return out

    def flush() -> None:
        try:
            store.flush()
        finally:
            entries = memos.entries()
            if memos.save():
                log.info("in-sync memo saved", extra={"entries": entries})
            else:
                log.warning(
                    "in-sync memo not saved: %s cannot be written (a restart compares again)",
                    state / "cache",
                    extra={"entries": entries},
                )

    def cluster_object(obj_path: str, obj: dict[str, Any]) -> None:
        """A step or Namespace about to wake its environment: the pass must see it."""
        cache = managers[None].live_cache
        if cache is not None:
            cache.expect_object(obj_path, obj)

    return outcomes.DaemonParts(
        reconcile=reconcile,
        list_targets=list_targets,
        fetch=fetch,
        flush=flush,
        redeliver=redelivery.Redelivery(store).tick,
        api_client=api_client,
        namespaces=lambda: dict(namespaces),
        affected=affected,
        ui=handler,
        cluster_object=cluster_object,
        live_cache_stats=lambda: live_cache_stats(managers.values()),
    )


def live_cache_stats(managers: Iterable[ResourceManager]) -> dict[str, int]:
    """Sum the live caches' figures over the managers (one per kubeconfig context)."""
    out = {"objects": 0, "hits": 0, "misses": 0}
    for manager in list(managers):
        cache = manager.live_cache
        if cache is not None:
            out["objects"] += cache.size()
            out["hits"] += cache.stats.hits
            out["misses"] += cache.stats.misses
    return out


class PrepareAhead:
    """Prepare the environment instances a fetch moved, one at a time, in a thread of its own.

    ``prepare(key)`` prepares one instance's new commit into the engine's memo
    (``engine.prepare_ahead``), so that its reconcile, queued at the same time, need not
    wait for the reconcile of the commit before to reach a step boundary before preparing
    it. A later :meth:`request` replaces what is left of the earlier one (those commits
    are old news); a failure is logged at debug level (the reconcile reports it).
    """

    def __init__(self, prepare: Callable[[str], None]) -> None:
        self._prepare = prepare
        self._pending: list[str] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def request(self, keys: list[str]) -> None:
        """Prepare ``keys`` in order, after the one being prepared now (if any)."""
        if not keys:
            return
        with self._wake:
            self._pending = list(keys)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="prepare-ahead", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending:
                    self._wake.wait()
                key = self._pending.pop(0)
            try:
                self._prepare(key)
            except Exception as exc:  # the reconcile meets it again and reports it
                log.debug("preparing %s ahead failed: %s", key, exc)


def prepare_slots() -> int:
    """Return how many environments the daemon prepares at once: one.

    Preparing is Python (parsing, run specs) under one interpreter lock, and Kustomize,
    whose chunks one preparation already builds one per core: two preparations at once
    share the lock and both finish late, the first one a push concerns included; one at a
    time, the first environment's runs start after one preparation.
    """
    return 1


def _work_tree(repo: str, path: Path) -> Path | None:
    """Return the clone ``--repo`` names when the daemon follows its remote through a mirror.

    Its DVC remotes inside the repository are named in the clone (where ``sync`` names
    them), so a run's step objects and record are the same whoever renders them.
    """
    from pathlib import Path

    from reconciler.source import mirrors

    local = Path(repo).expanduser()
    if mirrors.is_url(repo) or not local.is_dir() or local.resolve() == path.resolve():
        return None
    return local.resolve()


def _web_ui(
    path: Path, store: ProvenanceStore, token: str | None, files: Path | None
) -> tuple[Any, Any]:
    """Return the web UI's snapshot store and the daemon's request handler serving it.

    ``files``: where the repository's files are (``engine.Context.files``), for reviews.
    """
    from reconciler.web import app, readers, serving, snapshots

    shared = snapshots.SnapshotStore()
    application = app.create_app(shared, readers.Readers(path, store, files), token=token)
    return shared, serving.request_handler(application)


def outcome_for(res: engine.Outcome) -> outcomes.ReconcileOutcome:
    """Return what the daemon needs to know of an engine outcome (metrics, requeue, error)."""
    from reconciler import engine

    counts = res.changeset.counts()
    applied = counts["created"] + counts["configured"]
    fields: dict[str, Any] = {
        "commit": res.commit,
        "applied_commit": res.applied_commit,
        "applied": applied,
        "pruned": counts["deleted"],
        "runs_by_state": res.runs_by_state(),
        "provenance_push_failures": res.records_pending,
    }
    if not res.ok:
        problems = [str(e) for e in res.errors] + res.missing_operators
        problems += [str(e) for e in res.changeset.entries if e.action in ("failed", "conflict")]
        return outcomes.failed("; ".join(problems)[:2000], **fields)
    if res.in_flight:
        return outcomes.requeue_after(engine.REQUEUE_IN_FLIGHT, **fields)
    return outcomes.succeeded(**fields)
