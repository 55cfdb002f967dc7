"""``reconciler review BASE..HEAD``: the pull-request report."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.cli import contexts, output


@click.command("review")
@click.argument("spec", metavar="BASE..HEAD")
@output.repo_option
@output.output_option("markdown", "json", "yaml")
@click.option(
    "--live", is_flag=True, help="Also plan HEAD against the cluster (server-side dry run)."
)
@contexts.cluster_options
def command(
    spec: str,
    repo: str,
    fmt: str,
    live: bool,
    kubeconfig: str | None,
    kube_context: str | None,
    state_dir: str | None,
) -> None:
    """Show what HEAD would change in every environment it affects, compared with BASE.

    Renders both commits (no cluster needed), lists the runs HEAD would start or reuse,
    dataset and param changes, and compares HEAD's experiment runs with BASE's newest
    promoted run when provenance records exist. With ``--live`` (a cluster configured) it
    also lists what syncing HEAD would change there. Exit 2 when the branch changes anything.
    """
    from reconciler import engine
    from reconciler.provenance.store import ProvenanceStore
    from reconciler.review import markdown, reports
    from reconciler.source import repos
    from reconciler.structs.errors import ReconcilerError

    try:
        root = repos.find_root(Path(repo))
        state = Path(state_dir) if state_dir else contexts.default_state_dir()
        remote = "origin" if repos.remote_url(root) else None
        store = ProvenanceStore(root, remote=remote, state_dir=state / "provenance")
        live_plan = None
        if live:
            ctx = contexts.build_context(
                str(root), kubeconfig=kubeconfig, kube_context=kube_context, state_dir=state_dir
            )
            live_plan = engine.live_plan(ctx)
        review = reports.build_review(root, spec, provenance=store, live=live_plan)
    except ReconcilerError as e:
        output.fail(str(e))
    if fmt != "markdown":
        output.dump(review.to_dict(), fmt)
    else:
        colour = output.use_colour()
        click.echo(
            output.colour_markdown(markdown.format_markdown(review), colour=colour),
            nl=False,
            color=colour,
        )
    if review.errors:
        sys.exit(output.EXIT_ERROR)
    sys.exit(output.EXIT_CHANGES if review.changed else output.EXIT_OK)
