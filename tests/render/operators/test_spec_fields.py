"""The spec fields of the operators' features: their models, and one exact error per misuse.

Serving: ``modelFormat`` (a name or ``{name, version}``), ``servingRuntime``,
``protocolVersion``, ``probes``, ``ingress.className``, ``metricsPort``. Steps:
``runtime: trainjob`` and ``trainingRuntime``. Environments: ``podSecurity``,
``prometheus``, ``ingressClassName``.
"""

from __future__ import annotations

from reconciler.specs.models import Probe
from tests.specs.samples import (
    ENVIRONMENT,
    PIPELINE,
    environment,
    environment_errors,
    pipeline,
    pipeline_errors,
    variant,
)

P = "pipelines/resnet50.yaml"
SERVE_LINE = "    image: registry.example.com/vision/resnet-serve:1.4.2\n"
DEPLOYMENT_SERVE = """\
    ingress: {host: resnet.example.com}
    runtime: deployment
"""


def kserve(extra: str, *, image: bool = False) -> str:
    """Return the sample pipeline served by KServe with ``extra`` serve lines."""
    text = variant(PIPELINE, DEPLOYMENT_SERVE, "    runtime: kserve\n" + extra)
    return text if image else variant(text, SERVE_LINE, "")


def test_a_model_format_gives_the_kserve_model_fields() -> None:
    serve = pipeline(kserve("    modelFormat: sklearn\n")).serve
    assert serve is not None
    assert (serve.image, serve.model_format, serve.model_format_version) == (None, "sklearn", None)
    text = kserve(
        "    modelFormat: {name: sklearn, version: '1'}\n"
        "    servingRuntime: kserve-mlserver\n"
        "    protocolVersion: v2\n"
    )
    serve = pipeline(text).serve
    assert serve is not None
    assert (serve.model_format, serve.model_format_version) == ("sklearn", "1")
    assert (serve.serving_runtime, serve.protocol_version) == ("kserve-mlserver", "v2")


def test_a_format_no_kserve_runtime_serves_is_an_error() -> None:
    assert pipeline_errors(kserve("    modelFormat: keras\n")) == [
        f"{P}:39:5: spec.serve.modelFormat: no KServe runtime serves model format 'keras' "
        "(built-in formats: autogluon, huggingface, lightgbm, mlflow, onnx, paddle, pmml, "
        "pytorch, sklearn, tensorflow, tensorrt, triton, vLLM, xgboost); name your "
        "cluster's ServingRuntime in servingRuntime"
    ]
    text = kserve("    modelFormat: sklearn\n    servingRuntime: kserve-tritonserver\n")
    assert pipeline_errors(text) == [
        f"{P}:40:5: spec.serve.servingRuntime: KServe runtime kserve-tritonserver does not "
        "serve sklearn over protocol v1 (it serves onnx, pytorch, tensorflow, tensorrt, "
        "triton over v2, grpc-v2)"
    ]
    # A runtime of the cluster's own is taken as given; a version must be declared.
    assert pipeline_errors(kserve("    modelFormat: keras\n    servingRuntime: team\n")) == []
    assert pipeline_errors(kserve("    modelFormat: {name: xgboost, version: '7'}\n")) == [
        f"{P}:39:5: spec.serve.modelFormat: no KServe runtime selects xgboost version 7 "
        "automatically over protocol v1"
    ]


def test_serving_needs_exactly_one_of_image_and_model_format() -> None:
    both = kserve("    modelFormat: pytorch\n", image=True)
    assert pipeline_errors(both) == [
        f"{P}:40:5: spec.serve.modelFormat: set either image (your serving image, as "
        "KServe's kserve-container) or modelFormat (served by a KServe runtime), not both"
    ]
    assert pipeline_errors(kserve("")) == [
        f"{P}:33:3: spec.serve: runtime: kserve needs image (your serving image) or modelFormat"
    ]
    deployment = variant(PIPELINE, "    runtime: deployment\n", "    modelFormat: sklearn\n")
    assert pipeline_errors(deployment) == [
        f"{P}:40:5: spec.serve.modelFormat: only with runtime: kserve"
    ]
    with_ingress = kserve("    ingress: {host: x.example.com}\n", image=True)
    assert pipeline_errors(with_ingress) == [
        f"{P}:40:5: spec.serve.ingress: runtime: kserve is exposed by KServe's own ingress "
        "configuration; ingress is for runtime: deployment"
    ]


def test_probes_ingress_class_and_metrics_port() -> None:
    text = variant(
        PIPELINE,
        "    ingress: {host: resnet.example.com}\n",
        "    ingress: {host: resnet.example.com, className: nginx}\n"
        "    metricsPort: 9090\n"
        "    probes:\n"
        "      readiness: {path: /ready, periodSeconds: 5}\n"
        "      liveness: {path: /healthz, port: 9000, initialDelaySeconds: 120}\n",
    )
    serve = pipeline(text).serve
    assert serve is not None
    assert serve.ingress_class == "nginx" and serve.metrics_port == 9090
    assert serve.probes.readiness == Probe(path="/ready", period_seconds=5)
    assert serve.probes.liveness == Probe(path="/healthz", port=9000, initial_delay_seconds=120)
    bad = variant(text, "path: /ready", "path: ready")
    assert pipeline_errors(bad) == [
        f"{P}:42:19: spec.serve.probes.readiness.path: 'ready' is not an HTTP path (/...)"
    ]


def test_trainjob_steps() -> None:
    text = variant(PIPELINE, "      runtime: job\n", "      runtime: trainjob\n")
    assert pipeline_errors(text) == [
        f"{P}:25:7: spec.steps[1].retries: a TrainJob has no retry limit of its own: its "
        "restarts are its ClusterTrainingRuntime's (reconciler-torch: the whole job, up to "
        "3 times); remove retries, or use runtime: kubeflow"
    ]
    text = variant(text, "      retries: 2\n", "      trainingRuntime: torch-distributed\n")
    train = pipeline(text).step("train")
    assert (train.runtime, train.training_runtime) == ("trainjob", "torch-distributed")
    on_a_job = variant(PIPELINE, "      retries: 2\n", "      trainingRuntime: x\n")
    assert pipeline_errors(on_a_job) == [
        f"{P}:25:7: spec.steps[1].trainingRuntime: only with runtime: trainjob"
    ]


def test_environment_pod_security_prometheus_and_ingress_class() -> None:
    env = environment()
    assert env.pod_security == "restricted" and env.prometheus.namespace == "monitoring"
    text = ENVIRONMENT + (
        "  podSecurity: baseline\n"
        "  ingressClassName: nginx\n"
        "  prometheus: {namespace: observability, podLabels: {app: prometheus}}\n"
    )
    env = environment(text)
    assert (env.pod_security, env.ingress_class) == ("baseline", "nginx")
    assert env.prometheus.namespace == "observability"
    assert env.prometheus.pod_labels == (("app", "prometheus"),)
    assert environment_errors(ENVIRONMENT + "  podSecurity: privileged\n")
