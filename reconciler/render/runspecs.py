"""Run specs: a pipeline in one environment, with its run id and resolved inputs.

A ``RunSpec`` is everything render, the run engine, review and provenance need to know
about the run a spec asks for, before looking at the cluster.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.render import runids
from reconciler.specs.models import Environment, Pipeline, Step
from reconciler.structs import labels
from reconciler.structs.runs import run_name

if TYPE_CHECKING:
    from reconciler.render.datasets import DatasetFacts


@dataclass(frozen=True)
class RunSpec:
    """The run a pipeline's current spec asks for in one environment instance."""

    pipeline: Pipeline
    env: Environment
    namespace: str
    run_id: str
    datasets: Mapping[str, DatasetFacts]

    def run_name(self, attempt: int = 1) -> str:
        """Return the run name of an attempt (``<id>`` or ``<id>-<N>``)."""
        return run_name(self.run_id, attempt)

    def object_name(self, step: str, attempt: int = 1) -> str:
        """Return ``<pipeline>-<run>-<step>``: the name of a step's object."""
        return f"{self.pipeline.name}-{self.run_name(attempt)}-{step}"

    def model_uri(self, attempt: int = 1) -> str:
        """Return the output step's URI with ``{run}`` replaced by the run name."""
        out = self.pipeline.output_step.output or ""
        return out.replace("{run}", self.run_name(attempt))

    def params_json(self) -> str:
        """Return the params as canonical JSON (the PARAMS_JSON env var)."""
        return json.dumps(dict(self.pipeline.params), sort_keys=True, separators=(",", ":"))

    def ordered_steps(self) -> list[Step]:
        """Return the steps in a topological order of ``needs`` (ties by declaration)."""
        done: set[str] = set()
        order: list[Step] = []
        pending = list(self.pipeline.steps)
        while pending:
            ready = [s for s in pending if set(s.needs) <= done]
            if not ready:  # validation refuses cycles; never loop forever on bad input
                order.extend(pending)
                break
            for s in ready:
                order.append(s)
                done.add(s.name)
                pending.remove(s)
        return order

    def base_labels(self) -> dict[str, str]:
        """Return the labels of every object generated for this pipeline."""
        out = {k: v for k, v in self.pipeline.labels}
        out.update(
            {
                labels.MANAGED_BY: labels.MANAGED_BY_VALUE,
                labels.ENV: self.env.name,
                labels.PIPELINE: self.pipeline.name,
            }
        )
        return out

    def step_env(self, step: Step, attempt: int = 1) -> dict[str, str]:
        """Return the plain env vars of a step's containers (design.md's list, then the user's)."""
        env = {
            "RUN_ID": self.run_name(attempt),
            "STEP": step.name,
            "PARAMS_JSON": self.params_json(),
            "MODEL_OUTPUT": self.model_uri(attempt),
        }
        for name, facts in sorted(self.datasets.items()):
            key = name.upper().replace("-", "_")
            env[f"DATASET_{key}_URL"] = facts.url
            env[f"DATASET_{key}_MD5"] = facts.md5
        for k, v in step.env:
            env.setdefault(k, v)
        return env

    def summary(self) -> dict[str, Any]:
        """Return a JSON summary (used by review and status)."""
        return {
            "pipeline": self.pipeline.name,
            "env": self.env.name,
            "namespace": self.namespace,
            "run": self.run_id,
            "model": self.model_uri(),
            "params": dict(self.pipeline.params),
            "datasets": {
                n: {"path": f.path, "md5": f.md5, "size": f.size} for n, f in self.datasets.items()
            },
        }


def plan_run(
    *,
    env: Environment,
    namespace: str,
    pipeline: Pipeline,
    datasets: Mapping[str, DatasetFacts],
) -> RunSpec:
    """Compute the run a pipeline asks for; ``datasets`` maps dataset name to its facts."""
    rid = runids.run_id(env.name, pipeline, {n: f.md5 for n, f in datasets.items()})
    return RunSpec(pipeline=pipeline, env=env, namespace=namespace, run_id=rid, datasets=datasets)
