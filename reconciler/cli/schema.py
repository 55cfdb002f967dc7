"""``reconciler schema``: print the JSON Schema of Pipeline and Environment for editors."""

from __future__ import annotations

import json

import click

from reconciler.cli import output


@click.command("schema")
@click.option(
    "--kind",
    type=click.Choice(["pipeline", "environment", "all"]),
    default="all",
    show_default=True,
    help="Which schema: one kind, or both chosen by each document's `kind`.",
)
@output.output_option("json", "yaml")
def command(kind: str, fmt: str) -> None:
    """Print the JSON Schema (draft-07) of the specs, for yaml-language-server and linters.

    Save it in the repository (``reconciler schema > .reconciler.schema.json``) and point
    a ``# yaml-language-server: $schema=...`` modeline or VS Code's ``yaml.schemas`` at it.
    """
    from reconciler.specs import schema

    doc = {
        "pipeline": schema.pipeline_schema,
        "environment": schema.environment_schema,
        "all": schema.combined_schema,
    }[kind]()
    if fmt == "yaml":
        output.dump(doc, "yaml")
    else:
        click.echo(json.dumps(doc, indent=2))
