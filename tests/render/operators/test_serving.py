"""Serving that KServe and Kubernetes run: runtime selection, probes, disruption budgets,
ingress class, and Prometheus access (issue: serving that becomes Ready and rolls out safely).
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler import engine
from reconciler.render import serving
from reconciler.specs import servingruntimes
from reconciler.specs.models import Prometheus
from reconciler.structs import labels
from reconciler.structs.runs import ServedModel
from tests.render.operators import rules
from tests.render.operators.conftest import ROOT, SERVING_VARIANTS, serving_variant


@pytest.fixture(scope="module")
def prod() -> Any:
    return engine.prepare_target(ROOT, "prod", branch=None)


def serve_objects(prepared: Any, pipeline: str, **fields: Any) -> dict[str, dict[str, Any]]:
    plan = prepared.run_specs[pipeline]
    if fields:
        plan = serving_variant(plan, **fields)
    model = ServedModel(run=plan.run_id, model_uri=plan.model_uri())
    return {o["kind"]: o for o in serving.serving_objects(plan, model)}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def test_a_custom_image_is_kserves_custom_predictor_with_the_model_as_storage_uri(
    prod: Any,
) -> None:
    plan = prod.run_specs["resnet50"]
    isvc = serve_objects(prod, "resnet50")["InferenceService"]
    predictor = isvc["spec"]["predictor"]
    assert "model" not in predictor
    (ctr,) = predictor["containers"]
    assert ctr["name"] == "kserve-container"
    assert ctr["image"] == plan.pipeline.serve.image
    env = env_of(ctr)
    assert env["STORAGE_URI"] == plan.model_uri() == env["MODEL_URI"]
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    assert isvc["metadata"]["annotations"][labels.MODEL] == plan.model_uri()
    assert rules.inferenceservice_errors(isvc) == []


@pytest.mark.parametrize("fmt", servingruntimes.FORMATS)
def test_every_builtin_model_format_finds_a_kserve_runtime(prod: Any, fmt: str) -> None:
    isvc = serve_objects(prod, "resnet50", runtime="kserve", image=None, model_format=fmt)[
        "InferenceService"
    ]
    model = isvc["spec"]["predictor"]["model"]
    assert "containers" not in isvc["spec"]["predictor"]
    assert model["storageUri"] == prod.run_specs["resnet50"].model_uri()
    assert rules.supporting_runtimes(model, rules.kserve_runtimes()), model


def test_protocol_v2_is_asked_for_formats_served_only_over_the_open_inference_protocol(
    prod: Any,
) -> None:
    def model_of(**fields: Any) -> dict[str, Any]:
        objs = serve_objects(prod, "resnet50", runtime="kserve", image=None, **fields)
        model: dict[str, Any] = objs["InferenceService"]["spec"]["predictor"]["model"]
        return model

    assert model_of(model_format="triton")["protocolVersion"] == "v2"
    assert model_of(model_format="mlflow")["protocolVersion"] == "v2"
    assert "protocolVersion" not in model_of(model_format="sklearn")
    named = model_of(model_format="pytorch", serving_runtime="kserve-tritonserver")
    assert (named["runtime"], named["protocolVersion"]) == ("kserve-tritonserver", "v2")
    # Auto-selection would pick TorchServe for pytorch over v1: the named runtime wins.
    assert rules.supporting_runtimes(named, rules.kserve_runtimes()) == ["kserve-tritonserver"]


def test_kserve_runtime_rules_catch_a_model_no_runtime_serves() -> None:
    isvc = {
        "metadata": {"name": "m"},
        "spec": {
            "predictor": {"model": {"modelFormat": {"name": "triton"}, "storageUri": "s3://m"}}
        },
    }
    assert rules.kserve_runtime_errors(isvc, rules.kserve_runtimes())
    isvc["spec"]["predictor"]["model"]["protocolVersion"] = "v2"
    assert rules.kserve_runtime_errors(isvc, rules.kserve_runtimes()) == []
    isvc["spec"]["predictor"]["model"]["runtime"] = "kserve-sklearnserver"
    assert rules.kserve_runtime_errors(isvc, rules.kserve_runtimes())
    isvc["spec"]["predictor"]["containers"] = [{"name": "server", "image": "x"}]
    assert rules.inferenceservice_errors(isvc) == [
        "spec.predictor.containers[0]: not named kserve-container",
        "spec.predictor: exactly one implementation expected, got ['model', 'containers']",
    ]


def test_our_runtime_table_is_kserves() -> None:
    """``servingruntimes`` (used by validation and render) says what KServe's files say."""
    theirs = {
        r["metadata"]["name"]: (
            {
                (f["name"], f.get("version"), bool(f.get("autoSelect")), f.get("priority"))
                for f in r["spec"]["supportedModelFormats"]
            },
            tuple(r["spec"].get("protocolVersions") or ()),
        )
        for r in rules.kserve_runtimes()
    }
    ours = {
        r.name: ({(f.name, f.version, f.auto_select, f.priority) for f in r.formats}, r.protocols)
        for r in servingruntimes.BUILTIN_RUNTIMES
    }
    assert ours == theirs


def test_serving_probes_default_to_the_runtimes_health_endpoints(prod: Any) -> None:
    deploy = serve_objects(prod, "fraud-detector")["Deployment"]
    (ctr,) = deploy["spec"]["template"]["spec"]["containers"]
    port = prod.run_specs["fraud-detector"].pipeline.serve.port
    for key in ("readinessProbe", "livenessProbe"):
        assert ctr[key]["httpGet"]["port"] == port
        assert ctr[key]["periodSeconds"] > 0 and ctr[key]["failureThreshold"] >= 1
    tf = serve_objects(prod, "resnet50", runtime="kserve", image=None, model_format="tensorflow")
    model = tf["InferenceService"]["spec"]["predictor"]["model"]
    assert model["readinessProbe"]["httpGet"]["path"] == "/v1/models/resnet50"


def test_probes_from_the_spec_override_the_defaults(prod: Any) -> None:
    fields = SERVING_VARIANTS["deployment with probes and an ingress class"]
    objs = serve_objects(prod, "resnet50", **fields)
    (ctr,) = objs["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert ctr["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert ctr["readinessProbe"]["periodSeconds"] == 5
    assert ctr["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 9000, "scheme": "HTTP"}
    assert ctr["livenessProbe"]["initialDelaySeconds"] == 120
    assert objs["Ingress"]["spec"]["ingressClassName"] == "nginx"


def test_a_disruption_budget_keeps_all_but_one_replica_through_a_drain(prod: Any) -> None:
    fraud = serve_objects(prod, "fraud-detector")
    pdb = fraud["PodDisruptionBudget"]
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert (
        pdb["spec"]["selector"]["matchLabels"]
        == fraud["Deployment"]["spec"]["selector"]["matchLabels"]
    )
    pod_labels = fraud["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    single = serve_objects(prod, "fraud-detector", autoscale=None, replicas=1)
    assert "PodDisruptionBudget" not in single
    isvc = serve_objects(prod, "resnet50", replicas=2)
    assert isvc["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == {
        "serving.kserve.io/inferenceservice": "resnet50",
        "component": "predictor",
    }


def test_prometheus_may_scrape_the_serving_pods_and_nothing_else(prod: Any) -> None:
    objs = serve_objects(prod, "fraud-detector")
    policy = objs["NetworkPolicy"]
    assert policy["metadata"]["name"] == "fraud-detector-metrics"
    assert policy["spec"]["podSelector"] == objs["Deployment"]["spec"]["selector"]
    (rule,) = policy["spec"]["ingress"]
    (peer,) = rule["from"]
    prom = Prometheus()
    assert peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": prom.namespace
    }
    assert peer["podSelector"]["matchLabels"] == dict(prom.pod_labels)
    port = prod.run_specs["fraud-detector"].pipeline.serve.port
    assert rule["ports"] == [{"port": port, "protocol": "TCP"}]
    annotations = objs["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    isvc = serve_objects(prod, "resnet50", metrics_port=9090)
    assert isvc["NetworkPolicy"]["spec"]["ingress"][0]["ports"] == [
        {"port": 9090, "protocol": "TCP"}
    ]
    assert (
        isvc["InferenceService"]["spec"]["predictor"]["annotations"]["prometheus.io/port"] == "9090"
    )


def test_every_rendered_inference_service_follows_kserves_rules(
    rendered: list[tuple[str, dict[str, Any]]],
) -> None:
    runtimes = rules.kserve_runtimes()
    problems = []
    checked = 0
    for where, obj in rendered:
        if obj["kind"] != "InferenceService":
            continue
        checked += 1
        problems += [f"{where}: {e}" for e in rules.inferenceservice_errors(obj)]
        problems += [f"{where}: {e}" for e in rules.kserve_runtime_errors(obj, runtimes)]
    assert problems == []
    assert checked >= len(servingruntimes.FORMATS) + 4
