"""``reconciler plan``: what ``sync`` would change, from a server-side dry run."""

from __future__ import annotations

import sys

import click

from reconciler.cli import contexts, output, sync


@click.command("plan")
@output.env_option
@output.branch_option
@output.ref_option("the tip of the environment's branch")
@output.repo_option
@output.output_option("text", "markdown", "json", "yaml")
@click.option("--allow-empty", is_flag=True, help="Plan prunes even if nothing renders.")
@contexts.cluster_options
@contexts.one_shot
def command(
    env: str,
    branch: str | None,
    ref: str | None,
    repo: str,
    fmt: str,
    allow_empty: bool,
    kubeconfig: str | None,
    kube_context: str | None,
    state_dir: str | None,
) -> None:
    """Show what sync would create, update (a diff of the changed fields), prune.

    Exit 0: no changes; 2: changes pending; 1: error. Nothing is written, no record either.
    """
    from reconciler import engine
    from reconciler.plan import formatting
    from reconciler.structs.errors import ReconcilerError, SpecErrors

    try:
        ctx = contexts.build_context(
            repo, kubeconfig=kubeconfig, kube_context=kube_context, state_dir=state_dir
        )
        result = engine.reconcile(
            ctx, env, branch, ref=ref, dry_run=True, diff=True, allow_empty=allow_empty
        )
    except SpecErrors as e:
        output.print_errors(e.errors)
        output.fail(f"environment {env!r} does not render: nothing would be applied or pruned")
    except ReconcilerError as e:
        output.fail(str(e))
    title = f"{result.target.env} ({result.target.namespace}) at {result.commit[:12]}"
    runs = [p.to_dict() for p in result.pipelines]
    if fmt in ("json", "yaml"):
        output.dump(sync.engine_outcome_json(result), fmt)
    elif fmt == "markdown":
        click.echo(formatting.format_markdown(result.changeset, title=title))
        click.echo(runs_markdown(runs))
    else:
        click.echo(title)
        output.echo_diff(formatting.format_text(result.changeset))
        sync.print_pipelines(result.pipelines)
    output.print_errors(result.errors)
    for op in result.missing_operators:
        click.echo(f"missing operator: {op}", err=True)
    if not result.ok:
        sys.exit(output.EXIT_ERROR)
    sys.exit(output.EXIT_CHANGES if result.changeset.changed else output.EXIT_OK)


def runs_markdown(runs: list[dict[str, object]]) -> str:
    """Return a markdown table of pipelines, their run, status and served model."""
    lines = ["", "| pipeline | run | status | serving |", "|---|---|---|---|"]
    for r in runs:
        serving = r.get("serving") or {}
        assert isinstance(serving, dict)
        run = r["run"] or "-"  # a pipeline that does not render has no run
        lines.append(f"| {r['pipeline']} | `{run}` | {r['status']} | {serving.get('model', '-')} |")
    return "\n".join(lines)
