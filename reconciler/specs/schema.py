"""The JSON Schema (draft-07) of Pipeline and Environment: the one definition of field shapes.

``reconciler validate`` and render check every document against it
(``reconciler.specs.checking``), and ``reconciler schema`` prints it for editors:
draft-07 is the newest draft yaml-language-server (VS Code, Neovim, Helix...) validates
fully; it reads ``description`` for hovers and ``enum``/``default`` for completion.

What a field may hold (type, pattern, range, enum, required and unknown keys) is said
here and nowhere else. Two extensions, which editors ignore:

- ``format``: ``quantity``, ``duration``, ``branch`` and ``provenance-branch`` name
  checks implemented in code (``reconciler.specs.checking``); a ``pattern`` beside them
  gives editors an approximation.
- ``x-messages``: per failing keyword, the message users read, with ``{value}`` (the
  value, quoted), ``{type}`` (its type), ``{count}`` and ``{limit}``.

Rules that join several fields (``needs`` naming existing steps without a cycle,
exactly one ``output``, name lengths across pipeline and step, workers and runtime,
``{branch}`` in the namespace of a branch pattern, GPU limits, dataset pointers) are in
``reconciler.specs.rules`` and ``reconciler.render.datasets``, not here.
"""

from __future__ import annotations

from typing import Any

from reconciler.specs import fields, models
from reconciler.specs import patterns as p
from reconciler.specs.fields import MESSAGES, Schema

DRAFT = "http://json-schema.org/draft-07/schema#"


def step() -> Schema:
    return fields.obj(
        {
            "name": fields.string(
                p.DNS1123_LABEL,
                message=fields.DNS_LABEL_MESSAGE,
                max_length=p.STEP_NAME_BUDGET - 1,
                description="Step name (DNS-1123 label); pipeline name + step name <= "
                f"{p.STEP_NAME_BUDGET} characters.",
            ),
            "image": fields.string(
                p.IMAGE,
                message="{value} is not a valid image reference (no whitespace)",
                description="Container image reference.",
            ),
            "command": fields.strings("Container command."),
            "args": fields.strings("Container arguments."),
            "env": fields.env(),
            "secretEnv": fields.secret_env(),
            "resources": fields.resources(),
            "needs": {
                "type": "array",
                "items": {"type": "string"},
                "uniqueItems": True,
                "description": "Steps that must succeed before this one starts.",
            },
            "workers": fields.integer(
                1,
                p.MAX_WORKERS,
                default=1,
                description="Number of workers (nodes); > 1 needs runtime: kubeflow or trainjob.",
            ),
            "runtime": {
                "enum": list(p.STEP_RUNTIMES),
                "default": "job",
                "description": "job: a batch/v1 Job; kubeflow: a kubeflow.org/v1 PyTorchJob "
                "(Training Operator); trainjob: a trainer.kubeflow.org TrainJob (Trainer v2).",
            },
            "trainingRuntime": fields.string(
                p.DNS1123_SUBDOMAIN,
                message="{value} is not a ClusterTrainingRuntime name (DNS-1123 subdomain)",
                max_length=253,
                description="runtime: trainjob only: the ClusterTrainingRuntime (default "
                "reconciler-torch).",
            ),
            "queue": fields.string(
                p.DNS1123_LABEL,
                message="{value} is not a LocalQueue name (DNS-1123 label)",
                max_length=63,
                description="Kueue LocalQueue (kueue.x-k8s.io/queue-name).",
            ),
            "retries": fields.integer(
                0,
                p.MAX_RETRIES,
                default=0,
                description="Restarts before the step fails: a Job's or PyTorchJob's "
                "backoffLimit (a TrainJob's come from its runtime).",
            ),
            "timeout": fields.string(
                p.DURATION,
                fmt="duration",
                min_length=0,
                description="activeDeadlineSeconds as a duration: 30m, 6h, 1h30m, 90s.",
                messages={"type": "must be a duration such as 30m, 6h, 1h30m or 90s, not {type}"},
            ),
            "output": fields.string(
                p.URI,
                message="{value} is not a URI such as s3://bucket/models/{run}/ (scheme://...)",
                description="The model this step writes (exactly one step): a URI, "
                "{run} is replaced by the run name.",
                allOf=[
                    {
                        "pattern": p.OUTPUT_URI,
                        MESSAGES: {"pattern": "{value}: the only placeholder is {run}"},
                    }
                ],
            ),
        },
        required=("name", "image"),
        description="One batch step.",
    )


def serve() -> Schema:
    return fields.obj(
        {
            "image": fields.string(
                p.IMAGE,
                message="{value} is not a valid image reference (no whitespace)",
                description="Serving image of your own (runtime kserve: or a modelFormat).",
            ),
            "modelFormat": {
                "type": ["string", "object"],
                "minLength": 1,
                "maxLength": 63,
                "pattern": p.MODEL_FORMAT,
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": fields.string(
                        p.MODEL_FORMAT,
                        message="{value} is not a model format name",
                        max_length=63,
                    ),
                    "version": fields.string(
                        p.MODEL_FORMAT_VERSION,
                        message="{value} is not a version (major, major.minor or "
                        "major.minor.patch)",
                    ),
                },
                MESSAGES: {
                    "type": "must be a format name (sklearn) or {name: ..., version: ...}, "
                    "not {type}",
                    "pattern": "{value} is not a model format name",
                },
                "description": "runtime kserve: the model's format, served by a KServe "
                "serving runtime (sklearn, xgboost, lightgbm, tensorflow, pytorch, onnx, "
                "triton, huggingface, mlflow, ...): a name or {name, version}.",
            },
            "servingRuntime": fields.string(
                p.DNS1123_SUBDOMAIN,
                message="{value} is not a ServingRuntime name (DNS-1123 subdomain)",
                max_length=253,
                description="runtime kserve with modelFormat: the KServe (Cluster)ServingRuntime "
                "to use; default: KServe's choice for the format.",
            ),
            "protocolVersion": {
                "enum": list(p.SERVE_PROTOCOLS),
                "description": "runtime kserve with modelFormat: v1 or v2 (Open Inference "
                "Protocol); default v1 where a runtime serves it, else v2.",
            },
            "probes": fields.obj(
                {"readiness": probe("Readiness"), "liveness": probe("Liveness")},
                description="HTTP probes of the serving container (defaults: the runtime's "
                "health endpoints on the serving port).",
            ),
            "metricsPort": fields.integer(
                1, 65535, description="Port Prometheus scrapes /metrics on (default: port)."
            ),
            "replicas": fields.integer(1, p.MAX_REPLICAS, default=1),
            "resources": fields.resources(),
            "env": fields.env(),
            "secretEnv": fields.secret_env(),
            "port": fields.integer(1, 65535, default=8080),
            "autoscale": fields.obj(
                {
                    "minReplicas": fields.integer(1, p.MAX_REPLICAS, default=1),
                    "maxReplicas": fields.integer(1, p.MAX_REPLICAS),
                    "targetCPUUtilization": fields.integer(1, 100, default=80),
                },
                required=("maxReplicas",),
                description="HorizontalPodAutoscaler (minReplicas <= maxReplicas).",
            ),
            "ingress": fields.obj(
                {
                    "host": fields.string(
                        p.DNS1123_SUBDOMAIN,
                        message="{value} is not a host name (DNS-1123 subdomain)",
                        max_length=253,
                    ),
                    "className": fields.string(
                        p.DNS1123_SUBDOMAIN,
                        message="{value} is not an IngressClass name (DNS-1123 subdomain)",
                        max_length=253,
                        description="ingressClassName (default: the Environment's).",
                    ),
                },
                required=("host",),
            ),
            "runtime": {
                "enum": list(p.SERVE_RUNTIMES),
                "default": "deployment",
                "description": "deployment: Deployment + Service (+ HPA, Ingress); "
                "kserve: an InferenceService.",
            },
        },
        description="How the promoted model is served.",
    )


def dataset() -> Schema:
    """A pointer path, or ``{path, mount}`` (each keyword applies to its own type)."""
    path = fields.string(
        p.DATASET_PATH,
        message="{value} must be a relative path inside the repository ending "
        "in .dvc (e.g. datasets/train.dvc)",
    )
    out: Schema = {"type": ["string", "object"]}
    out.update({k: v for k, v in path.items() if k not in ("type", MESSAGES)})
    out[MESSAGES] = {
        **path[MESSAGES],
        "type": "must be a pointer path or {path: ..., mount: true}, not {type}",
    }
    shape = fields.obj(
        {
            "path": path,
            "mount": {
                "type": "boolean",
                "default": False,
                "description": "true: an init container fetches the data into /data/<name> "
                "and checks its md5 before the step starts (DATASET_<NAME>_PATH).",
            },
        },
        required=("path",),
    )
    out.update({k: v for k, v in shape.items() if k != "type"})
    return out


def probe(what: str) -> Schema:
    return fields.obj(
        {
            "path": fields.string(
                p.HTTP_PATH, message="{value} is not an HTTP path (/...)", max_length=1024
            ),
            "port": fields.integer(1, 65535),
            "initialDelaySeconds": fields.integer(0, 3600),
            "periodSeconds": fields.integer(1, 3600),
            "timeoutSeconds": fields.integer(1, 3600),
            "failureThreshold": fields.integer(1, 100),
        },
        description=f"{what} probe: an HTTP GET; fields left out take the defaults.",
    )


def pipeline_spec() -> Schema:
    return fields.obj(
        {
            "datasets": fields.mapping(
                fields.string(
                    p.DATASET_NAME,
                    message="dataset name {value} must match [a-z0-9_]+ "
                    "(it becomes DATASET_<NAME>_URL)",
                    min_length=0,
                ),
                dataset(),
                description="Dataset name -> DVC pointer file in the repository, or "
                "{path: <pointer>, mount: true} to have it fetched into /data/<name>.",
            ),
            "serviceAccountName": fields.service_account(
                "ServiceAccount of every step pod (cloud identity for storage); default: the "
                "environment's."
            ),
            "imagePullSecrets": fields.secret_names(
                "Secrets to pull private images with; default: the environment's."
            ),
            "params": {
                "type": "object",
                "additionalProperties": {"$ref": "#/definitions/json"},
                "description": "Hyperparameters (any JSON), recorded per run (PARAMS_JSON).",
            },
            "steps": {
                "type": "array",
                "minItems": 1,
                "maxItems": p.MAX_STEPS,
                "items": {"$ref": "#/definitions/step"},
                MESSAGES: {
                    "minItems": "must list at least one step",
                    "maxItems": "{count} steps, over the limit of {limit}",
                },
                "description": "A DAG of steps by needs; exactly one step has output.",
            },
            "promote": fields.obj(
                {
                    "metric": fields.string(p.NONBLANK, description="Metric name."),
                    "min": {"type": "number", "description": "Serve a run only if metric >= min."},
                },
                required=("metric", "min"),
                description="Promotion gate.",
            ),
            "serve": {"$ref": "#/definitions/serve"},
        },
        required=("steps",),
    )


def environment_spec() -> Schema:
    return fields.obj(
        {
            "branch": fields.string(
                p.NONBLANK,
                fmt="branch",
                description="Branch name, or a pattern (exp/*: * and ? stay within one "
                "path segment, ** crosses /) for one namespace per branch.",
            ),
            "namespace": fields.string(
                p.NAMESPACE_TEMPLATE,
                max_length=p.OBJECT_NAME_MAX,
                message="{value} is not a DNS-1123 label (lowercase letters, digits and '-', "
                "<= 63)",
                messages={
                    "maxLength": "{value} is {count} characters, over the limit of 63 (with "
                    f"a branch pattern: at most {p.NAMESPACE_LITERAL_MAX} besides {{branch}})",
                },
                description="Namespace (DNS-1123 label); with a branch pattern it must "
                "contain {branch}, e.g. ml-exp-{branch}.",
            ),
            "allowSystemNamespace": {
                "type": "boolean",
                "default": False,
                "description": "true: allow a system namespace (default, kube-system, "
                "kube-public, kube-node-lease, the reconciler's own).",
            },
            "serve": {"type": "boolean", "default": True, "description": "false: train only."},
            "provenanceBranch": fields.string(
                p.PROVENANCE_BRANCH,
                message="{value}: the only placeholders are {pipeline} and {source}",
                fmt="provenance-branch",
                default="experiments/{pipeline}",
                description="Branch for run records, never one people push to: "
                "{pipeline}, {source} (the branch that triggered the run) or literal text; "
                "default experiments/{pipeline}, runs/{source} with a branch pattern.",
            ),
            "cluster": fields.obj(
                {"context": fields.string(p.NONBLANK, description="kubeconfig context.")},
                required=("context",),
            ),
            "scheduling": fields.obj(
                {
                    "nodeSelector": fields.labels(),
                    "tolerations": fields.tolerations(),
                    "gpuTypes": fields.mapping(
                        fields.string(
                            p.LABEL_VALUE,
                            message="{value} is not a GPU type name ([-A-Za-z0-9_.], <= 63)",
                            max_length=63,
                        ),
                        fields.obj(
                            {
                                "nodeSelector": fields.labels(),
                                "tolerations": fields.tolerations(),
                            }
                        ),
                        description="gpuType name -> the nodeSelector and tolerations of "
                        "this cluster's nodes with that GPU (cloud node pools name GPUs their "
                        "own way); other names select nvidia.com/gpu.product.",
                    ),
                    "gpuResource": fields.string(
                        p.EXTENDED_RESOURCE,
                        message="{value} is not an extended resource name such as "
                        "nvidia.com/gpu (domain/name)",
                        max_length=253,
                        default="nvidia.com/gpu",
                    ),
                }
            ),
            "serviceAccountName": fields.service_account(
                "Default ServiceAccount of step pods (a pipeline may set its own)."
            ),
            "imagePullSecrets": fields.secret_names(
                "Default Secrets to pull private images with (a pipeline may set its own)."
            ),
            "dataFetcher": fields.obj(
                {
                    "image": fields.string(
                        p.IMAGE,
                        message="{value} is not a valid image reference (no whitespace)",
                        description="An image with python3 and fsspec (and the filesystem "
                        "of your remote: s3fs, gcsfs, adlfs), e.g. one with DVC installed.",
                    )
                },
                required=("image",),
                description="The init container that fetches datasets with mount: true.",
            ),
            "artifactRoot": fields.string(
                p.ARTIFACT_ROOT,
                message="{value} is not an object-store prefix (s3://bucket/prefix) or "
                "pvc://<claim>[/<path>]",
                description="Where steps keep artifacts and checkpoints: ARTIFACTS_URI "
                "(<root>/<pipeline>/<run>/<step>/) and CHECKPOINT_URI "
                "(<root>/<pipeline>/<run id>/checkpoints/, the same for every attempt).",
            ),
            "limits": fields.obj(
                {
                    "maxGpusPerRun": fields.integer(
                        0, p.MAX_GPU_LIMIT, description="Per step: gpus x workers."
                    )
                }
            ),
            "podSecurity": {
                "enum": list(p.POD_SECURITY_LEVELS),
                "default": "restricted",
                "description": "Pod Security level the namespace enforces (warn and audit "
                "stay restricted); baseline admits KServe's storage initializer of a "
                "default KServe install.",
            },
            "prometheus": fields.obj(
                {
                    "namespace": fields.string(
                        p.DNS1123_LABEL,
                        message=fields.DNS_LABEL_MESSAGE,
                        max_length=63,
                        default="monitoring",
                    ),
                    "podLabels": fields.labels(),
                },
                description="Where the cluster's Prometheus runs: serving pods admit "
                "scrapes from these pods (default: namespace monitoring, "
                "app.kubernetes.io/name: prometheus).",
            ),
            "ingressClassName": fields.string(
                p.DNS1123_SUBDOMAIN,
                message="{value} is not an IngressClass name (DNS-1123 subdomain)",
                max_length=253,
                description="IngressClass of serving Ingresses without ingress.className.",
            ),
        },
        required=("branch", "namespace"),
    )


def metadata(name: Schema) -> Schema:
    return fields.obj(
        {
            "name": name,
            "labels": fields.labels(),
            "annotations": fields.mapping(
                fields.string(p.LABEL_KEY, message="{value} is not a valid annotation key"),
                {"type": "string"},
            ),
            "namespace": {"type": "string", "description": "Set by Kustomize; not used."},
        },
        required=("name",),
    )


def document(kind: str, meta: Schema, spec: Schema, description: str) -> Schema:
    return fields.obj(
        {
            "apiVersion": {"const": models.API_VERSION},
            "kind": {"const": kind},
            "metadata": meta,
            "spec": spec,
        },
        required=("apiVersion", "kind", "metadata", "spec"),
        description=description,
    )


def definitions() -> dict[str, Schema]:
    """Return every named part: the two documents and the parts they reference."""
    return {
        "json": fields.json_value(),
        "step": step(),
        "serve": serve(),
        "Pipeline": document(
            "Pipeline",
            metadata(
                fields.string(
                    p.DNS1035_LABEL,
                    message="{value} is not a DNS-1035 label (lowercase letters, digits and "
                    "'-', starting with a letter: it names the serving Service)",
                    max_length=p.PIPELINE_NAME_MAX,
                    description="Pipeline name: DNS-1035 label, <= 40 characters.",
                )
            ),
            pipeline_spec(),
            "A train-then-serve ML pipeline (reconciler.ml/v1alpha1).",
        ),
        "Environment": document(
            "Environment",
            metadata(
                fields.string(
                    p.DNS1123_LABEL,
                    message="{value} is not a DNS-1123 label (lowercase letters, digits and '-')",
                    max_length=p.ENVIRONMENT_NAME_MAX,
                    description="Environment name: DNS-1123 label, <= 40 characters.",
                )
            ),
            environment_spec(),
            "A deployment target: branch, namespace, serving, scheduling, limits.",
        ),
    }


def _root(kind: str, title: str) -> Schema:
    defs = definitions()
    out: Schema = {"$schema": DRAFT, "title": title}
    out.update(defs[kind])
    out["definitions"] = defs
    return out


def pipeline_schema() -> dict[str, Any]:
    """Return the JSON Schema of a Pipeline document."""
    return _root("Pipeline", "reconciler Pipeline")


def environment_schema() -> dict[str, Any]:
    """Return the JSON Schema of an Environment document."""
    return _root("Environment", "reconciler Environment")


def combined_schema() -> dict[str, Any]:
    """Return one schema for both kinds, chosen by ``kind``.

    Documents of any other kind (a ``kustomization.yaml`` matched by the same glob) are
    not constrained, so one editor setting can cover ``pipelines/*.yaml`` and
    ``overlays/*/environment.yaml``.
    """
    return {
        "$schema": DRAFT,
        "title": "reconciler Pipeline and Environment",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string", "examples": [models.API_VERSION]},
            "kind": {"type": "string", "examples": ["Pipeline", "Environment"]},
        },
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": {"$ref": f"#/definitions/{kind}"},
            }
            for kind in ("Pipeline", "Environment")
        ],
        "definitions": definitions(),
    }
