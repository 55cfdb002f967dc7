"""Small print helpers shared by the commands: consoles, errors, output formats, exit codes.

Exit codes (Terraform's ``-detailed-exitcode`` convention, which CI scripts already know):

    0  ok (for ``plan``/``review``: nothing would change)
    1  error, including a usage error (unknown option, bad value, missing argument)
    2  changes pending (``plan``, ``review``) or not synced/healthy (``status --check``)

Colour: one rule, :func:`use_colour` (only on a terminal; ``NO_COLOR`` turns it off,
``FORCE_COLOR`` on), for plan and sync diffs, the review report and rich tables (status,
sync); JSON and YAML are never coloured. Piped output is never cut to a terminal width.
"""

from __future__ import annotations

import io
import json
import re
import select
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar

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

    On a terminal it wraps to the terminal's width and styles (colour, bold) as
    :func:`use_colour` says, the same rule as ``plan``'s diffs: with ``NO_COLOR`` no escape
    code at all. When piped it neither styles nor wraps nor cuts anything.
    """
    from rich.console import Console

    styled = use_colour(sys.stderr if stderr else sys.stdout)
    system: Literal["auto"] | None = "auto" if styled else None
    options: dict[str, Any] = {
        "stderr": stderr, "highlight": False, "soft_wrap": True, "color_system": system
    }  # fmt: skip
    con = Console(**options)
    if not con.is_terminal:
        con = Console(**options, width=PIPE_WIDTH, force_terminal=styled or None)
    return con


def use_colour(stream: Any = None) -> bool:
    """True when text should be coloured: a terminal, ``NO_COLOR`` unset (any value turns
    colour off, as https://no-color.org says), or ``FORCE_COLOR`` set."""
    import os

    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    stream = stream if stream is not None else sys.stdout
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


_DIFF_STYLES = (
    ("+++", {"bold": True}),
    ("---", {"bold": True}),
    ("@@", {"fg": "cyan"}),
    ("+", {"fg": "green"}),
    ("-", {"fg": "red"}),
    ("~", {"fg": "yellow"}),
    ("!", {"fg": "red", "bold": True}),
    ("x ", {"fg": "red", "bold": True}),
    ("=", {"fg": "blue"}),
)


def colour_diff(text: str, *, colour: bool | None = None) -> str:
    """Colour a plan or diff line by line (``+`` green, ``-`` red, ``~`` yellow, ``@@``
    cyan, conflicts and failures red), only when :func:`use_colour` (or ``colour``) says so.
    """
    if not (use_colour() if colour is None else colour):
        return text
    out = []
    for line in text.split("\n"):
        stripped = line.lstrip()
        style = next((st for prefix, st in _DIFF_STYLES if stripped.startswith(prefix)), None)
        out.append(click.style(line, **style) if style else line)
    return "\n".join(out)


_REVIEW_STYLES = (
    (re.compile(r"^- `.*` added$"), {"fg": "green"}),
    (re.compile(r"^- `.*` removed$"), {"fg": "red"}),
    (re.compile(r"^- `.*` changed$"), {"fg": "yellow"}),
    (re.compile(r"^- :x: "), {"fg": "red", "bold": True}),
    (re.compile(r"^#{2,3} "), {"bold": True}),
    (re.compile(r"^\| .* \| new run \|$"), {"fg": "cyan"}),
    (re.compile(r"^\| .* \| reuse Succeeded run \|$"), {"fg": "green"}),
    (re.compile(r"^\| .* \| reuse Cancelled run \|$"), {"fg": "yellow"}),
    (re.compile(r"^\| .* \| (reuse Failed run|removed) \|$"), {"fg": "red"}),
)


def colour_markdown(text: str, *, colour: bool | None = None) -> str:
    """Colour a ``review`` report for a terminal, line by line, as ``plan`` colours its
    changes: objects added green, removed red, changed yellow, errors red, headings bold;
    runs to start cyan, a reused Succeeded run green, Cancelled yellow, Failed (or a
    pipeline removed) red; the diff block as :func:`colour_diff`. Only when
    :func:`use_colour` (or ``colour``) says so; the Markdown itself is unchanged.
    """
    if not (use_colour() if colour is None else colour):
        return text
    out = []
    in_diff = False
    for line in text.split("\n"):
        if line.startswith("```"):
            in_diff = line == "```diff"
            out.append(line)
            continue
        if in_diff:
            out.append(colour_diff(line, colour=True))
            continue
        style = next((st for pattern, st in _REVIEW_STYLES if pattern.search(line)), None)
        out.append(click.style(line, **style) if style else line)
    return "\n".join(out)


def echo_diff(text: str) -> None:
    """Print a plan or diff, coloured on a terminal (see :func:`colour_diff`)."""
    colour = use_colour()
    click.echo(colour_diff(text, colour=colour), color=colour)


class _WholeWrites(io.FileIO):
    """A file descriptor's writer that returns only once every byte is written.

    A write of more than a pipe holds (64 KiB) that is stopped and continued while it
    waits for the reader (Ctrl-Z then ``fg``, a debugger or profiler attaching) returns
    short. Python's buffered stdout over a plain ``FileIO`` reported the short count to
    ``print`` and ``click.echo``, which dropped the rest: a 10 MB ``sync -o json`` arrived
    as its first 64 KiB, with exit status 0. Under a ``BufferedWriter``, this subclass
    writes on until every byte is out (as Go's and Rust's writers do).
    """

    def write(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        total = len(view)
        while view:
            written = super().write(view)
            if written is None:  # a non-blocking descriptor that is full: wait, retry
                select.select([], [self.fileno()], [])
                continue
            view = view[written:]
        return total


def whole_writes_stdout() -> None:
    """Make ``sys.stdout`` write every byte it is given (the console script calls this).

    Everything printed (JSON, YAML, rich's tables, ``click.echo``'s lines, ``print``)
    then survives a stop and continue on a full pipe (see :class:`_WholeWrites`). A stdout
    that is not a file descriptor (a test runner's capture) is left as it is.
    """
    stream = sys.stdout
    if not isinstance(stream, io.TextIOWrapper):
        return
    try:
        fd = stream.fileno()
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        return
    stream.flush()
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(_WholeWrites(fd, "w", closefd=False)),
        encoding=stream.encoding,
        errors=stream.errors,
        line_buffering=stream.line_buffering,
    )


def dump_json(data: Any, *, sort_keys: bool = True) -> None:
    """Print JSON to stdout (keys sorted unless told): indented on a terminal, one line
    when piped.

    As the GitHub CLI does: a reader gets indentation, a program (CI, ``jq``) gets the
    same document compact. Compact is also what keeps a large document cheap: Python's C
    encoder serves only ``indent=None`` (a sync of 10,000 pipelines prints ~50,000 change
    entries: about 1 s indented, 0.2 s compact).
    """
    isatty = getattr(sys.stdout, "isatty", None)
    indent = 2 if isatty and isatty() else None
    click.echo(json.dumps(data, indent=indent, sort_keys=sort_keys, default=str))


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


class Duration(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """A duration option (``2s``, ``500ms``, ``1m``, ``1h30m``, plain seconds) as seconds.

    The one parser, :func:`reconciler.structs.durations.parse_duration`; a bad value is a
    usage error naming the option. ``text=True`` keeps the text (validated) for options
    passed on as they are (``manifests --interval`` goes into the Deployment).
    """

    name = "duration"

    def __init__(self, *, text: bool = False) -> None:
        self.text = text

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from reconciler.structs.durations import parse_duration

        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value) if self.text else float(value)
        try:
            seconds = parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return str(value).strip() if self.text else seconds


DURATION = Duration()
DURATION_TEXT = Duration(text=True)


def _repo_dir(ctx: click.Context) -> Path:
    repo = ctx.params.get("repo") or "."
    return Path(str(repo))


def complete_envs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of ``--env``: the environments under ``overlays/`` of ``--repo``."""
    overlays = _repo_dir(ctx) / "overlays"
    try:
        names = sorted(p.parent.name for p in overlays.glob("*/environment.yaml"))
    except OSError:
        return []
    return [n for n in names if n.startswith(incomplete)]


def complete_pipelines(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of PIPELINE: the files under ``pipelines/`` of ``--repo``."""
    folder = _repo_dir(ctx) / "pipelines"
    try:
        names = sorted(p.stem for p in folder.glob("*.yaml") if p.stem != "kustomization")
    except OSError:
        return []
    return [n for n in names if n.startswith(incomplete)]


env_option = click.option(
    "--env",
    "env",
    shell_complete=complete_envs,
    required=True,
    help="Environment (overlays/<env>).",
)
"""``--env ENV``: the one environment a command works on (plan, render, retry, sync)."""

envs_option = click.option(
    "--env",
    "envs",
    shell_complete=complete_envs,
    multiple=True,
    help="Only these environments (repeatable).",
)
"""``--env ENV`` repeatable: the environments a command is limited to (status, run, ui)."""

branch_option = click.option(
    "--branch", default=None, help="Branch, for a branch-pattern environment."
)
"""``--branch``: the concrete branch of a branch-pattern environment."""

repo_option = click.option(
    "--repo",
    "repo",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="The watched repository (a local clone).",
)


def ref_option(default: str) -> Callable[[F], F]:
    """Add ``--ref REF``: the same on every command, the commit to read (a branch, a tag,
    a sha, ``HEAD~1``...); ``default`` says what is read without it."""
    return click.option(
        "--ref",
        default=None,
        metavar="REF",
        help=f"Git commit to read: a branch, tag or sha (default: {default}).",
    )
