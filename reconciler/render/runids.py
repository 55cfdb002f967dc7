"""Run ids: the short hash that makes a run never repeat for the same inputs.

design.md: run id = short hash of the environment name, every step after the overlay
(image, command, args, env, resources, workers, runtime, needs) plus params and the md5 of
every dataset. The hash is of a canonical JSON document, so it is stable across runs,
machines and Python versions, and a ``git revert`` of a spec finds the earlier run again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from reconciler.specs.models import Pipeline, Step

RUN_ID_LENGTH = 8


def step_identity(step: Step) -> dict[str, Any]:
    """Return the fields of a step that define a run (design.md's list, nothing else)."""
    r = step.resources
    resources: dict[str, Any] = {
        "cpu": r.cpu,
        "memory": r.memory,
        "gpus": r.gpus,
        "gpuType": r.gpu_type,
    }
    if r.shm is not None:  # only when set: the ids of specs without it stay as they were
        resources["shm"] = r.shm
    out: dict[str, Any] = {
        "name": step.name,
        "image": step.image,
        "command": list(step.command),
        "args": list(step.args),
        "env": {k: v for k, v in step.env},
        "resources": resources,
        "workers": step.workers,
        "runtime": step.runtime,
        "needs": sorted(step.needs),
    }
    if step.training_runtime:  # only when set: existing run ids stay what they were
        out["trainingRuntime"] = step.training_runtime
    return out


def run_inputs(
    env_name: str, pipeline: Pipeline, dataset_md5s: Mapping[str, str]
) -> dict[str, Any]:
    """Return the canonical document a run id is the hash of.

    ``dataset_md5s`` maps each dataset name of the pipeline to its md5.
    """
    out: dict[str, Any] = {
        "env": env_name,
        "steps": [step_identity(s) for s in sorted(pipeline.steps, key=lambda s: s.name)],
        "params": {k: v for k, v in pipeline.params},
        "datasets": {name: dataset_md5s[name] for name in sorted(dataset_md5s)},
    }
    if pipeline.mounts:  # only when set: the ids of specs without mounts stay as they were
        out["mounts"] = sorted(pipeline.mounts)
    return out


def run_id(env_name: str, pipeline: Pipeline, dataset_md5s: Mapping[str, str]) -> str:
    """Return the run id: the first 8 hex digits of sha256 over the canonical inputs."""
    doc = run_inputs(env_name, pipeline, dataset_md5s)
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:RUN_ID_LENGTH]
