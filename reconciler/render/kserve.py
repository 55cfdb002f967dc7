"""The KServe InferenceService of a pipeline served with ``runtime: kserve``.

Called by :func:`reconciler.render.serving.serving_objects`. Two shapes, as KServe defines
its predictor (``pkg/apis/serving/v1beta1``):

- ``serve.image`` (a serving image of the team's own): a *custom predictor*,
  ``spec.predictor.containers`` with one container named ``kserve-container``. The model
  is its ``STORAGE_URI`` env var: KServe's storage initializer downloads it into
  ``/mnt/models`` before the container starts and rewrites ``STORAGE_URI`` to that path.
  ``MODEL_URI`` keeps the original location, as the Deployment runtime has it.
- ``serve.modelFormat``: ``spec.predictor.model`` with ``modelFormat``, ``storageUri`` and,
  if named, ``runtime``; KServe picks (or checks) the serving runtime as
  :mod:`reconciler.specs.servingruntimes` mirrors. ``protocolVersion`` is set when the
  format is only served over the Open Inference Protocol (``v2``) or when asked for.

Both run in KServe's ``RawDeployment`` mode (``serving.kserve.io/deploymentMode``; KServe
0.15+ calls it ``Standard`` and still reads the old name): a plain Deployment, Service and
HorizontalPodAutoscaler, no Knative sidecar, so probes, the PodDisruptionBudget and the
NetworkPolicy select real pods and ``autoscale`` means CPU utilization as for the
Deployment runtime. The pod-level fields (security context, volumes, scheduling) sit in
the predictor, which is a pod spec. KServe's injected ``storage-initializer`` init
container carries no security context in a default install: see the README's Pod
Security notes for the namespace level this needs.
"""

from __future__ import annotations

from typing import Any

from reconciler.render import podspecs, probes
from reconciler.render.runspecs import RunSpec
from reconciler.specs import servingruntimes
from reconciler.specs.models import Serve
from reconciler.structs.manifests import Manifest
from reconciler.structs.runs import ServedModel

KSERVE_CONTAINER = "kserve-container"
DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"
RAW_DEPLOYMENT = "RawDeployment"
ISVC_POD_LABEL = "serving.kserve.io/inferenceservice"
COMPONENT_LABEL = "component"


def pod_selector(plan: RunSpec) -> dict[str, str]:
    """Return the labels KServe puts on the predictor pods of this pipeline."""
    return {ISVC_POD_LABEL: plan.pipeline.name, COMPONENT_LABEL: "predictor"}


def protocol(serve: Serve) -> str | None:
    """Return the ``protocolVersion`` to render for a ``modelFormat`` (None: KServe's v1)."""
    if serve.protocol_version:
        return serve.protocol_version
    assert serve.model_format is not None
    chosen = servingruntimes.default_protocol(
        serve.model_format, serve.model_format_version, serve.serving_runtime
    )
    return None if chosen == servingruntimes.DEFAULT_PROTOCOL else chosen


def health_paths(plan: RunSpec, serve: Serve) -> tuple[str, str]:
    """Return the default (readiness, liveness) paths of the server that will run.

    The Open Inference Protocol's ``/v2/health/ready`` and ``/v2/health/live`` (KServe's
    model server, MLServer, Triton, custom ``kserve.Model`` images), except for a runtime
    that answers elsewhere (TensorFlow Serving: ``/v1/models/<name>``; vLLM's OpenAI
    server: ``/v1/models`` and ``/health``).
    """
    default = servingruntimes.Runtime("", (), ())
    runtime = default
    if serve.model_format:
        found = servingruntimes.supporting(
            serve.model_format,
            serve.model_format_version,
            serve.protocol_version or protocol(serve) or servingruntimes.DEFAULT_PROTOCOL,
            serve.serving_runtime,
        )
        runtime = found[0] if found else default
    name = plan.pipeline.name
    return runtime.ready_path.format(name=name), runtime.live_path.format(name=name)


def _container_fields(plan: RunSpec, serve: Serve, env: list[dict[str, Any]]) -> dict[str, Any]:
    ready, live = health_paths(plan, serve)
    out: dict[str, Any] = {"env": env}
    out.update(probes.container_probes(serve, ready_path=ready, live_path=live))
    res = podspecs.container_resources(serve.resources, plan.env)
    if res:
        out["resources"] = res
    out["securityContext"] = podspecs.container_security_context()
    out["volumeMounts"] = podspecs.standard_mounts(
        shm=podspecs.shm_size(serve.resources) is not None
    )
    return out


def _predictor_implementation(
    plan: RunSpec, serve: Serve, model: ServedModel, env: list[dict[str, Any]]
) -> dict[str, Any]:
    if serve.model_format:
        fmt: dict[str, Any] = {"name": serve.model_format}
        if serve.model_format_version:
            fmt["version"] = serve.model_format_version
        spec: dict[str, Any] = {"modelFormat": fmt}
        if serve.serving_runtime:
            spec["runtime"] = serve.serving_runtime
        proto = protocol(serve)
        if proto:
            spec["protocolVersion"] = proto
        spec["storageUri"] = model.model_uri
        spec.update(_container_fields(plan, serve, env))
        return {"model": spec}
    assert serve.image is not None
    storage = [{"name": "STORAGE_URI", "value": model.model_uri}]
    ctr: dict[str, Any] = {"name": KSERVE_CONTAINER, "image": serve.image}
    ctr.update(_container_fields(plan, serve, storage + env))
    ctr["ports"] = [{"containerPort": serve.port, "name": "http", "protocol": "TCP"}]
    ctr["terminationMessagePolicy"] = "FallbackToLogsOnError"
    return {"containers": [ctr]}


def inference_service(
    plan: RunSpec,
    serve: Serve,
    model: ServedModel,
    *,
    metadata: dict[str, Any],
    env: list[dict[str, Any]],
    pod_annotations: dict[str, str],
) -> Manifest:
    """Return the InferenceService serving ``model`` (see the module docstring)."""
    predictor: dict[str, Any] = {}
    if serve.autoscale is not None:
        predictor["minReplicas"] = serve.autoscale.min_replicas
        predictor["maxReplicas"] = serve.autoscale.max_replicas
        predictor["scaleMetric"] = "cpu"
        predictor["scaleTarget"] = serve.autoscale.target_cpu_utilization
    else:
        predictor["minReplicas"] = serve.replicas
        predictor["maxReplicas"] = serve.replicas
    predictor["labels"] = dict(metadata["labels"])
    predictor["annotations"] = pod_annotations
    pod = podspecs.pod_spec(
        [],
        env=plan.env,
        resources=serve.resources,
        restart_policy=None,
        service_account=plan.service_account,
        image_pull_secrets=plan.image_pull_secrets,
    )
    del pod["containers"]
    predictor.update(pod)
    predictor.update(_predictor_implementation(plan, serve, model, env))
    meta = {**metadata, "annotations": {**metadata["annotations"], DEPLOYMENT_MODE: RAW_DEPLOYMENT}}
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": meta,
        "spec": {"predictor": predictor},
    }
