"""Entry point of the ``reconciler`` console script.

Commands are imported only when invoked (heavy libraries such as kubernetes and dvc are
never imported for ``--help``). Exit codes: 0 ok, 1 error (a usage error too), 2 changes
pending (``plan``, ``review``, ``status --check``); see :mod:`reconciler.cli.output`.
Shell completion is click's: ``eval "$(_RECONCILER_COMPLETE=bash_source reconciler)"``.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Sequence
from typing import Any

import click

from reconciler import __version__
from reconciler.cli import contexts, output

# command name -> (module under reconciler.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init", "Create a new watched repository (pipeline, dataset, environments)."),
    "validate": (
        "validate",
        "Check that every environment renders; errors as file:line:col: field.",
    ),
    "render": ("render", "Print the objects an environment should have."),
    "schema": ("schema", "Print the JSON Schema of Pipeline and Environment."),
    "plan": ("plan", "Show what sync would change (server-side dry run)."),
    "sync": ("sync", "Reconcile one environment once."),
    "status": ("status", "Per pipeline: commit, run, serving model, health."),
    "history": ("history", "Runs of a pipeline from its provenance branch."),
    "retry": ("retry", "Start a new attempt of a pipeline's current run."),
    "review": ("review", "Pull-request report for BASE..HEAD."),
    "run": ("run", "Run the reconciler daemon."),
    "ui": ("ui", "Serve the read-only web UI for a clone and a kubeconfig."),
    "sandbox": ("sandbox", "Start the local Kubernetes API emulator."),
    "demo": ("demo", "The whole loop on the bundled example, in the sandbox."),
    "manifests": ("manifests", "Print the in-cluster install (Deployment, RBAC, Lease)."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(f"reconciler.cli.{entry[0]}")
        cmd: click.Command = module.command
        return cmd

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the CLI; a usage error exits 1 (never 2, the "changes pending" code)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as e:
            e.show()
            sys.exit(output.EXIT_USAGE)
        except click.ClickException as e:
            e.show()
            sys.exit(output.EXIT_ERROR)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(output.EXIT_ERROR)
        sys.exit(rv if isinstance(rv, int) else output.EXIT_OK)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
def cli() -> None:
    """reconciler: GitOps for ML pipelines (GPU training runs and model serving from Git)."""


GC_THRESHOLDS = (50_000, 20, 20)
"""The cyclic garbage collector's thresholds for the whole process.

A reconcile builds and drops hundreds of thousands of small, acyclic objects (parsed
documents, manifests, API responses): with Python's default first threshold (700
allocations) the collector walks the young heap thousands of times and took ~40% of a
1,000-pipeline sync's CPU. Cycles are still collected, in larger batches."""


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI (the console script's entry point)."""
    gc.set_threshold(*GC_THRESHOLDS)
    contexts.PROCESS_ENDS_WITH_COMMAND = True
    output.whole_writes_stdout()
    return cli.main(args=argv, prog_name="reconciler")
