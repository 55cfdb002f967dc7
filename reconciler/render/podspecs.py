"""Pod templates that meet the Pod Security Standard "restricted", with GPU scheduling.

Every generated pod runs as non-root with no privilege escalation, all capabilities
dropped, the RuntimeDefault seccomp profile and a read-only root filesystem, with
emptyDirs for what real images write: ``/tmp``, a ``HOME`` (``/home/reconciler``, with
``XDG_CACHE_HOME`` under it, where pip, Hugging Face and torch keep caches) and, for GPU
containers or when ``resources.shm`` is set, a memory-backed ``/dev/shm`` (PyTorch's
DataLoader workers and NCCL need more than the runtime's 64 MiB).

GPUs are requested as the environment's ``gpuResource``. GPU pods get the environment's
nodeSelector and tolerations; a ``gpuType`` the environment maps (``scheduling.gpuTypes``)
adds that entry's nodeSelector and tolerations, any other is matched against NVIDIA GPU
feature discovery's ``nvidia.com/gpu.product`` node label (``NVIDIA-A100-SXM4-80GB``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.specs.models import Environment, Resources, SecretRef

GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
RUN_AS_USER = 1000
TMP_VOLUME = "tmp"
HOME_VOLUME = "home"
HOME_DIR = "/home/reconciler"
SHM_VOLUME = "dshm"
DEFAULT_GPU_SHM = "1Gi"


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
    names = {e["name"] for e in out}
    for name, value in (("HOME", HOME_DIR), ("XDG_CACHE_HOME", f"{HOME_DIR}/.cache")):
        if name not in names:  # a writable home and caches; the user's own value wins
            out.append({"name": name, "value": value})
    return out


def shm_size(resources: Resources) -> str | None:
    """Return the size of a container's /dev/shm: its ``shm``, 1Gi with GPUs, else None."""
    return resources.shm or (DEFAULT_GPU_SHM if resources.gpus else None)


def container(
    *,
    name: str,
    image: str,
    command: Sequence[str],
    args: Sequence[str],
    env: list[dict[str, Any]],
    resources: dict[str, Any],
    ports: Sequence[int] = (),
    shm: bool = False,
    mounts: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Return one restricted container with /tmp and its HOME on emptyDirs.

    ``shm`` mounts the pod's memory-backed /dev/shm; ``mounts`` adds volume mounts
    (datasets, artifacts).
    """
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
    c["volumeMounts"] = [*standard_mounts(shm=shm), *mounts]
    return c


def standard_mounts(*, shm: bool) -> list[dict[str, Any]]:
    """Return the mounts every container gets: /tmp, its HOME, and /dev/shm if ``shm``."""
    return [
        {"name": TMP_VOLUME, "mountPath": "/tmp"},
        {"name": HOME_VOLUME, "mountPath": HOME_DIR},
        *([{"name": SHM_VOLUME, "mountPath": "/dev/shm"}] if shm else []),
    ]


def gpu_placement(
    env: Environment, resources: Resources
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Return the nodeSelector and tolerations of a container's GPUs (empty without GPUs)."""
    if not resources.gpus:
        return {}, []
    selector = dict(env.scheduling.node_selector)
    tolerations = [dict(t) for t in env.scheduling.tolerations]
    mapped = dict(env.scheduling.gpu_types).get(resources.gpu_type or "")
    if mapped is not None:
        selector.update(mapped.node_selector)
        tolerations += [dict(t) for t in mapped.tolerations if dict(t) not in tolerations]
    elif resources.gpu_type:
        selector[GPU_PRODUCT_LABEL] = resources.gpu_type
    return dict(sorted(selector.items())), tolerations


def pod_spec(
    containers: list[dict[str, Any]],
    *,
    env: Environment,
    resources: Resources,
    restart_policy: str | None,
    service_account: str | None = None,
    image_pull_secrets: Sequence[str] = (),
    init_containers: Sequence[dict[str, Any]] = (),
    volumes: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Return a restricted pod spec; GPU pods get the environment's scheduling.

    ``service_account`` and ``image_pull_secrets`` are the pipeline's (or the
    environment's defaults); the API token is never mounted (cloud identity webhooks
    project their own). ``volumes`` are added to the standard ones.
    """
    spec: dict[str, Any] = {}
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    if service_account:
        spec["serviceAccountName"] = service_account
    if image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in image_pull_secrets]
    spec["securityContext"] = pod_security_context()
    spec["automountServiceAccountToken"] = False
    selector, tolerations = gpu_placement(env, resources)
    if selector:
        spec["nodeSelector"] = selector
    if tolerations:
        spec["tolerations"] = tolerations
    if init_containers:
        spec["initContainers"] = list(init_containers)
    spec["containers"] = containers
    spec["volumes"] = [
        {"name": TMP_VOLUME, "emptyDir": {}},
        {"name": HOME_VOLUME, "emptyDir": {}},
        *volumes,
    ]
    shm = shm_size(resources)
    if shm:
        spec["volumes"].append(
            {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": shm}}
        )
    return spec
