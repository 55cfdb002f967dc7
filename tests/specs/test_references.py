"""``$(NAME)`` in a step's command and args must name an env var the step gets.

Kubernetes expands ``$(NAME)`` only from the container's own env and passes any other on
as written, so ``validate`` refuses it, naming the field and, for artifact locations, why
the step lacks it.
"""

from __future__ import annotations

import dataclasses

from reconciler.specs import rules
from tests.specs.samples import PIPELINE, environment, pipeline, variant

WITH_ROOT = dataclasses.replace(environment(), artifact_root="s3://ml-artifacts/prod")


def errors(text: str, env: object = WITH_ROOT) -> list[tuple[str, str]]:
    found = rules.check_pipeline_set([pipeline(text)], env)  # type: ignore[arg-type]
    return [(e.field, e.message) for e in found]


def test_the_variables_a_step_gets_are_accepted() -> None:
    text = variant(
        PIPELINE,
        "      args: []",
        "      args: [--features, $(ARTIFACTS_URI_FEATURES), --ckpt, $(CHECKPOINT_URI), "
        "--data, $(DATASET_TRAIN_URL), --rev, $(DATASET_TRAIN_REV), $(LOG_LEVEL), "
        "$(WANDB_API_KEY), $(RUN_ID), $(HOME), '$$(NOT_EXPANDED)']",
    )
    assert errors(text) == []


def test_unknown_and_missing_variables_are_refused() -> None:
    text = variant(
        PIPELINE,
        "      args: []",
        "      args: [--eval, $(ARTIFACTS_URI_EVALUATE), $(DATASET_TRAIN_PATH), $(TYPO)]",
    )
    assert errors(text) == [
        (
            "spec.steps[1].args[1]",
            "$(ARTIFACTS_URI_EVALUATE) is not an env var of step 'train' (step 'train' needs "
            "no such step): Kubernetes would pass it on as written",
        ),
        (
            "spec.steps[1].args[2]",
            "$(DATASET_TRAIN_PATH) is not an env var of step 'train': Kubernetes would pass it "
            "on as written",
        ),
        (
            "spec.steps[1].args[3]",
            "$(TYPO) is not an env var of step 'train': Kubernetes would pass it on as written",
        ),
    ]
    no_root = variant(PIPELINE, "      args: []", "      args: [$(CHECKPOINT_URI)]")
    assert errors(no_root, environment()) == [
        (
            "spec.steps[1].args[0]",
            "$(CHECKPOINT_URI) is not an env var of step 'train' (environment 'prod' has no "
            "artifactRoot): Kubernetes would pass it on as written",
        )
    ]


def test_dataset_names_whose_variables_clash_are_refused() -> None:
    from tests.specs.samples import pipeline_errors

    text = variant(
        PIPELINE,
        "datasets: {train: datasets/imagenet-mini.dvc}",
        "datasets: {train: datasets/imagenet-mini.dvc, train_dvc: datasets/other.dvc}",
    )
    (error,) = pipeline_errors(text)
    assert error.endswith(
        "spec.datasets.train_dvc: dataset name 'train_dvc' clashes with 'train': both would "
        "set DATASET_TRAIN_DVC_PATH"
    )


def test_serve_env_references_are_checked_in_the_serving_containers_order() -> None:
    text = variant(
        PIPELINE,
        "    runtime: deployment\n",
        "    runtime: deployment\n"
        "    env: {A_URI: $(MODEL_URI), B: $(RUN_ID)-$(A_URI)-$(FRAUD_SERVICE_HOST),\n"
        "          C: $(MODEL_URl), D: $(TOKEN), E: $(F)}\n"
        "    secretEnv: {TOKEN: {secret: serve, key: token}}\n",
    )
    later = (
        "(it comes after it: the serving container gets MODEL_URI, RUN_ID, PIPELINE, then "
        "serve.env by name, then serve.secretEnv)"
    )
    assert errors(text) == [
        (
            "spec.serve.env.C",
            "$(MODEL_URl) is not an env var of the serving container: Kubernetes would pass "
            "it on as written",
        ),
        (
            "spec.serve.env.D",
            f"$(TOKEN) is not an env var of the serving container before D {later}: "
            "Kubernetes would pass it on as written",
        ),
        (
            "spec.serve.env.E",
            "$(F) is not an env var of the serving container: Kubernetes would pass it on "
            "as written",
        ),
    ]


def test_step_env_references_are_checked_in_the_steps_order() -> None:
    text = variant(
        PIPELINE,
        "      env: {LOG_LEVEL: info}",
        "      env: {LOG_LEVEL: info, A_OUT: $(MODEL_OUTPUT)/$(RUN_ID), B: $(A_OUT)/$(STEP),\n"
        "            C: $(RUN_lD), D: $(WANDB_API_KEY)}",
    )
    assert errors(text) == [
        (
            "spec.steps[1].env.C",
            "$(RUN_lD) is not an env var of step 'train': Kubernetes would pass it on as written",
        ),
        (
            "spec.steps[1].env.D",
            "$(WANDB_API_KEY) is not an env var of step 'train' before D (it comes after it: a "
            "step gets the reconciler's variables, then env by name, then DATASET_*_PATH, then "
            "secretEnv): Kubernetes would pass it on as written",
        ),
    ]
