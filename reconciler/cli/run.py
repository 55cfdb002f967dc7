"""``reconciler run``: the daemon. Parses options, wires the engine into the scheduler."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.cli import output


@click.command("run")
@click.option("--repo", default=".", show_default=True, help="Local repository path or git URL.")
@click.option(
    "--follow",
    type=click.Choice(["remote", "local"]),
    default="remote",
    show_default=True,
    help="Given a clone: deploy its remote's branches (fetched), or its local ones (development).",
)
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
@output.envs_option
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
@click.option(
    "--cache-objects",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Keep up to N live objects in memory, watched, so passes list nothing "
    "(about 6 KiB each; 0: every pass lists).",
)
@click.option("--ui/--no-ui", default=True, show_default=True, help="Serve the web UI at /.")
@click.option(
    "--ui-token-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Bearer token for the web UI (else $RECONCILER_UI_TOKEN; none: open).",
)
def command(
    repo: str,
    follow: str,
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
    cache_objects: int,
    ui: bool,
    ui_token_file: str | None,
) -> None:
    """Watch a repository and keep every environment reconciled until SIGTERM/SIGINT.

    --repo is a URL or a clone. A URL is mirrored into the state directory and fetched
    every --interval. Given a clone (``--repo .``), the daemon deploys what its remote
    ``origin`` has, never local unpushed commits: the remote is mirrored and fetched every
    --interval and whenever the clone's refs move (a ``git push`` from it is fetched at
    once); ``--follow local`` deploys the clone's own branches instead (development: a
    commit is reconciled at once, without a push). POST /hooks/git (signed) fetches now.
    Serves /healthz, /readyz, /metrics and the read-only web UI (/) on --listen.
    """
    from reconciler.cli import wiring
    from reconciler.daemon import loop, sharding
    from reconciler.structs.errors import ReconcilerError

    try:
        options = loop.DaemonOptions(
            repo=repo,
            follow="local" if follow == "local" else "remote",
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
            cache_objects=cache_objects,
        )
        from reconciler.web.serving import load_token

        parts = wiring.daemon_parts(
            options,
            mlflow_tracking_uri=mlflow_tracking_uri,
            ui=ui,
            ui_token=load_token(ui_token_file) if ui else None,
        )
        code = loop.run_daemon(options, **parts)
    except (ValueError, ReconcilerError) as e:
        output.fail(str(e))
    sys.exit(code)
