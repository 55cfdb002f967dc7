"""``reconciler history PIPELINE``: the runs of a pipeline, newest first, served run marked.

Parses options and prints; the history itself (environments, provenance branches, the
served run, why each run ended) comes from :mod:`reconciler.queries.history`.
"""

from __future__ import annotations

import sys
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli import output

if TYPE_CHECKING:
    from reconciler.queries.history import EnvHistory, History, Row


@click.command("history")
@click.argument("pipeline", shell_complete=output.complete_pipelines)
@click.option(
    "--env",
    "env",
    shell_complete=output.complete_envs,
    default=None,
    help="Only this environment (default: every one).",
)
@output.repo_option
@output.output_option("text", "json", "yaml")
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
    """Show the runs of PIPELINE recorded on its provenance branches, newest first.

    Marks the run each environment serves (what its branch serves at its tip, so after a
    revert the earlier run) and says why each run that did not succeed ended. Exit 0; 1 if
    no run of PIPELINE is recorded anywhere, on an unknown environment, an unreadable
    repository, or a record file that does not parse.
    """
    from reconciler.cli.contexts import default_state_dir
    from reconciler.provenance.store import ProvenanceStore
    from reconciler.queries import history
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
                output.warn(f"{fetch_error}; showing what is known locally")
        found = history.collect(store, pipeline, only=env)
    except ReconcilerError as exc:
        output.fail(str(exc))
    if fmt != "text":
        output.dump(found.to_dict(), fmt)
    else:
        print_text(found)
    for message in found.errors:
        click.echo(f"error: {message}", err=True)
    nothing = not any(h.rows for h in found.environments)
    if nothing and not env:
        click.echo(f"error: no run of pipeline {pipeline!r} is recorded", err=True)
    sys.exit(output.EXIT_ERROR if found.errors or (nothing and not env) else output.EXIT_OK)


def _cells(row: Row, several: bool) -> list[str]:
    from reconciler.queries.history import format_duration, format_value, key_metrics

    rec = row.record
    status = str(rec.status) + (" (not pushed)" if row.origin == "outbox" else "")
    promoted = "-" if rec.promotion is None else ("yes" if rec.promoted else "no")
    metrics = " ".join(f"{k}={format_value(v)}" for k, v in key_metrics(rec).items())
    finished = rec.finished.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ") if rec.finished else "-"
    cells = [
        rec.run_name,
        str(rec.attempt),
        rec.source.commit[:10] or "-",
        status,
        promoted,
        metrics or "-",
        format_duration(rec.duration_seconds),
        finished,
    ]
    if several:
        cells.append(row.source)
    return [*cells, "* serving" if row.serving else "", row.reason]


def _print_env(console: Any, pipeline: str, h: EnvHistory) -> None:
    from rich.table import Table

    several = len(h.branches) > 1
    title = f"{pipeline} in {h.env} ({', '.join(h.branches) or h.template})"
    if not h.rows:
        console.print(f"{title}: no runs recorded")
        return
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold")
    names = ["RUN", "ATTEMPT", "COMMIT", "STATUS", "PROMOTED", "METRICS", "DURATION", "FINISHED"]
    for name in [*names, *(["BRANCH"] if several else []), "SERVING", "REASON"]:
        table.add_column(name, no_wrap=name not in ("METRICS", "REASON"))
    for row in h.rows:
        table.add_row(*_cells(row, several))
    console.print(table)
    for branch, note in sorted(h.notes.items()):
        console.print(f"  note ({branch}): {note}")
    console.print()


def print_text(found: History) -> None:
    """Print one table per environment (and set of branches)."""
    console = output.console()
    if not found.environments:
        console.print(f"no runs of pipeline {found.pipeline} are recorded")
        return
    for h in found.environments:
        _print_env(console, found.pipeline, h)
