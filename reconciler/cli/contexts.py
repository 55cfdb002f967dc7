"""Build the engine's Context from command-line options: repository, clusters, provenance.

Shared by sync, plan, status, retry, review and ui. Kubeconfig handling is kubectl's:
``--kubeconfig`` and ``--context`` flags, KUBECONFIG honoured; an Environment's
``cluster.context`` picks its own context.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from reconciler.source.statedir import default_state_dir as default_state_dir  # re-exported

F = TypeVar("F", bound=Callable[..., Any])


def cluster_options(func: F) -> F:
    """Add ``--kubeconfig``, ``--context`` and ``--state-dir`` to a command."""
    func = click.option(
        "--state-dir",
        type=click.Path(file_okay=False),
        default=None,
        help="Caches and the provenance outbox (default: the user's cache dir).",
    )(func)
    func = click.option("--context", "kube_context", default=None, help="Kubeconfig context.")(func)
    func = click.option(
        "--kubeconfig", default=None, help="Kubeconfig file (default: KUBECONFIG, ~/.kube/config)."
    )(func)
    return func


PROCESS_ENDS_WITH_COMMAND = False
"""Set by the console script (:func:`reconciler.cli.main.main`): the process exits when the
command returns (see :func:`one_shot`)."""


def one_shot(func: F) -> F:
    """Run a command that reads whole environments once and exits (``sync``, ``plan``,
    ``status``) without the cyclic garbage collector.

    Such a command builds millions of objects and drops them by reference counting (none
    of what it parses, renders or lists has a cycle), and exits: the collector's walks
    over what it holds freed nothing and took ~1.4 s of a 10,000-pipeline no-op's ~10 s
    (docs/performance.md). Cycles made meanwhile are freed when the process ends (the
    peak memory of that no-op is the same with it and without it). Commands that keep
    running (``run``, ``sandbox``, ``ui``, ``demo``) keep the collector. A caller that calls
    the command in a longer-lived process (a test's ``CliRunner``) gets the collector back
    as it was; the console script (:data:`PROCESS_ENDS_WITH_COMMAND`) does not turn it
    back on only to walk, as the process ends, everything the command still holds.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            if enabled and not PROCESS_ENDS_WITH_COMMAND:
                gc.enable()

    return cast(F, wrapper)


mlflow_option = click.option(
    "--mlflow-tracking-uri",
    default=None,
    help="Also log every run record as an MLflow run (needs the 'mlflow' extra).",
)


def build_context(
    repo: str,
    *,
    kubeconfig: str | None,
    kube_context: str | None,
    state_dir: str | None,
    mlflow_tracking_uri: str | None = None,
    check_remote: bool = False,
) -> Any:
    """Return an ``engine.Context`` for a local repository."""
    from reconciler import engine
    from reconciler.apply.manager import ResourceManager
    from reconciler.cluster import clients
    from reconciler.provenance import mlflow_sink
    from reconciler.provenance.store import ProvenanceStore
    from reconciler.source import caches, repos

    root = repos.find_root(Path(repo))
    managers: dict[str | None, Any] = {}
    state = Path(state_dir) if state_dir else default_state_dir()
    cache = caches.ContentCache(state / "cache")
    repos.keep_exports_in(state / "trees")  # the next command updates them, not writes whole

    def manager_for(env_context: str | None) -> Any:
        ctx = kube_context or env_context
        if ctx not in managers:
            client = clients.load_client(kubeconfig=kubeconfig, context=ctx)
            verified = cache.table(f"verified.{clients.server_url(client)}")
            managers[ctx] = ResourceManager(client, verified=verified)
        return managers[ctx]

    remote = "origin" if repos.remote_url(root) else None
    store = ProvenanceStore(
        root,
        remote=remote,
        state_dir=state / "provenance",
        sinks=mlflow_sink.sinks_for(mlflow_tracking_uri),
    )
    return engine.Context(
        repo=root,
        manager_for=manager_for,
        provenance=store,
        check_remote=check_remote,
        cache=cache,
    )
