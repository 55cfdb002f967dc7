"""``reconciler history PIPELINE``: the runs of a pipeline, read from its provenance branch.

Finds each environment's provenance branch in ``overlays/<env>/environment.yaml`` of the
repository's default branch (``origin/HEAD``, else ``HEAD``), fetches, and lists the
records newest first: run, attempt, source commit, status, promotion, key metrics and
duration, marking the run that is serving (the newest Succeeded and promoted one, in an
environment that serves). Records still waiting in the outbox are shown as not pushed.
With ``provenanceBranch: "{source}"`` every branch holding records is read.
"""

from __future__ import annotations

import sys
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli import output

if TYPE_CHECKING:
    from reconciler.provenance.records import RunRecord
    from reconciler.runs.history import EnvHistory


@click.command("history")
@click.argument("pipeline")
@click.option("--env", "env", default=None, help="Only this environment (default: every one).")
@output.repo_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--no-fetch", is_flag=True, help="Read local refs only; do not fetch first.")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="State directory whose outbox holds records not pushed yet (default: user cache).",
)
def command(
    pipeline: str, env: str | None, repo: str, fmt: str, no_fetch: bool, state_dir: str | None
) -> None:
    """Show the runs of PIPELINE recorded on its provenance branch, newest first.

    Marks the run that is serving. Exit 0; 1 on an error (unknown environment, unreadable
    repository, a record file that does not parse).
    """
    from reconciler.cli.contexts import default_state_dir
    from reconciler.provenance.store import ProvenanceStore
    from reconciler.runs.history import collect
    from reconciler.source import repos
    from reconciler.structs.errors import ProvenanceError, ReconcilerError

    try:
        root = repos.find_root(Path(repo))
        remote = "origin" if repos.remote_url(root) else None
        state = Path(state_dir) if state_dir else default_state_dir()
        store = ProvenanceStore(root, remote=remote, state_dir=state / "provenance")
        if remote and not no_fetch:
            try:
                store.fetch()
            except ProvenanceError as fetch_error:
                click.echo(f"warning: {fetch_error}; showing what is known locally", err=True)
        histories, errors = collect(store, pipeline, only=env)
    except ReconcilerError as exc:
        output.fail(str(exc))
    if fmt == "json":
        output.dump_json(to_json(pipeline, histories, errors))
    else:
        print_text(pipeline, histories)
    for message in errors:
        click.echo(f"error: {message}", err=True)
    sys.exit(output.EXIT_ERROR if errors else output.EXIT_OK)


# --------------------------------------------------------------------------- printing


def format_value(value: Any) -> str:
    """Format a metric value compactly (4 significant digits for floats)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_duration(seconds: float | None) -> str:
    """Format seconds as ``1h02m``, ``5m07s`` or ``42s``; ``-`` if unknown."""
    if seconds is None:
        return "-"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _promoted_text(rec: RunRecord) -> str:
    if rec.promotion is None:
        return "-"
    return "yes" if rec.promoted else "no"


def print_text(pipeline: str, histories: list[EnvHistory]) -> None:
    """Print one rich table per environment (and branch set)."""
    from rich.console import Console
    from rich.table import Table

    from reconciler.runs import history

    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)
    if not histories:
        console.print(f"no runs of pipeline {pipeline} are recorded")
        return
    for h in histories:
        several = len(h.branches) > 1
        title = f"{pipeline} in {h.env} ({', '.join(h.branches) or h.template})"
        table = Table(
            title=title, title_justify="left", box=None, pad_edge=False, header_style="bold"
        )
        for name in ("RUN", "ATTEMPT", "COMMIT", "STATUS", "PROMOTED", "METRICS", "DURATION"):
            table.add_column(name, no_wrap=name != "METRICS")
        table.add_column("FINISHED", no_wrap=True)
        if several:
            table.add_column("BRANCH", no_wrap=True)
        table.add_column("SERVING", no_wrap=True)
        for branch, rec, origin in h.rows:
            status = str(rec.status) + (" (not pushed)" if origin == "outbox" else "")
            metrics = " ".join(
                f"{k}={format_value(v)}" for k, v in history.key_metrics(rec).items()
            )
            finished = (
                rec.finished.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ") if rec.finished else "-"
            )
            serving = "* serving" if h.serving.get(branch) == rec.run_name else ""
            cells = [
                rec.run_name,
                str(rec.attempt),
                rec.source.commit[:10] or "-",
                status,
                _promoted_text(rec),
                metrics or "-",
                format_duration(rec.duration_seconds),
                finished,
            ]
            table.add_row(*cells, *([branch] if several else []), serving)
        if not h.rows:
            console.print(f"{title}: no runs recorded")
            continue
        console.print(table)
        console.print()


def to_json(pipeline: str, histories: list[EnvHistory], errors: list[str]) -> dict[str, Any]:
    """Return the ``--format json`` document."""
    envs = []
    for h in histories:
        runs = []
        for branch, rec, origin in h.rows:
            promotion = rec.promotion
            runs.append(
                {
                    "id": rec.run_name,
                    "run": rec.run,
                    "attempt": rec.attempt,
                    "branch": branch,
                    "commit": rec.source.commit,
                    "ref": rec.source.ref,
                    "status": str(rec.status),
                    "reason": rec.reason,
                    "trigger": str(rec.trigger),
                    "supersededBy": rec.superseded_by,
                    "promoted": rec.promoted,
                    "promotion": None
                    if promotion is None
                    else {
                        "metric": promotion.metric,
                        "value": promotion.value,
                        "threshold": promotion.threshold,
                        "reason": promotion.reason,
                    },
                    "metrics": rec.metrics_flat,
                    "metricsByStep": rec.metrics,
                    "durationSeconds": rec.duration_seconds,
                    "started": rec.started.isoformat() if rec.started else None,
                    "finished": rec.finished.isoformat() if rec.finished else None,
                    "modelOutput": rec.model_output,
                    "serving": h.serving.get(branch) == rec.run_name,
                    "pushed": origin != "outbox",
                }
            )
        envs.append(
            {
                "env": h.env,
                "provenanceBranch": h.template,
                "branches": h.branches,
                "serve": h.serve,
                "serving": [{"branch": b, "id": run} for b, run in sorted(h.serving.items())],
                "runs": runs,
            }
        )
    return {"pipeline": pipeline, "environments": envs, "errors": errors}
