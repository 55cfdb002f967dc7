"""Every rendered object validates against the operators' official models.

Custom resources go through the operators' Python SDKs in their own virtualenv
(``sdk_check.py``: kubeflow-training for PyTorchJob, kubeflow's trainer API for TrainJob,
kserve for InferenceService); built-in kinds through kubernetes-validate (the official
OpenAPI schemas, strict: unknown fields are errors). Where the SDK models are looser than
the operators, ``test_operator_rules.py`` checks the operators' own rules.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.render.operators.conftest import run_sdk_check

K8S_VERSION = "1.30.0"
BUILTIN_GROUPS = {"", "apps", "batch", "autoscaling", "networking.k8s.io", "policy"}
SDK_KINDS = {"PyTorchJob", "InferenceService", "TrainJob", "ClusterTrainingRuntime"}


def group_of(obj: dict[str, Any]) -> str:
    api = str(obj["apiVersion"])
    return api.split("/")[0] if "/" in api else ""


def test_custom_resources_validate_with_the_operator_sdks(
    rendered: list[tuple[str, dict[str, Any]]], sdk_results: dict[str, dict[str, Any]]
) -> None:
    checked: dict[str, int] = {}
    problems = []
    for where, obj in rendered:
        if obj["kind"] not in SDK_KINDS:
            continue
        result = sdk_results[where]
        assert result["model"], f"{where}: no SDK model checked it"
        checked[obj["kind"]] = checked.get(obj["kind"], 0) + 1
        problems.extend(f"{where}{e}" for e in result["errors"])
    assert problems == []
    assert checked.get("PyTorchJob", 0) >= 4 and checked.get("InferenceService", 0) >= 1


def test_builtin_objects_validate_against_the_official_schemas(
    rendered: list[tuple[str, dict[str, Any]]],
) -> None:
    kinds = set()
    for where, obj in rendered:
        if group_of(obj) not in BUILTIN_GROUPS:
            continue
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{where}: {e}")
        kinds.add(obj["kind"])
    assert {"Namespace", "Job", "Deployment", "Service"} <= kinds


def test_the_sdk_check_fails_on_what_an_operator_would_refuse(
    sdk_python: Path, rendered: list[tuple[str, dict[str, Any]]]
) -> None:
    """The round trip catches unknown fields and wrong types (the check can fail)."""
    ptj = json.loads(json.dumps(next(o for _, o in rendered if o["kind"] == "PyTorchJob")))
    ptj["spec"]["runPolicy"]["backoffLimit"] = "3"
    master = ptj["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    master["containers"][0]["gpus"] = 4
    isvc = copy.deepcopy(next(o for _, o in rendered if o["kind"] == "InferenceService"))
    isvc["spec"]["predictor"]["storageURI"] = "s3://x"
    trainjob = {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": "t"},
        "spec": {"runtimeRef": {"name": "r"}, "trainer": {"numNodes": 2, "gpus": 1}},
    }
    bad_trainjob = copy.deepcopy(trainjob)
    bad_trainjob["spec"]["trainer"]["numNodes"] = "2"
    results = run_sdk_check(sdk_python, [ptj, isvc, trainjob, bad_trainjob])
    assert results[0]["errors"] == [
        ".spec.runPolicy.backoffLimit: expected int, got str '3'",
        ".spec.pytorchReplicaSpecs.Master.template.spec.containers[0].gpus: not a field of V1Container",
    ]
    assert results[1]["errors"] == [
        ".spec.predictor.storageURI: not a field of V1beta1PredictorSpec"
    ]
    assert results[2]["errors"] == [".spec.trainer.gpus: not a field of the model (dropped)"]
    assert results[3]["errors"] and "numNodes" in results[3]["errors"][0]


CRD_CHECKED_GROUPS = {"kueue.x-k8s.io"}
"""Kinds with no official Python SDK model: applied with strict field validation against
the shipped CRDs in ``test_in_sandbox.py`` (Kueue's LocalQueue)."""


def test_every_rendered_object_has_a_checker(rendered: list[tuple[str, dict[str, Any]]]) -> None:
    """No rendered kind slips between kubernetes-validate, the SDKs and the CRD check."""
    unchecked = [
        where
        for where, obj in rendered
        if group_of(obj) not in BUILTIN_GROUPS | CRD_CHECKED_GROUPS and obj["kind"] not in SDK_KINDS
    ]
    assert unchecked == []


def test_the_shipped_training_runtime_validates_with_the_trainer_sdk(sdk_python: Path) -> None:
    import yaml

    path = Path(__file__).resolve().parents[3] / "reconciler/crds/runtimes/reconciler-torch.yaml"
    runtime = yaml.safe_load(path.read_text())
    (result,) = run_sdk_check(sdk_python, [runtime])
    assert result["model"] and result["errors"] == []
    pod = runtime["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["dataset-fetch"]
