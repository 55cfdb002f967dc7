"""``reconciler demo``: the whole loop on the bundled example, in the sandbox."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.cli import output


@click.command("demo")
@click.option("--keep", is_flag=True, help="Leave the sandbox and daemon running at the end.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where to put the repository, kubeconfig and state (default: a temporary directory).",
)
@click.option(
    "--step-delay",
    default="500ms",
    show_default=True,
    type=output.DURATION,
    help="How long a simulated step takes (e.g. 2s, 500ms).",
)
def command(keep: bool, workdir: str | None, step_delay: float) -> None:
    """Start the sandbox and the daemon, then push, experiment, review and revert.

    No cluster and no network needed. Prints where the repository, kubeconfig and records
    are so you can poke at them with git and kubectl afterwards.
    """
    from reconciler.cli import wiring
    from reconciler.demo import walkthrough
    from reconciler.structs.errors import ReconcilerError

    try:
        code = walkthrough.run(
            console=output.console(),
            keep=keep,
            workdir=Path(workdir) if workdir else None,
            step_delay=step_delay,
            daemon_parts=wiring.daemon_parts,
        )
    except ReconcilerError as e:
        output.fail(str(e))
    sys.exit(code)
