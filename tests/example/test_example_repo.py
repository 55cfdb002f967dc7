"""The example repository (pipelines/, datasets/, overlays/, .dvc/, dvc-storage/).

It is the demo, the test fixture and what a new user copies, so it is checked as a user
would meet it: every overlay builds with real Kustomize, each environment gets exactly
one Environment and every pipeline, the environments differ where they should, GPU
limits hold, and every dataset pointer resolves against the committed DVC remote — in
the project, in a fresh clone (``dvc pull``/``dvc status -c``) and after regenerating
the data with ``datasets/generate.py``.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from reconciler.render import datasets, kustomize
from tests.support import dvcrepos

ROOT = dvcrepos.PROJECT_ROOT
ENVS = ("dev", "staging", "prod", "exp")
PIPELINES = {"resnet50", "fraud-detector", "llm-finetune"}
EXTRA_KINDS = {"ResourceQuota", "LimitRange", "LocalQueue", "NetworkPolicy"}


@pytest.fixture(scope="module")
def built() -> dict[str, list[dict[str, Any]]]:
    """``kubectl kustomize overlays/<env>`` of the project, per environment."""
    return {env: kustomize.build_overlay(ROOT / "overlays" / env) for env in ENVS}


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, (kind, name, [d["metadata"]["name"] for d in found])
    return found[0]


def pipeline(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return one(docs, "Pipeline", name)["spec"]


def step(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in spec["steps"] if s["name"] == name)


def gpus_per_step(s: dict[str, Any]) -> int:
    """GPUs one step occupies at once: gpus per worker x workers (maxGpusPerRun's unit)."""
    return int((s.get("resources") or {}).get("gpus", 0)) * int(s.get("workers", 1))


def test_pipelines_kustomization_lists_every_pipeline_file() -> None:
    kust = YAML(typ="safe").load(ROOT / "pipelines" / "kustomization.yaml")
    files = {p.name for p in (ROOT / "pipelines").glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == files
    assert len(files) >= 3


@pytest.mark.parametrize("env", ENVS)
def test_overlay_builds_one_environment_and_every_pipeline(
    built: dict[str, list[dict[str, Any]]], env: str
) -> None:
    docs = built[env]
    environment = one(docs, "Environment")
    assert environment["apiVersion"] == "reconciler.ml/v1alpha1"
    assert environment["metadata"]["name"] == env
    pipelines = [d for d in docs if d["kind"] == "Pipeline"]
    assert {p["metadata"]["name"] for p in pipelines} == PIPELINES
    assert len(pipelines) == len(PIPELINES)
    assert all(p["apiVersion"] == "reconciler.ml/v1alpha1" for p in pipelines)
    assert {d["kind"] for d in docs} == {"Environment", "Pipeline", *EXTRA_KINDS}
    # Extra objects carry no namespace: the reconciler puts them in the env's namespace.
    assert all("namespace" not in d["metadata"] for d in docs)
    kust = YAML(typ="safe").load(ROOT / "overlays" / env / "kustomization.yaml")
    assert kust["resources"][:2] == ["../../pipelines", "environment.yaml"]


def test_the_kubectl_cli_builds_every_overlay() -> None:
    for env in ENVS:
        proc = subprocess.run(
            [kustomize.kubectl_binary(), "kustomize", str(ROOT / "overlays" / env)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.count("kind: Environment") == 1


def test_environments(built: dict[str, list[dict[str, Any]]]) -> None:
    specs = {env: one(built[env], "Environment")["spec"] for env in ENVS}
    for env in ("dev", "staging", "prod"):
        assert specs[env]["branch"] == "main"
        assert specs[env]["namespace"] == f"ml-{env}"
        assert specs[env]["serve"] is True
    exp = specs["exp"]
    assert (exp["branch"], exp["namespace"], exp["serve"], exp["provenanceBranch"]) == (
        "exp/*",
        "ml-exp-{branch}",
        False,
        "runs/{source}",
    )
    for env in ENVS:
        assert specs[env]["scheduling"]["gpuResource"] == "nvidia.com/gpu"
    for env in ("staging", "prod"):
        scheduling = specs[env]["scheduling"]
        assert scheduling["nodeSelector"]
        assert any(t["key"] == "nvidia.com/gpu" for t in scheduling["tolerations"])


@pytest.mark.parametrize("env", ENVS)
def test_gpu_limits_hold(built: dict[str, list[dict[str, Any]]], env: str) -> None:
    docs = built[env]
    max_per_run = one(docs, "Environment")["spec"]["limits"]["maxGpusPerRun"]
    quota = int(one(docs, "ResourceQuota")["spec"]["hard"]["requests.nvidia.com/gpu"])
    (limit,) = one(docs, "LimitRange")["spec"]["limits"]
    per_container = int(limit["max"]["nvidia.com/gpu"])
    assert limit["default"]["nvidia.com/gpu"] == "0"  # CPU-only containers stay valid
    largest = 0
    for p in (d for d in docs if d["kind"] == "Pipeline"):
        for s in p["spec"]["steps"]:
            largest = max(largest, gpus_per_step(s))
            assert int((s.get("resources") or {}).get("gpus", 0)) <= per_container
    assert 0 < largest <= max_per_run <= quota


def test_environments_differ_by_patches(built: dict[str, list[dict[str, Any]]]) -> None:
    resnet = {env: pipeline(built[env], "resnet50") for env in ENVS}
    train = {env: step(resnet[env], "train") for env in ENVS}
    assert {env: resnet[env]["params"]["epochs"] for env in ENVS} == {
        "dev": 1,
        "staging": 5,
        "prod": 90,
        "exp": 10,
    }
    assert train["prod"]["workers"] == 4 and train["staging"]["workers"] == 2
    assert train["dev"]["resources"]["gpuType"] == "Tesla-T4"
    assert train["prod"]["resources"]["gpuType"] == "NVIDIA-A100-SXM4-80GB"
    assert resnet["prod"]["serve"]["replicas"] == 3
    assert [s["name"] for s in resnet["dev"]["steps"]] == ["features", "train", "evaluate"]
    hosts = {
        env: pipeline(built[env], "fraud-detector")["serve"]["ingress"]["host"] for env in ENVS
    }
    assert len({hosts["dev"], hosts["staging"], hosts["prod"]}) == 3
    llm_gpus = {env: step(pipeline(built[env], "llm-finetune"), "train") for env in ENVS}
    assert llm_gpus["dev"]["resources"]["gpus"] == 1
    assert llm_gpus["prod"]["resources"]["gpus"] == 8


def test_pipeline_shapes(built: dict[str, list[dict[str, Any]]]) -> None:
    docs = built["staging"]
    resnet = pipeline(docs, "resnet50")
    train = step(resnet, "train")
    assert (train["runtime"], train["workers"], train["resources"]["gpus"]) == ("kubeflow", 2, 4)
    assert step(resnet, "train")["needs"] == ["features"]
    assert step(resnet, "evaluate")["needs"] == ["train"]
    assert resnet["promote"] == {"metric": "accuracy", "min": 0.9}
    assert resnet["serve"]["runtime"] == "kserve"

    fraud = pipeline(docs, "fraud-detector")
    assert {s.get("runtime", "job") for s in fraud["steps"]} == {"job"}
    assert all(gpus_per_step(s) == 0 for s in fraud["steps"])
    serve = fraud["serve"]
    assert serve["runtime"] == "deployment"
    assert serve["autoscale"]["maxReplicas"] > serve["autoscale"]["minReplicas"]
    assert serve["ingress"]["host"]

    llm = pipeline(docs, "llm-finetune")
    assert "serve" not in llm and "promote" not in llm
    assert [s["queue"] for s in llm["steps"]] == ["gpu-queue"]
    assert one(docs, "LocalQueue", "gpu-queue")["spec"]["clusterQueue"]


@pytest.mark.parametrize("env", ENVS)
def test_every_pipeline_is_well_formed(built: dict[str, list[dict[str, Any]]], env: str) -> None:
    queues = {d["metadata"]["name"] for d in built[env] if d["kind"] == "LocalQueue"}
    for p in (d for d in built[env] if d["kind"] == "Pipeline"):
        spec = p["spec"]
        names = [s["name"] for s in spec["steps"]]
        assert len(set(names)) == len(names)
        assert sum(1 for s in spec["steps"] if s.get("output")) == 1, p["metadata"]["name"]
        for s in spec["steps"]:
            assert set(s.get("needs", [])) <= set(names[: names.index(s["name"])])
            if "queue" in s:
                assert s["queue"] in queues
            # Secrets by reference only: nothing in plain env looks like a credential.
            assert not any(
                word in key.upper()
                for key in s.get("env", {})
                for word in ("KEY", "TOKEN", "SECRET", "PASSWORD")
            )
            for ref in s.get("secretEnv", {}).values():
                assert set(ref) == {"secret", "key"}
        pointers = {v if isinstance(v, str) else v["path"] for v in spec["datasets"].values()}
        assert pointers <= {f"datasets/{f.name}" for f in (ROOT / "datasets").glob("*.dvc")}


def test_secrets_are_referenced_not_written() -> None:
    for path in (ROOT / "pipelines").glob("*.yaml"):
        doc = YAML(typ="safe").load(path)
        if doc.get("kind") != "Pipeline":
            continue
        keys = [k for s in doc["spec"]["steps"] for k in s.get("secretEnv", {})]
        if path.stem in ("resnet50", "llm-finetune"):
            assert keys, path.name


def test_dvc_config_has_a_relative_default_remote_in_the_repository() -> None:
    config = (ROOT / ".dvc" / "config").read_text()
    assert "remote = storage" in config
    assert "url = ../dvc-storage" in config
    tracked = dvcrepos.git(ROOT, "ls-files", "dvc-storage", ".dvc", ".dvcignore", "datasets")
    assert ".dvc/config" in tracked and ".dvcignore" in tracked
    assert "dvc-storage/files/md5/" in tracked
    size = sum(p.stat().st_size for p in (ROOT / "dvc-storage").rglob("*") if p.is_file())
    assert size < 2 * 1024 * 1024


def test_every_pointer_resolves_and_the_committed_remote_holds_it() -> None:
    pointers = {p.stem: f"datasets/{p.name}" for p in sorted((ROOT / "datasets").glob("*.dvc"))}
    assert len(pointers) >= 3
    facts, errors = datasets.resolve_datasets(ROOT, pointers, check_remote=True)
    assert errors == []
    assert all(f.in_remote and f.remote == "storage" for f in facts.values())
    assert any(f.is_dir and f.nfiles and f.nfiles > 1 for f in facts.values())
    for f in facts.values():
        # A remote inside the repository is named relative to it (stable across exports).
        assert f.url.startswith("dvc-storage/files/md5/")
        assert (ROOT / f.url).is_file()
        assert f.size and f.size > 0


def test_copy_resolves_and_a_fresh_clone_pulls_offline(tmp_path: Path) -> None:
    work = dvcrepos.copy_example_repo(tmp_path / "work")
    origin = dvcrepos.origin_of(work)
    assert dvcrepos.git(work, "rev-list", "--count", "HEAD") == "1"
    assert dvcrepos.git(work, "status", "--porcelain") == ""
    assert dvcrepos.git(origin, "rev-parse", "main") == dvcrepos.git(work, "rev-parse", "HEAD")
    # Every pipeline's datasets resolve in the copy, against the copy's own remote.
    for env_doc in [kustomize.build_overlay(work / "overlays" / "prod")]:
        for p in (d for d in env_doc if d["kind"] == "Pipeline"):
            pointers = {
                n: v if isinstance(v, str) else v["path"] for n, v in p["spec"]["datasets"].items()
            }
            facts, errors = datasets.resolve_datasets(work, pointers, check_remote=True)
            assert errors == []
            assert all((work / f.url).is_file() for f in facts.values())
            assert all(f.url.startswith("dvc-storage/") for f in facts.values())

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    dvcrepos.dvc(clone, "pull")
    pointer = YAML(typ="safe").load(clone / "datasets" / "fraud-transactions.csv.dvc")
    data = (clone / "datasets" / "fraud-transactions.csv").read_bytes()
    assert hashlib.md5(data).hexdigest() == pointer["outs"][0]["md5"]
    assert (clone / "datasets" / "imagenet-mini" / "labels.txt").is_file()
    assert "in sync" in dvcrepos.dvc(clone, "status", "-c").stdout


def test_generator_reproduces_the_tracked_data(tmp_path: Path) -> None:
    work = dvcrepos.copy_example_repo(tmp_path / "work", origin=False)
    subprocess.run([sys.executable, str(work / "datasets" / "generate.py")], check=True)
    targets = [str(p.relative_to(work))[: -len(".dvc")] for p in work.glob("datasets/*.dvc")]
    assert len(targets) >= 3
    # `dvc add` of the regenerated data rewrites the pointers: byte for byte the same ones.
    dvcrepos.dvc_add(work, targets, push=False)
    assert dvcrepos.git(work, "status", "--porcelain") == ""
