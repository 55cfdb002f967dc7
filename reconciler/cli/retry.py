"""``reconciler retry``: start a new attempt of a pipeline's current run."""

from __future__ import annotations

import sys

import click

from reconciler.cli import contexts, output


@click.command("retry")
@click.argument("pipeline", shell_complete=output.complete_pipelines)
@output.env_option
@output.branch_option
@output.repo_option
@click.option(
    "--no-sync",
    is_flag=True,
    help="Only record the request; a running daemon notices it at once and starts it.",
)
@output.output_option("text", "json", "yaml")
@contexts.cluster_options
def command(
    pipeline: str,
    env: str,
    branch: str | None,
    repo: str,
    no_sync: bool,
    fmt: str,
    kubeconfig: str | None,
    kube_context: str | None,
    state_dir: str | None,
) -> None:
    """Start attempt N+1 of PIPELINE's current run in ENV (the run must have finished).

    A finished run is never started again by itself: a new commit or this command is how
    one tries again. The attempt is recorded as ``<run-id>-<N>`` with trigger ``retry``.
    """
    from reconciler import engine
    from reconciler.structs.errors import ReconcilerError

    try:
        ctx = contexts.build_context(
            repo, kubeconfig=kubeconfig, kube_context=kube_context, state_dir=state_dir
        )
        req = engine.request_retry(ctx, env, pipeline, branch)
        data: dict[str, object] = {
            "pipeline": pipeline,
            "env": env,
            "run": req.run_id,
            "previousStatus": req.previous_status,
            "attempt": req.attempt,
            "attemptRun": req.run,
            "synced": not no_sync,
        }
        if fmt == "text":
            click.echo(
                f"{pipeline}: run {req.run_id} ({req.previous_status}) -> attempt "
                f"{req.attempt} as run {req.run}"
            )
        if no_sync:
            if fmt != "text":
                output.dump(data, fmt)
            return
        result = engine.reconcile(ctx, env, branch)
    except ReconcilerError as e:
        output.fail(str(e))
    if fmt == "text":
        for entry in result.changeset.entries:
            if entry.action != "unchanged":
                click.echo(f"  {entry}")
    else:
        data["changes"] = result.changeset.to_list()
        data["ok"] = result.ok
        output.dump(data, fmt)
    sys.exit(output.EXIT_OK if result.ok else output.EXIT_ERROR)
