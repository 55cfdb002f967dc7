"""Step objects: one batch/v1 Job, PyTorchJob or TrainJob per step of a run.

Each object is named ``<pipeline>-<run>-<step>``; a changed run has a new name, so a Job's
immutable template is never patched. Retries are the Job's ``backoffLimit`` (the only
retry inside a run); ``timeout`` is ``activeDeadlineSeconds``. This module builds every
step's metadata and restricted pod template; :mod:`reconciler.render.training` shapes the
Kubeflow kinds (``runtime: kubeflow`` and ``runtime: trainjob``) from them.
"""

from __future__ import annotations

from typing import Any

from reconciler.render import datamounts, podspecs, training
from reconciler.render.runspecs import ARTIFACTS_DIR, RunSpec
from reconciler.specs.models import Step
from reconciler.structs import labels
from reconciler.structs.manifests import Manifest

STEP_CONTAINER = "step"
STEP_KINDS: dict[str, tuple[str, str]] = {
    "job": ("batch/v1", "Job"),
    "kubeflow": ("kubeflow.org/v1", "PyTorchJob"),
    "trainjob": (training.TRAINER_API_VERSION, "TrainJob"),
}
"""``(apiVersion, kind)`` of a step's object, by the step's ``runtime``."""


def step_group_kind(step: Step) -> tuple[str, str]:
    """Return the ``(group, kind)`` of a step's object."""
    api, kind = STEP_KINDS[step.runtime]
    return (api.split("/")[0] if "/" in api else "", kind)


def step_labels(plan: RunSpec, step: Step, attempt: int) -> dict[str, str]:
    """Return the labels of a step object and of its pods."""
    out = plan.base_labels()
    out[labels.RUN] = plan.run_name(attempt)
    out[labels.STEP] = step.name
    if step.queue:
        out[labels.QUEUE_NAME] = step.queue
    return out


def _template(plan: RunSpec, step: Step, attempt: int, container_name: str) -> dict[str, Any]:
    plain = plan.step_env(step, attempt)
    for k, v in datamounts.step_env(plan).items():
        plain.setdefault(k, v)
    env = podspecs.env_vars(plain, step.secret_env)
    artifacts = plan.artifact_volume()
    mounts = datamounts.step_mounts(plan)
    if artifacts:
        mounts.append({"name": artifacts["name"], "mountPath": ARTIFACTS_DIR})
    ctr = podspecs.container(
        name=container_name,
        image=step.image,
        command=step.command,
        args=step.args,
        env=env,
        resources=podspecs.container_resources(step.resources, plan.env),
        shm=podspecs.shm_size(step.resources) is not None,
        mounts=mounts,
    )
    pod_labels = step_labels(plan, step, attempt)
    pod_labels.pop(labels.QUEUE_NAME, None)
    return {
        "metadata": {"labels": pod_labels},
        "spec": podspecs.pod_spec(
            [ctr],
            env=plan.env,
            resources=step.resources,
            restart_policy="Never",
            service_account=plan.service_account,
            image_pull_secrets=plan.image_pull_secrets,
            init_containers=datamounts.init_containers(plan, step),
            volumes=[*datamounts.volumes(plan), *([artifacts] if artifacts else [])],
        ),
    }


def _metadata(plan: RunSpec, step: Step, attempt: int) -> dict[str, Any]:
    return {
        "name": plan.object_name(step.name, attempt),
        "namespace": plan.namespace,
        "labels": step_labels(plan, step, attempt),
        "annotations": {labels.ATTEMPT: str(attempt)},
    }


def job(plan: RunSpec, step: Step, attempt: int = 1) -> Manifest:
    """Return the batch/v1 Job of a ``runtime: job`` step."""
    spec: dict[str, Any] = {"backoffLimit": step.retries}
    if step.timeout_seconds:
        spec["activeDeadlineSeconds"] = step.timeout_seconds
    spec["template"] = _template(plan, step, attempt, STEP_CONTAINER)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(plan, step, attempt),
        "spec": spec,
    }


def step_object_or_live(plan: RunSpec, step: Step, attempt: int, live: Manifest | None) -> Manifest:
    """Return ``live`` if it is this step's object as listed, else :func:`step_object`.

    The live object of a step is what the sync keeps (frozen: never written again), so a
    reconcile need not render it anew. It is used only if it is the object this step
    would be: same kind (the runtime is part of the run id), name and namespace.
    """
    if live is not None:
        meta = live.get("metadata") or {}
        if (
            (live.get("apiVersion"), live.get("kind")) == STEP_KINDS[step.runtime]
            and meta.get("name") == plan.object_name(step.name, attempt)
            and meta.get("namespace") == plan.namespace
        ):
            return live
    return step_object(plan, step, attempt)


def step_object(plan: RunSpec, step: Step, attempt: int = 1) -> Manifest:
    """Return the object of one step, by its runtime."""
    if step.runtime == "job":
        return job(plan, step, attempt)
    metadata = _metadata(plan, step, attempt)
    template = _template(plan, step, attempt, STEP_CONTAINER)
    if step.runtime == "kubeflow":
        return training.pytorchjob(step, metadata=metadata, template=template)
    return training.trainjob(
        step,
        metadata=metadata,
        template=template,
        init_patch=datamounts.runtime_init_patch(plan, step),
    )
