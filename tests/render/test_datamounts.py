"""``mount: true``: an init container fetches a dataset into /data/<name> and checks md5s.

The init container's own script is run here, as the pod would run it, against the
example repository's DVC remote: a directory (resnet50's images, rebuilt from its .dir
listing) and a file (the fraud transactions); a corrupted object fails it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from reconciler import engine
from reconciler.render import datamounts, steps
from reconciler.render.runspecs import RunSpec
from tests.specs.samples import PIPELINE, environment_errors, pipeline, variant

ROOT = Path(__file__).resolve().parents[2]


def mounted(pipeline_name: str, dataset: str, source: Path = ROOT) -> RunSpec:
    prepared = engine.prepare_target(source, "prod", branch=None, source=source)
    spec = prepared.run_specs[pipeline_name]
    return dataclasses.replace(
        spec,
        pipeline=dataclasses.replace(spec.pipeline, mounts=(dataset,)),
        env=dataclasses.replace(spec.env, data_fetcher_image="registry.example.com/dvc:3"),
    )


def fetch(init: dict[str, Any], dest: Path) -> subprocess.CompletedProcess[str]:
    env = {e["name"]: e["value"] for e in init["env"] if "value" in e}
    env["FETCH_DEST"] = str(dest)
    assert init["command"][:2] == ["python3", "-c"]
    return subprocess.run(
        [sys.executable, "-c", init["command"][2]],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def pod(spec: RunSpec, step: str) -> dict[str, Any]:
    obj = steps.step_object(spec, spec.pipeline.step(step))
    if obj["kind"] == "PyTorchJob":
        return obj["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def test_a_mounted_directory_is_fetched_and_checked(tmp_path: Path) -> None:
    spec = mounted("resnet50", "train")
    p = pod(spec, "train")
    init = p["initContainers"][0]
    assert init["name"] == "fetch-train" and init["image"] == "registry.example.com/dvc:3"
    assert init["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "data-train", "emptyDir": {}} in p["volumes"]
    ctr = p["containers"][0]
    assert {"name": "data-train", "mountPath": "/data/train", "readOnly": True} in ctr[
        "volumeMounts"
    ]
    assert {"name": "DATASET_TRAIN_PATH", "value": "/data/train"} in ctr["env"]
    done = fetch(init, tmp_path / "train")
    assert done.returncode == 0, done.stderr
    files = sorted(f for f in (tmp_path / "train").rglob("*") if f.is_file())
    assert len(files) == spec.datasets["train"].nfiles
    labels = (tmp_path / "train" / "labels.txt").read_bytes()
    assert hashlib.md5(labels).hexdigest() == "452a1b235b527e7e0dac89b624c95d5e"


def test_a_mounted_file_is_fetched_and_a_corrupt_object_fails(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "dvc-storage", copy / "dvc-storage")
    for name in ("pipelines", "overlays", "datasets", ".dvc"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("tmp"))
    spec = mounted("fraud-detector", "transactions", source=copy)
    init = pod(spec, spec.pipeline.steps[0].name)["initContainers"][0]
    done = fetch(init, tmp_path / "ok")
    assert done.returncode == 0, done.stderr
    data = (tmp_path / "ok" / "fraud-transactions.csv").read_bytes()
    assert hashlib.md5(data).hexdigest() == spec.datasets["transactions"].md5
    obj = Path(spec.datasets["transactions"].url)
    obj.write_bytes(b"tampered")
    broken = fetch(init, tmp_path / "bad")
    assert broken.returncode != 0 and "expected" in broken.stderr


def test_mount_is_in_the_schema_and_needs_a_fetcher_image() -> None:
    text = variant(
        PIPELINE,
        "datasets: {train: datasets/imagenet-mini.dvc}",
        "datasets: {train: {path: datasets/imagenet-mini.dvc, mount: true}}",
    )
    p = pipeline(text)
    assert p.mounts == ("train",) and p.datasets == (("train", "datasets/imagenet-mini.dvc"),)
    plain = pipeline()
    assert plain.mounts == ()
    from reconciler.specs import rules
    from tests.specs.samples import environment

    env = environment()
    errors = rules.check_pipeline_set([p], dataclasses.replace(env, max_gpus_per_run=None))
    assert [e.field for e in errors] == ["spec.datasets.train"]
    assert "dataFetcher.image" in errors[0].message
    ok = dataclasses.replace(env, data_fetcher_image="img", max_gpus_per_run=None)
    assert rules.check_pipeline_set([p], ok) == []
    assert environment_errors(
        variant(
            "apiVersion: reconciler.ml/v1alpha1\nkind: Environment\nmetadata: {name: prod}\n"
            "spec: {branch: main, namespace: ml-prod, dataFetcher: {}}\n",
            "dataFetcher: {}",
            "dataFetcher: {}",
        )
    ) == ["overlays/prod/environment.yaml:4:42: spec.dataFetcher.image: required field is missing"]


def test_without_mounts_nothing_changes() -> None:
    prepared = engine.prepare_target(ROOT, "prod", branch=None)
    spec = prepared.run_specs["fraud-detector"]
    assert datamounts.init_containers(spec, spec.pipeline.steps[0]) == []
    assert "initContainers" not in pod(spec, spec.pipeline.steps[0].name)


RUNTIME = ROOT / "reconciler" / "crds" / "runtimes" / "reconciler-torch.yaml"


def test_every_runtime_fetches_mounted_datasets(tmp_path: Path) -> None:
    """Job, PyTorchJob and TrainJob: the data is in /data/<name>, md5-checked, before the step.

    A TrainJob cannot add an init container to its runtime's pods: the shipped runtime's
    own ``dataset-fetch`` runs the same script, and the TrainJob's runtime patch gives it
    the datasets, their volumes and mounts; the node gets the read-only mount and the path.
    """
    spec = mounted("resnet50", "train")
    for runtime in ("job", "kubeflow"):
        p = pod(step_variant(spec, "train", runtime=runtime), "train")
        assert [c["name"] for c in p["initContainers"]] == ["fetch-train"]
        assert {"name": "data-train", "emptyDir": {}} in p["volumes"]
    variant_spec = step_variant(spec, "train", runtime="trainjob", retries=0)
    trainjob = steps.step_object(variant_spec, variant_spec.pipeline.step("train"))
    assert trainjob["kind"] == "TrainJob"
    (patch,) = trainjob["spec"]["runtimePatches"]
    (node,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    pod_patch = node["template"]["spec"]["template"]["spec"]
    (init_patch,) = pod_patch["initContainers"]
    assert init_patch["name"] == datamounts.RUNTIME_FETCH_CONTAINER
    assert {"name": "data-train", "emptyDir": {}} in pod_patch["volumes"]
    assert {"name": "data-train", "mountPath": "/data/train"} in init_patch["volumeMounts"]
    (node_patch,) = pod_patch["containers"]
    assert {"name": "data-train", "mountPath": "/data/train", "readOnly": True} in node_patch[
        "volumeMounts"
    ]
    assert {"name": "DATASET_TRAIN_PATH", "value": "/data/train"} in trainjob["spec"]["trainer"][
        "env"
    ]
    runtime = yaml.safe_load(RUNTIME.read_text())
    (rjob,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    (shipped,) = rjob["template"]["spec"]["template"]["spec"]["initContainers"]
    assert shipped["name"] == datamounts.RUNTIME_FETCH_CONTAINER
    assert shipped["command"] == ["python3", "-c", datamounts.FETCH_SCRIPT]
    # What Trainer runs: the runtime's container with the patch's env (merged by name).
    env = {e["name"]: e["value"] for e in shipped["env"]}
    env.update({e["name"]: e["value"] for e in init_patch["env"] if "value" in e})
    todo = json.loads(env["FETCH_DATASETS"])
    assert [d["dest"] for d in todo] == ["/data/train"]
    for d in todo:
        d["dest"] = str(tmp_path / "train")
    env["FETCH_DATASETS"] = json.dumps(todo)
    done = subprocess.run(
        [sys.executable, "-c", shipped["command"][2]],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    files = sorted(f for f in (tmp_path / "train").rglob("*") if f.is_file())
    assert len(files) == spec.datasets["train"].nfiles
    # Without datasets the runtime's init container has nothing to do.
    empty = subprocess.run(
        [sys.executable, "-c", shipped["command"][2]],
        env={**os.environ, "FETCH_DATASETS": "[]"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert empty.returncode == 0, empty.stderr


def step_variant(spec: RunSpec, step: str, **fields: Any) -> RunSpec:
    replaced = tuple(
        dataclasses.replace(s, **fields) if s.name == step else s for s in spec.pipeline.steps
    )
    return dataclasses.replace(spec, pipeline=dataclasses.replace(spec.pipeline, steps=replaced))
