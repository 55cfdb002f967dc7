"""JSON Schema (draft-07) of Pipeline and Environment, for editors and CI linters.

Printed by ``reconciler schema``. Draft-07 is the newest draft yaml-language-server (the
VS Code YAML extension, Neovim, Helix...) validates fully; it also reads ``description``
for hovers and ``enum``/``examples``/``default`` for completion.

The schema is built from the same patterns and limits as ``reconciler.specs.validation``
so the two agree: every document the validator accepts, the schema accepts. Rules that
JSON Schema cannot express (``needs`` naming existing steps without a cycle, at most one
``output``, ``minReplicas <= maxReplicas``, the combined pipeline+step name length, names
that clash ignoring case, quantities beyond int64) are left to the validator, which is
the authority; the schema is the editor's early warning.
"""

from __future__ import annotations

from typing import Any

from reconciler.specs import models
from reconciler.specs import validation as v

DRAFT = "http://json-schema.org/draft-07/schema#"

Schema = dict[str, Any]


def _string(pattern: str | None = None, *, description: str = "", **extra: Any) -> Schema:
    out: Schema = {"type": "string"}
    if pattern is not None:
        out["pattern"] = pattern
    if description:
        out["description"] = description
    out.update(extra)
    return out


def _integer(lo: int, hi: int, *, description: str = "", **extra: Any) -> Schema:
    out: Schema = {"type": "integer", "minimum": lo, "maximum": hi}
    if description:
        out["description"] = description
    out.update(extra)
    return out


def _object(
    properties: dict[str, Schema], *, required: tuple[str, ...] = (), description: str = ""
) -> Schema:
    out: Schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        out["required"] = list(required)
    if description:
        out["description"] = description
    return out


def _case_insensitive(pattern: str) -> str:
    """Spell an upper-case regex so it also matches lower case (ECMA-262 has no ``(?i)``)."""
    out: list[str] = []
    escaped = False
    in_class = False
    for ch in pattern:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            out.append(ch)
            escaped = True
        elif in_class or ch in "[]":
            if ch.isalpha():
                raise ValueError("letters inside a character class are not supported")
            in_class = ch == "[" or (in_class and ch != "]")
            out.append(ch)
        elif ch.isalpha() and ch.isupper():
            out.append(f"[{ch}{ch.lower()}]")
        else:
            out.append(ch)
    return "".join(out)


LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"
)
_GLOB = r"[*?\[]"


def _definitions() -> dict[str, Schema]:
    labels: Schema = {
        "type": "object",
        "description": "Kubernetes labels: [prefix/]name -> value (<= 63 characters).",
        "propertyNames": {"pattern": LABEL_KEY, "maxLength": 317},
        "additionalProperties": _string(v.LABEL_VALUE, maxLength=63),
    }
    annotations: Schema = {
        "type": "object",
        "propertyNames": {"pattern": LABEL_KEY, "maxLength": 317},
        "additionalProperties": {"type": "string"},
    }
    quantity: Schema = {
        "type": ["string", "number"],
        "pattern": v.QUANTITY,
        "exclusiveMinimum": 0,
        "description": "A positive Kubernetes quantity: 500m, 2, 16Gi.",
    }
    resources = _object(
        {
            "cpu": quantity,
            "memory": quantity,
            "gpus": _integer(
                0,
                v.MAX_GPUS_PER_CONTAINER,
                description="GPUs per container, requested as the environment's gpuResource.",
            ),
            "gpuType": _string(
                v.LABEL_VALUE,
                minLength=1,
                maxLength=63,
                description="Node label value of nvidia.com/gpu.product (e.g. nvidia-a100-80gb).",
            ),
        },
        description="Container resources.",
    )
    reserved = {"not": {"enum": list(v.RESERVED_ENV)}}
    reserved_prefix = {"not": {"pattern": f"^{v.RESERVED_ENV_PREFIX}"}}
    env: Schema = {
        "type": "object",
        "description": "Plain environment variables. Credentials go in secretEnv.",
        "propertyNames": {
            "allOf": [
                {"pattern": v.ENV_NAME},
                {"not": {"pattern": _case_insensitive(v.SECRET_ENV_NAME)}},
                reserved,
                reserved_prefix,
            ]
        },
        "additionalProperties": {"type": "string"},
    }
    secret_env: Schema = {
        "type": "object",
        "description": "Environment variables from Secrets: NAME: {secret: ..., key: ...}.",
        "propertyNames": {"allOf": [{"pattern": v.ENV_NAME}, reserved, reserved_prefix]},
        "additionalProperties": _object(
            {
                "secret": _string(v.DNS1123_SUBDOMAIN, maxLength=253, description="Secret name."),
                "key": _string(v.SECRET_KEY, maxLength=253, description="Key in the Secret."),
            },
            required=("secret", "key"),
        ),
    }
    strings: Schema = {"type": "array", "items": {"type": "string"}}
    step = _object(
        {
            "name": _string(
                v.DNS1123_LABEL,
                maxLength=v.STEP_NAME_BUDGET - 1,
                description="Step name (DNS-1123 label); pipeline name + step name <= "
                f"{v.STEP_NAME_BUDGET} characters.",
            ),
            "image": _string(v.IMAGE, description="Container image reference."),
            "command": {**strings, "description": "Container command."},
            "args": {**strings, "description": "Container arguments."},
            "env": env,
            "secretEnv": secret_env,
            "resources": resources,
            "needs": {
                "type": "array",
                "items": {"type": "string"},
                "uniqueItems": True,
                "description": "Steps that must succeed before this one starts.",
            },
            "workers": _integer(
                1,
                v.MAX_WORKERS,
                default=1,
                description="Number of workers; > 1 needs runtime: kubeflow.",
            ),
            "runtime": {
                "enum": list(v.STEP_RUNTIMES),
                "default": "job",
                "description": "job: a batch/v1 Job; kubeflow: a kubeflow.org/v1 PyTorchJob.",
            },
            "queue": _string(
                v.DNS1123_LABEL,
                maxLength=63,
                description="Kueue LocalQueue (kueue.x-k8s.io/queue-name).",
            ),
            "retries": _integer(0, v.MAX_RETRIES, default=0, description="Job backoffLimit."),
            "timeout": _string(
                v.DURATION,
                description="activeDeadlineSeconds as a duration: 30m, 6h, 1h30m, 90s.",
            ),
            "output": _string(
                v.OUTPUT_URI,
                description="The model this step writes (exactly one step): a URI, "
                "{run} is replaced by the run name.",
            ),
        },
        required=("name", "image"),
        description="One batch step.",
    )
    step["allOf"] = [
        {
            "if": {
                "properties": {"workers": {"type": "integer", "minimum": 2}},
                "required": ["workers"],
            },
            "then": {"properties": {"runtime": {"const": "kubeflow"}}, "required": ["runtime"]},
        }
    ]
    serve = _object(
        {
            "image": _string(v.IMAGE, description="Serving image."),
            "replicas": _integer(1, v.MAX_REPLICAS, default=1),
            "resources": resources,
            "port": _integer(1, 65535, default=8080),
            "autoscale": _object(
                {
                    "minReplicas": _integer(1, v.MAX_REPLICAS, default=1),
                    "maxReplicas": _integer(1, v.MAX_REPLICAS),
                    "targetCPUUtilization": _integer(1, 100, default=80),
                },
                required=("maxReplicas",),
                description="HorizontalPodAutoscaler (minReplicas <= maxReplicas).",
            ),
            "ingress": _object(
                {"host": _string(v.DNS1123_SUBDOMAIN, maxLength=253)},
                required=("host",),
            ),
            "runtime": {
                "enum": list(v.SERVE_RUNTIMES),
                "default": "deployment",
                "description": "deployment: Deployment + Service (+ HPA, Ingress); "
                "kserve: an InferenceService.",
            },
        },
        required=("image",),
        description="How the promoted model is served.",
    )
    pipeline_spec = _object(
        {
            "datasets": {
                "type": "object",
                "description": "Dataset name -> DVC pointer file in the repository.",
                "propertyNames": {"pattern": v.DATASET_NAME},
                "additionalProperties": _string(v.DATASET_PATH),
            },
            "params": {
                "type": "object",
                "description": "Hyperparameters (any JSON), recorded per run (PARAMS_JSON).",
            },
            "steps": {
                "type": "array",
                "minItems": 1,
                "maxItems": v.MAX_STEPS,
                "items": {"$ref": "#/definitions/step"},
                "contains": {"type": "object", "required": ["output"]},
                "description": "A DAG of steps by needs; exactly one step has output.",
            },
            "promote": _object(
                {
                    "metric": _string(v.NONBLANK, description="Metric name."),
                    "min": {"type": "number", "description": "Serve a run only if metric >= min."},
                },
                required=("metric", "min"),
                description="Promotion gate.",
            ),
            "serve": {"$ref": "#/definitions/serve"},
        },
        required=("steps",),
    )
    tolerations: Schema = {
        "type": "array",
        "items": _object(
            {
                "key": {"type": "string"},
                "operator": {"enum": list(v.TOLERATION_OPERATORS)},
                "value": {"type": "string"},
                "effect": {"enum": list(v.TOLERATION_EFFECTS)},
                "tolerationSeconds": _integer(0, 2**31 - 1),
            }
        ),
    }
    environment_spec = _object(
        {
            "branch": _string(
                v.NONBLANK,
                description="Branch name, or a pattern (exp/*: * and ? stay within one "
                "path segment, ** crosses /) for one namespace per branch.",
            ),
            "namespace": _string(
                r"^[a-z0-9-]*(\{branch\})?[a-z0-9-]*$",
                maxLength=v.OBJECT_NAME_MAX,
                description="Namespace (DNS-1123 label); with a branch pattern it must "
                "contain {branch}, e.g. ml-exp-{branch}.",
            ),
            "serve": {"type": "boolean", "default": True, "description": "false: train only."},
            "provenanceBranch": _string(
                v.PROVENANCE_BRANCH,
                default="experiments/{pipeline}",
                description="Branch for run records: {pipeline}, {source} (the branch that "
                "triggered the run) or literal text.",
            ),
            "cluster": _object(
                {"context": _string(v.NONBLANK, description="kubeconfig context.")},
                required=("context",),
            ),
            "scheduling": _object(
                {
                    "nodeSelector": labels,
                    "tolerations": tolerations,
                    "gpuResource": _string(
                        v.EXTENDED_RESOURCE, maxLength=253, default="nvidia.com/gpu"
                    ),
                }
            ),
            "limits": _object(
                {
                    "maxGpusPerRun": _integer(
                        0, v.MAX_GPU_LIMIT, description="Per step: gpus x workers."
                    )
                }
            ),
        },
        required=("branch", "namespace"),
    )
    environment_spec["allOf"] = [
        {
            "if": {
                "properties": {"branch": {"type": "string", "pattern": _GLOB}},
                "required": ["branch"],
            },
            "then": {"properties": {"namespace": {"pattern": r"\{branch\}"}}},
            "else": {"properties": {"namespace": {"not": {"pattern": r"\{branch\}"}}}},
        }
    ]

    def metadata(name: Schema) -> Schema:
        return _object(
            {
                "name": name,
                "labels": labels,
                "annotations": annotations,
                "namespace": {"type": "string"},
            },
            required=("name",),
        )

    def document(kind: str, meta: Schema, spec: Schema, description: str) -> Schema:
        return _object(
            {
                "apiVersion": {"const": models.API_VERSION},
                "kind": {"const": kind},
                "metadata": meta,
                "spec": spec,
            },
            required=("apiVersion", "kind", "metadata", "spec"),
            description=description,
        )

    return {
        "step": step,
        "serve": serve,
        "Pipeline": document(
            "Pipeline",
            metadata(
                _string(
                    v.DNS1035_LABEL,
                    maxLength=v.PIPELINE_NAME_MAX,
                    description="Pipeline name: DNS-1035 label, <= 40 characters.",
                )
            ),
            pipeline_spec,
            "A train-then-serve ML pipeline (reconciler.ml/v1alpha1).",
        ),
        "Environment": document(
            "Environment",
            metadata(
                _string(
                    v.DNS1123_LABEL,
                    maxLength=v.ENVIRONMENT_NAME_MAX,
                    description="Environment name: DNS-1123 label, <= 40 characters.",
                )
            ),
            environment_spec,
            "A deployment target: branch, namespace, serving, scheduling, limits.",
        ),
    }


def _root(kind: str, title: str) -> Schema:
    defs = _definitions()
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
    defs = _definitions()
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
        "definitions": defs,
    }
