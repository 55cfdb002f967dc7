"""``reconciler init``: scaffold a new watched repository (see :mod:`reconciler.demo.scaffold`)."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli import output


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@output.output_option("text", "json", "yaml")
def command(directory: str, fmt: str) -> None:
    """Create a watched repository in DIRECTORY (new or empty): one pipeline, a dataset
    under DVC, environments dev and exp, committed on main, ready to push.
    """
    from reconciler.demo import scaffold
    from reconciler.structs.errors import ReconcilerError

    try:
        made = scaffold.scaffold(Path(directory))
    except ReconcilerError as e:
        output.fail(str(e))
    if fmt != "text":
        files = [{"path": path, "what": what} for path, what in scaffold.FILES]
        output.dump({"root": str(made.root), "commit": made.commit, "files": files}, fmt)
        return
    click.echo(f"Initialized a watched repository in {made.root} (main at {made.commit[:12]})")
    width = max(len(path) for path, _ in scaffold.FILES)
    for path, what in scaffold.FILES:
        click.echo(f"  {path:<{width}}  {what}")
    click.echo("Next: git remote add origin URL && git push -u origin main")
