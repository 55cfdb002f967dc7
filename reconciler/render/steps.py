"""Step objects: one batch/v1 Job or kubeflow.org/v1 PyTorchJob per step of a run.

Each object is named ``<pipeline>-<run>-<step>``; a changed run has a new name, so a Job's
immutable template is never patched. Retries are the Job's ``backoffLimit`` (the only
retry inside a run); ``timeout`` is ``activeDeadlineSeconds``.
"""

from __future__ import annotations

from typing import Any

from reconciler.render import datamounts, podspecs
from reconciler.render.runspecs import ARTIFACTS_DIR, RunSpec
from reconciler.specs.models import Step
from reconciler.structs import labels
from reconciler.structs.manifests import Manifest

PYTORCH_CONTAINER = "pytorch"  # the Kubeflow training operator requires this name
STEP_CONTAINER = "step"


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


def pytorchjob(plan: RunSpec, step: Step, attempt: int = 1) -> Manifest:
    """Return the PyTorchJob of a ``runtime: kubeflow`` step: one Master, workers-1 Workers."""
    template = _template(plan, step, attempt, PYTORCH_CONTAINER)
    replicas: dict[str, Any] = {
        "Master": {"replicas": 1, "restartPolicy": "Never", "template": template}
    }
    if step.workers > 1:
        replicas["Worker"] = {
            "replicas": step.workers - 1,
            "restartPolicy": "Never",
            "template": template,
        }
    run_policy: dict[str, Any] = {"backoffLimit": step.retries}
    if step.timeout_seconds:
        run_policy["activeDeadlineSeconds"] = step.timeout_seconds
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": _metadata(plan, step, attempt),
        "spec": {"runPolicy": run_policy, "pytorchReplicaSpecs": replicas},
    }


def step_object(plan: RunSpec, step: Step, attempt: int = 1) -> Manifest:
    """Return the object of one step, by its runtime."""
    if step.runtime == "kubeflow":
        return pytorchjob(plan, step, attempt)
    return job(plan, step, attempt)
