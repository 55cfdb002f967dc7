"""The operators' own admission rules, where their SDK models are looser.

Each function returns the errors the operator's webhook or controller would report for a
manifest (``[]`` when it would accept and run it), citing the rule's source:

- PyTorchJob: Kubeflow Training Operator v1.9 ``pkg/webhooks/pytorch/pytorchjob_webhook.go``
  (DNS-1035 name; replica types Master/Worker; exactly one Master; every replica has a
  container named ``pytorch`` with an image) and ``pkg/core/job.go`` ``PastBackoffLimit``
  (only ``OnFailure``/``Always``/``ExitCode`` replicas count against ``backoffLimit``).
- TrainJob: Kubeflow Trainer v2.3 ``pkg/runtime/framework/plugins/jobset/jobset.go``
  (a runtime patch's manager is a domain-prefixed path; it patches only replicated jobs
  and containers the runtime has; no ``env`` on the ``node`` container).
- InferenceService: KServe ``pkg/apis/serving/v1beta1`` (the name matches
  ``[a-z]([-a-z0-9]*[a-z0-9])?``; exactly one predictor implementation; a custom
  predictor's container is ``kserve-container``; a ``model`` has a ``modelFormat.name``
  that a serving runtime supports for its protocol, see ``kserve_runtime_errors``).
"""

from __future__ import annotations

import re
from typing import Any

DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
ISVC_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
DOMAIN_PREFIXED_PATH = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9/._~%!$&'()*+,;=:@-]+")
PYTORCH_REPLICA_TYPES = {"Master", "Worker"}
COUNTED_RESTART_POLICIES = {"OnFailure", "Always", "ExitCode"}
KSERVE_CONTAINER = "kserve-container"
PREDICTOR_FRAMEWORKS = (
    "sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx", "huggingface", "pmml",
    "lightgbm", "paddle", "model",
)  # fmt: skip


def pytorchjob_errors(obj: dict[str, Any]) -> list[str]:
    """Return what the Training Operator refuses (or silently ignores) in a PyTorchJob."""
    errors = []
    name = obj["metadata"]["name"]
    if not DNS1035.fullmatch(name) or len(name) > 63:
        errors.append(f"metadata.name {name!r} is not a DNS-1035 label")
    spec = obj["spec"]
    replicas = spec.get("pytorchReplicaSpecs") or {}
    if not replicas:
        errors.append("spec.pytorchReplicaSpecs: must be required")
    for rtype, rspec in replicas.items():
        path = f"spec.pytorchReplicaSpecs.{rtype}"
        if rtype not in PYTORCH_REPLICA_TYPES:
            errors.append(f"{path}: replica type not supported")
        containers = rspec["template"]["spec"].get("containers") or []
        if not any(c.get("name") == "pytorch" for c in containers):
            errors.append(f"{path}: must have at least one container with name pytorch")
        errors.extend(f"{path}: container without image" for c in containers if not c.get("image"))
        if rtype == "Master" and rspec.get("replicas") != 1:
            errors.append(f"{path}.replicas: must be 1")
        if rtype == "Worker" and rspec.get("replicas", 1) < 1:
            errors.append(f"{path}.replicas: must be at least 1")
        if "backoffLimit" in spec.get("runPolicy", {}) and (
            rspec.get("restartPolicy") not in COUNTED_RESTART_POLICIES
        ):
            errors.append(f"{path}.restartPolicy: backoffLimit ignored for {rspec.get('restartPolicy')}")
    return errors


def runtime_containers(runtime: dict[str, Any]) -> dict[str, set[str]]:
    """Return ``{replicated job: {container and init container names}}`` of a runtime."""
    out = {}
    for rjob in runtime["spec"]["template"]["spec"]["replicatedJobs"]:
        pod = rjob["template"]["spec"]["template"]["spec"]
        names = {c["name"] for c in pod.get("containers", []) + pod.get("initContainers", [])}
        out[rjob["name"]] = names
    return out


def trainjob_errors(obj: dict[str, Any], runtime: dict[str, Any]) -> list[str]:
    """Return what Trainer's TrainJob webhook refuses, against the referenced runtime."""
    errors = []
    spec = obj["spec"]
    ref = spec["runtimeRef"]
    if ref.get("kind", "ClusterTrainingRuntime") != runtime["kind"] or ref["name"] != runtime[
        "metadata"
    ]["name"]:
        errors.append(f"spec.runtimeRef {ref} is not {runtime['kind']}/{runtime['metadata']['name']}")
    jobs = runtime_containers(runtime)
    for i, patch in enumerate(spec.get("runtimePatches") or []):
        path = f"spec.runtimePatches[{i}]"
        if not DOMAIN_PREFIXED_PATH.fullmatch(patch.get("manager", "")):
            errors.append(f"{path}.manager: must be a domain-prefixed path")
        tmpl = ((patch.get("trainingRuntimeSpec") or {}).get("template") or {}).get("spec") or {}
        for rjob in tmpl.get("replicatedJobs") or []:
            if rjob["name"] not in jobs:
                errors.append(f"{path}: replicated job {rjob['name']} not in the runtime")
                continue
            pod = rjob["template"]["spec"]["template"]["spec"]
            for c in pod.get("containers", []) + pod.get("initContainers", []):
                if c["name"] not in jobs[rjob["name"]]:
                    errors.append(f"{path}: container {c['name']} not in runtime job {rjob['name']}")
                if c.get("env") and c["name"] in ("node", "dataset-initializer", "model-initializer"):
                    errors.append(f"{path}: must not have envs for the {c['name']} container")
    return errors


def inferenceservice_errors(obj: dict[str, Any]) -> list[str]:
    """Return what KServe refuses in an InferenceService's predictor (runtimes aside)."""
    errors = []
    name = obj["metadata"]["name"]
    if not ISVC_NAME.fullmatch(name):
        errors.append(f"metadata.name {name!r} does not match {ISVC_NAME.pattern}")
    predictor = obj["spec"]["predictor"]
    implementations = [f for f in PREDICTOR_FRAMEWORKS if predictor.get(f)]
    containers = predictor.get("containers") or []
    if containers:
        implementations.append("containers")
        if len(containers) > 1 and not any(c.get("name") == KSERVE_CONTAINER for c in containers):
            errors.append("spec.predictor.containers: none is named kserve-container")
        if containers[0].get("name") not in (None, KSERVE_CONTAINER):
            errors.append("spec.predictor.containers[0]: not named kserve-container")
    if len(implementations) != 1:
        errors.append(f"spec.predictor: exactly one implementation expected, got {implementations}")
    model = predictor.get("model")
    if model is not None and not (model.get("modelFormat") or {}).get("name"):
        errors.append("spec.predictor.model.modelFormat.name: required")
    return errors
