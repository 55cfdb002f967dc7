"""Run specs: a pipeline in one environment, with its run id and resolved inputs.

A ``RunSpec`` is everything render, the run engine, review and provenance need to know
about the run a spec asks for, before looking at the cluster.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.render import runids
from reconciler.render.dvcsources import DvcSources
from reconciler.specs.models import Environment, Pipeline, Step
from reconciler.structs import labels
from reconciler.structs.runs import run_name

if TYPE_CHECKING:
    from reconciler.render.datasets import DatasetFacts


PVC_SCHEME = "pvc://"
ARTIFACTS_DIR = "/artifacts"
ARTIFACTS_VOLUME = "artifacts"
DVC_REPO_URL = "DVC_REPO_URL"


def env_key(name: str) -> str:
    """Return a dataset or step name as an env var part (``lr-sweep`` -> ``LR_SWEEP``)."""
    return name.upper().replace("-", "_")


@dataclass(frozen=True)
class RunSpec:
    """The run a pipeline's current spec asks for in one environment instance."""

    pipeline: Pipeline
    env: Environment
    namespace: str
    run_id: str
    datasets: Mapping[str, DatasetFacts]
    sources: DvcSources = field(default_factory=DvcSources)
    """Where pods ``dvc get`` each dataset (empty when the repository is unknown)."""

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

    @property
    def service_account(self) -> str | None:
        """The step pods' ServiceAccount: the pipeline's, else the environment's."""
        return self.pipeline.service_account or self.env.service_account

    @property
    def image_pull_secrets(self) -> tuple[str, ...]:
        """The pull secrets of step pods: the pipeline's, else the environment's."""
        return self.pipeline.image_pull_secrets or self.env.image_pull_secrets

    def _artifact_base(self) -> str | None:
        root = self.env.artifact_root
        if not root:
            return None
        if root.startswith(PVC_SCHEME):
            _claim, _sep, sub = root[len(PVC_SCHEME) :].partition("/")
            return "/".join(p for p in (ARTIFACTS_DIR, sub.strip("/")) if p)
        return root.rstrip("/")

    def artifacts_uri(self, step: str, attempt: int = 1) -> str | None:
        """Return a step's artifact location, ``<root>/<pipeline>/<run>/<step>/`` (or None).

        With a PVC root the location is a path in the pod (the claim is at /artifacts).
        """
        base = self._artifact_base()
        return f"{base}/{self.pipeline.name}/{self.run_name(attempt)}/{step}/" if base else None

    def checkpoint_uri(self) -> str | None:
        """Return the run's checkpoint location: the same for every attempt (or None)."""
        base = self._artifact_base()
        return f"{base}/{self.pipeline.name}/{self.run_id}/checkpoints/" if base else None

    def artifact_volume(self) -> dict[str, Any] | None:
        """Return the PVC volume of a ``pvc://`` artifact root (None otherwise)."""
        root = self.env.artifact_root or ""
        if not root.startswith(PVC_SCHEME):
            return None
        claim = root[len(PVC_SCHEME) :].partition("/")[0]
        return {"name": ARTIFACTS_VOLUME, "persistentVolumeClaim": {"claimName": claim}}

    def step_env(self, step: Step, attempt: int = 1) -> dict[str, str]:
        """Return the plain env vars of a step's containers (design.md's list, then the user's).

        Per dataset: ``DATASET_<NAME>_URL`` (the file's URL in its remote; for a directory
        the remote's object prefix, with ``DATASET_<NAME>_MANIFEST_URL`` its ``.dir``
        listing) and ``DATASET_<NAME>_MD5`` (the md5 alone); when the repository is known,
        ``DVC_REPO_URL`` and per dataset ``DATASET_<NAME>_REV`` and ``DATASET_<NAME>_DVC_PATH``
        (``dvc get --rev REV URL DVC_PATH``, see :mod:`reconciler.render.dvcsources`). With
        an artifact root:
        ``ARTIFACTS_URI``, ``ARTIFACTS_URI_<STEP>`` for each step it needs, and
        ``CHECKPOINT_URI``.
        """
        env = {
            "RUN_ID": self.run_name(attempt),
            "STEP": step.name,
            "PARAMS_JSON": self.params_json(),
            "MODEL_OUTPUT": self.model_uri(attempt),
        }
        for name, facts in sorted(self.datasets.items()):
            key = env_key(name)
            env[f"DATASET_{key}_URL"] = facts.data_url
            env[f"DATASET_{key}_MD5"] = facts.md5.removesuffix(".dir")
            if facts.is_dir:
                env[f"DATASET_{key}_MANIFEST_URL"] = facts.url
            source = self.sources.datasets.get(name)
            if source is not None:
                env[f"DATASET_{key}_REV"] = source.rev
                env[f"DATASET_{key}_DVC_PATH"] = source.path
        if self.sources.repo_url and self.datasets:
            env[DVC_REPO_URL] = self.sources.repo_url
        own = self.artifacts_uri(step.name, attempt)
        if own is not None:
            env["ARTIFACTS_URI"] = own
            for need in sorted(step.needs):
                env[f"ARTIFACTS_URI_{env_key(need)}"] = self.artifacts_uri(need, attempt) or ""
            env["CHECKPOINT_URI"] = self.checkpoint_uri() or ""
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
    sources: DvcSources | None = None,
) -> RunSpec:
    """Compute the run a pipeline asks for; ``datasets`` maps dataset name to its facts.

    ``sources`` (where pods ``dvc get`` the datasets) never changes the run id.
    """
    rid = runids.run_id(env.name, pipeline, {n: f.md5 for n, f in datasets.items()})
    return RunSpec(
        pipeline=pipeline,
        env=env,
        namespace=namespace,
        run_id=rid,
        datasets=datasets,
        sources=sources or DvcSources(),
    )
