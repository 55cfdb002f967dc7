"""The JSON Schema is the validator's definition of field shapes; ``reconciler schema`` prints it.

Broken shapes are refused by both the schema (an editor sees them) and the validator;
rules across fields (workers and runtime, exactly one output, ``{branch}`` and a branch
pattern) are the validator's alone, and the schema lets such documents through.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from reconciler.cli.schema import command
from reconciler.specs import loading, schema, validation
from tests.specs.samples import (
    ENVIRONMENT,
    EXP_ENVIRONMENT,
    PIPELINE,
    environment_errors,
    pipeline_errors,
    variant,
)

REPO = Path(__file__).resolve().parents[2]


def _plain(text: str) -> Any:
    return json.loads(json.dumps(loading.load_document(text.encode(), path="f.yaml")))


def _schema_errors(kind: str, doc: Any) -> list[str]:
    s = schema.pipeline_schema() if kind == "pipeline" else schema.environment_schema()
    return [e.message for e in jsonschema.Draft7Validator(s).iter_errors(doc)]


@pytest.mark.parametrize(
    "make", [schema.pipeline_schema, schema.environment_schema, schema.combined_schema]
)
def test_schemas_are_valid_draft_07(make: Any) -> None:
    s = make()
    assert s["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(s)


@pytest.mark.parametrize(
    ("kind", "text"),
    [("pipeline", PIPELINE), ("environment", ENVIRONMENT), ("environment", EXP_ENVIRONMENT)],
)
def test_valid_documents_pass_both(kind: str, text: str) -> None:
    errors = pipeline_errors(text) if kind == "pipeline" else environment_errors(text)
    assert errors == []
    doc = _plain(text)
    assert _schema_errors(kind, doc) == []
    jsonschema.validate(doc, schema.combined_schema(), cls=jsonschema.Draft7Validator)


def test_combined_schema_dispatches_on_kind_and_ignores_other_kinds() -> None:
    combined = jsonschema.Draft7Validator(schema.combined_schema())
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
    assert list(combined.iter_errors(kustomization)) == []
    broken = _plain(variant(PIPELINE, "port: 8080", "port: 0"))
    assert list(combined.iter_errors(broken))
    env_broken = _plain(variant(ENVIRONMENT, "serve: true", "serve: 1"))
    assert list(combined.iter_errors(env_broken))


BROKEN_PIPELINES: list[tuple[str, str]] = [
    ("kind: Pipeline\n", "kind: Pipeline\nstatus: {}\n"),
    ("reconciler.ml/v1alpha1", "reconciler.ml/v1"),
    ("kind: Pipeline", "kind: Pipelines"),
    ("name: resnet50", "name: ResNet50"),
    ("name: resnet50", "name: " + "r" * 41),
    ("name: evaluate", "name: eval_uate"),
    ("      needs: [train]", "      need: [train]"),
    ("retries: 2", 'retries: "2"'),
    ("retries: 2", "retries: 21"),
    ("workers: 1", "workers: 0"),
    ("runtime: job", "runtime: slurm"),
    ("runtime: deployment", "runtime: knative"),
    ("replicas: 2", "replicas: 0"),
    ("port: 8080", "port: 65536"),
    ('cpu: "16"', "cpu: sixteen"),
    ("memory: 64Gi", "memory: 64GB"),
    ("memory: 64Gi", "memory: 0"),
    ("timeout: 6h", "timeout: 6 hours"),
    ("timeout: 6h", "timeout: 0s"),
    ("env: {LOG_LEVEL: info}", "env: {LOG_LEVEL: info, HF_TOKEN: x}"),
    ("env: {LOG_LEVEL: info}", "env: {LOG_LEVEL: info, wandb_api_key: x}"),
    ("env: {LOG_LEVEL: info}", "env: {LOG_LEVEL: info, RUN_ID: x}"),
    ("env: {LOG_LEVEL: info}", "env: {LOG_LEVEL: info, DATASET_X_URL: x}"),
    ("env: {LOG_LEVEL: info}", "env: {LOG_LEVEL: 3}"),
    ("env: {LOG_LEVEL: info}", "env: {LOG-LEVEL: info}"),
    ("{secret: wandb, key: api-key}", "{secret: wandb}"),
    ("{secret: wandb, key: api-key}", "{secret: Wandb, key: api-key}"),
    ("output: s3://models/resnet50/{run}/", "output: s3://models/{pipeline}/"),
    ("output: s3://models/resnet50/{run}/", "output: models/{run}"),
    ("train: datasets/imagenet-mini.dvc", "train-set: datasets/imagenet-mini.dvc"),
    ("train: datasets/imagenet-mini.dvc", "train: /abs/imagenet.dvc"),
    ("train: datasets/imagenet-mini.dvc", "train: ../imagenet.dvc"),
    ("train: datasets/imagenet-mini.dvc", "train: datasets/imagenet.csv"),
    ("image: registry.example.com/vision/eval:1.0.0", 'image: "a b"'),
    ("image: registry.example.com/vision/eval:1.0.0", 'image: ""'),
    ("metric: accuracy", 'metric: ""'),
    ("min: 0.92", 'min: "0.92"'),
    ("min: 0.92", "min: true"),
    ("targetCPUUtilization: 70", "targetCPUUtilization: 170"),
    ("{host: resnet.example.com}", "{host: Resnet_Example}"),
    ("queue: gpu-queue", "queue: GPU"),
    ("gpuType: nvidia-a100-80gb", "gpuType: nvidia a100"),
    ("gpus: 4", "gpus: -4"),
    ("labels: {team: vision}", 'labels: {team: "vision team"}'),
    ("needs: [train]", "needs: [train, train]"),
    ("command: [python, eval.py]", "command: python eval.py"),
    ("      image: registry.example.com/vision/eval:1.0.0\n", ""),
]


@pytest.mark.parametrize(("old", "new"), BROKEN_PIPELINES)
def test_broken_pipelines_are_rejected_by_both(old: str, new: str) -> None:
    text = variant(PIPELINE, old, new)
    assert pipeline_errors(text), "the validator accepted it"
    assert _schema_errors("pipeline", _plain(text)), "the schema accepted it"


BROKEN_ENVIRONMENTS: list[tuple[str, str, str]] = [
    (EXP_ENVIRONMENT, '"ml-exp-{branch}"', '"ML-exp-{branch}"'),
    (ENVIRONMENT, "namespace: ml-prod", "namespace: " + "m" * 64),
    (ENVIRONMENT, '"experiments/{pipeline}"', '"experiments/{env}"'),
    (ENVIRONMENT, "serve: true", "serve: yes"),
    (ENVIRONMENT, "{context: gpu-east}", "{context: ''}"),
    (ENVIRONMENT, "{context: gpu-east}", "{}"),
    (ENVIRONMENT, "maxGpusPerRun: 8", "maxGpusPerRun: -1"),
    (ENVIRONMENT, "operator: Exists", "operator: Exist"),
    (ENVIRONMENT, "effect: NoSchedule", "effect: NoRun"),
    (ENVIRONMENT, "gpuResource: nvidia.com/gpu", "gpuResource: gpu"),
    (ENVIRONMENT, "{pool: gpu}", "{pool: 'a b'}"),
    (ENVIRONMENT, "metadata: {name: prod}", "metadata: {name: Prod}"),
    (ENVIRONMENT, "  limits: {maxGpusPerRun: 8}\n", "  limits: {maxGpusPerRun: 8}\n  quota: {}\n"),
    (ENVIRONMENT, "  branch: main\n", ""),
    (ENVIRONMENT, "  namespace: ml-prod\n", ""),
]


@pytest.mark.parametrize(("base", "old", "new"), BROKEN_ENVIRONMENTS)
def test_broken_environments_are_rejected_by_both(base: str, old: str, new: str) -> None:
    text = variant(base, old, new)
    assert environment_errors(text), "the validator accepted it"
    assert _schema_errors("environment", _plain(text)), "the schema accepted it"


CROSS_FIELD: list[tuple[str, str, str, str]] = [
    ("pipeline", PIPELINE, "workers: 1", "workers: 4"),
    ("pipeline", PIPELINE, "      output: s3://models/resnet50/{run}/\n", ""),
    ("pipeline", PIPELINE, "needs: [train]", "needs: [trian]"),
    ("environment", ENVIRONMENT, "branch: main", 'branch: "exp/*"'),
    ("environment", ENVIRONMENT, "namespace: ml-prod", 'namespace: "ml-{branch}"'),
    ("environment", EXP_ENVIRONMENT, '"ml-exp-{branch}"', '"ml-exp"'),
]


@pytest.mark.parametrize(("kind", "base", "old", "new"), CROSS_FIELD)
def test_rules_across_fields_are_the_validators_alone(
    kind: str, base: str, old: str, new: str
) -> None:
    text = variant(base, old, new)
    errors = pipeline_errors(text) if kind == "pipeline" else environment_errors(text)
    assert len(errors) == 1, errors
    assert _schema_errors(kind, _plain(text)) == []


def test_messages_come_from_the_schema() -> None:
    """The schema carries the words users read (``x-messages``), for each failing keyword."""
    s = schema.pipeline_schema()
    name = s["properties"]["metadata"]["properties"]["name"]
    assert "DNS-1035" in name["x-messages"]["pattern"]
    text = variant(PIPELINE, "name: resnet50", "name: Res")
    assert pipeline_errors(text) == [
        "pipelines/resnet50.yaml:4:3: metadata.name: "
        + name["x-messages"]["pattern"].replace("{value}", "'Res'")
    ]


def _example_files() -> list[Path]:
    files = sorted((REPO / "pipelines").glob("*.yaml"))
    files += sorted((REPO / "overlays").glob("*/environment.yaml"))
    return [f for f in files if not f.name.startswith("kustomization.")]


@pytest.mark.skipif(not _example_files(), reason="no example repository in this tree")
@pytest.mark.parametrize("path", _example_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_example_repository_specs_pass_both(path: Path) -> None:
    rel = path.relative_to(REPO).as_posix()
    doc = loading.load_document(path.read_bytes(), path=rel)
    if doc.get("kind") == "Pipeline":
        validation.parse_pipeline(doc, path=rel, sha256="")
    else:
        validation.parse_environment(doc, path=rel)
    plain = json.loads(json.dumps(doc))
    jsonschema.validate(plain, schema.combined_schema(), cls=jsonschema.Draft7Validator)


@pytest.mark.parametrize(
    ("kind", "make"),
    [
        ("pipeline", schema.pipeline_schema),
        ("environment", schema.environment_schema),
        ("all", schema.combined_schema),
    ],
)
def test_cli_prints_the_schema(kind: str, make: Any) -> None:
    result = CliRunner().invoke(command, ["--kind", kind])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == make()


def test_cli_defaults_to_the_combined_schema() -> None:
    result = CliRunner().invoke(command, [])
    assert result.exit_code == 0
    assert json.loads(result.output)["title"] == "reconciler Pipeline and Environment"
