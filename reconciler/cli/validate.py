"""``reconciler validate``: every environment renders; errors as path:line:column: field."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.cli import output


@click.command("validate")
@output.repo_option
@output.ref_option("the work tree, uncommitted edits included")
@click.option(
    "--env", "env", shell_complete=output.complete_envs, default=None, help="Only this environment."
)
@click.option("--offline", is_flag=True, help="Do not check that the DVC remote holds the data.")
@output.output_option("text", "json", "yaml")
def command(repo: str, ref: str | None, env: str | None, offline: bool, fmt: str) -> None:
    """Build every overlay, validate every spec, resolve every dataset pointer.

    Exit 0 when clean, 1 with every error listed (path:line:column: field: message).
    """
    from reconciler.render import checks
    from reconciler.source import refusals, repos
    from reconciler.structs.errors import ReconcilerError

    try:
        with repos.checkout_tree(Path(repo), ref) as (root, _):
            report = checks.validate_tree(root, check_remote=not offline, only=env)
            report.errors = refusals.explain_errors(root, report.errors)
    except ReconcilerError as e:
        output.fail(str(e))
    if fmt != "text":
        output.dump(report.to_dict(), fmt)
    else:
        output.print_errors(sorted(set(report.errors)))
        if report.ok:
            for env_report in report.environments:
                runs = ", ".join(f"{p}@{r}" for p, r in env_report.runs.items())
                click.echo(f"ok  {env_report.name:<10} {env_report.namespace:<20} {runs}")
            n = sum(len(e.runs) for e in report.environments)
            d = sum(e.datasets for e in report.environments)
            click.echo(
                f"{len(report.environments)} environments, {n} pipeline runs, "
                f"{d} dataset pointers: valid"
            )
        else:
            click.echo(f"{len(set(report.errors))} error(s)", err=True)
    sys.exit(output.EXIT_OK if report.ok else output.EXIT_ERROR)
