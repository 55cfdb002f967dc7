"""Render of the example repository: valid Kubernetes objects, PSS restricted, design.md labels.

Every rendered object of every example environment validates against the official
Kubernetes schemas (kubernetes-validate) for the built-in kinds; every generated pod
meets the Pod Security Standard "restricted"
(https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted);
non-Pipeline overlay objects equal ``kubectl kustomize`` output but for the namespace and
our labels.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from reconciler import engine
from reconciler.render import environments, kustomize
from reconciler.structs import labels
from reconciler.structs.runs import RunState, ServedModel

ROOT = Path(__file__).resolve().parents[2]
TARGETS = [("dev", None), ("staging", None), ("prod", None), ("exp", "exp/lr-sweep")]
BUILTIN_GROUPS = {"", "apps", "batch", "autoscaling", "networking.k8s.io", "policy"}
K8S_VERSION = "1.30.0"


def render(
    env: str, branch: str | None, **kw: Any
) -> tuple[environments.Prepared, list[dict[str, Any]]]:
    prepared = engine.prepare_target(ROOT, env, branch=branch)
    assert prepared.errors == []
    models = {
        n: ServedModel(run="0123abcd", model_uri=f"s3://models/{n}/0123abcd/")
        for n in prepared.run_specs
    }
    return prepared, environments.render_objects(prepared, all_steps=True, models=models, **kw)


def pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec") or {}
    kind = obj["kind"]
    if kind in ("Job", "Deployment"):
        return [spec["template"]["spec"]]
    if kind == "PyTorchJob":
        return [r["template"]["spec"] for r in spec["pytorchReplicaSpecs"].values()]
    if kind == "InferenceService":
        p = spec["predictor"]
        return [{**p, "containers": p.get("containers") or [p["model"]]}]
    return []


def assert_restricted(pod: dict[str, Any], where: str) -> None:
    psc = pod.get("securityContext") or {}
    assert psc.get("runAsNonRoot") is True, where
    assert (psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", where
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC"), where
    for c in [*pod.get("initContainers", []), *pod["containers"]]:
        sc = c.get("securityContext") or {}
        assert sc.get("allowPrivilegeEscalation") is False, where
        assert sc.get("readOnlyRootFilesystem") is True, where
        assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
        assert not sc.get("privileged"), where
        assert sc.get("runAsUser", psc.get("runAsUser", 1)) != 0, where
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        vols = {v["name"]: v for v in pod.get("volumes", [])}
        # What real images write, with the root filesystem read-only: /tmp and a HOME.
        home = next(e["value"] for e in c.get("env", []) if e["name"] == "HOME")
        for path in ("/tmp", home):
            assert path in mounts and "emptyDir" in vols[mounts[path]], where
        for v in pod.get("volumes", []):
            assert set(v) <= {
                "name",
                "emptyDir",
                "configMap",
                "secret",
                "projected",
                "persistentVolumeClaim",
                "ephemeral",
                "downwardAPI",
                "csi",
            }, where


@pytest.mark.parametrize(("env", "branch"), TARGETS)
def test_builtin_objects_validate_against_official_schemas(env: str, branch: str | None) -> None:
    _, objs = render(env, branch)
    checked = 0
    for obj in objs:
        group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
        if group not in BUILTIN_GROUPS:
            continue
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize(("env", "branch"), TARGETS)
def test_generated_pods_are_restricted_and_labelled(env: str, branch: str | None) -> None:
    prepared, objs = render(env, branch)
    generated = [o for o in objs if labels.PIPELINE in o["metadata"].get("labels", {})]
    assert generated
    for obj in objs:
        lab = obj["metadata"]["labels"]
        assert lab[labels.MANAGED_BY] == "reconciler"
        assert lab[labels.ENV] == env
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == prepared.target.namespace
    for obj in generated:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        for pod in pod_specs(obj):
            assert_restricted(pod, where)
        if obj["kind"] in ("Job", "PyTorchJob", "TrainJob"):
            lab = obj["metadata"]["labels"]
            assert lab[labels.RUN] and lab[labels.STEP]
            assert (
                obj["metadata"]["name"]
                == f"{lab[labels.PIPELINE]}-{lab[labels.RUN]}-{lab[labels.STEP]}"
            )
            assert len(obj["metadata"]["name"]) <= 63
        if obj["kind"] in ("Deployment", "InferenceService"):
            assert obj["metadata"]["annotations"][labels.MODEL].startswith("s3://models/")
            assert obj["metadata"]["labels"][labels.RUN] == "0123abcd"


def test_step_env_vars_and_secrets_by_reference() -> None:
    prepared, objs = render("prod", None)
    jobs = {o["metadata"]["name"]: o for o in objs if o["kind"] in ("Job", "PyTorchJob")}
    plan = prepared.run_specs["resnet50"]
    train = jobs[plan.object_name("train")]
    ctr = train["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in ctr["env"]}
    assert env["RUN_ID"]["value"] == plan.run_id
    assert env["STEP"]["value"] == "train"
    assert json.loads(env["PARAMS_JSON"]["value"]) == dict(plan.pipeline.params)
    assert env["MODEL_OUTPUT"]["value"] == plan.model_uri()
    train_data = plan.datasets["train"]  # a directory: its md5 alone, its prefix, its listing
    assert env["DATASET_TRAIN_MD5"]["value"] == train_data.md5.removesuffix(".dir")
    assert env["DATASET_TRAIN_MANIFEST_URL"]["value"] == train_data.url
    assert train_data.url.startswith(env["DATASET_TRAIN_URL"]["value"])
    assert "value" not in env["WANDB_API_KEY"]
    assert env["WANDB_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "wandb", "key": "api-key"}
    # GPU requests use the environment's gpuResource, scheduling and tolerations.
    res = ctr["resources"]
    gpu = prepared.env.scheduling.gpu_resource
    assert res["limits"][gpu] == res["requests"][gpu]
    pod = train["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    assert (
        pod.get("tolerations") == [dict(t) for t in prepared.env.scheduling.tolerations]
        or not prepared.env.scheduling.tolerations
    )
    assert "Worker" in train["spec"]["pytorchReplicaSpecs"]
    # No secret value anywhere in the output: every variable a step takes from a Secret is
    # rendered as a reference only, wherever it appears, and no Secret object is rendered.
    declared = {
        name: {"name": ref.secret, "key": ref.key}
        for p in prepared.run_specs.values()
        for s in p.pipeline.steps
        for name, ref in s.secret_env
    }
    seen = [e for e in _env_entries(objs) if e["name"] in declared]
    assert seen, "the example renders at least one secret variable"
    for entry in seen:
        assert set(entry) == {"name", "valueFrom"}, entry
        assert entry["valueFrom"] == {"secretKeyRef": declared[entry["name"]]}, entry
    assert not [o for o in objs if o["kind"] == "Secret"]


def _env_entries(node: Any) -> list[dict[str, Any]]:
    """Return every container ``env`` entry anywhere in ``node`` (objects, templates, patches)."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        env = node.get("env")
        if isinstance(env, list):
            found += [e for e in env if isinstance(e, dict) and "name" in e]
        for value in node.values():
            found += _env_entries(value)
    elif isinstance(node, list):
        for value in node:
            found += _env_entries(value)
    return found


def test_first_render_starts_only_root_steps_and_no_serving() -> None:
    prepared = engine.prepare_target(ROOT, "prod", branch=None)
    objs = environments.render_objects(prepared)
    steps = [
        o["metadata"]["labels"][labels.STEP]
        for o in objs
        if o["kind"] in ("Job", "PyTorchJob", "TrainJob")
    ]
    roots = sorted(
        s.name for p in prepared.run_specs.values() for s in p.pipeline.steps if not s.needs
    )
    assert sorted(steps) == roots
    assert not [o for o in objs if o["kind"] in ("Deployment", "InferenceService", "Service")]


def test_next_step_renders_once_its_needs_succeeded_and_never_after_a_failure() -> None:
    prepared = engine.prepare_target(ROOT, "prod", branch=None)
    plan = prepared.run_specs["fraud-detector"]
    ok = RunState(
        run=plan.run_id, live_steps=frozenset({"prepare"}), succeeded_steps=frozenset({"prepare"})
    )
    names = {o["metadata"]["name"] for o in environments.pipeline_objects(plan, ok)}
    assert names == {plan.object_name("prepare"), plan.object_name("train")}
    failed = RunState(run=plan.run_id, live_steps=frozenset({"prepare"}), failed=True)
    names = {o["metadata"]["name"] for o in environments.pipeline_objects(plan, failed)}
    assert names == {plan.object_name("prepare")}
    recorded = RunState(run=plan.run_id, recorded=True)
    assert environments.pipeline_objects(plan, recorded) == []


def test_a_live_step_object_is_handed_on_as_listed_not_rendered_again() -> None:
    """A settled environment's step objects are live and never written again (frozen):
    render returns the listed object itself, and renders only what it cannot reuse."""
    prepared = engine.prepare_target(ROOT, "prod", branch=None)
    plan = prepared.run_specs["fraud-detector"]
    fresh = environments.pipeline_objects(plan, None)
    (rendered,) = [o for o in fresh if o["metadata"]["labels"].get(labels.STEP) == "prepare"]
    listed = {**rendered, "status": {"succeeded": 1}, "metadata": {**rendered["metadata"]}}
    state = RunState(
        run=plan.run_id,
        live_steps=frozenset({"prepare"}),
        succeeded_steps=frozenset({"prepare"}),
        live_objects={"prepare": listed},
    )
    objs = environments.pipeline_objects(plan, state)
    assert objs[0] is listed  # as listed: not rendered again
    assert objs[1]["metadata"]["name"] == plan.object_name("train")  # the next step, rendered
    # Not this step's object (another namespace, another kind): rendered as always.
    for other in (
        {**listed, "metadata": {**listed["metadata"], "namespace": "elsewhere"}},
        {**listed, "kind": "PyTorchJob", "apiVersion": "kubeflow.org/v1"},
    ):
        foreign = RunState(run=plan.run_id, live_steps=frozenset({"prepare"}),
                           live_objects={"prepare": other})  # fmt: skip
        (obj,) = environments.pipeline_objects(plan, foreign)
        assert obj == rendered and obj is not other


@pytest.mark.parametrize(("env", "branch"), TARGETS)
def test_overlay_objects_equal_kustomize_output(env: str, branch: str | None) -> None:
    _prepared, objs = render(env, branch)
    out = subprocess.run(
        [kustomize.kubectl_binary(), "kustomize", str(ROOT / "overlays" / env)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    from ruamel.yaml import YAML

    docs = [
        d
        for d in YAML(typ="safe").load_all(out)
        if d and d["kind"] not in ("Pipeline", "Environment")
    ]
    assert docs
    ours = {(o["kind"], o["metadata"]["name"]): o for o in objs}
    for d in docs:
        o = ours[(d["kind"], d["metadata"]["name"])]
        strip = lambda m: {k: v for k, v in m.items() if k not in ("namespace", "labels")}  # noqa: E731
        assert strip(o["metadata"]) == strip(d["metadata"])
        assert {k: v for k, v in o.items() if k != "metadata"} == {
            k: v for k, v in d.items() if k != "metadata"
        }


def test_render_does_not_depend_on_where_the_tree_is_materialised() -> None:
    """A commit exported to a temporary directory renders byte-identical step objects.

    Job templates are immutable: a dataset URL that named the temporary directory would
    make every reconcile a new, failing patch.
    """
    from reconciler.source import repos

    with repos.checkout_tree(ROOT, "HEAD") as (root, _):
        exported = environments.render_objects(
            engine.prepare_target(root, "prod", branch=None), all_steps=True
        )
    with repos.checkout_tree(ROOT, "HEAD") as (root, _):
        again = environments.render_objects(
            engine.prepare_target(root, "prod", branch=None), all_steps=True
        )
    assert exported == again
    urls = [
        e["value"]
        for o in exported
        if o["kind"] == "Job"
        for e in o["spec"]["template"]["spec"]["containers"][0]["env"]
        if e["name"].endswith("_URL")
    ]
    assert urls and all(not u.startswith("/") for u in urls)
