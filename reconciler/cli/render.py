"""``reconciler render``: print the objects an environment should have."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from reconciler.cli import output


@click.command("render")
@click.option("--env", "env", required=True, help="Environment (overlays/<env>).")
@output.repo_option
@output.ref_option("the work tree, uncommitted edits included")
@click.option("--branch", default=None, help="Branch for a branch-pattern environment.")
@output.output_option("yaml", "json")
@click.option("--all-steps", is_flag=True, help="Render every step, not only the first ones.")
def command(
    env: str, repo: str, ref: str | None, branch: str | None, fmt: str, all_steps: bool
) -> None:
    """Print the objects ENV should have, built by Kustomize and expanded into runs.

    Without a cluster a run is new: only its first steps are rendered (``--all-steps`` for
    every step) and there is no serving yet. Errors go to stderr; a pipeline that fails to
    render is left out and the exit code is 1.
    """
    from reconciler import engine
    from reconciler.render import environments
    from reconciler.source import repos
    from reconciler.structs.errors import ReconcilerError

    try:
        with repos.checkout_tree(Path(repo), ref) as (root, commit):
            prepared = engine.prepare_target(
                root,
                env,
                branch=branch or engine.branch_hint(Path(repo), ref),
                source=repos.find_root(Path(repo)),
                commit=commit.sha if commit else None,
            )
            objs = environments.render_objects(prepared, all_steps=all_steps)
    except ReconcilerError as e:
        output.fail(str(e))
    if fmt == "json":
        click.echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}, indent=2))
    else:
        click.echo(output.dump_yaml_documents(objs), nl=False)
    if prepared.errors:
        output.print_errors(sorted(set(prepared.errors)))
        sys.exit(output.EXIT_ERROR)
