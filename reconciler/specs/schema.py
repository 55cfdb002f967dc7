"""The JSON Schema (draft-07) of Pipeline and Environment: the one definition of field shapes.

``reconciler validate`` and render check every document against it
(``reconciler.specs.checking``), and ``reconciler schema`` prints it for editors:
draft-07 is the newest draft yaml-language-server (VS Code, Neovim, Helix...) validates
fully; it reads ``description`` for hovers and ``enum``/``default`` for completion.

What a field may hold (type, pattern, range, enum, required and unknown keys) is said
here and nowhere else: this module assembles the documents from the Pipeline's part
(:mod:`reconciler.specs.schema_pipeline`), the Environment's
(:mod:`reconciler.specs.schema_environment`) and the shared building blocks
(:mod:`reconciler.specs.schema_fields`). Two extensions, which editors ignore:

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

from reconciler.specs import models, schema_environment, schema_pipeline
from reconciler.specs import patterns as p
from reconciler.specs import schema_fields as fields
from reconciler.specs.schema_fields import Schema

DRAFT = "http://json-schema.org/draft-07/schema#"


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
        "step": schema_pipeline.step(),
        "serve": schema_pipeline.serve(),
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
            schema_pipeline.pipeline_spec(),
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
            schema_environment.environment_spec(),
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
