"""Typed, validated Pipeline and Environment specs (design.md, "The watched repository").

Instances are only built by ``reconciler.specs.validation``, which guarantees every
invariant documented here; the rest of the project trusts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

API_VERSION = "reconciler.ml/v1alpha1"

StepRuntime = Literal["job", "kubeflow", "trainjob"]
ServeRuntime = Literal["deployment", "kserve"]


@dataclass(frozen=True)
class SecretRef:
    """A secret by reference: ``{secret: NAME, key: KEY}``; the value is never read."""

    secret: str
    key: str


@dataclass(frozen=True)
class Resources:
    """Per-container resources; ``gpus`` are requested as the environment's gpuResource."""

    cpu: str | None = None
    memory: str | None = None
    gpus: int = 0
    gpu_type: str | None = None
    shm: str | None = None
    """Size of the memory-backed /dev/shm; None: 1Gi for GPU containers, none otherwise."""


@dataclass(frozen=True)
class Step:
    """One batch step of a pipeline; exactly one step of a pipeline has ``output``."""

    name: str
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    secret_env: tuple[tuple[str, SecretRef], ...] = ()
    resources: Resources = field(default_factory=Resources)
    needs: tuple[str, ...] = ()
    workers: int = 1
    runtime: StepRuntime = "job"
    queue: str | None = None
    retries: int = 0
    timeout_seconds: int | None = None
    output: str | None = None
    training_runtime: str | None = None


@dataclass(frozen=True)
class Autoscale:
    """HorizontalPodAutoscaler settings of a serving Deployment."""

    min_replicas: int = 1
    max_replicas: int = 1
    target_cpu_utilization: int = 80


@dataclass(frozen=True)
class Probe:
    """An HTTP GET health probe of the serving container; None fields take render's defaults."""

    path: str | None = None
    port: int | None = None
    initial_delay_seconds: int | None = None
    period_seconds: int | None = None
    timeout_seconds: int | None = None
    failure_threshold: int | None = None


@dataclass(frozen=True)
class Probes:
    """Readiness and liveness probes (``serve.probes``); either may be left to the default."""

    readiness: Probe = field(default_factory=Probe)
    liveness: Probe = field(default_factory=Probe)


@dataclass(frozen=True)
class Serve:
    """How a pipeline's promoted model is served.

    ``image`` is a serving image of the team's own (a Deployment, or KServe's custom
    predictor); with ``runtime: kserve`` a ``model_format`` instead lets a KServe serving
    runtime (``serving_runtime``, or KServe's choice) serve the model: exactly one of the two.
    """

    image: str | None = None
    replicas: int = 1
    resources: Resources = field(default_factory=Resources)
    port: int = 8080
    autoscale: Autoscale | None = None
    ingress_host: str | None = None
    runtime: ServeRuntime = "deployment"
    env: tuple[tuple[str, str], ...] = ()
    secret_env: tuple[tuple[str, SecretRef], ...] = ()
    model_format: str | None = None
    model_format_version: str | None = None
    serving_runtime: str | None = None
    protocol_version: str | None = None
    probes: Probes = field(default_factory=Probes)
    ingress_class: str | None = None
    metrics_port: int | None = None

    @property
    def min_replicas(self) -> int:
        """The fewest pods serving runs with (the HPA's minimum when autoscaled)."""
        return self.autoscale.min_replicas if self.autoscale else self.replicas


@dataclass(frozen=True)
class Promote:
    """The promotion gate: a run is served only if ``metric >= min``."""

    metric: str
    min: float


@dataclass(frozen=True)
class Pipeline:
    """A train-then-serve workflow: steps (a DAG by ``needs``), an optional gate and serving.

    ``path`` is the repository-relative file the pipeline came from; ``spec_sha256`` the
    hash of that file's bytes. ``datasets`` maps a dataset name to its pointer path.
    """

    name: str
    path: str
    spec_sha256: str
    labels: tuple[tuple[str, str], ...] = ()
    datasets: tuple[tuple[str, str], ...] = ()
    params: tuple[tuple[str, Any], ...] = ()
    steps: tuple[Step, ...] = ()
    promote: Promote | None = None
    serve: Serve | None = None
    service_account: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    mounts: tuple[str, ...] = ()
    """Datasets fetched into ``/data/<name>`` by an init container (``mount: true``)."""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def output_step(self) -> Step:
        """The step that writes the model (validation guarantees exactly one)."""
        return next(s for s in self.steps if s.output)

    def step(self, name: str) -> Step:
        """Return the step called ``name``; KeyError if none."""
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)


@dataclass(frozen=True)
class GpuType:
    """How this environment's nodes with one GPU model are selected and tolerated."""

    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Scheduling:
    """Where GPU pods go: node selector, tolerations, and the GPU extended resource name.

    ``gpu_types`` maps a step's ``gpuType`` to its own node selector and tolerations; a
    name not in it selects nodes by NVIDIA GPU feature discovery's
    ``nvidia.com/gpu.product`` label.
    """

    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[dict[str, Any], ...] = ()
    gpu_resource: str = "nvidia.com/gpu"
    gpu_types: tuple[tuple[str, GpuType], ...] = ()


PodSecurityLevel = Literal["restricted", "baseline"]


@dataclass(frozen=True)
class Prometheus:
    """Where the cluster's Prometheus runs: serving pods admit scrapes from its pods only."""

    namespace: str = "monitoring"
    pod_labels: tuple[tuple[str, str], ...] = (("app.kubernetes.io/name", "prometheus"),)


@dataclass(frozen=True)
class Environment:
    """One deployment target: a branch (or pattern), a namespace, serving on or off."""

    name: str
    path: str
    branch: str = "main"
    namespace: str = ""
    serve: bool = True
    provenance_branch: str = "experiments/{pipeline}"
    cluster_context: str | None = None
    scheduling: Scheduling = field(default_factory=Scheduling)
    max_gpus_per_run: int | None = None
    allow_system_namespace: bool = False
    service_account: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    artifact_root: str | None = None
    data_fetcher_image: str | None = None
    """Image of the init containers that fetch ``mount: true`` datasets."""
    """``s3://bucket/prefix``-like, or ``pvc://<claim>[/<path>]``; None: no artifact URIs."""
    pod_security: PodSecurityLevel = "restricted"
    prometheus: Prometheus = field(default_factory=Prometheus)
    ingress_class: str | None = None

    @property
    def is_pattern(self) -> bool:
        """True if ``branch`` is a glob such as ``exp/*`` (one namespace per branch)."""
        return any(c in self.branch for c in "*?[")
