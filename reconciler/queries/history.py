"""The recorded runs of a pipeline in every environment, with the served run marked.

Called by ``reconciler history`` and the web page. Environments are read from
``overlays/<env>/environment.yaml`` on the repository's default branch (``origin/HEAD``,
else ``HEAD``); each one's provenance branches come from :mod:`reconciler.specs.provenance_branches`
(one per pipeline, or one beside every source branch of a branch-pattern environment, found
by the records they hold). Records are listed newest first with why each run ended; records
still waiting in the outbox are included (``origin == "outbox"``). The served run is what
the environment's branch serves at its tip (:mod:`reconciler.queries.serving`), not the
newest promoted record by time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.provenance.records import RunRecord
from reconciler.provenance.store import ProvenanceStore
from reconciler.queries import serving as serving_query
from reconciler.runs import reasons
from reconciler.source import repos
from reconciler.specs import loading, provenance_branches, validation
from reconciler.specs.models import Environment
from reconciler.structs.errors import ReconcilerError, SourceError, SpecErrors

KEY_METRICS = 3


@dataclass(frozen=True)
class Row:
    """One recorded run: the record, the branch it was read from, where, and why it ended.

    ``origin`` is ``remote``, ``local`` or ``outbox`` (written, not pushed yet); ``source``
    is the branch the run was rendered from; ``reason`` why it ended ("" if it succeeded).
    """

    record: RunRecord
    branch: str
    source: str
    origin: str
    reason: str
    serving: bool = False


@dataclass
class EnvHistory:
    """The records of one pipeline in one environment, across its provenance branches.

    ``serving`` maps a source branch to what it serves (environments that serve only);
    ``notes`` say why a branch serves nothing or an older run.
    """

    env: str
    template: str
    serve: bool
    branches: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    serving: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


@dataclass
class History:
    """A pipeline's history in the environments asked for, and the files that did not parse."""

    pipeline: str
    environments: list[EnvHistory] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (``history -o json``)."""
        return {
            "pipeline": self.pipeline,
            "environments": [_env_json(h) for h in self.environments],
            "errors": self.errors,
        }


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


def environment_at_default(store: ProvenanceStore, env: str) -> Environment | None:
    """Return an Environment as the default branch declares it (None if it does not parse).

    Raises ReconcilerError if the environment does not exist.
    """
    path = f"overlays/{env}/environment.yaml"
    ref = default_ref(store)
    content = store.git.read_file(ref, path) if ref else None
    if content is None:
        known = ", ".join(environment_names(store)) or "none"
        raise ReconcilerError(f"no environment {env!r} ({path} on {ref or 'HEAD'}); known: {known}")
    try:
        return validation.parse_environment(loading.load_document(content, path=path), path=path)
    except SpecErrors:
        return None


def _lenient(store: ProvenanceStore, env: str) -> tuple[str, bool, str]:
    """Return ``(provenanceBranch, serve, branch)`` of an environment file the parser rejects."""
    path = f"overlays/{env}/environment.yaml"
    ref = default_ref(store)
    content = store.git.read_file(ref, path) if ref else b""
    try:
        doc = loading.load_document(content or b"", path=path)
    except SpecErrors as e:
        raise ReconcilerError(str(e)) from e
    spec = (doc or {}).get("spec") if isinstance(doc, dict) else None
    spec = spec if isinstance(spec, dict) else {}
    template = spec.get("provenanceBranch")
    branch = str(spec.get("branch") or "")
    default = (
        provenance_branches.BRANCH_TEMPLATE
        if any(c in branch for c in "*?[")
        else provenance_branches.DEFAULT_TEMPLATE
    )
    return (
        template if isinstance(template, str) and template else default,
        spec.get("serve") is not False,
        branch,
    )


def branch_tip(repo: Path, remote: str | None, branch: str) -> str | None:
    """Return the commit a branch is at, as the remote has it if there is one (else local)."""
    candidates = [f"refs/remotes/{remote}/{branch}"] if remote else []
    for ref in [*candidates, f"refs/heads/{branch}"]:
        try:
            return repos.resolve(repo, ref)
        except SourceError:
            continue
    return None


def collect(store: ProvenanceStore, pipeline: str, *, only: str | None = None) -> History:
    """Read the history of ``pipeline`` in one environment, or in every one that has records.

    Raises ReconcilerError if ``only`` names an environment the default branch lacks.
    Files that are not valid records are listed in ``History.errors``, others still shown.
    """
    out = History(pipeline)
    for name in [only] if only else environment_names(store):
        h = _collect_env(store, pipeline, name, out.errors)
        if h.rows or only:
            out.environments.append(h)
    return out


def _collect_env(store: ProvenanceStore, pipeline: str, name: str, errors: list[str]) -> EnvHistory:
    env = environment_at_default(store, name)
    if env is not None:
        template, serve, follows = env.provenance_branch, env.serve, env.branch
    else:
        template, serve, follows = _lenient(store, name)
    if provenance_branches.per_source(template):
        found = store.branches_with_records(name, pipeline)
        branches = [
            b
            for b in found
            if provenance_branches.source_of(template, b, pipeline=pipeline) is not None
        ]
    else:
        branches = [provenance_branches.resolve(template, pipeline=pipeline, source=follows)]
    h = EnvHistory(env=name, template=template, serve=serve, branches=branches)
    for branch in branches:
        source = provenance_branches.source_of(template, branch, pipeline=pipeline) or follows
        scan = store.scan(branch, name, pipeline)
        errors.extend(str(e) for e in scan.errors)
        served = None
        if serve and env is not None:
            served = _served(store, env, source, pipeline, scan.records)
            if served.run_name:
                h.serving[source] = served.run_name
            if served.note:
                h.notes[source] = served.note
        for rec in scan.records:
            h.rows.append(
                Row(
                    record=rec,
                    branch=branch,
                    source=source,
                    origin=scan.origins.get(rec.path, ""),
                    reason=reasons.run_reason(rec),
                    serving=served is not None and served.run_name == rec.run_name,
                )
            )
    h.rows.sort(key=lambda row: (row.record.sort_time, row.record.attempt), reverse=True)
    return h


def _served(
    store: ProvenanceStore, env: Environment, source: str, pipeline: str, records: list[RunRecord]
) -> serving_query.Served:
    tip = branch_tip(store.git.path, store.remote, source)
    if tip is None:
        return serving_query.Served(None, None, note=f"branch {source} not found")
    return serving_query.served_at(
        store.git.path,
        env_name=env.name,
        branch=source,
        sha=tip,
        pipeline=pipeline,
        records=records,
    )


def key_metrics(rec: RunRecord, limit: int = KEY_METRICS) -> dict[str, Any]:
    """Return up to ``limit`` metrics: the promotion metric first, then the rest by name."""
    flat = {k: v for k, v in rec.metrics_flat.items() if not str(k).startswith("_")}
    first = rec.promotion.metric if rec.promotion and rec.promotion.metric in flat else None
    names = ([first] if first else []) + sorted(k for k in flat if k != first)
    return {k: flat[k] for k in names[:limit]}


def format_value(value: Any) -> str:
    """Format a metric value compactly (4 significant digits for floats)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_duration(seconds: float | None) -> str:
    """Format seconds as ``1h02m``, ``5m07s`` or ``42s``; ``-`` if unknown."""
    if seconds is None:
        return "-"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _row_json(row: Row) -> dict[str, Any]:
    rec = row.record
    promotion = rec.promotion
    return {
        "id": rec.run_name,
        "run": rec.run,
        "attempt": rec.attempt,
        "branch": row.branch,
        "sourceBranch": row.source,
        "commit": rec.source.commit,
        "ref": rec.source.ref,
        "status": str(rec.status),
        "reason": row.reason,
        "trigger": str(rec.trigger),
        "supersededBy": rec.superseded_by,
        "promoted": rec.promoted,
        "promotion": None
        if promotion is None
        else {
            "metric": promotion.metric,
            "value": promotion.value,
            "threshold": promotion.threshold,
            "reason": promotion.reason,
        },
        "metrics": rec.metrics_flat,
        "metricsByStep": rec.metrics,
        "durationSeconds": rec.duration_seconds,
        "started": rec.started.isoformat() if rec.started else None,
        "finished": rec.finished.isoformat() if rec.finished else None,
        "modelOutput": rec.model_output,
        "serving": row.serving,
        "pushed": row.origin != "outbox",
    }


def _env_json(h: EnvHistory) -> dict[str, Any]:
    return {
        "env": h.env,
        "provenanceBranch": h.template,
        "branches": h.branches,
        "serve": h.serve,
        "serving": [{"branch": b, "id": run} for b, run in sorted(h.serving.items())],
        "notes": [{"branch": b, "note": n} for b, n in sorted(h.notes.items())],
        "runs": [_row_json(r) for r in h.rows],
    }
