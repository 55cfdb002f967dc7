"""The spec rules that join several fields: what a JSON Schema cannot say.

Called by ``reconciler.specs.validation`` after the schema check, on the same plain data;
every function tolerates fields of the wrong shape (the schema has reported them) and
reports through ``report(field, message)``. A rule's error on a field that already has a
schema error is dropped by the caller.

Pipeline: unique step names, ``needs`` naming existing steps without a cycle, exactly one
``output``, pipeline + step name within the object-name budget, ``workers > 1`` only with
``runtime: kubeflow`` or ``trainjob``, ``trainingRuntime`` only and ``retries`` never with
``trainjob``, no variable in both ``env`` and ``secretEnv``, dataset names distinct
ignoring case, ``minReplicas <= maxReplicas``; serving: an image or (KServe only) a model
format that a KServe runtime serves (``reconciler.specs.servingruntimes``), KServe-only
fields only with ``runtime: kserve``. Environment: ``{branch}`` in the
namespace exactly when the branch is a pattern, no system namespace unless allowed;
toleration fields that depend on each
other. Sets of pipelines: unique names, GPUs per step within the environment's
``limits.maxGpusPerRun``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from reconciler.specs import branches, models, servingruntimes
from reconciler.specs import patterns as p
from reconciler.specs.checking import Report
from reconciler.specs.loading import Locator, join_field
from reconciler.structs.errors import SpecError


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


# --- Pipeline -----------------------------------------------------------------------------


def check_pipeline(data: Any, report: Report) -> None:
    """Report the cross-field errors of a plain Pipeline document."""
    doc = _dict(data)
    spec = _dict(doc.get("spec"))
    name = _dict(doc.get("metadata")).get("name")
    pipeline = name if isinstance(name, str) and p.matches(p.DNS1035_LABEL, name) else None
    _dataset_names(_dict(spec.get("datasets")), report)
    if isinstance(spec.get("steps"), list):
        steps = spec["steps"]
        names = _step_names(steps, report)
        for i, step in enumerate(steps):
            if isinstance(step, dict):
                _step(step, f"spec.steps[{i}]", pipeline, report)
        _needs(steps, names, report)
        _output(steps, report)
    serve = _dict(spec.get("serve"))
    for key in sorted(set(_dict(serve.get("env"))) & set(_dict(serve.get("secretEnv")))):
        report(join_field("spec.serve.secretEnv", key), f"{key} is also set in env")
    if isinstance(spec.get("serve"), dict):
        _serve(spec["serve"], report)
    autoscale = _dict(serve.get("autoscale"))
    lo, hi = autoscale.get("minReplicas", 1), autoscale.get("maxReplicas")
    if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
        report(
            "spec.serve.autoscale.minReplicas",
            f"minReplicas ({lo}) is greater than maxReplicas ({hi})",
        )


DATASET_ENV_SUFFIXES = ("URL", "MD5", "MANIFEST_URL", "REV", "DVC_PATH", "PATH")
"""The ``DATASET_<NAME>_<SUFFIX>`` variables a dataset may give a step."""


def _dataset_names(datasets: Mapping[str, Any], report: Report) -> None:
    seen: dict[str, str] = {}
    variables: dict[str, str] = {}
    for name in datasets:
        upper = name.upper()
        if upper in seen:
            report(
                join_field("spec.datasets", name),
                f"dataset name {name!r} clashes with {seen[upper]!r} (names ignore case)",
            )
            continue
        seen[upper] = name
        mine = {f"DATASET_{upper}_{suffix}" for suffix in DATASET_ENV_SUFFIXES}
        clash = sorted((v, variables[v]) for v in mine if v in variables)
        if clash:
            var, other = clash[0]
            report(
                join_field("spec.datasets", name),
                f"dataset name {name!r} clashes with {other!r}: both would set {var}",
            )
            continue
        variables.update(dict.fromkeys(mine, name))


def _step_names(steps: list[Any], report: Report) -> dict[str, int]:
    """Return each valid step name's index; report duplicates."""
    names: dict[str, int] = {}
    for i, step in enumerate(steps):
        name = _dict(step).get("name")
        if not isinstance(name, str) or not p.matches(p.DNS1123_LABEL, name):
            continue
        if name in names:
            report(
                f"spec.steps[{i}].name",
                f"duplicate step name {name!r} (also spec.steps[{names[name]}])",
            )
        else:
            names[name] = i
    return names


def _step(step: dict[str, Any], field: str, pipeline: str | None, report: Report) -> None:
    workers = _int(step.get("workers"), 1)
    runtime = step.get("runtime", "job")
    if workers > 1 and runtime == "job":
        report(
            f"{field}.workers",
            f"workers: {workers} needs runtime: kubeflow or trainjob (a Job has one worker)",
        )
    if "trainingRuntime" in step and runtime != "trainjob":
        report(f"{field}.trainingRuntime", "only with runtime: trainjob")
    if runtime == "trainjob" and _int(step.get("retries"), 0) > 0:
        report(
            f"{field}.retries",
            "a TrainJob has no retry limit of its own: its restarts are its "
            "ClusterTrainingRuntime's (reconciler-torch: the whole job, up to 3 times); "
            "remove retries, or use runtime: kubeflow",
        )
    both = set(_dict(step.get("env"))) & set(_dict(step.get("secretEnv")))
    for key in sorted(both):
        report(join_field(f"{field}.secretEnv", key), f"{key} is also set in env")
    name = step.get("name")
    if pipeline is None or not isinstance(name, str) or not p.matches(p.DNS1123_LABEL, name):
        return
    budget = p.STEP_NAME_BUDGET
    why = f"'<pipeline>-<run>-<attempt>-<step>' must fit in {p.OBJECT_NAME_MAX} characters"
    if runtime == "kubeflow":
        replica = len(p.KUBEFLOW_REPLICA_PREFIX) + len(str(max(workers - 2, 0)))
        budget -= replica
        why += f", and kubeflow adds '{p.KUBEFLOW_REPLICA_PREFIX}<i>' ({replica} characters)"
    elif runtime == "trainjob":
        node = len(p.TRAINJOB_NODE_PREFIX) + len(str(max(workers - 1, 0)))
        budget -= node
        why += f", and a TrainJob's node adds '{p.TRAINJOB_NODE_PREFIX}<i>' ({node} characters)"
    if len(pipeline) + len(name) > budget:
        report(
            f"{field}.name",
            f"step name {name!r} is too long: pipeline name ({len(pipeline)}) + step name "
            f"({len(name)}) must be at most {budget} characters ({why})",
        )


KSERVE_ONLY = ("modelFormat", "servingRuntime", "protocolVersion")


def _serve(serve: dict[str, Any], report: Report) -> None:
    """Serving: an image, or with KServe a model format a runtime serves (not both)."""
    runtime = serve.get("runtime", "deployment")
    field = "spec.serve"
    if runtime != "kserve":
        for key in KSERVE_ONLY:
            if key in serve:
                report(f"{field}.{key}", "only with runtime: kserve")
        if "image" not in serve:
            report(field, "image is required (a Deployment runs your serving image)")
        return
    if "ingress" in serve:
        report(
            f"{field}.ingress",
            "runtime: kserve is exposed by KServe's own ingress configuration; ingress is "
            "for runtime: deployment",
        )
    fmt = serve.get("modelFormat")
    if "image" in serve and fmt is not None:
        report(
            f"{field}.modelFormat",
            "set either image (your serving image, as KServe's kserve-container) or "
            "modelFormat (served by a KServe runtime), not both",
        )
        return
    if fmt is None:
        if "image" not in serve:
            report(field, "runtime: kserve needs image (your serving image) or modelFormat")
        for key in ("servingRuntime", "protocolVersion"):
            if key in serve:
                report(f"{field}.{key}", "only with modelFormat (a KServe serving runtime)")
        return
    name = fmt if isinstance(fmt, str) else _dict(fmt).get("name")
    version = _dict(fmt).get("version") if isinstance(fmt, dict) else None
    runtime_name = serve.get("servingRuntime")
    protocol = serve.get("protocolVersion")
    if not isinstance(name, str) or (version is not None and not isinstance(version, str)):
        return
    if runtime_name is not None and not isinstance(runtime_name, str):
        return
    problem = servingruntimes.selection_error(
        name, version, protocol if isinstance(protocol, str) else None, runtime_name
    )
    if problem:
        where = "servingRuntime" if runtime_name else "modelFormat"
        report(f"{field}.{where}", problem)


def _needs(steps: list[Any], names: Mapping[str, int], report: Report) -> None:
    """Report unknown steps in ``needs`` and every cycle (once, at its first step)."""
    graph: dict[str, list[str]] = {}
    for i, step in enumerate(steps):
        name = _dict(step).get("name")
        deps: list[str] = []
        for j, need in enumerate(_list(_dict(step).get("needs"))):
            if not isinstance(need, str):
                continue
            if need not in names:
                known = ", ".join(names) or "none"
                report(f"spec.steps[{i}].needs[{j}]", f"unknown step {need!r} (steps: {known})")
            elif need == name:
                report(f"spec.steps[{i}].needs", f"step {need!r} needs itself")
            else:
                deps.append(need)
        if isinstance(name, str) and names.get(name) == i:
            graph[name] = deps
    for cycle in _cycles(graph, order=list(names)):
        first = min(cycle[:-1], key=lambda s: names[s])
        start = cycle.index(first)
        loop = [*cycle[start:-1], *cycle[:start], first]
        report(f"spec.steps[{names[first]}].needs", f"cycle in needs: {' -> '.join(loop)}")


def _cycles(graph: Mapping[str, Sequence[str]], order: Sequence[str]) -> list[list[str]]:
    """Return one cycle per set of steps that form one (``[a, b, a]``), without recursion."""
    color: dict[str, int] = {}
    found: list[list[str]] = []
    seen_sets: set[frozenset[str]] = set()
    for root in order:
        if color.get(root):
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, idx = stack.pop()
            if idx == 0:
                color[node] = 1
                path.append(node)
            deps = graph.get(node, ())
            if idx < len(deps):
                stack.append((node, idx + 1))
                nxt = deps[idx]
                state = color.get(nxt, 0)
                if state == 0:
                    stack.append((nxt, 0))
                elif state == 1:
                    cycle = [*path[path.index(nxt) :], nxt]
                    if frozenset(cycle) not in seen_sets:
                        seen_sets.add(frozenset(cycle))
                        found.append(cycle)
            else:
                color[node] = 2
                path.pop()
    return found


def _output(steps: list[Any], report: Report) -> None:
    """Exactly one step has ``output``."""
    with_output = [i for i, s in enumerate(steps) if isinstance(s, dict) and "output" in s]
    if not with_output:
        report("spec.steps", "no step has output: exactly one step must write the model")
    for i in with_output[1:]:
        first = steps[with_output[0]].get("name")
        report(
            f"spec.steps[{i}].output",
            f"only one step may have output (step {first!r} already has it)"
            if isinstance(first, str)
            else f"only one step may have output (spec.steps[{with_output[0]}] already has it)",
        )


# --- Environment --------------------------------------------------------------------------


def check_environment(data: Any, report: Report) -> None:
    """Report the cross-field errors of a plain Environment document."""
    spec = _dict(_dict(data).get("spec"))
    branch, namespace = spec.get("branch"), spec.get("namespace")
    if (
        isinstance(branch, str)
        and isinstance(namespace, str)
        and not branches.pattern_problem(branch)
    ):
        _namespace(branch, namespace, spec.get("allowSystemNamespace") is True, report)
    prov = spec.get("provenanceBranch")
    if isinstance(branch, str) and isinstance(prov, str) and not branches.pattern_problem(branch):
        _provenance_apart(branch, prov, report)
    scheduling = _dict(spec.get("scheduling"))
    places = [("spec.scheduling", scheduling)]
    for name, gpu in _dict(scheduling.get("gpuTypes")).items():
        places.append((join_field("spec.scheduling.gpuTypes", name), _dict(gpu)))
    for base, place in places:
        for i, toleration in enumerate(_list(place.get("tolerations"))):
            if isinstance(toleration, dict):
                _toleration(toleration, f"{base}.tolerations[{i}]", report)


def _namespace(branch: str, ns: str, allow_system: bool, report: Report) -> None:
    field = "spec.namespace"
    count = ns.count("{branch}")
    pattern = branches.is_pattern(branch)
    if pattern and count != 1:
        report(
            field,
            f"{ns!r} must contain {{branch}} exactly once: branch {branch!r} is a pattern "
            "(one namespace per branch, e.g. ml-exp-{branch})",
        )
    elif not pattern and count:
        report(field, f"{ns!r}: {{branch}} is only allowed when branch is a pattern")
    elif not count and ns in branches.system_namespaces() and not allow_system:
        report(
            field,
            f"{ns!r} is a system namespace: the reconciler would own (and prune) objects "
            "there; use a namespace of its own, or set allowSystemNamespace: true",
        )


def default_provenance_branch(branch: str) -> str:
    """Return where records go by default: beside each branch for a pattern (runs/<branch>)."""
    return "runs/{source}" if branches.is_pattern(branch) else "experiments/{pipeline}"


def _provenance_apart(branch: str, prov: str, report: Report) -> None:
    """Refuse a provenance branch that is a branch people push to (one the env follows)."""
    source = re.sub(r"\[[^\]]*\]", "x", branch.replace("**", "a/b"))
    source = source.replace("*", "lr-sweep").replace("?", "x")
    resolved = prov.replace("{pipeline}", "resnet50").replace("{source}", source)
    pushed = resolved == source
    if branches.is_pattern(branch):
        pushed = pushed or branches.pattern_matches(branch, resolved)
    if pushed:
        report(
            "spec.provenanceBranch",
            f"{prov!r} would commit run records onto {resolved!r}, a branch people push to "
            "(their next push would be rejected); use a branch of its own, e.g. "
            '"runs/{source}" (default for a branch pattern) or "experiments/{pipeline}"',
        )


def _toleration(tol: dict[str, Any], field: str, report: Report) -> None:
    op = tol.get("operator", "Equal")
    if tol.get("value") and op == "Exists":
        report(f"{field}.value", "must be empty when operator is Exists")
    if not tol.get("key") and op != "Exists":
        report(f"{field}.operator", "an empty key needs operator: Exists")
    if "tolerationSeconds" in tol and tol.get("effect") != "NoExecute":
        report(f"{field}.tolerationSeconds", "only allowed with effect: NoExecute")


# --- sets of pipelines --------------------------------------------------------------------


def check_pipeline_set(
    pipelines: Sequence[models.Pipeline],
    env: models.Environment | None = None,
    *,
    locators: Mapping[str, Locator] | None = None,
) -> list[SpecError]:
    """Return the errors across pipelines: duplicate names, and GPUs over the env's limit.

    A duplicate is reported on every pipeline after the first with that name. With an
    environment that sets ``limits.maxGpusPerRun``, each step using more GPUs
    (``gpus x workers``) is reported. ``locators`` maps a pipeline's path to a Locator of
    its source file for positions; without one, positions are ``0:0``.
    """
    errors: list[SpecError] = []
    locators = locators or {}

    def err(pipeline: models.Pipeline, field: str, message: str) -> None:
        loc = locators.get(pipeline.path)
        line, col = loc.position(field) if loc is not None else (0, 0)
        errors.append(SpecError(pipeline.path, line, col, field, message))

    first: dict[str, models.Pipeline] = {}
    for pl in pipelines:
        if pl.name in first:
            err(
                pl,
                "metadata.name",
                f"duplicate pipeline name {pl.name!r} (also {first[pl.name].path})",
            )
        else:
            first[pl.name] = pl
    fetchless = [pl for pl in pipelines if pl.mounts] if env and not env.data_fetcher_image else []
    for pl in fetchless:
        assert env is not None
        for name in pl.mounts:
            err(
                pl,
                join_field("spec.datasets", name),
                f"mount: true needs dataFetcher.image in environment {env.name!r} "
                f"({env.path}): the image of the init container that fetches the data",
            )
    if env is not None:
        for pl in pipelines:
            for field, message in _unknown_references(pl, env):
                err(pl, field, message)
    limit = env.max_gpus_per_run if env is not None else None
    if env is None or limit is None:
        return errors
    for pl in pipelines:
        for i, s in enumerate(pl.steps):
            total = s.resources.gpus * s.workers
            if total > limit:
                how = f" ({s.resources.gpus} x {s.workers} workers)" if s.workers > 1 else ""
                err(
                    pl,
                    f"spec.steps[{i}].resources.gpus",
                    f"step {s.name!r} uses {total} GPUs{how}, over limits.maxGpusPerRun "
                    f"{limit} of environment {env.name!r} ({env.path})",
                )
    return errors


_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
"""``$(NAME)`` as Kubernetes expands it in command and args (``$$`` escapes a ``$``)."""


def _step_variables(pl: models.Pipeline, step: models.Step, env: models.Environment) -> set[str]:
    """Return the env var names a step's containers get (design.md's list and the user's)."""
    names = {"RUN_ID", "STEP", "PARAMS_JSON", "MODEL_OUTPUT", "HOME", "XDG_CACHE_HOME"}
    names |= {k for k, _ in step.env} | {k for k, _ in step.secret_env}
    for name, _path in pl.datasets:
        key = f"DATASET_{name.upper()}"
        names |= {f"{key}_{s}" for s in ("URL", "MD5", "MANIFEST_URL", "REV", "DVC_PATH")}
        names.add("DVC_REPO_URL")
        if name in pl.mounts:
            names.add(f"{key}_PATH")
    if env.artifact_root:
        names |= {"ARTIFACTS_URI", "CHECKPOINT_URI"}
        names |= {f"ARTIFACTS_URI_{n.upper().replace('-', '_')}" for n in step.needs}
    return names


SERVE_VARIABLES = ("MODEL_URI", "RUN_ID", "PIPELINE")
"""What the serving container gets before ``serve.env``, in order (render/serving.py)."""

_SERVICE_LINK = re.compile(
    r"[A-Z0-9_]+_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)"
)
"""The variables Kubernetes gives every container for the Services of its namespace."""


def _env_value_references(
    env: Sequence[tuple[str, str]],
    *,
    field: str,
    defined: Sequence[str],
    later: set[str],
    container: str,
    order: str,
) -> Iterator[tuple[str, str]]:
    """Yield ``(field, message)`` for each ``$(NAME)`` in an env value that is not expanded.

    Kubernetes expands ``$(NAME)`` in an env value only from variables defined *before* it
    in the container (and the Services' link variables) and passes any other on as
    written. ``defined``: the container's variables before ``env`` (a name of ``env``
    among them is the reconciler's, its value ignored); ``env`` follows by name; ``later``:
    what comes after (named as such, with ``order`` saying the container's order).
    """
    known = list(defined)
    for name, value in env:
        if name in known:  # a reserved name: the rendered value is the reconciler's
            continue
        for match in _REFERENCE.finditer(value):
            ref = match.group(1)
            if ref is None or ref in known or _SERVICE_LINK.fullmatch(ref):
                continue
            why = f" before {name} (it comes after it: {order})" if ref in later else ""
            yield (
                join_field(field, name),
                f"$({ref}) is not an env var of {container}{why}: Kubernetes would pass it on "
                "as written",
            )
        known.append(name)


def _serve_references(serve: models.Serve) -> Iterator[tuple[str, str]]:
    """Yield ``(field, message)`` for each ``$(NAME)`` in a ``serve.env`` value that is not
    expanded (:func:`_env_value_references`).

    The serving container's env is, in this order (as render/serving.py and
    render/kserve.py write it): ``STORAGE_URI`` (KServe with an image of its own),
    :data:`SERVE_VARIABLES`, ``serve.env`` by name, ``serve.secretEnv``, then ``HOME`` and
    ``XDG_CACHE_HOME``.
    """
    defined = ["STORAGE_URI"] if serve.runtime == "kserve" and serve.image else []
    later = {k for k, _ in serve.env} | {k for k, _ in serve.secret_env}
    yield from _env_value_references(
        serve.env,
        field="spec.serve.env",
        defined=[*defined, *SERVE_VARIABLES],
        later=later | {"HOME", "XDG_CACHE_HOME"},
        container="the serving container",
        order=f"the serving container gets {', '.join(SERVE_VARIABLES)}, then serve.env by "
        "name, then serve.secretEnv",
    )


def _step_env_references(
    pl: models.Pipeline, i: int, step: models.Step, env: models.Environment
) -> Iterator[tuple[str, str]]:
    """Yield ``(field, message)`` for each ``$(NAME)`` in a step's ``env`` values that is
    not expanded (:func:`_env_value_references`).

    A step's containers get, in this order (render/runspecs.py ``step_env``, then
    render/steps.py): the reconciler's variables, the step's ``env`` by name, the mounted
    datasets' ``DATASET_<NAME>_PATH``, ``secretEnv``, then ``HOME`` and ``XDG_CACHE_HOME``.
    """
    own = {k for k, _ in step.env}
    after = {k for k, _ in step.secret_env} | {"HOME", "XDG_CACHE_HOME"}
    after |= {f"DATASET_{name.upper()}_PATH" for name in pl.mounts}
    reserved = _step_variables(pl, dataclasses.replace(step, env=()), env) - after
    yield from _env_value_references(
        step.env,
        field=f"spec.steps[{i}].env",
        defined=sorted(reserved),
        later=own | after,
        container=f"step {step.name!r}",
        order="a step gets the reconciler's variables, then env by name, then "
        "DATASET_*_PATH, then secretEnv",
    )


def _unknown_references(pl: models.Pipeline, env: models.Environment) -> Iterator[tuple[str, str]]:
    """Yield ``(field, message)`` for each ``$(NAME)`` in a step that names no env var of it,
    and in ``serve.env`` (:func:`_serve_references`).

    Kubernetes expands ``$(NAME)`` only for variables of the container's own env and leaves
    any other as written, so the step would get the literal text.
    """
    for i, step in enumerate(pl.steps):
        known = _step_variables(pl, step, env)
        for part in ("command", "args"):
            for j, value in enumerate(getattr(step, part)):
                for match in _REFERENCE.finditer(value):
                    name = match.group(1)
                    if name is None or name in known:
                        continue
                    why = ""
                    if name.startswith("ARTIFACTS_URI") or name == "CHECKPOINT_URI":
                        why = (
                            f" (environment {env.name!r} has no artifactRoot)"
                            if not env.artifact_root
                            else f" (step {step.name!r} needs no such step)"
                        )
                    yield (
                        f"spec.steps[{i}].{part}[{j}]",
                        f"$({name}) is not an env var of step {step.name!r}{why}: "
                        "Kubernetes would pass it on as written",
                    )
        yield from _step_env_references(pl, i, step, env)
    if pl.serve is not None:
        yield from _serve_references(pl.serve)
