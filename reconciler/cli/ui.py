"""``reconciler ui``: the daemon's web UI for a clone and a kubeconfig, read-only.

Parses options and wires :mod:`reconciler.web`: a refresher runs the dry-run reconcile of
``reconciler status`` for every environment instance every ``--refresh``, and the pages
render from that snapshot (no viewer adds a cluster request). Served by the daemon's own
HTTP server class, so ``/healthz`` answers too.
"""

from __future__ import annotations

import sys
import threading

import click

from reconciler.cli import contexts, output


@click.command("ui")
@output.repo_option
@click.option(
    "--listen", default="127.0.0.1:8080", show_default=True, help="HTTP address of the UI."
)
@click.option("--refresh", default="30s", show_default=True, help="How often the cluster is read.")
@output.envs_option
@click.option(
    "--ui-token-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Bearer token the pages ask for (else $RECONCILER_UI_TOKEN; none: open).",
)
@contexts.cluster_options
def command(
    repo: str,
    listen: str,
    refresh: str,
    envs: tuple[str, ...],
    ui_token_file: str | None,
    kubeconfig: str | None,
    kube_context: str | None,
    state_dir: str | None,
) -> None:
    """Serve the read-only web UI of a local clone until Ctrl-C.

    Pages: environments (in sync or not, health, runs in flight, errors), pipelines (step
    graph, serving, promotion), run history with metric charts, provenance records, the
    pending diff, reviews of BASE..HEAD and failures. Nothing is written to the cluster and
    no record is made (provenance branches are fetched, as ``history`` does).
    """
    from reconciler.daemon import httpserver, loop
    from reconciler.structs.errors import ReconcilerError
    from reconciler.web import app, readers, serving, snapshots

    try:
        interval = loop.parse_duration(refresh)
        token = serving.load_token(ui_token_file)
        ctx = contexts.build_context(
            repo, kubeconfig=kubeconfig, kube_context=kube_context, state_dir=state_dir
        )
        store = snapshots.SnapshotStore()
        application = app.create_app(
            store, readers.Readers(ctx.repo, ctx.provenance), mode="planned", token=token
        )
        server = httpserver.HttpServer(
            listen, httpserver.Routes(ui=serving.request_handler(application))
        )
    except ValueError as exc:
        output.fail(str(exc))
    except (ReconcilerError, OSError) as exc:
        output.fail(f"{exc}")
    refresher = serving.Refresher(store, serving.dry_run_refresh(ctx, envs=envs), interval)
    stop = threading.Event()
    refresher.start()
    server.start()
    click.echo(f"reconciler ui: http://{_shown(listen, server.port)}/ (Ctrl-C stops)", err=True)
    with loop.handling_signals(stop.set):
        stop.wait()
    refresher.stop()
    server.stop()
    sys.exit(output.EXIT_OK)


def _shown(listen: str, port: int) -> str:
    host = listen.rpartition(":")[0].strip("[]") or "127.0.0.1"
    return f"{host}:{port}"
