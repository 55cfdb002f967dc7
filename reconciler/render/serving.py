"""Serving objects for a pipeline's promoted model.

``runtime: deployment`` renders a Deployment (+ Service, + HorizontalPodAutoscaler when
``autoscale`` is set, + Ingress when ``ingress`` is set); ``runtime: kserve`` renders a KServe
InferenceService (:mod:`reconciler.render.kserve`). Both also get:

- readiness and liveness probes (:mod:`reconciler.render.probes`);
- a PodDisruptionBudget (``maxUnavailable: 1``) when serving runs with more than one pod,
  so a node drain never takes every replica at once (unhealthy pods may always be evicted,
  so a crash-looping replica never blocks a drain);
- a NetworkPolicy that lets the cluster's Prometheus (the Environment's ``prometheus``:
  its namespace and pod labels) reach the serving pods' metrics port, with
  ``prometheus.io/*`` scrape annotations on the pods. NetworkPolicies add up: whatever else
  the namespace allows still holds.

The served run is in the ``reconciler.ml/run`` label and the model URI in the
``reconciler.ml/model`` annotation of the serving object; for a Deployment they are also on
the pod template, so a new model rolls the pods. With an HPA the Deployment omits
``replicas``: the HPA owns that field. The Ingress uses ``ingress.className`` or the
Environment's ``ingressClassName``.
"""

from __future__ import annotations

from typing import Any

from reconciler.render import kserve, podspecs, probes
from reconciler.render.runspecs import RunSpec
from reconciler.specs.models import Serve
from reconciler.structs import labels
from reconciler.structs.manifests import Manifest
from reconciler.structs.runs import ServedModel

SERVICE_PORT = 80
APP_NAME = "app.kubernetes.io/name"
SERVER_CONTAINER = "server"
KSERVE_CONTAINER = kserve.KSERVE_CONTAINER
METRICS_PATH = "/metrics"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
DEFAULT_READY_PATH = "/v2/health/ready"
DEFAULT_LIVE_PATH = "/v2/health/live"


def serving_kinds(serve: Serve) -> set[tuple[str, str]]:
    """Return the ``(group, kind)`` of every object :func:`serving_objects` can render."""
    kinds = {("networking.k8s.io", "NetworkPolicy")}
    if serve.min_replicas > 1:
        kinds.add(("policy", "PodDisruptionBudget"))
    if serve.runtime == "kserve":
        return kinds | {("serving.kserve.io", "InferenceService")}
    kinds |= {("apps", "Deployment"), ("", "Service")}
    if serve.autoscale is not None:
        kinds.add(("autoscaling", "HorizontalPodAutoscaler"))
    if serve.ingress_host:
        kinds.add(("networking.k8s.io", "Ingress"))
    return kinds


def _labels(plan: RunSpec, model: ServedModel) -> dict[str, str]:
    out = plan.base_labels()
    out[APP_NAME] = plan.pipeline.name
    out[labels.RUN] = model.run
    return out


def _meta(plan: RunSpec, model: ServedModel, name: str | None = None) -> dict[str, Any]:
    return {
        "name": name or plan.pipeline.name,
        "namespace": plan.namespace,
        "labels": _labels(plan, model),
        "annotations": {labels.MODEL: model.model_uri},
    }


def _server_env(plan: RunSpec, model: ServedModel) -> list[dict[str, Any]]:
    plain = {"MODEL_URI": model.model_uri, "RUN_ID": model.run, "PIPELINE": plan.pipeline.name}
    serve = plan.pipeline.serve
    for k, v in serve.env if serve else ():  # serve.env; secrets by reference only
        plain.setdefault(k, v)
    return podspecs.env_vars(plain, serve.secret_env if serve else ())


def metrics_port(serve: Serve) -> int:
    """Return the port Prometheus scrapes (``metricsPort``, else the serving port)."""
    return serve.metrics_port or serve.port


def scrape_annotations(serve: Serve) -> dict[str, str]:
    """Return the ``prometheus.io/*`` pod annotations of annotation-based scrape configs."""
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(metrics_port(serve)),
        "prometheus.io/path": METRICS_PATH,
    }


def pod_selector(plan: RunSpec, serve: Serve) -> dict[str, str]:
    """Return labels that select exactly the serving pods of the pipeline."""
    if serve.runtime == "kserve":
        return kserve.pod_selector(plan)
    return {APP_NAME: plan.pipeline.name, labels.ENV: plan.env.name}


def deployment(plan: RunSpec, serve: Serve, model: ServedModel) -> Manifest:
    """Return the serving Deployment (no ``replicas`` when an HPA manages it)."""
    assert serve.image is not None
    ctr = podspecs.container(
        name=SERVER_CONTAINER,
        image=serve.image,
        command=(),
        args=(),
        env=_server_env(plan, model),
        resources=podspecs.container_resources(serve.resources, plan.env),
        ports=(serve.port,),
        shm=podspecs.shm_size(serve.resources) is not None,
    )
    ctr.update(
        probes.container_probes(serve, ready_path=DEFAULT_READY_PATH, live_path=DEFAULT_LIVE_PATH)
    )
    spec: dict[str, Any] = {}
    if serve.autoscale is None:
        spec["replicas"] = serve.replicas
    spec["selector"] = {"matchLabels": pod_selector(plan, serve)}
    spec["template"] = {
        "metadata": {
            "labels": _labels(plan, model),
            "annotations": {labels.MODEL: model.model_uri, **scrape_annotations(serve)},
        },
        "spec": podspecs.pod_spec(
            [ctr],
            env=plan.env,
            resources=serve.resources,
            restart_policy=None,
            service_account=plan.service_account,
            image_pull_secrets=plan.image_pull_secrets,
        ),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(plan, model),
        "spec": spec,
    }


def service(plan: RunSpec, serve: Serve, model: ServedModel) -> Manifest:
    """Return the ClusterIP Service in front of the serving Deployment (port 80)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(plan, model),
        "spec": {
            "selector": pod_selector(plan, serve),
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": serve.port, "protocol": "TCP"}
            ],
        },
    }


def hpa(plan: RunSpec, serve: Serve, model: ServedModel) -> Manifest | None:
    """Return the autoscaling/v2 HorizontalPodAutoscaler, or None without ``autoscale``."""
    if serve.autoscale is None:
        return None
    a = serve.autoscale
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(plan, model),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": plan.pipeline.name,
            },
            "minReplicas": a.min_replicas,
            "maxReplicas": a.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": a.target_cpu_utilization,
                        },
                    },
                }
            ],
        },
    }


def ingress(plan: RunSpec, serve: Serve, model: ServedModel) -> Manifest | None:
    """Return the networking.k8s.io/v1 Ingress, or None without ``ingress``."""
    if not serve.ingress_host:
        return None
    backend = {"service": {"name": plan.pipeline.name, "port": {"number": SERVICE_PORT}}}
    spec: dict[str, Any] = {}
    class_name = serve.ingress_class or plan.env.ingress_class
    if class_name:
        spec["ingressClassName"] = class_name
    spec["rules"] = [
        {
            "host": serve.ingress_host,
            "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
        }
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta(plan, model),
        "spec": spec,
    }


def disruption_budget(plan: RunSpec, serve: Serve, model: ServedModel) -> Manifest | None:
    """Return the policy/v1 PodDisruptionBudget, or None when serving runs one pod."""
    if serve.min_replicas <= 1:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(plan, model),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": pod_selector(plan, serve)},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def metrics_policy(plan: RunSpec, serve: Serve, model: ServedModel) -> Manifest:
    """Return the NetworkPolicy that admits the cluster's Prometheus to the metrics port."""
    prom = plan.env.prometheus
    peer = {
        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: prom.namespace}},
        "podSelector": {"matchLabels": dict(prom.pod_labels)},
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(plan, model, f"{plan.pipeline.name}-metrics"),
        "spec": {
            "podSelector": {"matchLabels": pod_selector(plan, serve)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [peer], "ports": [{"port": metrics_port(serve), "protocol": "TCP"}]}
            ],
        },
    }


def inference_service(plan: RunSpec, serve: Serve, model: ServedModel) -> Manifest:
    """Return the KServe InferenceService; the model is its storage URI."""
    return kserve.inference_service(
        plan,
        serve,
        model,
        metadata=_meta(plan, model),
        env=_server_env(plan, model),
        pod_annotations=scrape_annotations(serve),
    )


def serving_objects(plan: RunSpec, model: ServedModel) -> list[Manifest]:
    """Return every serving object of a pipeline for one model ([] without ``serve``)."""
    serve = plan.pipeline.serve
    if serve is None:
        return []
    if serve.runtime == "kserve":
        objs = [inference_service(plan, serve, model)]
    else:
        objs = [deployment(plan, serve, model), service(plan, serve, model)]
    for extra in (
        hpa(plan, serve, model) if serve.runtime != "kserve" else None,
        ingress(plan, serve, model) if serve.runtime != "kserve" else None,
        disruption_budget(plan, serve, model),
        metrics_policy(plan, serve, model),
    ):
        if extra is not None:
            objs.append(extra)
    return objs
