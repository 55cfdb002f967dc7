"""Every object the example repository renders, and the SDK virtualenv that checks them.

``rendered``
    ``[(where, manifest), ...]``: every object of every example environment (dev, staging,
    prod, and exp on branch ``exp/lr-sweep``), with every step of the first attempt, every
    step of a retry (attempt 2), and serving of a promoted model. ``where`` is
    ``"<env>: <Kind>/<name>"``.
``sdk_python``
    The python of the virtualenv that holds the operators' SDKs (built on first use, see
    ``sdk_venv.py``).
``sdk_results``
    ``{where: {"model": ..., "errors": [...]}}`` for every rendered object, from one run of
    ``sdk_check.py`` in that virtualenv.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from reconciler import engine
from reconciler.render import environments
from reconciler.structs.runs import RunState, ServedModel
from tests.render.operators import sdk_venv

ROOT = Path(__file__).resolve().parents[3]
TARGETS = [("dev", None), ("staging", None), ("prod", None), ("exp", "exp/lr-sweep")]
RETRY_ATTEMPT = 2


def render_target(env: str, branch: str | None) -> list[dict[str, Any]]:
    """Return every object of one environment: all steps, a retry's steps, serving."""
    prepared = engine.prepare_target(ROOT, env, branch=branch)
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


def where(env: str, obj: dict[str, Any]) -> str:
    """Name an object for assertion messages."""
    return f"{env}: {obj['kind']}/{obj['metadata']['name']}"


@pytest.fixture(scope="session")
def rendered() -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for env, branch in TARGETS:
        out.extend((where(env, o), o) for o in render_target(env, branch))
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
