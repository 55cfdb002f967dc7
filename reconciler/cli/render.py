"""``reconciler render``: print the objects an environment should have."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from reconciler.cli import output

PLACEHOLDER_RUN = "placeholder"
PLACEHOLDER_ANNOTATION = "reconciler.ml/placeholder-model"


@click.command("render")
@output.env_option
@output.repo_option
@output.ref_option("the work tree, uncommitted edits included")
@output.branch_option
@output.output_option("yaml", "json")
@click.option("--all-steps", is_flag=True, help="Render every step, not only the first ones.")
def command(
    env: str, repo: str, ref: str | None, branch: str | None, fmt: str, all_steps: bool
) -> None:
    """Print the objects ENV should have, built by Kustomize and expanded into runs.

    Without a cluster a run is new: only its first steps are rendered (``--all-steps`` for
    every step). Serving objects are rendered too: with the model of the run the
    environment's branch serves, by the provenance records known locally (``history``
    fetches them), or, before any run passed its gate, with a placeholder model, marked
    by the annotation ``reconciler.ml/placeholder-model`` and a note on stderr. Errors go
    to stderr; a pipeline that fails to render is left out and the exit code is 1.

    Without ``--ref`` the work tree is rendered, its datasets named at HEAD's commit as a
    pod would fetch them (``DATASET_<NAME>_REV``, ``DVC_REPO_URL``); a pointer modified
    relative to HEAD gets no ``_REV`` and a warning on stderr says so.
    """
    from reconciler import engine
    from reconciler.render import dvcsources, environments
    from reconciler.source import repos
    from reconciler.structs.errors import ReconcilerError

    try:
        source = repos.find_root(Path(repo))
        with repos.checkout_tree(Path(repo), ref) as (root, commit):
            prepared = engine.prepare_target(
                root,
                env,
                branch=branch or engine.branch_hint(Path(repo), ref),
                source=source,
                commit=commit.sha if commit else None,
            )
            models, notes = served_models(source, prepared, commit.sha if commit else None)
            objs = environments.render_objects(prepared, all_steps=all_steps, models=models)
            warnings = []
            if ref is None:  # the work tree: datasets are named at HEAD, as pods see them
                warnings = dvcsources.worktree_notes(
                    source,
                    commit.sha if commit else None,
                    root,
                    environments.unnamed_sources(prepared),
                )
    except ReconcilerError as e:
        output.fail(str(e))
    objs = [_mark_placeholder(o) for o in objs]
    if fmt == "json":
        output.dump_json({"apiVersion": "v1", "kind": "List", "items": objs}, sort_keys=False)
    else:
        click.echo(output.dump_yaml_documents(objs), nl=False)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    if prepared.errors:
        output.print_errors(sorted(set(prepared.errors)))
        sys.exit(output.EXIT_ERROR)


def served_models(source: Path, prepared: Any, sha: str | None) -> tuple[dict[str, Any], list[str]]:
    """Return ``({pipeline: ServedModel}, notes)`` for every pipeline that serves in the
    environment: the run its branch serves at ``sha`` (local provenance records only, no
    fetch), else a placeholder model, with a note saying so."""
    from reconciler.cli.contexts import default_state_dir
    from reconciler.provenance.store import ProvenanceStore
    from reconciler.queries import serving
    from reconciler.source import repos
    from reconciler.specs import provenance_branches
    from reconciler.structs.errors import ReconcilerError
    from reconciler.structs.runs import ServedModel

    env, target = prepared.env, prepared.target
    models: dict[str, Any] = {}
    notes: list[str] = []
    if not env.serve:
        return models, notes
    store = None
    if sha is not None:
        remote = "origin" if repos.remote_url(source) else None
        store = ProvenanceStore(source, remote=remote, state_dir=default_state_dir() / "provenance")
    for name in sorted(prepared.run_specs):
        if prepared.run_specs[name].pipeline.serve is None:
            continue
        served = None
        if store is not None and sha is not None:
            try:
                pbranch = provenance_branches.branch_for(env, name, target.branch)
                records = store.scan(pbranch, env.name, name).records
                served = serving.served_at(
                    source,
                    env_name=env.name,
                    branch=target.branch,
                    sha=sha,
                    pipeline=name,
                    records=records,
                ).record
            except ReconcilerError:
                served = None
        if served is not None and served.model_output:
            models[name] = ServedModel(run=served.run_name, model_uri=served.model_output)
            notes.append(f"{name}: serving objects show run {served.run_name}, the run served")
        else:
            models[name] = ServedModel(
                run=PLACEHOLDER_RUN, model_uri=f"placeholder://{name}/no-run-has-passed-its-gate"
            )
            notes.append(
                f"{name}: no run has passed its gate in {env.name} yet: serving objects show "
                f"a placeholder model (annotated {PLACEHOLDER_ANNOTATION})"
            )
    return models, notes


def _mark_placeholder(obj: dict[str, Any]) -> dict[str, Any]:
    """Annotate an object that names the placeholder model, so nobody applies it unseen."""
    if "placeholder://" not in json.dumps(obj):
        return obj
    meta = dict(obj.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), PLACEHOLDER_ANNOTATION: "true"}
    return {**obj, "metadata": meta}
