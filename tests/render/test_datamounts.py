"""``mount: true``: an init container fetches a dataset into /data/<name> and checks md5s.

The init container's own script is run here, as the pod would run it, against the
example repository's DVC remote: a directory (resnet50's images, rebuilt from its .dir
listing) and a file (the fraud transactions); a corrupted object fails it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

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
