"""``reconciler status``: each environment's sync state and health, and its pipelines.

Parses options and prints; the statuses come from :mod:`reconciler.queries.status` (a
dry-run reconcile of every environment instance: nothing is written).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli import contexts, output

if TYPE_CHECKING:
    from reconciler.queries.status import EnvironmentStatus

STYLE = {
    "Synced": "green",
    "OutOfSync": "yellow",
    "Healthy": "green",
    "Progressing": "cyan",
    "Suspended": "cyan",
    "Missing": "yellow",
    "Degraded": "red",
    "Unknown": "magenta",
    "Succeeded": "green",
    "Running": "cyan",
    "Pending": "cyan",
    "Failed": "red",
    "Cancelled": "yellow",
    "RenderError": "red",
}


@click.command("status")
@output.envs_option
@output.repo_option
@output.output_option("text", "json", "yaml")
@click.option(
    "--check",
    is_flag=True,
    help="Exit 2 unless every environment is Synced and Healthy (for CI and probes).",
)
@contexts.cluster_options
@contexts.one_shot
def command(
    envs: tuple[str, ...],
    repo: str,
    fmt: str,
    check: bool,
    kubeconfig: str | None,
    kube_context: str | None,
    state_dir: str | None,
) -> None:
    """Show every environment instance: sync state, health, commit applied, pipelines.

    Sync (Synced, OutOfSync, Unknown) says whether the cluster matches Git; health whether
    what runs there is well (a failed run is Degraded, a model that should be served and is
    not is Missing). Read-only: a server-side dry run; nothing is written, no record made.
    Exit 0; 1 on an error; with --check, 2 when anything is out of sync or unhealthy.
    """
    from reconciler.queries import status
    from reconciler.structs.errors import ReconcilerError

    try:
        ctx = contexts.build_context(
            repo, kubeconfig=kubeconfig, kube_context=kube_context, state_dir=state_dir
        )
        rows = status.environment_statuses(ctx, only=envs or None)
    except ReconcilerError as e:
        output.fail(str(e))
    if fmt != "text":
        output.dump([r.to_dict() for r in rows], fmt)
    else:
        print_text(rows)
    if any(r.errors for r in rows):
        sys.exit(output.EXIT_ERROR)
    if check and any(r.problem for r in rows):
        sys.exit(output.EXIT_CHANGES)
    sys.exit(output.EXIT_OK)


def _styled(text: str) -> str:
    style = STYLE.get(text)
    return f"[{style}]{text}[/{style}]" if style else text


def print_text(rows: list[EnvironmentStatus]) -> None:
    """Print, per environment instance, a heading line and a table of its pipelines."""
    from rich.markup import escape
    from rich.table import Table

    con = output.console()
    for row in rows:
        head = f"[bold]{row.env}[/bold] {row.namespace} (branch {escape(row.branch)})"
        sync = _styled(str(row.sync))
        if row.sync.value != "Unknown" or not row.errors:  # else the error lines say why
            sync += f" ({escape(row.sync_reason)})"
        health = _styled(str(row.health.status))
        if row.health.reason and row.sync.value != "Unknown":
            health += f" ({escape(row.health.reason)})"
        con.print(f"{head}: sync {sync}, health {health}")
        if row.commit:
            applied = row.applied_commit[:12] or "never"
            con.print(f"  commit {row.commit[:12]}, applied {applied}")
        if row.pipelines:
            con.print(_table(row, Table))
        for e in row.errors:
            con.print(f"  [red]error:[/red] {escape(e)}")


def _table(row: EnvironmentStatus, table_type: Any) -> Any:
    from rich.markup import escape

    table = table_type(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for col in ("PIPELINE", "RUN", "STATUS", "HEALTH", "SERVING", "REASON"):
        table.add_column(col, no_wrap=col not in ("REASON",))
    for p in row.pipelines:
        serving = p.serving.model_uri if p.serving else "-"
        reason = p.run_reason or (p.reason if p.health != "Healthy" else "")
        table.add_row(
            p.name,
            p.run or "-",
            _styled(p.status),
            _styled(p.health),
            escape(serving),
            escape(reason),
        )
    return table
