"""``reconciler status``: per pipeline, the commit applied, current run, serving model, health."""

from __future__ import annotations

import sys

import click

from reconciler.cli import contexts, output


@click.command("status")
@click.option("--env", "envs", multiple=True, help="Only these environments (repeatable).")
@output.repo_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@contexts.cluster_options
def command(
    envs: tuple[str, ...],
    repo: str,
    fmt: str,
    kubeconfig: str | None,
    kube_context: str | None,
    state_dir: str | None,
) -> None:
    """Show every environment instance: commit applied, runs, serving model, health.

    Read-only: a server-side dry run tells whether the cluster is in sync; nothing is
    written and no record is made.
    """
    from reconciler import engine
    from reconciler.structs.errors import ReconcilerError

    try:
        ctx = contexts.build_context(
            repo, kubeconfig=kubeconfig, kube_context=kube_context, state_dir=state_dir
        )
        targets = engine.discover_targets(ctx.repo, only=envs or None)
    except ReconcilerError as e:
        output.fail(str(e))
    if not targets:
        output.fail("no environment instances found" + (f" for {', '.join(envs)}" if envs else ""))
    rows: list[dict[str, object]] = []
    failed = False
    for t in targets:
        try:
            res = engine.reconcile(ctx, t.env, t.branch, dry_run=True)
        except ReconcilerError as e:
            failed = True
            rows.append(
                {"env": t.env, "branch": t.branch, "namespace": t.namespace, "error": str(e)}
            )
            continue
        rows.append(
            {
                "env": t.env,
                "branch": t.branch,
                "namespace": t.namespace,
                "commit": res.commit,
                "appliedCommit": res.applied_commit,
                "inSync": res.in_sync,
                "pendingChanges": res.pending_changes,
                "pipelines": [p.to_dict() for p in res.pipelines],
                "errors": [str(e) for e in res.errors] + res.missing_operators,
            }
        )
        failed = failed or not res.ok
    if fmt == "json":
        output.dump_json(rows)
    else:
        print_table(rows)
    sys.exit(output.EXIT_ERROR if failed else output.EXIT_OK)


def print_table(rows: list[dict[str, object]]) -> None:
    """Print one rich table per environment instance."""
    from rich.table import Table

    con = output.console()
    for row in rows:
        head = f"[bold]{row['env']}[/bold] {row['namespace']} (branch {row['branch']})"
        if "error" in row:
            con.print(f"{head}: [red]{row['error']}[/red]")
            continue
        applied = str(row["appliedCommit"])[:12] or "never synced"
        sync = "in sync" if row["inSync"] else f"{row['pendingChanges']} change(s) pending"
        con.print(f"{head}: commit {str(row['commit'])[:12]}, applied {applied}, {sync}")
        table = Table(show_edge=False, pad_edge=False)
        for col in ("pipeline", "run", "status", "serving model", "health"):
            table.add_column(col)
        pipelines = row["pipelines"]
        assert isinstance(pipelines, list)
        for p in pipelines:
            serving = p["serving"] or {}
            table.add_row(
                p["pipeline"], p["run"], p["status"], serving.get("model", "-"), p["health"]
            )
        con.print(table)
        errors = row.get("errors") or []
        assert isinstance(errors, list)
        for e in errors:
            con.print(f"  [red]{e}[/red]")
