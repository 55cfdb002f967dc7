"""The runs of a pipeline as its provenance branches hold them: ``history``'s reading half.

Called by ``reconciler history`` and the web UI's run history page. Finds each
environment's provenance branch in ``overlays/<env>/environment.yaml`` of the repository's
default branch (``origin/HEAD``, else ``HEAD``) and lists the records newest first, with the
run that is serving (the newest Succeeded and promoted one, in an environment that serves).
Records still waiting in the outbox are included with origin ``outbox``. With
``provenanceBranch: "{source}"`` every branch holding records is read. Reads git only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.provenance.records import RunRecord
    from reconciler.provenance.store import ProvenanceStore

DEFAULT_PROVENANCE_BRANCH = "experiments/{pipeline}"
KEY_METRICS = 3


@dataclass
class EnvHistory:
    """The records of one pipeline in one environment, across its provenance branches."""

    env: str
    template: str
    serve: bool
    branches: list[str] = field(default_factory=list)
    rows: list[tuple[str, RunRecord, str]] = field(default_factory=list)
    """``(branch, RunRecord, origin)``, newest first."""
    serving: dict[str, str] = field(default_factory=dict)
    """Branch -> run name of the serving run."""


def environment_settings(store: ProvenanceStore, env: str) -> tuple[str, bool]:
    """Return ``(provenanceBranch template, serve)`` of an environment on the default branch.

    Uses the spec parser when the file is valid; a file it rejects is read leniently
    (``spec.provenanceBranch``, ``spec.serve``) so history still works on a broken spec.
    Raises ReconcilerError if the environment does not exist.
    """
    from reconciler.specs import loading, validation
    from reconciler.structs.errors import ReconcilerError, SpecErrors

    path = f"overlays/{env}/environment.yaml"
    ref = default_ref(store)
    content = store.git.read_file(ref, path) if ref else None
    if content is None:
        known = ", ".join(environment_names(store)) or "none"
        raise ReconcilerError(f"no environment {env!r} ({path} on {ref or 'HEAD'}); known: {known}")
    try:
        doc = loading.load_document(content, path=path)
    except SpecErrors as e:
        raise ReconcilerError(str(e)) from e
    try:
        parsed = validation.parse_environment(doc, path=path)
        return parsed.provenance_branch, parsed.serve
    except SpecErrors:
        spec = (doc or {}).get("spec") if isinstance(doc, dict) else None
        spec = spec if isinstance(spec, dict) else {}
        template = spec.get("provenanceBranch")
        return (
            template if isinstance(template, str) and template else DEFAULT_PROVENANCE_BRANCH,
            spec.get("serve") is not False,
        )


def default_ref(store: ProvenanceStore) -> str | None:
    """Return the ref of the repository's default branch: ``<remote>/HEAD``, else HEAD."""
    candidates = [f"refs/remotes/{store.remote}/HEAD"] if store.remote else []
    for ref in [*candidates, "HEAD"]:
        if store.git.tip(ref):
            return ref
    return None


def environment_names(store: ProvenanceStore) -> list[str]:
    """Return the environments (``overlays/<env>/environment.yaml``) on the default branch."""
    ref = default_ref(store)
    if ref is None:
        return []
    blobs = store.git.list_blobs(ref, "overlays")
    return sorted(
        p.split("/")[1] for p in blobs if p.count("/") == 2 and p.endswith("/environment.yaml")
    )


def collect(
    store: ProvenanceStore, pipeline: str, *, only: str | None
) -> tuple[list[EnvHistory], list[str]]:
    """Read the records of ``pipeline`` in one environment, or in every one that has some."""
    from reconciler.structs.runs import RunStatus

    envs = [only] if only else environment_names(store)
    histories: list[EnvHistory] = []
    errors: list[str] = []
    for env in envs:
        template, serve = environment_settings(store, env)
        if "{source}" in template:
            branches = store.branches_with_records(env, pipeline)
        else:
            branches = [template.replace("{pipeline}", pipeline)]
        h = EnvHistory(env=env, template=template, serve=serve, branches=branches)
        for branch in branches:
            scan = store.scan(branch, env, pipeline)
            errors.extend(str(e) for e in scan.errors)
            for rec in scan.records:
                h.rows.append((branch, rec, scan.origins.get(rec.path, "")))
            if serve:
                live = next(
                    (r for r in scan.records if r.status == RunStatus.SUCCEEDED and r.promoted),
                    None,
                )
                if live is not None:
                    h.serving[branch] = live.run_name
        h.rows.sort(key=lambda row: (row[1].sort_time, row[1].attempt), reverse=True)
        if h.rows or only:
            histories.append(h)
    return histories, errors


def key_metrics(rec: RunRecord, limit: int = KEY_METRICS) -> dict[str, Any]:
    """Return up to ``limit`` metrics: the promotion metric first, then the rest by name."""
    flat = {k: v for k, v in rec.metrics_flat.items() if not str(k).startswith("_")}
    first = rec.promotion.metric if rec.promotion and rec.promotion.metric in flat else None
    names = ([first] if first else []) + sorted(k for k in flat if k != first)
    return {k: flat[k] for k in names[:limit]}
