"""Build the review report of BASE..HEAD: what the branch would change in every environment.

For each environment the branch affects (the fixed-branch environments, were it merged;
the branch-pattern environment its own name matches), both commits are rendered as if no
run had happened yet (every step, serving on a placeholder model) and compared object by
object. Run ids tell which runs HEAD would start and which it would reuse (a record with
that run id exists: a revert, or a spec already trained). Dataset and param changes are
listed per pipeline, and HEAD's experiment runs are compared with the run BASE serves (what
the base commit would serve, :mod:`reconciler.queries.serving`) when records exist. Pure but for reading git and the provenance store.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.queries import serving
from reconciler.render import environments
from reconciler.render.runspecs import RunSpec
from reconciler.source import refusals, repos
from reconciler.specs import provenance_branches
from reconciler.specs.models import Environment
from reconciler.structs.documents import dump_yaml_documents
from reconciler.structs.errors import ReconcilerError, RenderError, SpecErrors
from reconciler.structs.manifests import Manifest, ObjectRef
from reconciler.structs.runs import ServedModel

PLACEHOLDER_MODEL = ServedModel(run="<promoted>", model_uri="<model of the promoted run>")
HIDDEN_METADATA = ("creationTimestamp",)


@dataclass
class ObjectChange:
    """One object that differs between BASE and HEAD renders."""

    ref: str
    action: str  # added | removed | changed
    diff: str = ""


@dataclass
class RunChange:
    """A pipeline's run in one environment: BASE's and HEAD's run id, and what HEAD does."""

    pipeline: str
    base_run: str | None
    head_run: str | None
    action: str  # new run | reuse <status> run | unchanged | removed
    params: list[tuple[str, Any, Any]] = field(default_factory=list)
    datasets: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class MetricRow:
    """One metric of one pipeline: BASE's promoted run vs HEAD's run."""

    pipeline: str
    metric: str
    base: Any
    base_run: str
    base_env: str
    head: Any
    head_run: str
    head_env: str

    @property
    def delta(self) -> float | None:
        """HEAD minus BASE, for numbers."""
        if isinstance(self.base, int | float) and isinstance(self.head, int | float):
            return float(self.head) - float(self.base)
        return None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form: camelCase keys, as every ``-o json`` output has them."""
        return {
            "pipeline": self.pipeline,
            "metric": self.metric,
            "base": self.base,
            "baseRun": self.base_run,
            "baseEnv": self.base_env,
            "head": self.head,
            "headRun": self.head_run,
            "headEnv": self.head_env,
            "delta": self.delta,
        }


@dataclass
class EnvironmentReview:
    """The review of one environment instance."""

    env: str
    branch: str
    namespace: str
    objects: list[ObjectChange] = field(default_factory=list)
    runs: list[RunChange] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    live: list[str] | None = None
    """With a cluster: what syncing HEAD would change there (server-side dry run)."""

    @property
    def changed(self) -> bool:
        """True if HEAD changes anything here."""
        return bool(self.objects) or any(r.action != "unchanged" for r in self.runs)


@dataclass
class Review:
    """The whole report."""

    base: str
    head: str
    base_commit: str
    head_commit: str
    environments: list[EnvironmentReview] = field(default_factory=list)
    metrics: list[MetricRow] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True if the branch changes anything in any environment."""
        return any(e.changed for e in self.environments)

    @property
    def errors(self) -> list[str]:
        """Every render error of HEAD."""
        return [e for env in self.environments for e in env.errors]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form of ``--format json``.

        Keys are camelCase (``baseCommit``, ``headRun``, ``baseMd5``), like the JSON of
        ``status``, ``plan``, ``sync`` and ``history``.
        """
        return {
            "base": self.base,
            "head": self.head,
            "baseCommit": self.base_commit,
            "headCommit": self.head_commit,
            "changed": self.changed,
            "environments": [
                {
                    "env": e.env,
                    "branch": e.branch,
                    "namespace": e.namespace,
                    "changed": e.changed,
                    "objects": [
                        {"ref": o.ref, "action": o.action, "diff": o.diff} for o in e.objects
                    ],
                    "runs": [
                        {
                            "pipeline": r.pipeline,
                            "baseRun": r.base_run,
                            "headRun": r.head_run,
                            "action": r.action,
                            "params": [{"name": n, "base": b, "head": h} for n, b, h in r.params],
                            "datasets": r.datasets,
                        }
                        for r in e.runs
                    ],
                    "errors": e.errors,
                    "live": e.live,
                }
                for e in self.environments
            ],
            "metrics": [m.to_dict() for m in self.metrics],
        }


def parse_range(text: str) -> tuple[str, str]:
    """Split ``BASE..HEAD`` (``...`` accepted too); ReconcilerError otherwise."""
    sep = "..." if "..." in text else ".."
    base, _, head = text.partition(sep)
    if not base or not head or not _:
        raise ReconcilerError(f"{text!r}: expected BASE..HEAD, e.g. main..exp/lr-sweep")
    return base, head


def _strip(obj: Manifest) -> Manifest:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in HIDDEN_METADATA}
    return {**obj, "metadata": meta}


def _yaml(obj: Manifest) -> list[str]:
    return dump_yaml_documents([_strip(obj)]).splitlines(keepends=True)


def diff_objects(base: Sequence[Manifest], head: Sequence[Manifest]) -> list[ObjectChange]:
    """Compare two renders object by object; unified YAML diffs for changed ones.

    Secret data never appears: renders contain no Secrets (secrets are by reference).
    """
    b = {ObjectRef.of(o).key: o for o in base}
    h = {ObjectRef.of(o).key: o for o in head}
    out: list[ObjectChange] = []
    for key in sorted(set(b) | set(h)):
        ref = str(ObjectRef.of(h.get(key) or b[key]))
        if key not in b:
            out.append(ObjectChange(ref, "added", "".join(_yaml(h[key]))))
        elif key not in h:
            out.append(ObjectChange(ref, "removed"))
        elif _strip(b[key]) != _strip(h[key]):
            diff = difflib.unified_diff(_yaml(b[key]), _yaml(h[key]), "base", "head", n=2)
            out.append(ObjectChange(ref, "changed", "".join(diff)))
    return out


def _prepared(
    repo: Path, sha: str, env_name: str, branch: str, files: Path | None = None
) -> tuple[environments.Prepared | None, list[str]]:
    from reconciler import engine

    with repos.checkout_tree(repo, sha) as (root, _):
        try:
            prepared = engine.prepare_target(
                root, env_name, branch=branch, source=repo, commit=sha, files=files
            )
        except SpecErrors as e:
            return None, [str(x) for x in refusals.explain_errors(root, e.errors)]
        except (RenderError, ReconcilerError) as e:
            return None, [refusals.explain_message(root, str(e))]
        return prepared, [str(x) for x in refusals.explain_errors(root, prepared.errors)]


def _param_changes(base: RunSpec | None, head: RunSpec | None) -> list[tuple[str, Any, Any]]:
    bp = dict(base.pipeline.params) if base else {}
    hp = dict(head.pipeline.params) if head else {}
    return [(k, bp.get(k), hp.get(k)) for k in sorted(set(bp) | set(hp)) if bp.get(k) != hp.get(k)]


def _dataset_changes(base: RunSpec | None, head: RunSpec | None) -> list[dict[str, Any]]:
    bd = dict(base.datasets) if base else {}
    hd = dict(head.datasets) if head else {}
    out = []
    for name in sorted(set(bd) | set(hd)):
        b, h = bd.get(name), hd.get(name)
        either = h or b
        if either is not None and (b.md5 if b else None) != (h.md5 if h else None):
            out.append(
                {
                    "dataset": name,
                    "path": either.path,
                    "baseMd5": b.md5 if b else None,
                    "headMd5": h.md5 if h else None,
                    "baseSize": b.size if b else None,
                    "headSize": h.size if h else None,
                }
            )
    return out


def _affected_targets(
    repo: Path, head: str, head_sha: str, base_sha: str
) -> list[tuple[Environment, str]]:
    from reconciler import engine
    from reconciler.specs import branches

    envs = {e.name: e for e in engine.environments_at(repo, base_sha)}
    envs.update({e.name: e for e in engine.environments_at(repo, head_sha)})
    head_branch = head.removeprefix("origin/").removeprefix("refs/heads/")
    out: list[tuple[Environment, str]] = []
    for env in sorted(envs.values(), key=lambda e: e.name):
        if env.is_pattern:
            if branches.branch_matches(env, head_branch):
                out.append((env, head_branch))
        else:
            out.append((env, env.branch))
    return out


def _render(prepared: environments.Prepared | None) -> list[Manifest]:
    """Render every step, serving on a placeholder model (review compares specs, not runs)."""
    if prepared is None:
        return []
    models = {name: PLACEHOLDER_MODEL for name in prepared.run_specs}
    return environments.render_objects(prepared, all_steps=True, models=models)


LivePlan = Callable[[Environment, str, str], list[str]]
"""``(environment, branch, head commit) -> change lines`` of a dry-run sync of HEAD."""


def build_review(
    repo: Path,
    spec: str,
    *,
    provenance: Any | None = None,
    live: LivePlan | None = None,
    files: Path | None = None,
) -> Review:
    """Build the review of ``BASE..HEAD`` in a local repository.

    ``provenance`` (a ProvenanceStore) lets the report tell reused runs and compare
    metrics; without it only renders are compared. ``live`` (a cluster is configured) adds
    what syncing HEAD would change in each affected environment, from a server-side dry
    run; its failure is reported in the environment's errors. ``files``: the work tree
    holding the repository's files when ``repo`` has none (the daemon's mirror of a
    clone's remote), where DVC remotes inside the repository are named, as the daemon
    renders them (``engine.Context.files``).
    """
    base, head = parse_range(spec)
    root = repos.find_root(repo)
    base_sha, head_sha = repos.resolve(root, base), repos.resolve(root, head)
    review = Review(base=base, head=head, base_commit=base_sha, head_commit=head_sha)
    baseline: dict[str, tuple[Any, str]] = {}
    for env, branch in _affected_targets(root, head, head_sha, base_sha):
        bp, _ = _prepared(root, base_sha, env.name, branch, files)
        hp, errors = _prepared(root, head_sha, env.name, branch, files)
        known = hp or bp
        target = known.target if known is not None else environments.target_for(env, branch)
        er = EnvironmentReview(
            env=env.name, branch=branch, namespace=target.namespace, errors=errors
        )
        base_objs = _render(bp)
        if env.is_pattern:
            base_objs = []  # the branch's own namespace: nothing there before it
        head_objs = _render(hp)
        er.objects = diff_objects(base_objs, head_objs) if hp else []
        names = sorted(set(bp.run_specs if bp else {}) | set(hp.run_specs if hp else {}))
        for name in names:
            b = bp.run_specs.get(name) if bp and not env.is_pattern else None
            h = hp.run_specs.get(name) if hp else None
            if h is None:
                action = "removed" if b else "unchanged"
            elif b is not None and b.run_id == h.run_id:
                action = "unchanged"
            else:
                action = "new run"
                rec = _find_record(provenance, env, name, branch, h.run_id)
                if rec is not None:
                    action = f"reuse {rec.status} run"
            er.runs.append(
                RunChange(
                    pipeline=name,
                    base_run=b.run_id if b else None,
                    head_run=h.run_id if h else None,
                    action=action,
                    params=_param_changes(bp.run_specs.get(name) if bp else None, h),
                    datasets=_dataset_changes(bp.run_specs.get(name) if bp else None, h),
                )
            )
            if provenance is not None and h is not None:
                _compare_metrics(root, review, provenance, env, branch, name, h, baseline)
        if live is not None and hp is not None:
            try:
                er.live = live(env, branch, head_sha)
            except ReconcilerError as e:
                er.errors.append(f"live plan: {e}")
        review.environments.append(er)
    return review


def _find_record(provenance: Any, env: Environment, pipeline: str, branch: str, run_id: str) -> Any:
    if provenance is None:
        return None
    pbranch = provenance_branches.branch_for(env, pipeline, branch)
    return provenance.get(pbranch, env.name, pipeline, run_id)


def _base_served(
    root: Path, provenance: Any, base_commit: str, pipeline: str
) -> tuple[Any, str] | None:
    """Return ``(record, env)`` of the run BASE serves, in the environment where it is newest.

    What the base commit would serve (:func:`reconciler.queries.serving.served_at`), in every
    fixed-branch environment that serves the pipeline; never the newest promoted record by
    time (after a revert that is the reverted run, which nothing serves).
    """
    from reconciler import engine

    best: tuple[Any, str] | None = None
    for other in engine.environments_at(root, base_commit):
        if other.is_pattern or not other.serve:
            continue
        pbranch = provenance_branches.branch_for(other, pipeline, other.branch)
        records = provenance.scan(pbranch, other.name, pipeline).records
        served = serving.served_at(
            root,
            env_name=other.name,
            branch=other.branch,
            sha=base_commit,
            pipeline=pipeline,
            records=records,
        )
        found = served.record
        if found is not None and (best is None or found.sort_time > best[0].sort_time):
            best = (found, other.name)
    return best


def _compare_metrics(
    root: Path,
    review: Review,
    provenance: Any,
    env: Environment,
    branch: str,
    pipeline: str,
    head: RunSpec,
    baseline: dict[str, tuple[Any, str]],
) -> None:
    if not env.is_pattern:
        return
    rec = _find_record(provenance, env, pipeline, branch, head.run_id)
    if rec is None or not rec.metrics_flat:
        return
    if pipeline not in baseline:
        best = _base_served(root, provenance, review.base_commit, pipeline)
        if best is None:
            return
        baseline[pipeline] = best
    base_rec, base_env = baseline[pipeline]
    for metric in sorted(set(rec.metrics_flat) | set(base_rec.metrics_flat)):
        review.metrics.append(
            MetricRow(
                pipeline=pipeline,
                metric=metric,
                base=base_rec.metrics_flat.get(metric),
                base_run=base_rec.run_name,
                base_env=base_env,
                head=rec.metrics_flat.get(metric),
                head_run=rec.run_name,
                head_env=env.name,
            )
        )
