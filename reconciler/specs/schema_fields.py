"""Field shapes shared by Pipeline and Environment: the building blocks of the JSON Schema.

Called by ``reconciler.specs.schema_pipeline`` and ``schema_environment`` (the two parts) and
``reconciler.specs.schema``, which assembles them into the two documents.
Each helper returns a draft-07 schema whose keywords are in the order their errors take
precedence (``reconciler.specs.checking`` keeps the first error of each field), with the
messages users read in ``x-messages`` (see ``reconciler.specs.schema``).
"""

from __future__ import annotations

from typing import Any

from reconciler.specs import patterns as p

MESSAGES = "x-messages"

Schema = dict[str, Any]


def string(
    pattern: str | None = None,
    *,
    message: str = "",
    description: str = "",
    min_length: int = 1,
    max_length: int | None = None,
    fmt: str | None = None,
    messages: dict[str, str] | None = None,
    **extra: Any,
) -> Schema:
    """A string; keywords in the order their errors take precedence (one error per field).

    ``message`` is the message of a ``pattern`` mismatch; ``messages`` of other keywords.
    """
    out: Schema = {"type": "string"}
    if min_length:
        out["minLength"] = min_length
    if max_length is not None:
        out["maxLength"] = max_length
    if fmt is not None:
        out["format"] = fmt
    if pattern is not None:
        out["pattern"] = pattern
    texts = dict(messages or {})
    if message:
        texts["pattern"] = message
    if texts:
        out[MESSAGES] = texts
    if description:
        out["description"] = description
    out.update(extra)
    return out


def integer(lo: int, hi: int, *, description: str = "", **extra: Any) -> Schema:
    out: Schema = {"type": "integer", "minimum": lo, "maximum": hi}
    if description:
        out["description"] = description
    out.update(extra)
    return out


def obj(
    properties: dict[str, Schema], *, required: tuple[str, ...] = (), description: str = ""
) -> Schema:
    out: Schema = {"type": "object"}
    if required:
        out["required"] = list(required)
    out["additionalProperties"] = False
    out["properties"] = properties
    if description:
        out["description"] = description
    return out


def mapping(keys: Schema, values: Schema, *, description: str = "") -> Schema:
    """A mapping with free keys: ``keys`` checks each key, ``values`` each value."""
    out: Schema = {"type": "object", "propertyNames": keys, "additionalProperties": values}
    if description:
        out["description"] = description
    return out


def refuse(schema: Schema, message: str) -> Schema:
    return {"not": schema, MESSAGES: {"not": message}}


LABEL_VALUE_MESSAGE = "{value} is not a valid label value (<= 63 of [-A-Za-z0-9_.])"
DNS_LABEL_MESSAGE = "{value} is not a DNS-1123 label (lowercase letters, digits, '-')"


def labels() -> Schema:
    """Kubernetes labels (and nodeSelectors): ``[prefix/]name -> value``."""
    return mapping(
        string(p.LABEL_KEY, message="{value} is not a valid label key ([prefix/]name, name <= 63)"),
        string(p.LABEL_VALUE, message=LABEL_VALUE_MESSAGE, min_length=0, max_length=63),
        description="Kubernetes labels: [prefix/]name -> value (<= 63 characters).",
    )


def quantity() -> Schema:
    return {
        "type": ["string", "number"],
        "format": "quantity",
        "pattern": p.QUANTITY,
        "exclusiveMinimum": 0,
        MESSAGES: {"type": "must be a Kubernetes quantity, not {type}"},
        "description": "A positive Kubernetes quantity: 500m, 2, 16Gi.",
    }


def resources() -> Schema:
    return obj(
        {
            "cpu": quantity(),
            "memory": quantity(),
            "gpus": integer(
                0,
                p.MAX_GPUS_PER_CONTAINER,
                description="GPUs per container, requested as the environment's gpuResource.",
            ),
            "gpuType": string(
                p.LABEL_VALUE,
                message="{value} is not a node label value ([-A-Za-z0-9_.], <= 63)",
                max_length=63,
                description="GPU model: a name in the environment's scheduling.gpuTypes, or "
                "the value of the node label nvidia.com/gpu.product that NVIDIA GPU feature "
                "discovery sets (NVIDIA-A100-SXM4-80GB).",
            ),
            "shm": {
                **quantity(),
                "description": "Size of the memory-backed /dev/shm (default 1Gi for GPU "
                "containers; counts against the memory limit).",
            },
        },
        description="Container resources.",
    )


RESERVED_MESSAGE = (
    f"{{name}} is set by the reconciler (reserved: {', '.join(p.RESERVED_ENV)}, "
    f"{p.RESERVED_ENV_PREFIX}*, {p.RESERVED_ARTIFACTS_PREFIX}*)"
)


def env_names() -> Schema:
    return {
        "allOf": [
            string(
                p.ENV_NAME,
                message="{value} is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
                min_length=0,
            ),
            refuse({"enum": list(p.RESERVED_ENV)}, RESERVED_MESSAGE),
            refuse(
                {"pattern": f"^({p.RESERVED_ENV_PREFIX}|{p.RESERVED_ARTIFACTS_PREFIX}(_|$))"},
                RESERVED_MESSAGE,
            ),
        ]
    }


def env() -> Schema:
    names = env_names()
    names["allOf"].insert(
        1,
        refuse(
            {"pattern": p.case_insensitive(p.SECRET_ENV_NAME)},
            "looks like a secret: use secretEnv: {{name}: {secret: ..., key: ...}}",
        ),
    )
    return mapping(
        names,
        {
            "type": "string",
            MESSAGES: {"type": "must be a string, not {type} (quote numbers and booleans)"},
        },
        description="Plain environment variables. Credentials go in secretEnv.",
    )


def secret_env() -> Schema:
    return mapping(
        env_names(),
        obj(
            {
                "secret": string(
                    p.DNS1123_SUBDOMAIN,
                    message="{value} is not a Secret name (DNS-1123 subdomain)",
                    max_length=253,
                    description="Secret name.",
                ),
                "key": string(
                    p.SECRET_KEY,
                    message="{value} is not a Secret key ([-._a-zA-Z0-9]+)",
                    max_length=253,
                    description="Key in the Secret.",
                ),
            },
            required=("secret", "key"),
        ),
        description="Environment variables from Secrets: NAME: {secret: ..., key: ...}; "
        "the value is never read.",
    )


def strings(description: str) -> Schema:
    return {"type": "array", "items": {"type": "string"}, "description": description}


def json_value() -> Schema:
    """Any JSON value (params): a YAML date or other non-JSON value is refused."""
    return {
        "type": ["string", "number", "boolean", "null", "array", "object"],
        "items": {"$ref": "#/definitions/json"},
        "additionalProperties": {"$ref": "#/definitions/json"},
        MESSAGES: {
            "type": "must be a JSON value (string, number, boolean, null, list, map), not {type}"
        },
    }


def tolerations() -> Schema:
    return {
        "type": "array",
        "items": obj(
            {
                "key": string(
                    f"^$|{p.LABEL_KEY}", message="{value} is not a valid taint key", min_length=0
                ),
                "operator": {"enum": list(p.TOLERATION_OPERATORS)},
                "value": string(
                    p.LABEL_VALUE,
                    message="{value} is not a valid taint value",
                    min_length=0,
                    max_length=63,
                ),
                "effect": {"enum": list(p.TOLERATION_EFFECTS)},
                "tolerationSeconds": integer(0, 2**31 - 1),
            }
        ),
    }


def secret_names(description: str) -> Schema:
    """A list of Secret names (``imagePullSecrets``)."""
    return {
        "type": "array",
        "uniqueItems": True,
        "items": string(
            p.DNS1123_SUBDOMAIN,
            message="{value} is not a Secret name (DNS-1123 subdomain)",
            max_length=253,
        ),
        "description": description,
    }


def service_account(description: str) -> Schema:
    return string(
        p.DNS1123_SUBDOMAIN,
        message="{value} is not a ServiceAccount name (DNS-1123 subdomain)",
        max_length=253,
        description=description,
    )
