"""Environment instances: find them in a repository, prepare them, render their objects.

A *target* is an environment instance: the environment, the concrete branch it renders
from, and its namespace (a branch pattern such as ``exp/*`` has one target per matching
branch, each in its own namespace). Called by the engine and the CLI:

- discovery: :func:`environments_at` (the Environments a commit declares),
  :func:`default_branch`, :func:`discover_targets` (every instance to reconcile);
- :func:`prepare` does the I/O-bound part (Kustomize, DVC) and plans each pipeline's run;
- :func:`render_objects` is a pure function of the prepared instance and the run states.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.render import datasets as datasets_mod
from reconciler.render import dvcsources, overlays, serving, steps
from reconciler.render.runspecs import RunSpec, env_key, plan_run
from reconciler.source import repos
from reconciler.specs import branches, loading, provenance_branches, validation
from reconciler.specs.models import Environment, Pipeline
from reconciler.structs import labels
from reconciler.structs.errors import ReconcilerError, SpecError, SpecErrors
from reconciler.structs.manifests import Manifest
from reconciler.structs.runs import RunState, ServedModel

CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "ClusterQueue",
        "ResourceFlavor",
        "WorkloadPriorityClass",
        "PriorityClass",
        "StorageClass",
        "PersistentVolume",
    }
)
POD_SECURITY_ENFORCE = "pod-security.kubernetes.io/enforce"
POD_SECURITY_WARN = "pod-security.kubernetes.io/warn"
POD_SECURITY_AUDIT = "pod-security.kubernetes.io/audit"


@dataclass(frozen=True, order=True)
class Target:
    """An environment instance: environment name, concrete branch, namespace."""

    env: str
    branch: str
    namespace: str
    pattern: bool = False

    @property
    def key(self) -> str:
        """The work-item key: ``env`` or, for a branch pattern, ``env@branch``."""
        return f"{self.env}@{self.branch}" if self.pattern else self.env


def target_for(env: Environment, branch: str) -> Target:
    """Return the target of an environment on a branch (ValueError if it does not match)."""
    if env.is_pattern:
        return Target(env.name, branch, branches.namespace_for_branch(env, branch), True)
    return Target(env.name, branch, env.namespace, False)


def environments_at(repo: Path, ref: str = "HEAD") -> list[Environment]:
    """Return the Environments declared at a commit (``overlays/<env>/environment.yaml``).

    Broken or missing Environment files are skipped here; ``validate`` reports them.
    """
    out: list[Environment] = []
    sha = repos.resolve(repo, ref)
    names = repos.list_names(repo, sha, overlays.OVERLAYS_DIR)  # in-process: no git to fork
    if not names:  # none, or no such directory: git says so in its own words, as before
        listing = repos.git(repo, "ls-tree", "--name-only", f"{sha}:{overlays.OVERLAYS_DIR}")
        names = listing.decode().split()
    for name in sorted(names):
        path = f"{overlays.OVERLAYS_DIR}/{name}/{overlays.ENVIRONMENT_FILE}"
        content = repos.read_file(repo, sha, path)
        if content is None:
            continue
        try:
            doc = loading.load_document(content, path=path)
            out.append(validation.parse_environment(doc, path=path))
        except SpecErrors:
            continue
    return out


def default_branch(repo: Path, env_name: str, ref: str = "HEAD") -> str:
    """Return the branch a fixed-branch environment renders from, as ``ref`` declares it.

    Raises ReconcilerError for an unknown environment or a branch-pattern one (which
    has no single branch: the caller must name it).
    """
    for env in environments_at(repo, ref):
        if env.name == env_name:
            if env.is_pattern:
                raise ReconcilerError(
                    f"environment {env_name!r} is for branches {env.branch!r}: name the branch"
                )
            return env.branch
    raise ReconcilerError(
        f"no environment {env_name!r} at {ref} (overlays/{env_name}/environment.yaml)"
    )


def discover_targets(
    repo: Path,
    *,
    only: Iterable[str] | None = None,
    ref: str = "HEAD",
    branch_names: Iterable[str] | None = None,
) -> list[Target]:
    """Return every environment instance to reconcile (environments declared at ``ref``).

    One per fixed-branch environment, one per matching branch for a branch pattern;
    ``branch_names`` are the branch names to match (default: the repository's, local and
    ``origin``'s). A branch whose namespace cannot be made is skipped, and so is a branch
    where some environment commits its run records (``runs/exp/a``), whatever pattern
    it matches.
    """
    wanted = set(only) if only else None
    names = sorted(branch_names) if branch_names is not None else None
    out: list[Target] = []
    declared = environments_at(repo, ref)
    for env in declared:
        if wanted is not None and env.name not in wanted:
            continue
        if not env.is_pattern:
            out.append(target_for(env, env.branch))
            continue
        if names is None:
            names = repos.branches(repo)
        for b in names:
            if provenance_branches.is_provenance_branch(declared, b):
                continue  # a branch of run records, never one to deploy
            if branches.branch_matches(env, b):
                try:
                    out.append(target_for(env, b))
                except ValueError:
                    continue
    return out


@dataclass
class Prepared:
    """An environment instance after Kustomize and DVC: run specs, errors, plain objects."""

    target: Target
    overlay: overlays.Overlay
    run_specs: dict[str, RunSpec] = field(default_factory=dict)
    errors: list[SpecError] = field(default_factory=list)
    failed_pipelines: dict[str, list[SpecError]] = field(default_factory=dict)
    """Pipelines that did not render (spec or dataset errors), each with its errors."""

    @property
    def env(self) -> Environment:
        """The Environment (prepare guarantees it parsed)."""
        assert self.overlay.env is not None
        return self.overlay.env


def prepare(
    root: Path,
    overlay: overlays.Overlay,
    target: Target,
    *,
    check_remote: bool = False,
    source: Path | None = None,
    commit: str | None = None,
    files: Path | None = None,
) -> Prepared:
    """Resolve every pipeline's datasets and compute its run spec.

    ``source`` is the repository the tree at ``root`` was exported from (local DVC remotes
    inside it are named there; see ``DatasetResolver``) and ``commit`` the commit it holds:
    with both, steps learn where to ``dvc get`` each dataset (see
    :mod:`reconciler.render.dvcsources`). ``files``, when given, is where the repository's
    files are on disk if ``source`` has none (a mirror): local DVC remotes are named there.

    A pipeline whose dataset pointers do not resolve joins ``failed_pipelines`` (its live
    objects are kept); the others are planned.
    """
    assert overlay.env is not None
    prepared = Prepared(target=target, overlay=overlay)
    prepared.errors.extend(overlay.errors)
    prepared.failed_pipelines.update({n: list(e) for n, e in overlay.failed_pipelines.items()})
    named_in = files if files is not None else source
    with datasets_mod.DatasetResolver(root, check_remote=check_remote, source=named_in) as resolver:
        for pipeline in overlay.pipelines:
            facts, errors = resolver.resolve_all(dict(pipeline.datasets))
            if errors:
                pointed = _point_at_pipeline(errors, pipeline, overlay)
                prepared.errors.extend(pointed)
                prepared.failed_pipelines[pipeline.name] = pointed
                continue
            sources = None
            if source is not None and commit is not None:
                pointers = {n: (f.path, f.md5) for n, f in facts.items()}
                sources = dvcsources.dvc_sources(source, commit, pointers)
            prepared.run_specs[pipeline.name] = plan_run(
                env=overlay.env,
                namespace=target.namespace,
                pipeline=pipeline,
                datasets=facts,
                sources=sources,
            )
    return prepared


def unnamed_sources(prepared: Prepared) -> dict[str, list[str]]:
    """Return each pointer no commit names (``dvcsources``) and the variables it lacks.

    ``{"datasets/x.dvc": ["DATASET_X_REV", "DATASET_X_DVC_PATH"]}``: empty when every
    dataset got its source; every pointer when none was looked up (no commit to name).
    """
    out: dict[str, list[str]] = {}
    for plan in prepared.run_specs.values():
        for name, facts in plan.datasets.items():
            if name not in plan.sources.datasets:
                key = env_key(name)
                names = out.setdefault(facts.path, [])
                names += [
                    v for v in (f"DATASET_{key}_REV", f"DATASET_{key}_DVC_PATH") if v not in names
                ]
    return out


def _point_at_pipeline(
    errors: list[SpecError], pipeline: Pipeline, overlay: overlays.Overlay
) -> list[SpecError]:
    """Re-point position-less dataset errors at the pipeline's ``spec.datasets.<name>``.

    An error inside a pointer file keeps its own position; one about the pointer as a
    whole (it does not exist, the remote lacks its data) is reported where the pipeline
    names it, with the pointer path in the message.
    """
    locator = overlay.locators.get(pipeline.path)
    by_pointer = {path: name for name, path in pipeline.datasets}
    out = []
    for e in errors:
        name = by_pointer.get(e.path)
        if e.line or name is None:
            out.append(e)
            continue
        field_path = f"spec.datasets.{name}"
        line, col = locator.position(field_path) if locator else (0, 0)
        out.append(SpecError(pipeline.path, line, col, field_path, f"{e.path}: {e.message}"))
    return out


def namespace_object(
    target: Target, commit: str | None = None, *, pod_security: str = "restricted"
) -> Manifest:
    """Return the environment's Namespace, enforcing its Pod Security level.

    ``pod_security`` (the Environment's ``podSecurity``) is enforced; ``warn`` and ``audit``
    stay at "restricted", so anything short of it is still reported. ``commit`` (the spec
    commit applied) goes into the ``reconciler.ml/commit`` annotation, which ``status``
    reads.
    """
    ns: Manifest = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": target.namespace,
            "labels": {
                labels.MANAGED_BY: labels.MANAGED_BY_VALUE,
                labels.ENV: target.env,
                POD_SECURITY_ENFORCE: pod_security,
                POD_SECURITY_WARN: "restricted",
                POD_SECURITY_AUDIT: "restricted",
            },
        },
    }
    annotations = {labels.COMMIT: commit} if commit else {}
    if target.pattern:  # one namespace per branch: the owner is checked before a sync
        annotations[labels.BRANCH] = branches.short_branch(target.branch)
    if annotations:
        ns["metadata"]["annotations"] = annotations
    return ns


def overlay_object(obj: Manifest, target: Target) -> Manifest:
    """Return a copy of a plain overlay object in the target's namespace, with our labels."""
    out: dict[str, Any] = {**obj, "metadata": dict(obj.get("metadata") or {})}
    meta = out["metadata"]
    if obj.get("kind") not in CLUSTER_SCOPED_KINDS:
        meta["namespace"] = target.namespace
    meta["labels"] = {
        **(meta.get("labels") or {}),
        labels.MANAGED_BY: labels.MANAGED_BY_VALUE,
        labels.ENV: target.env,
    }
    return out


def pipeline_objects(
    plan: RunSpec, state: RunState | None, *, all_steps: bool = False
) -> list[Manifest]:
    """Return a pipeline's step and serving objects for its run state.

    Steps: every step object that already exists, plus (unless the run is recorded final
    or failed) each step whose ``needs`` have all succeeded. With no state, the run is new:
    its root steps (or every step with ``all_steps``). Serving: only in environments with
    ``serve: true``, for the model the state names (none: no serving).

    A step object the state holds live (``state.live_objects``) is that live object, not
    rendered again: its template is immutable, so the sync never writes it (a ``frozen``
    object, kept by its key, never pruned), and rendering it anew at every reconcile was
    most of a settled environment's rendering. The caller must not modify it.
    """
    attempt = state.attempt if state else 1
    out: list[Manifest] = []
    for step in plan.ordered_steps():
        if state is None:
            include = all_steps or not step.needs
        else:
            include = step.name in state.live_steps or (
                not state.recorded and not state.failed and set(step.needs) <= state.succeeded_steps
            )
        if include:
            live = state.live_objects.get(step.name) if state is not None else None
            out.append(steps.step_object_or_live(plan, step, attempt, live))
    if plan.env.serve and state is not None and state.serving is not None:
        out.extend(serving.serving_objects(plan, state.serving))
    return out


def render_objects(
    prepared: Prepared,
    states: Mapping[str, RunState] | None = None,
    *,
    all_steps: bool = False,
    models: Mapping[str, ServedModel] | None = None,
    commit: str | None = None,
) -> list[Manifest]:
    """Return every object the environment instance should have, Namespace first.

    ``states`` maps pipeline name to its RunState (None: render as if nothing ran yet; then
    ``models`` may name the model each pipeline serves).
    """
    target = prepared.target
    objs: list[Manifest] = [
        namespace_object(target, commit, pod_security=prepared.env.pod_security)
    ]
    objs.extend(overlay_object(o, target) for o in prepared.overlay.objects)
    objs.extend(
        pipelines_objects(prepared, prepared.run_specs, states, all_steps=all_steps, models=models)
    )
    return objs


def pipelines_objects(
    prepared: Prepared,
    names: Iterable[str],
    states: Mapping[str, RunState] | None = None,
    *,
    all_steps: bool = False,
    models: Mapping[str, ServedModel] | None = None,
) -> list[Manifest]:
    """Return the objects of the pipelines ``names`` (sorted by name), as :func:`render_objects`.

    A name the instance does not plan (not declared, or failed to render) has none.
    """
    objs: list[Manifest] = []
    for name in sorted(set(names)):
        plan = prepared.run_specs.get(name)
        if plan is None:
            continue
        state = states.get(name) if states is not None else None
        if state is None and models and name in models:
            objs.extend(pipeline_objects(plan, None, all_steps=all_steps))
            if plan.env.serve:
                objs.extend(serving.serving_objects(plan, models[name]))
            continue
        objs.extend(pipeline_objects(plan, state, all_steps=all_steps))
    return objs
