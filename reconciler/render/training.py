"""Kubeflow training objects of a step: the Training Operator's PyTorchJob and Trainer's TrainJob.

Called by :func:`reconciler.render.steps.step_object`, which builds the step's metadata and
restricted pod template; this module shapes them into the operators' custom resources.

``runtime: kubeflow`` -> ``kubeflow.org/v1`` PyTorchJob (Kubeflow Training Operator v1.7+)
    One ``Master`` and ``workers - 1`` ``Worker`` replicas, each a pod with the step's
    resources, whose container is named ``pytorch`` (the operator finds the container by that
    name to inject the rendezvous environment). Replicas restart ``OnFailure`` and
    ``runPolicy.backoffLimit`` is ``retries``: the operator counts the restarts of
    ``OnFailure`` containers against the limit (an ``ExitCode`` policy recreates pods, whose
    restarts the operator's backoff check never sees). With more than one replica,
    ``runPolicy.schedulingPolicy.minAvailable`` asks a gang scheduler (Volcano,
    scheduler-plugins) for all replicas at once; Kueue, selected by the
    ``kueue.x-k8s.io/queue-name`` label on the object, admits every replica of a PyTorchJob
    together. ``cleanPodPolicy: None`` keeps the finished pods, whose termination messages
    carry the step's metrics.

``runtime: trainjob`` -> ``trainer.kubeflow.org/v1alpha1`` TrainJob (Kubeflow Trainer v2.2+)
    ``runtimeRef`` names a ClusterTrainingRuntime (``trainingRuntime``, default
    :data:`DEFAULT_TRAINING_RUNTIME`, shipped in ``reconciler/crds/runtimes/``); ``trainer``
    carries the image, command, args, env, ``numNodes`` (``workers``) and
    ``resourcesPerNode``; ``timeout`` is ``activeDeadlineSeconds``. Everything else of the
    pod (scheduling, the restricted security contexts, the ``/tmp`` volume, the pod labels)
    goes in one ``runtimePatches`` entry owned by :data:`PATCH_MANAGER`, patching the
    runtime's ``node`` job and container, so Pod Security "restricted" holds whatever
    runtime is referenced. Mounted datasets are fetched by the runtime's own init container
    ``dataset-fetch`` (a patch cannot add one), which the patch gives the datasets, their
    volumes and the step's secret env (:func:`reconciler.render.datamounts.runtime_init_patch`);
    a runtime of the cluster's own needs that init container to mount datasets. Restarts belong to the runtime (its JobSet ``failurePolicy``):
    a TrainJob has no per-job retry limit, so validation refuses ``retries`` there.
"""

from __future__ import annotations

from typing import Any

from reconciler.specs.models import Step
from reconciler.structs.manifests import Manifest

PYTORCH_CONTAINER = "pytorch"
"""The Training Operator finds a PyTorchJob's training container by this name."""
PYTORCH_RESTART_POLICY = "OnFailure"

TRAINER_API_VERSION = "trainer.kubeflow.org/v1alpha1"
TRAINER_NODE = "node"
"""The replicated job and container of a Trainer runtime that run the training code."""
DEFAULT_TRAINING_RUNTIME = "reconciler-torch"
PATCH_MANAGER = "reconciler.ml/reconciler"


def pytorchjob(step: Step, *, metadata: dict[str, Any], template: dict[str, Any]) -> Manifest:
    """Return the PyTorchJob of a ``runtime: kubeflow`` step.

    ``template`` is the step's pod template, whose single container this names ``pytorch``
    and whose restart policy it sets to the replicas' own.
    """
    pod_spec = dict(template["spec"])
    pod_spec["restartPolicy"] = PYTORCH_RESTART_POLICY
    pod_spec["containers"] = [{**c, "name": PYTORCH_CONTAINER} for c in pod_spec["containers"]]
    pod_template = {**template, "spec": pod_spec}
    replicas: dict[str, Any] = {
        "Master": _replica(1, pod_template),
    }
    if step.workers > 1:
        replicas["Worker"] = _replica(step.workers - 1, pod_template)
    run_policy: dict[str, Any] = {"backoffLimit": step.retries, "cleanPodPolicy": "None"}
    if step.timeout_seconds:
        run_policy["activeDeadlineSeconds"] = step.timeout_seconds
    if step.workers > 1:
        run_policy["schedulingPolicy"] = {"minAvailable": step.workers}
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": metadata,
        "spec": {"runPolicy": run_policy, "pytorchReplicaSpecs": replicas},
    }


def _replica(count: int, template: dict[str, Any]) -> dict[str, Any]:
    return {"replicas": count, "restartPolicy": PYTORCH_RESTART_POLICY, "template": template}


def trainjob(
    step: Step,
    *,
    metadata: dict[str, Any],
    template: dict[str, Any],
    init_patch: dict[str, Any] | None = None,
) -> Manifest:
    """Return the TrainJob of a ``runtime: trainjob`` step.

    The container of ``template`` becomes ``spec.trainer``; the rest of the pod becomes the
    runtime patch of the runtime's ``node`` job, with ``init_patch`` (the patch of the
    runtime's dataset-fetching init container, if datasets are mounted) as its only init
    container patch: a runtime patch cannot add containers, so the template's own init
    containers are not carried over.
    """
    pod = template["spec"]
    (ctr,) = pod["containers"]
    trainer: dict[str, Any] = {"image": ctr["image"]}
    for key in ("command", "args", "env"):
        if key in ctr:
            trainer[key] = ctr[key]
    trainer["numNodes"] = step.workers
    if ctr.get("resources"):
        trainer["resourcesPerNode"] = ctr["resources"]
    spec: dict[str, Any] = {
        "runtimeRef": {
            "apiGroup": "trainer.kubeflow.org",
            "kind": "ClusterTrainingRuntime",
            "name": step.training_runtime or DEFAULT_TRAINING_RUNTIME,
        },
        "trainer": trainer,
        "runtimePatches": [_runtime_patch(template, init_patch)],
    }
    if step.timeout_seconds:
        spec["activeDeadlineSeconds"] = step.timeout_seconds
    return {
        "apiVersion": TRAINER_API_VERSION,
        "kind": "TrainJob",
        "metadata": metadata,
        "spec": spec,
    }


POD_PATCH_FIELDS = (
    "serviceAccountName",
    "imagePullSecrets",
    "nodeSelector",
    "tolerations",
    "securityContext",
    "volumes",
)
"""Pod spec fields a runtime patch may set (Trainer's PodSpecPatch) that our pods use."""
CONTAINER_PATCH_FIELDS = ("securityContext", "volumeMounts")
"""Container fields a runtime patch may set on ``node`` (its env comes from ``trainer``)."""


def _runtime_patch(template: dict[str, Any], init_patch: dict[str, Any] | None) -> dict[str, Any]:
    pod = template["spec"]
    ctr = pod["containers"][0]
    pod_patch: dict[str, Any] = {k: pod[k] for k in POD_PATCH_FIELDS if k in pod}
    if init_patch is not None:
        pod_patch["initContainers"] = [init_patch]
    container: dict[str, Any] = {"name": TRAINER_NODE}
    container.update({k: ctr[k] for k in CONTAINER_PATCH_FIELDS if k in ctr})
    pod_patch["containers"] = [container]
    node_job = {
        "name": TRAINER_NODE,
        "template": {
            "spec": {"template": {"metadata": dict(template["metadata"]), "spec": pod_patch}}
        },
    }
    return {
        "manager": PATCH_MANAGER,
        "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [node_job]}}},
    }
