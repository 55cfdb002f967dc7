"""What a step's pod gets beyond its command: GPUs on the right nodes, a writable HOME,
/dev/shm, identity, artifact and checkpoint locations, serving env; PSS restricted holds.

Rendered from the example repository's specs with small, exact changes (a parsed
Environment or Pipeline replaced field by field), through the real render functions.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from reconciler import engine
from reconciler.render import environments, podspecs, serving, steps
from reconciler.render.runspecs import RunSpec
from reconciler.specs import models
from reconciler.structs.runs import ServedModel

ROOT = Path(__file__).resolve().parents[2]


def plan(env: str, pipeline: str, **env_changes: Any) -> RunSpec:
    prepared = engine.prepare_target(ROOT, env, branch=None)
    spec = prepared.run_specs[pipeline]
    if env_changes:
        spec = dataclasses.replace(spec, env=dataclasses.replace(spec.env, **env_changes))
    return spec


def pod_of(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "PyTorchJob":
        return obj["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def test_gpu_types_follow_gpu_feature_discovery_unless_the_environment_maps_them() -> None:
    prod = plan("prod", "resnet50")
    pod = pod_of(steps.step_object(prod, prod.pipeline.step("train")))
    assert pod["nodeSelector"] == {
        "node-pool": "gpu-prod",
        "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
    }
    staging = plan("staging", "resnet50")  # maps the A100 to its cloud node pool
    pod = pod_of(steps.step_object(staging, staging.pipeline.step("train")))
    assert pod["nodeSelector"] == {
        "cloud.google.com/gke-accelerator": "nvidia-a100-80gb",
        "node-pool": "gpu-a100",
    }
    mapped = models.GpuType(
        node_selector=(("pool", "a100"),),
        tolerations=({"key": "a100", "operator": "Exists", "effect": "NoSchedule"},),
    )
    scheduling = dataclasses.replace(
        staging.env.scheduling, gpu_types=(("NVIDIA-A100-SXM4-80GB", mapped),)
    )
    custom = dataclasses.replace(
        staging, env=dataclasses.replace(staging.env, scheduling=scheduling)
    )
    pod = pod_of(steps.step_object(custom, custom.pipeline.step("train")))
    assert pod["nodeSelector"] == {"node-pool": "gpu-a100", "pool": "a100"}
    assert {"key": "a100", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    cpu = pod_of(steps.step_object(prod, prod.pipeline.step("features")))
    assert "nodeSelector" not in cpu and "tolerations" not in cpu


def test_gpu_pods_get_a_memory_backed_dev_shm_and_every_pod_a_writable_home() -> None:
    prod = plan("prod", "resnet50")
    gpu = pod_of(steps.step_object(prod, prod.pipeline.step("train")))
    shm = next(v for v in gpu["volumes"] if v["name"] == podspecs.SHM_VOLUME)
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "1Gi"}
    mounts = {m["mountPath"] for m in gpu["containers"][0]["volumeMounts"]}
    assert {"/tmp", "/dev/shm", podspecs.HOME_DIR} <= mounts
    env = env_of(gpu["containers"][0])
    assert env["HOME"] == podspecs.HOME_DIR
    assert env["XDG_CACHE_HOME"].startswith(podspecs.HOME_DIR + "/")
    assert gpu["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    cpu = pod_of(steps.step_object(prod, prod.pipeline.step("features")))
    assert all(v["name"] != podspecs.SHM_VOLUME for v in cpu["volumes"])
    sized = dataclasses.replace(prod.pipeline.step("features").resources, shm="8Gi")
    step = dataclasses.replace(prod.pipeline.step("features"), resources=sized)
    pod = pod_of(steps.step_object(prod, step))
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}} in pod["volumes"]


def test_identity_comes_from_the_pipeline_or_the_environments_defaults() -> None:
    base = plan("prod", "fraud-detector")
    assert "serviceAccountName" not in pod_of(steps.step_object(base, base.pipeline.steps[0]))
    spec = plan("prod", "fraud-detector", service_account="ml-train", image_pull_secrets=("reg",))
    pod = pod_of(steps.step_object(spec, spec.pipeline.steps[0]))
    assert pod["serviceAccountName"] == "ml-train"
    assert pod["imagePullSecrets"] == [{"name": "reg"}]
    assert pod["automountServiceAccountToken"] is False
    own = dataclasses.replace(
        spec,
        pipeline=dataclasses.replace(
            spec.pipeline, service_account="fraud", image_pull_secrets=("fraud-reg",)
        ),
    )
    pod = pod_of(steps.step_object(own, own.pipeline.steps[0]))
    assert pod["serviceAccountName"] == "fraud"
    assert pod["imagePullSecrets"] == [{"name": "fraud-reg"}]


def test_artifacts_per_step_and_checkpoints_shared_by_every_attempt() -> None:
    spec = plan("prod", "resnet50")
    evaluate = spec.pipeline.step("evaluate")
    first = env_of(pod_of(steps.step_object(spec, evaluate))["containers"][0])
    again = env_of(pod_of(steps.step_object(spec, evaluate, attempt=2))["containers"][0])
    base = f"s3://ml-artifacts/prod/resnet50/{spec.run_id}"
    assert first["ARTIFACTS_URI"] == f"{base}/evaluate/"
    assert first["ARTIFACTS_URI_TRAIN"] == f"{base}/train/"
    assert again["ARTIFACTS_URI"] == f"{base}-2/evaluate/"
    assert first["CHECKPOINT_URI"] == again["CHECKPOINT_URI"] == f"{base}/checkpoints/"
    pvc = plan("prod", "resnet50", artifact_root="pvc://ml-artifacts/team-a")
    pod = pod_of(steps.step_object(pvc, pvc.pipeline.step("train")))
    env = env_of(pod["containers"][0])
    assert env["ARTIFACTS_URI"] == f"/artifacts/team-a/resnet50/{spec.run_id}/train/"
    assert {"name": "artifacts", "persistentVolumeClaim": {"claimName": "ml-artifacts"}} in pod[
        "volumes"
    ]
    assert {"name": "artifacts", "mountPath": "/artifacts"} in pod["containers"][0]["volumeMounts"]
    none = plan("prod", "resnet50", artifact_root=None)
    env = env_of(pod_of(steps.step_object(none, none.pipeline.step("train")))["containers"][0])
    assert "ARTIFACTS_URI" not in env and "CHECKPOINT_URI" not in env


def test_dataset_variables_name_the_data_and_its_md5_alone() -> None:
    spec = plan("prod", "fraud-detector")
    facts, key = spec.datasets["transactions"], "TRANSACTIONS"
    env = env_of(pod_of(steps.step_object(spec, spec.pipeline.steps[0]))["containers"][0])
    assert not facts.is_dir
    assert env[f"DATASET_{key}_URL"] == facts.url
    assert env[f"DATASET_{key}_MD5"] == facts.md5 and len(facts.md5) == 32
    assert f"DATASET_{key}_MANIFEST_URL" not in env


def test_serving_gets_its_own_env_and_secrets_by_reference() -> None:
    spec = plan("dev", "fraud-detector")
    serve = spec.pipeline.serve
    assert serve is not None
    secret = models.SecretRef(secret="fraud-db", key="url")
    with_secret = dataclasses.replace(
        spec,
        pipeline=dataclasses.replace(
            spec.pipeline, serve=dataclasses.replace(serve, secret_env=(("DB_URL", secret),))
        ),
    )
    model = ServedModel(run="0123abcd", model_uri="s3://models/fraud/0123abcd/")
    deployment = serving.serving_objects(with_secret, model)[0]
    ctr = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in ctr["env"]}
    assert env["GUNICORN_WORKERS"]["value"] == "2"
    assert env["DB_URL"] == {
        "name": "DB_URL",
        "valueFrom": {"secretKeyRef": {"name": "fraud-db", "key": "url"}},
    }
    assert env["MODEL_URI"]["value"] == model.model_uri


def test_the_example_renders_with_every_pod_restricted() -> None:
    """Every pod of every environment keeps PSS restricted with the new volumes."""
    for env in ("dev", "staging", "prod"):
        prepared = engine.prepare_target(ROOT, env, branch=None)
        objs = environments.render_objects(prepared, all_steps=True)
        for obj in objs:
            if obj["kind"] not in ("Job", "PyTorchJob"):
                continue
            pod = pod_of(obj)
            for c in [*pod.get("initContainers", []), *pod["containers"]]:
                assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert all(
                set(v) <= {"name", "emptyDir", "persistentVolumeClaim"} for v in pod["volumes"]
            )


def test_a_local_remote_is_named_where_it_really_is_never_inside_the_export() -> None:
    """The example's remote lives in the repository: its URL is a file in the source."""
    prepared = engine.prepare_target(ROOT, "dev", branch=None, source=ROOT)
    facts = prepared.run_specs["fraud-detector"].datasets["transactions"]
    path = Path(facts.url)
    assert path.is_absolute() and path.is_file()
    assert path.is_relative_to(ROOT.resolve() / "dvc-storage")
    listing = prepared.run_specs["resnet50"].datasets["train"]
    assert Path(listing.url).is_file()  # the .dir manifest
    assert Path(listing.data_url).is_dir()  # the object prefix
