"""Checks across pipelines: duplicate names and GPUs over an environment's limit."""

from __future__ import annotations

from reconciler.specs import loading, validation
from tests.specs.samples import ENV_PATH, PIPELINE, environment, load, pipeline, variant


def test_duplicate_pipeline_names() -> None:
    a = pipeline(PIPELINE, "pipelines/a.yaml")
    b = pipeline(PIPELINE, "pipelines/b.yaml")
    errors = validation.check_pipeline_set(
        [a, b], locators={"pipelines/b.yaml": loading.Locator.of(load(PIPELINE))}
    )
    assert [str(e) for e in errors] == [
        "pipelines/b.yaml:4:3: metadata.name: duplicate pipeline name 'resnet50' "
        "(also pipelines/a.yaml)"
    ]
    assert validation.check_pipeline_set([a]) == []


def test_gpus_over_the_environment_limit_count_workers() -> None:
    text = variant(PIPELINE, "workers: 1", "workers: 4")
    text = variant(text, "runtime: job", "runtime: kubeflow")
    p = pipeline(text)
    env = environment()  # maxGpusPerRun: 8; the step asks 4 GPUs x 4 workers
    errors = validation.check_pipeline_set([p], env)
    assert [str(e) for e in errors] == [
        "pipelines/resnet50.yaml:0:0: spec.steps[1].resources.gpus: step 'train' uses 16 GPUs "
        f"(4 x 4 workers), over limits.maxGpusPerRun 8 of environment 'prod' ({ENV_PATH})"
    ]
    located = validation.check_pipeline_set(
        [p], env, locators={p.path: loading.Locator.of(load(text))}
    )
    assert located[0].line == 21 and located[0].column == 19
    assert validation.check_pipeline_set([pipeline()], env) == []
    assert validation.check_pipeline_set([p]) == []
