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


def shipped_runtime() -> dict[str, Any]:
    import yaml

    path = ROOT / "reconciler" / "crds" / "runtimes" / "reconciler-torch.yaml"
    runtime: dict[str, Any] = yaml.safe_load(path.read_text())
    return runtime


def test_every_generated_pod_meets_pod_security_restricted(
    rendered: list[tuple[str, dict[str, Any]]],
) -> None:
    runtime = shipped_runtime()
    problems = []
    kinds = set()
    for where, obj in rendered:
        for pod in rules.pod_specs(obj, runtime):
            kinds.add(obj["kind"])
            problems += [f"{where}: {e}" for e in rules.pod_security_errors(pod)]
    assert problems == []
    assert {"Job", "PyTorchJob", "TrainJob", "Deployment", "InferenceService"} <= kinds


def test_a_trainjob_is_restricted_even_on_a_runtime_that_is_not(
    rendered: list[tuple[str, dict[str, Any]]],
) -> None:
    """The runtime patch alone brings the security contexts and /tmp (any runtime)."""
    trainjobs = objects_of(rendered, "TrainJob")
    assert trainjobs
    for where, obj in trainjobs:
        assert rules.pod_security_errors(rules.trainjob_pod(obj, None)) == [], where


def test_trainjobs_follow_the_trainer_rules(rendered: list[tuple[str, dict[str, Any]]]) -> None:
    runtime = shipped_runtime()
    problems = []
    for where, obj in objects_of(rendered, "TrainJob"):
        ref = obj["spec"]["runtimeRef"]["name"]
        target = runtime if ref == runtime["metadata"]["name"] else {
            **runtime, "metadata": {"name": ref}
        }  # fmt: skip
        problems += [f"{where}: {e}" for e in rules.trainjob_errors(obj, target)]
    assert problems == []


def test_trainer_rules_catch_what_the_webhook_refuses(
    rendered: list[tuple[str, dict[str, Any]]],
) -> None:
    _, good = objects_of(rendered, "TrainJob")[0]
    bad = json.loads(json.dumps(good))
    patch = bad["spec"]["runtimePatches"][0]
    patch["manager"] = "reconciler"
    node = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]
    node["template"]["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A"}]
    node["template"]["spec"]["template"]["spec"]["containers"].append({"name": "sidecar"})
    assert rules.trainjob_errors(bad, shipped_runtime()) == [
        "spec.runtimePatches[0].manager: must be a domain-prefixed path",
        "spec.runtimePatches[0]: must not have envs for the node container",
        "spec.runtimePatches[0]: container sidecar not in runtime job node",
    ]


def test_a_trainjob_carries_the_step(rendered: list[tuple[str, dict[str, Any]]]) -> None:
    from reconciler import engine
    from reconciler.render import steps
    from tests.render.operators.conftest import STEP_VARIANTS, step_variant

    pipeline, step, fields = STEP_VARIANTS["trainjob on 2 nodes"]
    plan = engine.prepare_target(ROOT, "prod", branch=None).run_specs[pipeline]
    plan = step_variant(plan, step, **fields)
    s = plan.pipeline.step(step)
    obj = steps.step_object(plan, s)
    spec = obj["spec"]
    assert obj["metadata"]["name"] == plan.object_name(step)
    assert obj["metadata"]["labels"][labels.QUEUE_NAME] == s.queue
    assert spec["runtimeRef"] == {
        "apiGroup": "trainer.kubeflow.org",
        "kind": "ClusterTrainingRuntime",
        "name": "reconciler-torch",
    }
    assert spec["trainer"]["numNodes"] == s.workers == 2
    assert spec["trainer"]["image"] == s.image
    assert spec["activeDeadlineSeconds"] == s.timeout_seconds
    env = {e["name"]: e for e in spec["trainer"]["env"]}
    assert env["RUN_ID"]["value"] == plan.run_id
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "huggingface", "key": "token"}
    gpu = plan.env.scheduling.gpu_resource
    assert spec["trainer"]["resourcesPerNode"]["limits"][gpu] == str(s.resources.gpus)
    pod = rules.trainjob_pod(obj, shipped_runtime())
    assert pod["nodeSelector"]["nvidia.com/gpu.product"] == s.resources.gpu_type
    assert labels.QUEUE_NAME not in json.dumps(spec["runtimePatches"])
