"""``reconciler sync``: one reconcile of one environment."""

from __future__ import annotations

import sys
from typing import Any

import click

from reconciler.cli import contexts, output


@click.command("sync")
@output.env_option
@output.branch_option
@output.repo_option
@output.ref_option("the tip of the environment's branch")
@click.option("--dry-run", is_flag=True, help="Server-side dry run: change nothing.")
@click.option("--allow-empty", is_flag=True, help="Prune even if the environment renders nothing.")
@output.output_option("text", "json", "yaml")
@contexts.cluster_options
@contexts.mlflow_option
@contexts.one_shot
def command(
    env: str,
    branch: str | None,
    repo: str,
    ref: str | None,
    dry_run: bool,
    allow_empty: bool,
    fmt: str,
    kubeconfig: str | None,
    kube_context: str | None,
    state_dir: str | None,
    mlflow_tracking_uri: str | None,
) -> None:
    """Render ENV, record finished runs, apply the difference, prune what is gone.

    Exit 0 when everything synced, 1 if anything failed (each failure names its object).
    """
    from reconciler import engine
    from reconciler.structs.errors import ReconcilerError, SpecErrors

    err = output.console(stderr=True)
    try:
        ctx = contexts.build_context(
            repo,
            kubeconfig=kubeconfig,
            kube_context=kube_context,
            state_dir=state_dir,
            mlflow_tracking_uri=mlflow_tracking_uri,
        )
        with err.status(f"syncing {env}…") if sys.stderr.isatty() else _null():
            result = engine.reconcile(
                ctx, env, branch, ref=ref, dry_run=dry_run, allow_empty=allow_empty
            )
    except SpecErrors as e:
        output.print_errors(e.errors)
        output.fail(f"environment {env!r} does not render: nothing applied, nothing pruned")
    except ReconcilerError as e:
        output.fail(str(e))
    if fmt != "text":
        output.dump(engine_outcome_json(result), fmt)
    else:
        print_outcome(result, dry_run=dry_run)
    sys.exit(output.EXIT_OK if result.ok else output.EXIT_ERROR)


ACTION_STYLES: dict[str, dict[str, Any]] = {
    "created": {"fg": "green"},
    "configured": {"fg": "yellow"},
    "deleted": {"fg": "red"},
    "conflict": {"fg": "red", "bold": True},
    "failed": {"fg": "red", "bold": True},
    "skipped": {"fg": "blue"},
}
"""Colours of ``sync``'s change lines on a terminal (plain when piped, none with NO_COLOR)."""


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def engine_outcome_json(result: object) -> dict[str, object]:
    """Return the JSON form of an engine Outcome."""
    from reconciler import engine

    assert isinstance(result, engine.Outcome)
    return {
        "env": result.target.env,
        "branch": result.target.branch,
        "namespace": result.target.namespace,
        "commit": result.commit,
        "ok": result.ok,
        "changes": result.changeset.to_list(),
        "summary": result.changeset.counts(),
        "pipelines": [p.to_dict() for p in result.pipelines],
        "records": result.records,
        "missingOperators": result.missing_operators,
        "errors": [str(e) for e in result.errors],
    }


def print_outcome(result: object, *, dry_run: bool) -> None:
    """Print a sync's change set, records, missing operators and summary as plain lines."""
    from reconciler import engine

    assert isinstance(result, engine.Outcome)
    t = result.target
    click.echo(f"{t.env} ({t.namespace}) at {result.commit[:12]}{' [dry run]' if dry_run else ''}")
    colour = output.use_colour()
    for entry in result.changeset.entries:
        if entry.action != "unchanged":
            line = f"  {entry}"
            style = ACTION_STYLES.get(str(entry.action))
            click.echo(click.style(line, **style) if colour and style else line, color=colour)
    for path in result.records:
        click.echo(f"  recorded {path}")
    for op in result.missing_operators:
        click.echo(f"  missing operator: {op}", err=True)
    output.print_errors(result.errors)
    print_pipelines(result.pipelines)
    c = result.changeset.counts()
    click.echo(
        f"created {c['created']}, updated {c['configured']}, unchanged {c['unchanged']}, "
        f"pruned {c['deleted']}, conflicts {c['conflict']}, failed {c['failed']}"
    )


def print_pipelines(pipelines: list[Any]) -> None:
    """Print one line per pipeline: current run, its status, the model served.

    A pipeline that does not render has no run (``-``); its status is ``RenderError`` and
    the line ends with its first error (``file:line:col: field: message``).
    """
    for p in pipelines:
        model = p.serving.model_uri if p.serving else "-"
        line = f"  {p.name:<20} run {p.run or '-':<12} {p.status:<10} serving {model}"
        if p.errors:
            line += f"  ({p.reason})"
        click.echo(line)
