"""Serving objects for a pipeline's promoted model.

``runtime: deployment`` renders a Deployment (+ Service, + HorizontalPodAutoscaler when
``autoscale`` is set, + Ingress when ``ingress`` is set); ``runtime: kserve`` renders a KServe
InferenceService whose ``storageUri`` is the model. The served run is in the
``reconciler.ml/run`` label and the model URI in the ``reconciler.ml/model`` annotation of
the serving object; for a Deployment they are also on the pod template, so a new model
rolls the pods. With an HPA the Deployment omits ``replicas``: the HPA owns that field.
"""

from __future__ import annotations

from typing import Any

from reconciler.render import podspecs
from reconciler.render.runspecs import RunSpec
from reconciler.specs.models import Serve
from reconciler.structs import labels
from reconciler.structs.manifests import Manifest
from reconciler.structs.runs import ServedModel

SERVICE_PORT = 80
APP_NAME = "app.kubernetes.io/name"
SERVER_CONTAINER = "server"
KSERVE_CONTAINER = "kserve-container"


def _labels(plan: RunSpec, model: ServedModel) -> dict[str, str]:
    out = plan.base_labels()
    out[APP_NAME] = plan.pipeline.name
    out[labels.RUN] = model.run
    return out


def _meta(plan: RunSpec, model: ServedModel) -> dict[str, Any]:
    return {
        "name": plan.pipeline.name,
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


def deployment(plan: RunSpec, serve: Serve, model: ServedModel) -> Manifest:
    """Return the serving Deployment (no ``replicas`` when an HPA manages it)."""
    selector = {APP_NAME: plan.pipeline.name, labels.ENV: plan.env.name}
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
    spec: dict[str, Any] = {}
    if serve.autoscale is None:
        spec["replicas"] = serve.replicas
    spec["selector"] = {"matchLabels": selector}
    spec["template"] = {
        "metadata": {
            "labels": _labels(plan, model),
            "annotations": {labels.MODEL: model.model_uri},
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
            "selector": {APP_NAME: plan.pipeline.name, labels.ENV: plan.env.name},
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
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta(plan, model),
        "spec": {
            "rules": [
                {
                    "host": serve.ingress_host,
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                }
            ]
        },
    }


def inference_service(plan: RunSpec, serve: Serve, model: ServedModel) -> Manifest:
    """Return the KServe InferenceService; ``storageUri`` is the run's model."""
    sec = podspecs.container_security_context()
    model_spec: dict[str, Any] = {
        "modelFormat": {"name": "custom"},
        "storageUri": model.model_uri,
        "name": KSERVE_CONTAINER,
        "image": serve.image,
        "env": _server_env(plan, model),
        "ports": [{"containerPort": serve.port, "protocol": "TCP"}],
        "securityContext": sec,
        "volumeMounts": podspecs.standard_mounts(
            shm=podspecs.shm_size(serve.resources) is not None
        ),
    }
    res = podspecs.container_resources(serve.resources, plan.env)
    if res:
        model_spec["resources"] = res
    predictor: dict[str, Any] = {"model": model_spec}
    if serve.autoscale is not None:
        predictor["minReplicas"] = serve.autoscale.min_replicas
        predictor["maxReplicas"] = serve.autoscale.max_replicas
        predictor["scaleMetric"] = "cpu"
        predictor["scaleTarget"] = serve.autoscale.target_cpu_utilization
    else:
        predictor["minReplicas"] = serve.replicas
        predictor["maxReplicas"] = serve.replicas
    pod = podspecs.pod_spec([], env=plan.env, resources=serve.resources, restart_policy=None)
    predictor["securityContext"] = pod["securityContext"]
    predictor["volumes"] = pod["volumes"]
    for key in ("nodeSelector", "tolerations"):
        if key in pod:
            predictor[key] = pod[key]
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": _meta(plan, model),
        "spec": {"predictor": predictor},
    }


def serving_objects(plan: RunSpec, model: ServedModel) -> list[Manifest]:
    """Return every serving object of a pipeline for one model ([] without ``serve``)."""
    serve = plan.pipeline.serve
    if serve is None:
        return []
    if serve.runtime == "kserve":
        return [inference_service(plan, serve, model)]
    objs = [deployment(plan, serve, model), service(plan, serve, model)]
    for extra in (hpa(plan, serve, model), ingress(plan, serve, model)):
        if extra is not None:
            objs.append(extra)
    return objs
