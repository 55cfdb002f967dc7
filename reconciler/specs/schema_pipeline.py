"""The Pipeline's part of the JSON Schema: its spec, steps, serving, datasets and probes.

Called by :mod:`reconciler.specs.schema`, which assembles the documents; the building
blocks are in :mod:`reconciler.specs.schema_fields`.
"""

from __future__ import annotations

from reconciler.specs import patterns as p
from reconciler.specs import schema_fields as fields
from reconciler.specs.schema_fields import MESSAGES, Schema


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
