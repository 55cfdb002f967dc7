"""Every object the example repository renders, and the SDK virtualenv that checks them.

``rendered``
    ``[(where, manifest), ...]``: every object of every example environment (dev, staging,
    prod, and exp on branch ``exp/lr-sweep``), with every step of the first attempt, every
    step of a retry (attempt 2), and serving of a promoted model; then the serving objects of
    :data:`SERVING_VARIANTS` (every KServe model format, named runtimes, a runtime of the
    cluster's own, replicas, probes, ingress class) and the step objects of
    :data:`STEP_VARIANTS` (TrainJobs, a single-replica PyTorchJob). ``where`` is ``"<env>: <Kind>/<name>"``
    or ``"<variant>: <Kind>/<name>"``.
``sdk_python``
    The python of the virtualenv that holds the operators' SDKs (built on first use, see
    ``sdk_venv.py``).
``sdk_results``
    ``{where: {"model": ..., "errors": [...]}}`` for every rendered object, from one run of
    ``sdk_check.py`` in that virtualenv.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from reconciler import engine
from reconciler.render import environments, serving, steps
from reconciler.render.runspecs import RunSpec
from reconciler.source import repos
from reconciler.specs import servingruntimes
from reconciler.specs.models import Autoscale, Probe, Probes
from reconciler.structs.runs import RunState, ServedModel
from tests.render.operators import sdk_venv

ROOT = Path(__file__).resolve().parents[3]
TARGETS = [("dev", None), ("staging", None), ("prod", None), ("exp", "exp/lr-sweep")]
RETRY_ATTEMPT = 2


def prepare(env: str, branch: str | None) -> environments.Prepared:
    """Prepare an example environment as the engine does (with the repository and commit).

    Steps then carry everything the engine renders, ``dvc get``'s variables included.
    """
    sha = repos.commit_info(ROOT, "HEAD").sha
    return engine.prepare_target(ROOT, env, branch=branch, source=ROOT, commit=sha)


def render_target(env: str, branch: str | None) -> list[dict[str, Any]]:
    """Return every object of one environment: all steps, a retry's steps, serving."""
    prepared = prepare(env, branch)
    assert prepared.errors == []
    models = {
        n: ServedModel(run=p.run_id, model_uri=p.model_uri()) for n, p in prepared.run_specs.items()
    }
    objs = environments.render_objects(prepared, all_steps=True, models=models)
    for name in sorted(prepared.run_specs):
        plan = prepared.run_specs[name]
        steps = frozenset(s.name for s in plan.pipeline.steps)
        retry = RunState(run=plan.run_id, attempt=RETRY_ATTEMPT, live_steps=steps)
        objs.extend(environments.pipeline_objects(plan, retry))
    return objs


SERVING_VARIANTS: dict[str, dict[str, Any]] = {
    **{
        f"kserve {fmt}": {"runtime": "kserve", "image": None, "model_format": fmt}
        for fmt in servingruntimes.FORMATS
    },
    "kserve sklearn v2 on MLServer": {
        "runtime": "kserve",
        "image": None,
        "model_format": "sklearn",
        "model_format_version": "1",
        "serving_runtime": "kserve-mlserver",
        "protocol_version": "v2",
    },
    "kserve pytorch on Triton (named, not auto-selected)": {
        "runtime": "kserve",
        "image": None,
        "model_format": "pytorch",
        "serving_runtime": "kserve-tritonserver",
    },
    "kserve a runtime of the cluster's own": {
        "runtime": "kserve",
        "image": None,
        "model_format": "team-format",
        "serving_runtime": "team-runtime",
    },
    "kserve custom image, autoscaled": {
        "runtime": "kserve",
        "autoscale": Autoscale(min_replicas=2, max_replicas=4, target_cpu_utilization=60),
        "metrics_port": 9090,
    },
    "deployment with probes and an ingress class": {
        "runtime": "deployment",
        "replicas": 3,
        "ingress_host": "resnet.example.com",
        "ingress_class": "nginx",
        "probes": Probes(
            readiness=Probe(path="/ready", period_seconds=5),
            liveness=Probe(path="/healthz", port=9000, initial_delay_seconds=120),
        ),
    },
}
"""Serving configurations the example does not use: resnet50's ``serve`` with these fields."""


STEP_VARIANTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "trainjob on 2 nodes": (
        "llm-finetune",
        "train",
        {"runtime": "trainjob", "workers": 2, "retries": 0},
    ),
    "trainjob on a runtime of the cluster's own": (
        "llm-finetune",
        "train",
        {"runtime": "trainjob", "retries": 0, "training_runtime": "torch-distributed"},
    ),
    "pytorchjob with a master only": ("resnet50", "train", {"workers": 1, "retries": 0}),
    "trainjob with a mounted dataset": (
        "resnet50",
        "train",
        {"runtime": "trainjob", "retries": 0},
    ),
}
"""Step configurations the example does not use: (pipeline, step, fields replaced)."""


def step_variant(plan: RunSpec, step: str, **fields: Any) -> RunSpec:
    """Return ``plan`` whose step ``step`` has ``fields`` replaced."""
    steps = tuple(
        dataclasses.replace(s, **fields) if s.name == step else s for s in plan.pipeline.steps
    )
    return dataclasses.replace(plan, pipeline=dataclasses.replace(plan.pipeline, steps=steps))


def serving_variant(plan: RunSpec, **fields: Any) -> RunSpec:
    """Return ``plan`` whose pipeline's ``serve`` has ``fields`` replaced."""
    assert plan.pipeline.serve is not None
    serve = dataclasses.replace(plan.pipeline.serve, **fields)
    return dataclasses.replace(plan, pipeline=dataclasses.replace(plan.pipeline, serve=serve))


def render_variants() -> list[tuple[str, dict[str, Any]]]:
    """Return the serving objects of every :data:`SERVING_VARIANTS` entry (prod's resnet50)."""
    prepared = prepare("prod", None)
    base = prepared.run_specs["resnet50"]
    model = ServedModel(run=base.run_id, model_uri=base.model_uri())
    out = []
    for name, fields in SERVING_VARIANTS.items():
        for obj in serving.serving_objects(serving_variant(base, **fields), model):
            out.append((where(name, obj), obj))
    for name, (pipeline, step, fields) in STEP_VARIANTS.items():
        plan = step_variant(prepared.run_specs[pipeline], step, **fields)
        obj = steps.step_object(plan, plan.pipeline.step(step))
        out.append((where(name, obj), obj))
    return out


def where(env: str, obj: dict[str, Any]) -> str:
    """Name an object for assertion messages."""
    return f"{env}: {obj['kind']}/{obj['metadata']['name']}"


@pytest.fixture(scope="session")
def rendered() -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for env, branch in TARGETS:
        out.extend((where(env, o), o) for o in render_target(env, branch))
    out.extend(render_variants())
    return out


@pytest.fixture(scope="session")
def sdk_python() -> Path:
    try:
        return sdk_venv.ensure()
    except sdk_venv.SdkVenvError as e:
        pytest.fail(f"cannot build the operator SDK virtualenv: {e}")


def run_sdk_check(python: Path, objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return ``sdk_check.py``'s verdict on each object, in order."""
    proc = subprocess.run(
        [str(python), str(Path(__file__).with_name("sdk_check.py"))],
        input=json.dumps(objs),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results: list[dict[str, Any]] = json.loads(proc.stdout)
    assert len(results) == len(objs)
    return results


@pytest.fixture(scope="session")
def sdk_results(
    sdk_python: Path, rendered: list[tuple[str, dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    results = run_sdk_check(sdk_python, [o for _, o in rendered])
    return {w: r for (w, _), r in zip(rendered, results, strict=True)}
