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
from pathlib import Path
from typing import Any

import yaml

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
            errors.append(
                f"{path}.restartPolicy: backoffLimit ignored for {rspec.get('restartPolicy')}"
            )
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
    if (
        ref.get("kind", "ClusterTrainingRuntime") != runtime["kind"]
        or ref["name"] != runtime["metadata"]["name"]
    ):
        errors.append(
            f"spec.runtimeRef {ref} is not {runtime['kind']}/{runtime['metadata']['name']}"
        )
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
                    errors.append(
                        f"{path}: container {c['name']} not in runtime job {rjob['name']}"
                    )
                if c.get("env") and c["name"] in (
                    "node",
                    "dataset-initializer",
                    "model-initializer",
                ):
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


def kserve_runtimes() -> list[dict[str, Any]]:
    """Return KServe's built-in ClusterServingRuntimes (``kserve-runtimes.yaml``)."""
    path = Path(__file__).with_name("kserve-runtimes.yaml")
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def supporting_runtimes(model: dict[str, Any], runtimes: list[dict[str, Any]]) -> list[str]:
    """Return the runtimes KServe would consider for a predictor ``model``, as KServe does.

    ``GetSupportingRuntimes``: a runtime supports the model's format label (``mt:<name>``, or
    ``mt:<name>:<version>`` with a version), counting only ``autoSelect`` formats unless the
    model names the runtime, and lists the model's protocol (default v1) or none.
    """
    fmt = model["modelFormat"]
    label = f"mt:{fmt['name']}:{fmt['version']}" if fmt.get("version") else f"mt:{fmt['name']}"
    protocol = model.get("protocolVersion", "v1")
    named = model.get("runtime")
    out = []
    for rt in runtimes:
        if named is not None and rt["metadata"]["name"] != named:
            continue
        labels = set()
        for f in rt["spec"]["supportedModelFormats"]:
            if named is not None or f.get("autoSelect"):
                labels.add(f"mt:{f['name']}")
                if f.get("version"):
                    labels.add(f"mt:{f['name']}:{f['version']}")
        protocols = rt["spec"].get("protocolVersions") or []
        if label in labels and (not protocols or protocol in protocols):
            out.append(rt["metadata"]["name"])
    return out


def kserve_runtime_errors(obj: dict[str, Any], runtimes: list[dict[str, Any]]) -> list[str]:
    """Return why KServe would find no serving runtime for an InferenceService's model.

    A model naming a runtime that is not built in is the cluster's own: not checked.
    """
    model = obj["spec"]["predictor"].get("model")
    if model is None:
        return []
    named = model.get("runtime")
    if named is not None and named not in {r["metadata"]["name"] for r in runtimes}:
        return []
    if supporting_runtimes(model, runtimes):
        return []
    return [
        f"spec.predictor.model: no serving runtime supports {model['modelFormat']} "
        f"over {model.get('protocolVersion', 'v1')}" + (f" in {named}" if named else "")
    ]


RESTRICTED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
}  # fmt: skip


def pod_security_errors(pod: dict[str, Any]) -> list[str]:
    """Return how a pod spec breaks Pod Security "restricted" or our read-only-root rule.

    The profile of https://kubernetes.io/docs/concepts/security/pod-security-standards/
    (host namespaces, privileged, capabilities, volume types, privilege escalation,
    non-root, seccomp), plus design.md's read-only root filesystem with ``/tmp`` on an
    emptyDir.
    """
    errors = []
    psc = pod.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            errors.append(f"{key} is set")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for name, v in volumes.items():
        kinds = set(v) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            errors.append(f"volume {name}: {sorted(kinds)} not allowed")
    if (psc.get("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
        errors.append("pod seccompProfile is not RuntimeDefault")
    for c in pod.get("initContainers", []) + pod.get("containers", []):
        sc = c.get("securityContext") or {}
        where = f"container {c.get('name')}"
        if sc.get("privileged"):
            errors.append(f"{where}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            errors.append(f"{where}: allowPrivilegeEscalation is not false")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            errors.append(f"{where}: capabilities do not drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            errors.append(f"{where}: adds capabilities {caps.get('add')}")
        if sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True:
            errors.append(f"{where}: runAsNonRoot is not true")
        if sc.get("runAsUser", psc.get("runAsUser")) == 0:
            errors.append(f"{where}: runs as uid 0")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            errors.append(f"{where}: hostPort")
        if sc.get("readOnlyRootFilesystem") is not True:
            errors.append(f"{where}: root filesystem is writable")
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        if "emptyDir" not in volumes.get(mounts.get("/tmp", ""), {}):
            errors.append(f"{where}: no emptyDir on /tmp")
    return errors


def merge_by_name(base: list[dict[str, Any]], patch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return ``base`` with ``patch`` items merged into the items of the same name."""
    out = {i["name"]: dict(i) for i in base}
    for item in patch:
        merged = out.setdefault(item["name"], {})
        for key, value in item.items():
            if key in ("volumeMounts", "env") and key in merged:
                merged[key] = merge_by_name(merged[key], value)
            else:
                merged[key] = value
    return list(out.values())


def trainjob_pod(obj: dict[str, Any], runtime: dict[str, Any] | None) -> dict[str, Any]:
    """Return the ``node`` pod spec a TrainJob runs: the runtime's (None: an empty runtime),
    with the TrainJob's runtime patches applied, as Trainer merges them."""
    pod: dict[str, Any] = {"containers": [{"name": "node"}]}
    if runtime is not None:
        for rjob in runtime["spec"]["template"]["spec"]["replicatedJobs"]:
            if rjob["name"] == "node":
                pod = json_copy(rjob["template"]["spec"]["template"]["spec"])
    for patch in obj["spec"].get("runtimePatches") or []:
        for rjob in patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]:
            if rjob["name"] != "node":
                continue
            for key, value in rjob["template"]["spec"]["template"]["spec"].items():
                if key in ("containers", "initContainers", "volumes"):
                    pod[key] = merge_by_name(pod.get(key, []), value)
                elif key == "securityContext":
                    pod[key] = {**pod.get(key, {}), **value}
                else:
                    pod[key] = value
    return pod


def json_copy(value: Any) -> Any:
    """Return a deep copy of JSON data."""
    import json

    return json.loads(json.dumps(value))


def pod_specs(obj: dict[str, Any], runtime: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Return the pod specs an object makes (``runtime``: the TrainJob's runtime)."""
    spec = obj.get("spec") or {}
    kind = obj["kind"]
    if kind in ("Job", "Deployment"):
        return [spec["template"]["spec"]]
    if kind == "PyTorchJob":
        return [r["template"]["spec"] for r in spec["pytorchReplicaSpecs"].values()]
    if kind == "InferenceService":
        p = spec["predictor"]
        containers = p.get("containers") or [{"name": KSERVE_CONTAINER, **p["model"]}]
        return [{**p, "containers": containers}]
    if kind == "TrainJob":
        return [trainjob_pod(obj, runtime)]
    return []
