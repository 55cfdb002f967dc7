"""Small print helpers shared by the commands: consoles, errors, output formats, exit codes.

Exit codes (Terraform's ``-detailed-exitcode`` convention, which CI scripts already know):

    0  ok (for ``plan``/``review``: nothing would change)
    1  error, including a usage error (unknown option, bad value, missing argument)
    2  changes pending (``plan``, ``review``) or not synced/healthy (``status --check``)

Colour: rich decides (only on a terminal; ``NO_COLOR`` turns it off, ``FORCE_COLOR`` on).
Piped output is never cut to a terminal width.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from typing import Any, NoReturn, TypeVar

import click

from reconciler.structs.documents import dump_yaml_documents

__all__ = [
    "EXIT_CHANGES",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "dump_yaml_documents",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_USAGE = 1
"""A usage error is an error: never 2, which CI reads as "changes pending"."""

PIPE_WIDTH = 10_000
"""Console width when stdout is not a terminal: long URIs and reasons are never cut."""

F = TypeVar("F", bound=Callable[..., Any])


def console(stderr: bool = False) -> Any:
    """Return a rich Console (imported lazily) for stdout or stderr.

    On a terminal it wraps to the terminal's width and colours (unless ``NO_COLOR``); when
    piped it neither colours nor wraps nor cuts anything.
    """
    from rich.console import Console

    con = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not con.is_terminal:
        con = Console(stderr=stderr, highlight=False, soft_wrap=True, width=PIPE_WIDTH)
    return con


def dump_json(data: Any) -> None:
    """Print JSON to stdout (indented, keys sorted)."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def dump(data: Any, fmt: str) -> None:
    """Print data as ``json`` or ``yaml`` (one document)."""
    if fmt == "yaml":
        plain = json.loads(json.dumps(data, default=str))
        click.echo(dump_yaml_documents([plain]), nl=False)
    else:
        dump_json(data)


def output_option(
    *formats: str, default: str | None = None, aliases: bool = True
) -> Callable[[F], F]:
    """Add ``-o/--output FORMAT`` (``--format`` kept as an alias) to a command.

    The parameter is ``fmt``; the default is the first format.
    """
    names = ["-o", "--output", *(["--format"] if aliases else [])]
    return click.option(
        *names,
        "fmt",
        type=click.Choice(list(formats)),
        default=default or formats[0],
        show_default=True,
        help="Output format.",
    )


def print_errors(errors: Iterable[Any]) -> None:
    """Print errors (SpecError or text) to stderr, one per line."""
    for e in errors:
        click.echo(str(e), err=True)


def warn(message: str) -> None:
    """Print ``warning: message`` to stderr."""
    click.echo(f"warning: {message}", err=True)


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
ref_option = click.option(
    "--ref",
    default=None,
    help="Git ref (branch, tag, commit) to read instead of the work tree / branch tip.",
)
