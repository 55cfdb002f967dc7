"""Small print helpers shared by the commands: consoles, errors, YAML/JSON dumps, exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any, NoReturn

import click

from reconciler.structs.documents import dump_yaml_documents

__all__ = ["EXIT_CHANGES", "EXIT_ERROR", "EXIT_OK", "dump_yaml_documents"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2


def console(stderr: bool = False) -> Any:
    """Return a rich Console (imported lazily) for stdout or stderr."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def dump_json(data: Any) -> None:
    """Print JSON to stdout (indented, keys sorted)."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def print_errors(errors: Iterable[Any]) -> None:
    """Print errors (SpecError or text) to stderr, one per line."""
    for e in errors:
        click.echo(str(e), err=True)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` to stderr and exit 1."""
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_ERROR)


repo_option = click.option(
    "--repo",
    "repo",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="The watched repository (a local clone).",
)
ref_option = click.option("--ref", default=None, help="Git ref to read instead of the work tree.")
