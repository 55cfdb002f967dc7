"""``reconciler run``: the daemon. Parses options, wires the engine into the scheduler."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from reconciler.cli import contexts, output


@click.command("run")
@click.option("--repo", default=".", show_default=True, help="Local repository path or git URL.")
@click.option("--interval", default="30s", show_default=True, help="Git polling interval.")
@click.option("--resync", default="5m", show_default=True, help="Full resync period (drift).")
@click.option(
    "--listen", default=":8080", show_default=True, help="HTTP address (probes, metrics, webhook)."
)
@click.option("--leader-elect", is_flag=True, help="Only the holder of a Lease writes.")
@click.option(
    "--lease-namespace",
    default=None,
    help="Namespace of the Lease (default: $POD_NAMESPACE, the service account's namespace, else reconciler-system).",
)
@click.option("--env", "envs", multiple=True, help="Only these environments (repeatable).")
@click.option(
    "--shard",
    default="0/1",
    show_default=True,
    help="I/N: reconcile only the environments of shard I.",
)
@click.option(
    "--workers", default=4, show_default=True, help="Environments reconciled in parallel."
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Caches and the provenance outbox.",
)
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option("--log-level", default="INFO", show_default=True)
@click.option(
    "--webhook-secret-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="HMAC secret for POST /hooks/git (else $RECONCILER_WEBHOOK_SECRET).",
)
@click.option(
    "--kubeconfig",
    default=None,
    help="Kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster).",
)
@click.option("--context", "kube_context", default=None, help="Kubeconfig context.")
@click.option(
    "--mlflow-tracking-uri", default=None, help="Also log every run record as an MLflow run."
)
def command(
    repo: str,
    interval: str,
    resync: str,
    listen: str,
    leader_elect: bool,
    lease_namespace: str | None,
    envs: tuple[str, ...],
    shard: str,
    workers: int,
    state_dir: str | None,
    log_format: str,
    log_level: str,
    webhook_secret_file: str | None,
    kubeconfig: str | None,
    kube_context: str | None,
    mlflow_tracking_uri: str | None,
) -> None:
    """Watch a repository and keep every environment reconciled until SIGTERM/SIGINT.

    A local repository's refs are watched (a commit or push reconciles within a second);
    a URL is mirrored and fetched every --interval; POST /hooks/git (signed) fetches now.
    Serves /healthz, /readyz and /metrics on --listen.
    """
    from reconciler.daemon import loop, sharding
    from reconciler.structs.errors import ReconcilerError

    try:
        options = loop.DaemonOptions(
            repo=repo,
            interval=loop.parse_duration(interval),
            resync=loop.parse_duration(resync),
            listen=listen,
            leader_elect=leader_elect,
            lease_namespace=lease_namespace,
            envs=envs,
            shard=sharding.parse_shard(shard),
            workers=workers,
            state_dir=Path(state_dir) if state_dir else None,
            log_format="json" if log_format == "json" else "text",
            log_level=log_level.upper(),
            webhook_secret_file=Path(webhook_secret_file) if webhook_secret_file else None,
            kubeconfig=kubeconfig,
            context=kube_context,
        )
        parts = build_daemon_parts(options, mlflow_tracking_uri=mlflow_tracking_uri)
        code = loop.run_daemon(options, **parts)
    except (ValueError, ReconcilerError) as e:
        output.fail(str(e))
    sys.exit(code)


def build_daemon_parts(options: Any, *, mlflow_tracking_uri: str | None = None) -> dict[str, Any]:
    """Return the daemon's callables (reconcile, list_targets, fetch, flush) around the engine."""
    from reconciler import engine
    from reconciler.apply.manager import ResourceManager
    from reconciler.cluster import clients
    from reconciler.daemon import outcomes
    from reconciler.provenance.store import ProvenanceStore
    from reconciler.source import mirrors, repos

    state = options.resolved_state_dir()
    path, fetch = mirrors.refs_fetcher(options.repo, state / "mirrors")
    api_client = clients.load_client(kubeconfig=options.kubeconfig, context=options.context)
    managers: dict[str | None, Any] = {None: ResourceManager(api_client)}

    def manager_for(env_context: str | None) -> Any:
        ctx_name = options.context or env_context
        if ctx_name not in managers:
            managers[ctx_name] = ResourceManager(
                clients.load_client(kubeconfig=options.kubeconfig, context=ctx_name)
            )
        return managers[ctx_name]

    remote = "origin" if repos.remote_url(path) else None
    store = ProvenanceStore(
        path,
        remote=remote,
        state_dir=state / "provenance",
        sinks=contexts.mlflow_sinks(mlflow_tracking_uri),
    )
    ctx = engine.Context(repo=path, manager_for=manager_for, provenance=store)

    def reconcile(key: str) -> Any:
        env, _, branch = key.partition("@")
        if store.pending():
            store.flush()
        res = engine.reconcile(ctx, env, branch or None)
        counts = res.changeset.counts()
        fields = {
            "commit": res.commit,
            "applied": counts["created"] + counts["configured"],
            "pruned": counts["deleted"],
            "runs_by_state": res.runs_by_state(),
            "provenance_push_failures": res.records_pending,
        }
        if not res.ok:
            problems = [str(e) for e in res.errors] + res.missing_operators
            problems += [
                str(e) for e in res.changeset.entries if e.action in ("failed", "conflict")
            ]
            return outcomes.failed("; ".join(problems)[:2000], **fields)
        if res.in_flight:
            return outcomes.requeue_after(engine.REQUEUE_IN_FLIGHT, **fields)
        return outcomes.succeeded(**fields)

    def list_targets() -> list[str]:
        return [t.key for t in engine.discover_targets(path)]

    def flush() -> None:
        store.flush()

    return {
        "reconcile": reconcile,
        "list_targets": list_targets,
        "fetch": fetch,
        "flush": flush,
        "api_client": api_client,
    }
