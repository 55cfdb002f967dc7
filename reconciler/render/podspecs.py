"""Pod templates that meet the Pod Security Standard "restricted", with GPU scheduling.

Every generated pod runs as non-root with no privilege escalation, all capabilities
dropped, the RuntimeDefault seccomp profile and a read-only root filesystem (with an
emptyDir on /tmp). GPUs are requested as the environment's ``gpuResource``; GPU pods get
the environment's nodeSelector and tolerations, and the step's ``gpuType`` as the
``nvidia.com/gpu.product`` node label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.specs.models import Environment, Resources, SecretRef

GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
RUN_AS_USER = 1000
TMP_VOLUME = "tmp"


def pod_security_context() -> dict[str, Any]:
    """Return the pod-level securityContext of PSS restricted."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """Return the container-level securityContext of PSS restricted."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_resources(resources: Resources, env: Environment) -> dict[str, Any]:
    """Return requests/limits: cpu and memory requested, memory and GPUs also limited."""
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    if resources.cpu:
        requests["cpu"] = resources.cpu
    if resources.memory:
        requests["memory"] = resources.memory
        limits["memory"] = resources.memory
    if resources.gpus:
        requests[env.scheduling.gpu_resource] = str(resources.gpus)
        limits[env.scheduling.gpu_resource] = str(resources.gpus)
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def env_vars(
    plain: Mapping[str, str], secrets: Sequence[tuple[str, SecretRef]]
) -> list[dict[str, Any]]:
    """Return container env: plain values, then secrets as secretKeyRef only (never a value)."""
    out: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in plain.items()]
    for name, ref in secrets:
        out.append(
            {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.secret, "key": ref.key}}}
        )
    return out


def container(
    *,
    name: str,
    image: str,
    command: Sequence[str],
    args: Sequence[str],
    env: list[dict[str, Any]],
    resources: dict[str, Any],
    ports: Sequence[int] = (),
) -> dict[str, Any]:
    """Return one restricted container with /tmp mounted from an emptyDir."""
    c: dict[str, Any] = {"name": name, "image": image}
    if command:
        c["command"] = list(command)
    if args:
        c["args"] = list(args)
    if env:
        c["env"] = env
    if ports:
        c["ports"] = [{"containerPort": p, "name": "http", "protocol": "TCP"} for p in ports]
    if resources:
        c["resources"] = resources
    c["securityContext"] = container_security_context()
    c["terminationMessagePolicy"] = "FallbackToLogsOnError"
    c["volumeMounts"] = [{"name": TMP_VOLUME, "mountPath": "/tmp"}]
    return c


def pod_spec(
    containers: list[dict[str, Any]],
    *,
    env: Environment,
    resources: Resources,
    restart_policy: str | None,
) -> dict[str, Any]:
    """Return a restricted pod spec; GPU pods get the environment's scheduling."""
    spec: dict[str, Any] = {}
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    spec["securityContext"] = pod_security_context()
    spec["automountServiceAccountToken"] = False
    if resources.gpus:
        selector = dict(env.scheduling.node_selector)
        if resources.gpu_type:
            selector[GPU_PRODUCT_LABEL] = resources.gpu_type
        if selector:
            spec["nodeSelector"] = dict(sorted(selector.items()))
        if env.scheduling.tolerations:
            spec["tolerations"] = [dict(t) for t in env.scheduling.tolerations]
    spec["containers"] = containers
    spec["volumes"] = [{"name": TMP_VOLUME, "emptyDir": {}}]
    return spec
