"""Rendered objects follow the operators' own rules (see ``rules.py``) and our contract.

Beyond what the operators accept, the objects must do what a pipeline means: a step's
``retries`` is the restart budget the operator enforces, ``queue`` reaches Kueue, a
distributed step is gang scheduled, and every pod meets Pod Security "restricted".
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.structs import labels
from tests.render.operators import rules
from tests.render.operators.conftest import ROOT, render_target


def objects_of(rendered: list[tuple[str, dict[str, Any]]], kind: str) -> list[tuple[str, Any]]:
    return [(w, o) for w, o in rendered if o["kind"] == kind]


def test_pytorchjobs_follow_the_training_operator_rules(
    rendered: list[tuple[str, dict[str, Any]]],
) -> None:
    jobs = objects_of(rendered, "PyTorchJob")
    assert jobs
    problems = [f"{w}: {e}" for w, o in jobs for e in rules.pytorchjob_errors(o)]
    assert problems == []


def test_pytorchjob_rules_catch_what_the_operator_refuses(
    rendered: list[tuple[str, dict[str, Any]]],
) -> None:
    _, good = objects_of(rendered, "PyTorchJob")[0]
    bad = json.loads(json.dumps(good))
    bad["metadata"]["name"] = "9-train"
    master = bad["spec"]["pytorchReplicaSpecs"]["Master"]
    master["replicas"] = 2
    master["restartPolicy"] = "Never"
    master["template"]["spec"]["containers"][0]["name"] = "step"
    assert rules.pytorchjob_errors(bad) == [
        "metadata.name '9-train' is not a DNS-1035 label",
        "spec.pytorchReplicaSpecs.Master: must have at least one container with name pytorch",
        "spec.pytorchReplicaSpecs.Master.replicas: must be 1",
        "spec.pytorchReplicaSpecs.Master.restartPolicy: backoffLimit ignored for Never",
    ]


def test_pytorchjob_restarts_are_the_steps_retries_and_workers_are_gang_scheduled() -> None:
    from reconciler import engine

    prepared = engine.prepare_target(ROOT, "prod", branch=None)
    plan = prepared.run_specs["resnet50"]
    train = plan.pipeline.step("train")
    (obj,) = [
        o
        for o in render_target("prod", None)
        if o["kind"] == "PyTorchJob" and o["metadata"]["name"] == plan.object_name("train")
    ]
    spec = obj["spec"]
    assert spec["runPolicy"]["backoffLimit"] == train.retries == 3
    assert spec["runPolicy"]["activeDeadlineSeconds"] == train.timeout_seconds
    replicas = spec["pytorchReplicaSpecs"]
    assert {r["restartPolicy"] for r in replicas.values()} == {"OnFailure"}
    assert {r["template"]["spec"]["restartPolicy"] for r in replicas.values()} == {"OnFailure"}
    assert replicas["Master"]["replicas"] + replicas["Worker"]["replicas"] == train.workers == 4
    assert spec["runPolicy"]["schedulingPolicy"] == {"minAvailable": train.workers}
    assert spec["runPolicy"]["cleanPodPolicy"] == "None"
    if train.queue:
        assert obj["metadata"]["labels"][labels.QUEUE_NAME] == train.queue
        for r in replicas.values():
            assert labels.QUEUE_NAME not in r["template"]["metadata"]["labels"]
