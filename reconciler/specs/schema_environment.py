"""The Environment's part of the JSON Schema: branch, namespace, serving, scheduling, limits.

Called by :mod:`reconciler.specs.schema`, which assembles the documents; the building
blocks are in :mod:`reconciler.specs.schema_fields`.
"""

from __future__ import annotations

from reconciler.specs import patterns as p
from reconciler.specs import schema_fields as fields
from reconciler.specs.schema_fields import Schema


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
