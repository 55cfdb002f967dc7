"""Pipeline validation: the model of a valid spec, and one exact error line per error class."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import json

import pytest

from reconciler.specs import loading, validation
from reconciler.structs.errors import SpecErrors
from tests.specs.samples import PIPELINE, PIPELINE_PATH, load, pipeline, pipeline_errors, variant

P = PIPELINE_PATH


def test_valid_pipeline_gives_the_model() -> None:
    p = pipeline()
    assert p.name == "resnet50"
    assert p.path == P
    assert p.labels == (("team", "vision"),)
    assert p.datasets == (("train", "datasets/imagenet-mini.dvc"),)
    assert p.params == (("epochs", 10), ("lr", 0.01), ("seed", 42))
    assert [s.name for s in p.steps] == ["features", "train", "evaluate"]
    train = p.step("train")
    assert train.needs == ("features",)
    assert train.env == (("LOG_LEVEL", "info"),)
    assert train.secret_env[0][0] == "WANDB_API_KEY"
    assert train.secret_env[0][1].secret == "wandb"
    assert train.secret_env[0][1].key == "api-key"
    assert train.resources.gpus == 4
    assert train.resources.gpu_type == "nvidia-a100-80gb"
    assert train.resources.cpu == "16"
    assert train.resources.memory == "64Gi"
    assert train.timeout_seconds == 6 * 3600
    assert train.retries == 2
    assert train.queue == "gpu-queue"
    assert p.output_step.name == "train"
    assert p.output_step.output == "s3://models/resnet50/{run}/"
    assert p.promote is not None and p.promote.metric == "accuracy" and p.promote.min == 0.92
    assert p.serve is not None
    assert p.serve.replicas == 2 and p.serve.port == 8080 and p.serve.ingress_host
    assert p.serve.autoscale is not None and p.serve.autoscale.max_replicas == 8
    assert p.serve.resources.gpus == 1


def test_defaults_of_optional_fields() -> None:
    text = """\
apiVersion: reconciler.ml/v1alpha1
kind: Pipeline
metadata: {name: tiny}
spec:
  steps:
    - {name: only, image: busybox, output: "file:///tmp/model"}
"""
    p = pipeline(text)
    s = p.steps[0]
    assert (s.workers, s.runtime, s.retries, s.timeout_seconds, s.queue) == (
        1,
        "job",
        0,
        None,
        None,
    )
    assert p.serve is None and p.promote is None and p.params == () and p.datasets == ()


def test_raw_is_the_plain_document() -> None:
    p = pipeline()
    assert type(p.raw) is dict
    assert p.raw["spec"]["steps"][1]["resources"]["gpus"] == 4
    assert type(p.raw["spec"]["steps"]) is list
    assert json.loads(json.dumps(p.raw)) == p.raw


def test_plain_dicts_are_accepted_and_located_through_the_source() -> None:
    """Kustomize output has no positions: the source file's Locator points at the line."""
    source = load(PIPELINE)
    patched = json.loads(json.dumps(loading.load_document(PIPELINE.encode(), path=P)))
    patched["metadata"]["namespace"] = "ml-prod"  # kustomize's namespace: is ignored
    patched["spec"]["steps"][1]["retries"] = 99
    with pytest.raises(SpecErrors) as e:
        validation.parse_pipeline(patched, path=P, sha256="x", locator=loading.Locator.of(source))
    assert [str(x) for x in e.value.errors] == [
        f"{P}:25:7: spec.steps[1].retries: 99 is out of range 0..20"
    ]
    patched["spec"]["steps"][1]["retries"] = 2
    without = validation.parse_pipeline(patched, path=P, sha256="x")
    assert without.name == "resnet50"


def test_errors_without_positions_are_at_0_0() -> None:
    doc = json.loads(json.dumps(load(PIPELINE)))
    doc["spec"]["serve"]["port"] = 0
    with pytest.raises(SpecErrors) as e:
        validation.parse_pipeline(doc, path=P, sha256="x")
    assert [str(x) for x in e.value.errors] == [
        f"{P}:0:0: spec.serve.port: 0 is out of range 1..65535"
    ]


def test_every_error_is_reported_at_once() -> None:
    text = variant(PIPELINE, "retries: 2", "retries: -1")
    text = variant(text, "port: 8080", "port: 0")
    text = variant(text, "needs: [train]", "needs: [nope]")
    assert len(pipeline_errors(text)) == 3


CASES: list[tuple[str, str, str, list[str]]] = [
    (
        "wrong type: string for an integer",
        "retries: 2",
        'retries: "2"',
        [f"{P}:25:7: spec.steps[1].retries: must be an integer, not string"],
    ),
    (
        "wrong type: word for an integer",
        "replicas: 2",
        "replicas: two",
        [f"{P}:35:5: spec.serve.replicas: must be an integer, not string"],
    ),
    (
        "wrong type: mapping for a list",
        "  steps:\n    - name: features",
        "  steps: {}\n  stepz:\n    - name: features",
        [
            f"{P}:9:3: spec.steps: must be a list, not mapping",
            f"{P}:10:3: spec.stepz: unknown field 'stepz'; did you mean 'steps'?",
        ],
    ),
    (
        "unknown field with a suggestion",
        "      needs: [train]",
        "      need: [train]",
        [f"{P}:29:7: spec.steps[2].need: unknown field 'need'; did you mean 'needs'?"],
    ),
    (
        "unknown top-level field",
        "kind: Pipeline\n",
        "kind: Pipeline\nstatus: {}\n",
        [f"{P}:3:1: status: unknown field 'status'; allowed: apiVersion, kind, metadata, spec"],
    ),
    (
        "apiVersion",
        "reconciler.ml/v1alpha1",
        "reconciler.ml/v1",
        [f"{P}:1:1: apiVersion: must be reconciler.ml/v1alpha1, not 'reconciler.ml/v1'"],
    ),
    (
        "kind",
        "kind: Pipeline",
        "kind: Environment",
        [f"{P}:2:1: kind: must be Pipeline, not 'Environment'"],
    ),
    (
        "name not a DNS label",
        "name: resnet50",
        "name: ResNet_50",
        [
            f"{P}:4:3: metadata.name: 'ResNet_50' is not a DNS-1035 label (lowercase letters, "
            "digits and '-', starting with a letter: it names the serving Service)"
        ],
    ),
    (
        "name starting with a digit",
        "name: resnet50",
        "name: 50resnet",
        [
            f"{P}:4:3: metadata.name: '50resnet' is not a DNS-1035 label (lowercase letters, "
            "digits and '-', starting with a letter: it names the serving Service)"
        ],
    ),
    (
        "name over 40 characters",
        "name: resnet50",
        "name: " + "r" * 41,
        [f"{P}:4:3: metadata.name: '{'r' * 41}' is 41 characters, over the limit of 40"],
    ),
    (
        "label value",
        "labels: {team: vision}",
        'labels: {team: "vision team"}',
        [
            f"{P}:5:12: metadata.labels.team: 'vision team' is not a valid label value "
            "(<= 63 of [-A-Za-z0-9_.])"
        ],
    ),
    (
        "step name not a DNS label",
        "name: evaluate",
        "name: Evaluate",
        [
            f"{P}:28:7: spec.steps[2].name: 'Evaluate' is not a DNS-1123 label "
            "(lowercase letters, digits, '-')"
        ],
    ),
    (
        "step name over the object-name budget",
        "name: evaluate",
        "name: " + "e" * 43,
        [
            f"{P}:28:7: spec.steps[2].name: step name '{'e' * 43}' is too long: pipeline name "
            "(8) + step name (43) must be at most 50 characters "
            "('<pipeline>-<run>-<attempt>-<step>' must fit in 63 characters)"
        ],
    ),
    (
        "unknown step in needs",
        "needs: [train]",
        "needs: [trian]",
        [
            f"{P}:29:15: spec.steps[2].needs[0]: unknown step 'trian' "
            "(steps: features, train, evaluate)"
        ],
    ),
    (
        "cycle in needs",
        "needs: [features]",
        "needs: [evaluate]",
        [f"{P}:15:7: spec.steps[1].needs: cycle in needs: train -> evaluate -> train"],
    ),
    (
        "a step needing itself",
        "needs: [train]",
        "needs: [evaluate]",
        [f"{P}:29:7: spec.steps[2].needs: step 'evaluate' needs itself"],
    ),
    (
        "duplicate step names",
        "name: evaluate",
        "name: features",
        [f"{P}:28:7: spec.steps[2].name: duplicate step name 'features' (also spec.steps[0])"],
    ),
    (
        "no output step",
        "      output: s3://models/resnet50/{run}/\n",
        "",
        [f"{P}:9:3: spec.steps: no step has output: exactly one step must write the model"],
    ),
    (
        "two output steps",
        "      command: [python, eval.py]\n",
        "      command: [python, eval.py]\n      output: s3://m/{run}\n",
        [
            f"{P}:32:7: spec.steps[2].output: only one step may have output "
            "(step 'train' already has it)"
        ],
    ),
    (
        "a secret literal in env",
        "env: {LOG_LEVEL: info}",
        "env: {LOG_LEVEL: info, HF_TOKEN: hf_abcdef}",
        [
            f"{P}:19:30: spec.steps[1].env.HF_TOKEN: looks like a secret: use secretEnv: "
            "{HF_TOKEN: {secret: ..., key: ...}}"
        ],
    ),
    (
        "a reserved env name",
        "env: {LOG_LEVEL: info}",
        "env: {LOG_LEVEL: info, RUN_ID: x}",
        [
            f"{P}:19:30: spec.steps[1].env.RUN_ID: RUN_ID is set by the reconciler "
            "(reserved: RUN_ID, STEP, PARAMS_JSON, MODEL_OUTPUT, CHECKPOINT_URI, DVC_REPO_URL, DATASET_*, "
            "ARTIFACTS_URI*)"
        ],
    ),
    (
        "env value not a string",
        "env: {LOG_LEVEL: info}",
        "env: {LOG_LEVEL: 3}",
        [
            f"{P}:19:13: spec.steps[1].env.LOG_LEVEL: must be a string, not integer "
            "(quote numbers and booleans)"
        ],
    ),
    (
        "secretEnv without a key",
        "{secret: wandb, key: api-key}",
        "{secret: wandb}",
        [f"{P}:20:19: spec.steps[1].secretEnv.WANDB_API_KEY.key: required field is missing"],
    ),
    (
        "cpu not a quantity",
        'cpu: "16"',
        "cpu: sixteen",
        [
            f"{P}:21:55: spec.steps[1].resources.cpu: not a positive Kubernetes quantity: "
            "'sixteen'; e.g. 500m, 2, 16Gi"
        ],
    ),
    (
        "memory not a quantity",
        "memory: 64Gi",
        "memory: 64GB",
        [
            f"{P}:21:66: spec.steps[1].resources.memory: not a positive Kubernetes quantity: "
            "'64GB' (write Gi or G, without B); e.g. 500m, 2, 16Gi"
        ],
    ),
    (
        "timeout not a duration",
        "timeout: 6h",
        "timeout: 6 hours",
        [
            f"{P}:26:7: spec.steps[1].timeout: '6 hours' is not a duration such as "
            "30m, 6h, 1h30m or 90s"
        ],
    ),
    (
        "timeout as a bare number",
        "timeout: 6h",
        "timeout: 3600",
        [
            f"{P}:26:7: spec.steps[1].timeout: must be a duration such as 30m, 6h, 1h30m "
            "or 90s, not integer"
        ],
    ),
    (
        "retries out of range",
        "retries: 2",
        "retries: 99",
        [f"{P}:25:7: spec.steps[1].retries: 99 is out of range 0..20"],
    ),
    (
        "workers out of range",
        "workers: 1",
        "workers: 0",
        [f"{P}:22:7: spec.steps[1].workers: 0 is out of range 1..256"],
    ),
    (
        "replicas out of range",
        "replicas: 2",
        "replicas: 1000",
        [f"{P}:35:5: spec.serve.replicas: 1000 is out of range 1..100"],
    ),
    (
        "port out of range",
        "port: 8080",
        "port: 70000",
        [f"{P}:37:5: spec.serve.port: 70000 is out of range 1..65535"],
    ),
    (
        "step runtime not in the enum",
        "runtime: job",
        "runtime: slurm",
        [f"{P}:23:7: spec.steps[1].runtime: 'slurm' is not one of: job, kubeflow, trainjob"],
    ),
    (
        "serve runtime not in the enum",
        "runtime: deployment",
        "runtime: knative",
        [f"{P}:40:5: spec.serve.runtime: 'knative' is not one of: deployment, kserve"],
    ),
    (
        "workers > 1 without kubeflow",
        "workers: 1",
        "workers: 4",
        [
            f"{P}:22:7: spec.steps[1].workers: workers: 4 needs runtime: kubeflow or "
            "trainjob (a Job has one worker)"
        ],
    ),
    (
        "autoscale minReplicas > maxReplicas",
        "minReplicas: 1, maxReplicas: 8",
        "minReplicas: 9, maxReplicas: 8",
        [
            f"{P}:38:17: spec.serve.autoscale.minReplicas: minReplicas (9) is greater than "
            "maxReplicas (8)"
        ],
    ),
    (
        "promote metric empty",
        "metric: accuracy",
        'metric: ""',
        [f"{P}:32:13: spec.promote.metric: must not be empty"],
    ),
    (
        "promote min not a number",
        "min: 0.92",
        'min: "0.92"',
        [f"{P}:32:31: spec.promote.min: must be a number, not string"],
    ),
    (
        "dataset name",
        "train: datasets/imagenet-mini.dvc",
        "train-set: datasets/imagenet-mini.dvc",
        [
            f"{P}:7:14: spec.datasets.train-set: dataset name 'train-set' must match "
            "[a-z0-9_]+ (it becomes DATASET_<NAME>_URL)"
        ],
    ),
    (
        "dataset path outside the repository",
        "train: datasets/imagenet-mini.dvc",
        "train: ../imagenet.dvc",
        [
            f"{P}:7:14: spec.datasets.train: '../imagenet.dvc' must be a relative path inside "
            "the repository ending in .dvc (e.g. datasets/train.dvc)"
        ],
    ),
    (
        "dataset path not a .dvc pointer",
        "train: datasets/imagenet-mini.dvc",
        "train: datasets/imagenet-mini",
        [
            f"{P}:7:14: spec.datasets.train: 'datasets/imagenet-mini' must be a relative path "
            "inside the repository ending in .dvc (e.g. datasets/train.dvc)"
        ],
    ),
    (
        "image with whitespace",
        "image: registry.example.com/vision/eval:1.0.0",
        'image: "registry.example.com/vision/eval: 1.0.0"',
        [
            f"{P}:30:7: spec.steps[2].image: 'registry.example.com/vision/eval: 1.0.0' is not "
            "a valid image reference (no whitespace)"
        ],
    ),
    (
        "image empty",
        "image: registry.example.com/vision/eval:1.0.0",
        'image: ""',
        [f"{P}:30:7: spec.steps[2].image: must not be empty"],
    ),
    (
        "params value not JSON (a YAML date)",
        "seed: 42}",
        "seed: 42, start: 2024-01-01}",
        [
            f"{P}:8:44: spec.params.start: must be a JSON value (string, number, boolean, "
            "null, list, map), not date (quote it)"
        ],
    ),
    (
        "params value nan",
        "lr: 0.01",
        "lr: .nan",
        [f"{P}:8:12: spec.params.lr: must be a finite number (JSON has no inf or nan)"],
    ),
    (
        "output with another placeholder",
        "output: s3://models/resnet50/{run}/",
        "output: s3://models/{pipeline}/{run}/",
        [
            f"{P}:27:7: spec.steps[1].output: 's3://models/{{pipeline}}/{{run}}/': the only "
            "placeholder is {run}"
        ],
    ),
    (
        "output not a URI",
        "output: s3://models/resnet50/{run}/",
        "output: models/{run}",
        [
            f"{P}:27:7: spec.steps[1].output: 'models/{{run}}' is not a URI such as "
            "s3://bucket/models/{run}/ (scheme://...)"
        ],
    ),
    (
        "command item not a string",
        "command: [python, eval.py]",
        "command: [python, 3]",
        [f"{P}:31:25: spec.steps[2].command[1]: must be a string, not integer (quote it)"],
    ),
    (
        "integer keys",
        "seed: 42}",
        "seed: 42, 7: x}",
        [f"{P}:8:3: spec.params: key 7 must be a string, not integer (quote it)"],
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_error_line(old: str, new: str, expected: list[str]) -> None:
    assert pipeline_errors(variant(PIPELINE, old, new)) == expected


def test_secret_values_are_never_printed() -> None:
    text = variant(PIPELINE, "env: {LOG_LEVEL: info}", "env: {DB_PASSWORD: hunter2, X: 12345}")
    out = "\n".join(pipeline_errors(text))
    assert "DB_PASSWORD" in out and "hunter2" not in out and "12345" not in out


def test_kubeflow_steps_keep_room_for_replica_names() -> None:
    name = "t" * 41  # 8 + 41 = 49 <= 50, but kubeflow's "-worker-2" leaves 41
    text = variant(PIPELINE, "name: train\n", f"name: {name}\n")
    text = variant(text, "needs: [train]", f"needs: [{name}]")
    assert pipeline_errors(text) == []
    text = variant(text, "workers: 1", "workers: 4")
    text = variant(text, "runtime: job", "runtime: kubeflow")
    errors = pipeline_errors(text)
    assert len(errors) == 1
    assert f"{P}:14:7: spec.steps[1].name: step name '{name}' is too long" in errors[0]
    assert "at most 41 characters" in errors[0]


def test_empty_file_and_non_mapping() -> None:
    assert pipeline_errors("") == [f"{P}:0:0: the file is empty: expected a Pipeline"]
    assert pipeline_errors("- a\n- b\n") == [f"{P}:1:1: must be a mapping, not list"]


def test_missing_required_fields_point_at_the_parent() -> None:
    text = variant(PIPELINE, "      image: registry.example.com/vision/eval:1.0.0\n", "")
    assert pipeline_errors(text) == [f"{P}:28:7: spec.steps[2].image: required field is missing"]
    text = "apiVersion: reconciler.ml/v1alpha1\nkind: Pipeline\nmetadata: {}\n"
    assert pipeline_errors(text) == [
        f"{P}:1:1: spec: required field is missing",
        f"{P}:3:1: metadata.name: required field is missing",
    ]


def test_dataset_names_clash_ignoring_case() -> None:
    text = variant(PIPELINE, "{train: datasets/imagenet-mini.dvc}", "{train: a.dvc, TRAIN: b.dvc}")
    assert pipeline_errors(text) == [
        f"{P}:7:28: spec.datasets.TRAIN: dataset name 'TRAIN' clashes with 'train' "
        "(names ignore case)"
    ]


def test_nested_params_are_kept() -> None:
    text = variant(PIPELINE, "seed: 42}", "seed: 42, sched: {kind: cosine, steps: [1, 2.5, null]}}")
    p = pipeline(text)
    assert dict(p.params)["sched"] == {"kind": "cosine", "steps": [1, 2.5, None]}


def test_a_final_newline_does_not_pass_a_pattern() -> None:
    """Patterns are read as ECMA-262 does: ``$`` is the end, never before a final newline."""
    text = variant(PIPELINE, "name: resnet50", 'name: "resnet50\\n"')
    assert pipeline_errors(text) == [
        f"{P}:4:3: metadata.name: 'resnet50\\n' is not a DNS-1035 label (lowercase letters, "
        "digits and '-', starting with a letter: it names the serving Service)"
    ]


def test_a_document_parsed_before_gives_the_same_model_and_a_changed_one_a_new_one() -> None:
    plain = json.loads(json.dumps(load(PIPELINE)))  # Kustomize output is plain data
    valid: dict[str, object] = {}
    first = validation.parse_pipeline(plain, path=P, sha256="a", valid=valid)
    again = validation.parse_pipeline(
        json.loads(json.dumps(plain)), path=P, sha256="a", valid=valid
    )
    assert again is first
    assert validation.parse_pipeline(plain, path=P, sha256="b", valid=valid).spec_sha256 == "b"
    plain["spec"]["params"]["seed"] = 43
    changed = validation.parse_pipeline(plain, path=P, sha256="a", valid=valid)
    assert changed is not first and dict(changed.params)["seed"] == 43
    # Without a validity table nothing is remembered: each parse is its own model.
    assert validation.parse_pipeline(plain, path=P, sha256="a") is not changed


def test_a_known_valid_plain_document_gives_the_model_it_gave_when_checked() -> None:
    """``plain=True``: a document known valid is not converted again, and its model is the
    one a full check gives (another process: the validity table from disk, no model memo)."""
    doc = json.loads(json.dumps(load(PIPELINE)))
    valid: dict[str, object] = {}
    checked = validation.parse_pipeline(copy.deepcopy(doc), path=P, sha256="c", valid=valid)
    assert valid  # now known valid
    fresh = copy.deepcopy(doc)  # another file's bytes: no model of this process to reuse
    known = validation.parse_pipeline(fresh, path=P, sha256="d", valid=dict(valid), plain=True)
    assert known is not checked and known == dataclasses.replace(checked, spec_sha256="d")
    assert known.raw is fresh  # handed over, not copied


@pytest.mark.parametrize(
    ("remembered", "other"),
    [
        (None, float("nan")),  # orjson writes NaN as null: the key must not
        (None, float("inf")),
        ("2024-01-01", datetime.date(2024, 1, 1)),  # orjson writes a date as its text
        (1, True),
        (1, 1.0),
        ("1e-05", 1e-05),
    ],
)
def test_a_value_that_encodes_like_a_remembered_one_is_still_checked(
    remembered: object, other: object
) -> None:
    """The validity key tells apart every value JSON holds and refuses what it cannot hold:
    a document with ``.nan`` or a YAML date is checked, never taken for a valid one whose
    fast encoding would have been the same."""
    plain = json.loads(json.dumps(load(PIPELINE)))
    valid: dict[str, object] = {}
    plain["spec"]["params"]["x"] = remembered
    validation.parse_pipeline(copy.deepcopy(plain), path=P, sha256="a", valid=valid)
    assert len(valid) == 1
    plain["spec"]["params"]["x"] = other
    try:
        model = validation.parse_pipeline(plain, path=P, sha256="a", valid=valid)
    except SpecErrors:
        assert isinstance(other, float | datetime.date)  # not JSON: checked and refused
        assert len(valid) == 1
    else:
        assert dict(model.params)["x"] == other and type(dict(model.params)["x"]) is type(other)
        assert len(valid) == 2  # a valid document of its own, remembered by its own key
