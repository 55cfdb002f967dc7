"""Build the engine's Context from command-line options: repository, clusters, provenance.

Shared by sync, plan, status, retry, review and ui. Kubeconfig handling is kubectl's:
``--kubeconfig`` and ``--context`` flags, KUBECONFIG honoured; an Environment's
``cluster.context`` picks its own context.
"""

from __future__ import annotations

import functools
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


def one_shot(func: F) -> F:
    """Run a command that reads whole environments once and exits (``sync``, ``plan``,
    ``status``) with the objects of large responses kept out of the garbage collector's
    walks (:func:`reconciler.cluster.api.decoded_bodies_frozen`)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from reconciler.cluster import api

        with api.decoded_bodies_frozen():
            return func(*args, **kwargs)

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
