"""Manifests shaped like what the reconciler renders, for the apply and plan tests."""

from __future__ import annotations

from typing import Any

from reconciler.structs import labels

Manifest = dict[str, Any]


def meta(name: str, ns: str, env: str, pipeline: str = "") -> dict[str, Any]:
    out_labels = {labels.MANAGED_BY: labels.MANAGED_BY_VALUE, labels.ENV: env}
    if pipeline:
        out_labels[labels.PIPELINE] = pipeline
    m: dict[str, Any] = {"name": name, "labels": out_labels}
    if ns:
        m["namespace"] = ns
    return m


def namespace(ns: str, env: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(ns, "", env)}


def configmap(name: str, ns: str, env: str, data: dict[str, str] | None = None) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(name, ns, env),
        "data": data or {"LOG_LEVEL": "info"},
    }


def quota(ns: str, env: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": meta("gpu-quota", ns, env),
        "spec": {"hard": {"requests.nvidia.com/gpu": "8", "requests.memory": "512Gi"}},
    }


def pod_template(image: str, app: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app.kubernetes.io/name": app}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "command": ["python", "train.py"],
                    "resources": {
                        "requests": {"cpu": "0.5", "memory": "1Gi"},
                        "limits": {"cpu": "1", "memory": "1Gi"},
                    },
                }
            ],
        },
    }


def job(pipeline: str, run: str, step: str, ns: str, env: str, image: str = "train:1") -> Manifest:
    m = meta(f"{pipeline}-{run}-{step}", ns, env, pipeline)
    m["labels"][labels.RUN] = run
    m["labels"][labels.STEP] = step
    template = pod_template(image, pipeline)
    template["spec"]["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": m,
        "spec": {"backoffLimit": 2, "suspend": True, "template": template},
    }


def deployment(
    pipeline: str, ns: str, env: str, *, replicas: int | None = 2, image: str = "serve:1"
) -> Manifest:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app.kubernetes.io/name": pipeline}},
        "template": pod_template(image, pipeline),
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(pipeline, ns, env, pipeline),
        "spec": spec,
    }


def service(pipeline: str, ns: str, env: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(pipeline, ns, env, pipeline),
        "spec": {
            "selector": {"app.kubernetes.io/name": pipeline},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    }


def pytorchjob(pipeline: str, run: str, ns: str, env: str) -> Manifest:
    m = meta(f"{pipeline}-{run}-train", ns, env, pipeline)
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": m,
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {
                    "replicas": 1,
                    "restartPolicy": "Never",
                    "template": pod_template("t:1", pipeline),
                }
            }
        },
    }


def pipeline_objects(pipeline: str, run: str, ns: str, env: str) -> list[Manifest]:
    """One pipeline: two step Jobs, a serving Deployment and its Service."""
    return [
        job(pipeline, run, "prepare", ns, env),
        job(pipeline, run, "train", ns, env),
        deployment(pipeline, ns, env),
        service(pipeline, ns, env),
    ]


def environment(env: str, ns: str, pipelines: list[str], run: str = "r1") -> list[Manifest]:
    """A whole environment: namespace, quota, config, and each pipeline's objects."""
    objs = [namespace(ns, env), quota(ns, env), configmap("settings", ns, env)]
    for p in pipelines:
        objs += pipeline_objects(p, run, ns, env)
    return objs
