"""Kustomize in chunks: the same output as one whole build, or the whole build itself.

Real Kustomize throughout. Each supported feature of an overlay (patches with targets,
names, labels, generators referred to by split resources, replicas, images, the legacy
order with its options, other bases) is built twice, whole (``chunk_files=0``) and in
chunks of four pipeline files, and the two outputs must be equal document for document, in
order; the build must also really have been split (its cached record lists chunks). Each
unsupported feature must be refused by the plan, with the reason, and still give the whole
build's output. Failures keep their meaning: a broken pipeline file names the file, a
duplicate across chunks still fails, a broken overlay reports the whole build's error.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.render import (
    kustomize,
    kustomize_chunks,
    kustomize_inputs,
    kustomize_plans,
    processes,
)
from reconciler.source import caches
from reconciler.structs.errors import RenderError
from tests.support import dvcrepos

COUNT = 24
CHUNK = 4
ENVIRONMENT = (
    "apiVersion: reconciler.ml/v1alpha1\nkind: Environment\nmetadata: {name: dev}\n"
    "spec: {branch: main, namespace: ml-dev}\n"
)


def pipeline(i: int, name: str | None = None) -> str:
    name = name or f"p{i:02d}"
    return (
        "apiVersion: reconciler.ml/v1alpha1\nkind: Pipeline\n"
        f"metadata:\n  name: {name}\n  labels: {{team: {'a' if i % 2 else 'b'}}}\n"
        f"spec:\n  params: {{lr: 0.01, seed: {i}}}\n"
        "  steps:\n"
        "    - name: train\n"
        "      image: registry.example.com/train:1.0.0\n"
        "      command: [python, train.py]\n"
    )


def job(i: int) -> str:
    """A Job that refers to the generated ConfigMap and Secret (name references)."""
    return (
        f"apiVersion: batch/v1\nkind: Job\nmetadata: {{name: job-{i:02d}}}\n"
        "spec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n"
        "        - name: main\n          image: busybox:1.36\n"
        "          envFrom: [{configMapRef: {name: settings}}, {secretRef: {name: creds}}]\n"
        "          volumeMounts: [{name: cfg, mountPath: /cfg}]\n"
        "      volumes: [{name: cfg, configMap: {name: settings}}]\n"
    )


def write_repo(
    root: Path,
    overlay: str,
    *,
    files: dict[str, str] | None = None,
    split: dict[str, str] | None = None,
    directory: str = "pipelines",
) -> Path:
    """Write ``COUNT`` pipelines (and ``split`` files) in ``directory``, and overlays/dev.

    ``overlay`` is the overlay's kustomization (``{dir}`` stands for the split directory);
    ``files`` are more files, by repository path. Returns the overlay directory.
    """
    entries: dict[str, str] = {f"p{i:02d}.yaml": pipeline(i) for i in range(COUNT)}
    entries.update(split or {})
    for name, text in entries.items():
        write(root / directory / os.path.normpath(name), text)
    write(
        root / directory / "kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
        + "".join(f"  - {n}\n" for n in entries),
    )
    write(root / "overlays/dev/kustomization.yaml", overlay.replace("{dir}", directory))
    write(root / "overlays/dev/environment.yaml", ENVIRONMENT)
    for path, text in (files or {}).items():
        write(root / path, text)
    return root / "overlays/dev"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def plan_of(
    overlay: Path, chunk_files: int = CHUNK
) -> kustomize_plans.Plan | kustomize_plans.Whole:
    root = overlay.parent.parent
    inputs = kustomize_inputs.check_overlay(overlay, repo_root=root)
    return kustomize_plans.plan(overlay, root=root, inputs=inputs, chunk_files=chunk_files)


def build_both(overlay: Path) -> tuple[list[Any], list[Any], bool]:
    """Build whole and in chunks; return both outputs and whether the chunks were used."""
    whole = kustomize.build_overlay(overlay, chunk_files=0)
    cache = caches.ContentCache()
    chunked = kustomize.build_overlay(overlay, chunk_files=CHUNK, cache=cache, tree="t")
    records = list(cache.table("kustomize-builds").values())
    assert len(records) == 1
    again = kustomize.build_overlay(overlay, chunk_files=CHUNK, cache=cache, tree="t")
    assert again == chunked  # a split record merges again to the same output
    return whole, chunked, isinstance(records[0], dict)


OVERLAY = "resources: [../../{dir}, environment.yaml]\n"

SUPPORTED: dict[str, tuple[str, dict[str, str], dict[str, str]]] = {
    "patches with targets": (
        OVERLAY + "patches:\n"
        "  - target: {kind: Pipeline, name: p03}\n"
        "    patch: '- {op: replace, path: /spec/params/lr, value: 0.5}'\n"
        "  - target: {kind: Pipeline}\n"
        "    patch: '- {op: add, path: /spec/params/env, value: dev}'\n"
        "  - target: {labelSelector: team=a}\n"
        "    patch: |-\n"
        "      apiVersion: reconciler.ml/v1alpha1\n      kind: Pipeline\n"
        "      metadata: {name: any}\n      spec: {params: {gpus: 1}}\n"
        "  - target: {name: p1.*}\n    path: tens.yaml\n"
        "  - target: {kind: Environment}\n"
        "    patch: '- {op: add, path: /spec/serve, value: false}'\n"
        "  - target: {kind: Pipeline, name: nothing-matches}\n"
        "    patch: '- {op: remove, path: /spec}'\n",
        {
            "overlays/dev/tens.yaml": "- {op: add, path: /metadata/annotations, value: {tens: 'yes'}}\n"
        },
        {},
    ),
    "patchesJson6902": (
        OVERLAY + "patchesJson6902:\n"
        "  - target: {group: reconciler.ml, version: v1alpha1, kind: Pipeline, name: p05}\n"
        "    path: p05.yaml\n",
        {"overlays/dev/p05.yaml": "- {op: replace, path: /spec/params/seed, value: 500}\n"},
        {},
    ),
    "namespace and names": (
        OVERLAY + "namespace: ml\nnamePrefix: x-\nnameSuffix: -y\n",
        {},
        {},
    ),
    "labels and annotations": (
        OVERLAY + "labels:\n  - pairs: {env: dev}\n    includeSelectors: true\n"
        "commonLabels: {app: ml}\ncommonAnnotations: {owner: platform}\n",
        {},
        {},
    ),
    "generators referred to from split resources, images": (
        "resources: [../../{dir}, environment.yaml]\nnamePrefix: dev-\n"
        "configMapGenerator:\n  - name: settings\n    literals: [MODE=fast]\n"
        "    files: [settings.properties]\n"
        "secretGenerator:\n  - name: creds\n    literals: [TOKEN=abc]\n"
        "generatorOptions: {labels: {generated: 'true'}}\n"
        "images:\n  - name: busybox\n    newTag: '1.37'\n"
        "  - name: registry.example.com/train\n    newName: mirror.example.com/train\n",
        {"overlays/dev/settings.properties": "a=1\n"},
        {f"job-{i:02d}.yaml": job(i) for i in range(6)},
    ),
    "replicas of a base Deployment": (
        "resources: [../../{dir}, environment.yaml, web.yaml]\n"
        "replicas:\n  - name: web\n    count: 3\n",
        {
            "overlays/dev/web.yaml": (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
                "spec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n"
                "  template:\n    metadata: {labels: {app: web}}\n"
                "    spec: {containers: [{name: web, image: nginx}]}\n"
            )
        },
        {},
    ),
    "legacy order with its options": (
        "resources: [../../{dir}, environment.yaml, objects.yaml]\n"
        "sortOptions:\n  order: legacy\n  legacySortOptions:\n"
        "    orderFirst: [Pipeline, Namespace]\n    orderLast: [Environment]\n",
        {
            "overlays/dev/objects.yaml": "---\n".join(
                f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}}}\n"
                for api, kind, name in [
                    ("v1", "Service", "svc"),
                    ("v1", "Namespace", "ns"),
                    ("example.com/v1", "Namespace", "other-ns"),
                    ("v1", "ResourceQuota", "quota"),
                    ("v1", "LimitRange", "limits"),
                    ("kueue.x-k8s.io/v1beta1", "LocalQueue", "queue"),
                    ("networking.k8s.io/v1", "NetworkPolicy", "deny"),
                    ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "hook"),
                    ("reconciler.ml/v1alpha1", "Pipeline", "p05b"),
                ]
            )
        },
        {"extra.yaml": pipeline(99, "aaa").replace("v1alpha1", "v1beta1")},
    ),
    "other bases, with their own patches": (
        "resources: [../../base, ../../{dir}, environment.yaml]\n"
        "patches:\n  - target: {kind: Pipeline}\n"
        "    patch: '- {op: add, path: /spec/params/overlay, value: 1}'\n",
        {
            "base/kustomization.yaml": (
                "resources: [q.yaml]\nnamePrefix: b-\n"
                "patches:\n  - patch: |-\n      apiVersion: v1\n      kind: ResourceQuota\n"
                "      metadata: {name: q}\n      spec: {hard: {cpu: '9'}}\n"
            ),
            "base/q.yaml": "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q}\nspec: {}\n",
        },
        {},
    ),
    "split entries in subdirectories": (
        OVERLAY,
        {},
        {"./team/x1.yaml": pipeline(101, "x1"), "team/deep/x2.yaml": pipeline(102, "x2")},
    ),
}


@pytest.mark.parametrize("case", list(SUPPORTED))
def test_a_supported_overlay_in_chunks_gives_the_whole_output(tmp_path: Path, case: str) -> None:
    overlay_text, files, split = SUPPORTED[case]
    overlay = write_repo(tmp_path / "repo", overlay_text, files=files, split=split)
    planned = plan_of(overlay)
    assert isinstance(planned, kustomize_plans.Plan), planned
    assert len(planned.chunks(CHUNK)) > 2
    whole, chunked, split_used = build_both(overlay)
    assert chunked == whole
    assert split_used
    assert len(whole) >= COUNT + 1


def test_the_split_directory_may_have_any_name(tmp_path: Path) -> None:
    overlay = write_repo(tmp_path / "repo", OVERLAY, directory="specs")
    whole, chunked, split_used = build_both(overlay)
    assert chunked == whole and split_used


def test_the_example_repository_in_chunks_gives_the_whole_output() -> None:
    root = dvcrepos.PROJECT_ROOT
    for env in ("dev", "staging", "prod", "exp"):
        overlay = root / "overlays" / env
        inputs = kustomize_inputs.check_overlay(overlay, repo_root=root)
        assert isinstance(
            kustomize_plans.plan(overlay, root=root, inputs=inputs, chunk_files=1),
            kustomize_plans.Plan,
        )
        whole = kustomize.build_overlay(overlay, chunk_files=0)
        cache = caches.ContentCache()
        chunked = kustomize.build_overlay(overlay, chunk_files=1, cache=cache, tree=env)
        assert chunked == whole, env
        assert isinstance(next(iter(cache.table("kustomize-builds").values())), dict)


UNSUPPORTED: dict[str, tuple[str, dict[str, str], str]] = {
    "a patch without a target": (
        OVERLAY + "patches:\n  - patch: |-\n      apiVersion: reconciler.ml/v1alpha1\n"
        "      kind: Pipeline\n      metadata: {name: p03}\n      spec: {params: {lr: 9}}\n",
        {},
        "patches[0] has no target",
    ),
    "patchesStrategicMerge": (
        OVERLAY + "patchesStrategicMerge: [p03.yaml]\n",
        {
            "overlays/dev/p03.yaml": "apiVersion: reconciler.ml/v1alpha1\nkind: Pipeline\n"
            "metadata: {name: p03}\nspec: {params: {lr: 9}}\n"
        },
        "patchesStrategicMerge is not per resource",
    ),
    "replacements from a pipeline": (
        OVERLAY
        + "replacements:\n  - source: {kind: Pipeline, name: p01, fieldPath: spec.params.seed}\n"
        "    targets:\n      - select: {kind: Pipeline}\n        fieldPaths: [spec.params.from]\n"
        "        options: {create: true}\n",
        {},
        "replacements is not per resource",
    ),
    "components": (
        OVERLAY + "components: [../../extra]\n",
        {
            "extra/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\n"
            "kind: Component\ncommonLabels: {c: '1'}\n"
        },
        "components is not per resource",
    ),
    "configurations in a base": (
        "resources: [../../base, ../../{dir}, environment.yaml]\n",
        {
            "base/kustomization.yaml": "resources: [cm.yaml]\nconfigurations: [conf.yaml]\n",
            "base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n",
            "base/conf.yaml": "nameReference:\n  - kind: ConfigMap\n    fieldSpecs:\n"
            "      - {kind: Pipeline, path: spec/params/cm}\n",
        },
        "configurations applies to every resource",
    ),
    "a patch that changes a kind": (
        OVERLAY + "patches:\n  - target: {kind: Pipeline, name: p03}\n    path: kind.yaml\n",
        {"overlays/dev/kind.yaml": "- {op: replace, path: /kind, value: Experiment}\n"},
        "patches[0] may change a resource's kind",
    ),
    "origin annotations": (
        OVERLAY + "buildMetadata: [originAnnotations]\n",
        {},
        "buildMetadata is not per resource",
    ),
    "the FIFO order": (
        OVERLAY + "sortOptions: {order: fifo}\n",
        {},
        "sortOptions other than the legacy order",
    ),
}


@pytest.mark.parametrize("case", list(UNSUPPORTED))
def test_an_unsupported_overlay_is_built_whole(tmp_path: Path, case: str) -> None:
    overlay_text, files, reason = UNSUPPORTED[case]
    overlay = write_repo(tmp_path / "repo", overlay_text, files=files)
    planned = plan_of(overlay)
    assert isinstance(planned, kustomize_plans.Whole)
    assert reason in planned.reason
    whole, chunked, split_used = build_both(overlay)
    assert chunked == whole
    assert not split_used


def test_a_split_directory_with_fields_of_its_own_is_not_split(tmp_path: Path) -> None:
    overlay = write_repo(tmp_path / "repo", OVERLAY)
    k = tmp_path / "repo/pipelines/kustomization.yaml"
    k.write_text(k.read_text() + "namePrefix: team-\n")
    planned = plan_of(overlay)
    assert isinstance(planned, kustomize_plans.Whole)
    assert "no directory of resource files only" in planned.reason
    whole, chunked, split_used = build_both(overlay)
    assert chunked == whole and not split_used


def test_a_symlink_in_the_overlay_is_not_split(tmp_path: Path) -> None:
    overlay = write_repo(tmp_path / "repo", OVERLAY)
    (overlay / "alias.yaml").symlink_to(overlay / "environment.yaml")
    planned = plan_of(overlay)
    assert isinstance(planned, kustomize_plans.Whole) and "symlink" in planned.reason


def test_small_overlays_are_not_split(tmp_path: Path) -> None:
    overlay = write_repo(tmp_path / "repo", OVERLAY)
    planned = plan_of(overlay, chunk_files=COUNT)
    assert isinstance(planned, kustomize_plans.Whole) and "not more than a chunk" in planned.reason


def test_a_split_resource_others_may_refer_to_makes_the_merge_build_whole(tmp_path: Path) -> None:
    # A ConfigMap among the pipelines: a name reference could cross chunks.
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {a: '1'}\n"
    overlay = write_repo(tmp_path / "repo", OVERLAY + "namePrefix: x-\n", split={"cm.yaml": cm})
    assert isinstance(plan_of(overlay), kustomize_plans.Plan)
    whole, chunked, split_used = build_both(overlay)
    assert chunked == whole
    assert not split_used


def test_a_duplicate_across_chunks_still_fails(tmp_path: Path) -> None:
    overlay = write_repo(tmp_path / "repo", OVERLAY)
    planned = plan_of(overlay)
    assert isinstance(planned, kustomize_plans.Plan)
    count = len(planned.chunks(CHUNK))
    first = "p00.yaml"
    other = next(
        f"dup{i}.yaml"
        for i in range(1000)
        if kustomize_plans.chunk_of(f"dup{i}.yaml", count) != kustomize_plans.chunk_of(first, count)
    )
    write(tmp_path / "repo/pipelines" / other, pipeline(0))  # named p00 too
    k = tmp_path / "repo/pipelines/kustomization.yaml"
    k.write_text(k.read_text() + f"  - {other}\n")
    with pytest.raises(RenderError, match="already registered id"):
        kustomize.build_overlay(overlay, chunk_files=0)
    with pytest.raises(RenderError, match="already registered id"):
        kustomize.build_overlay(overlay, chunk_files=CHUNK)


def test_a_broken_pipeline_file_is_named_in_the_error(tmp_path: Path) -> None:
    overlay = write_repo(tmp_path / "repo", OVERLAY)
    write(tmp_path / "repo/pipelines/p07.yaml", "apiVersion: v1\nkind: Pipeline\nmetadata: [x]\n")
    with pytest.raises(RenderError) as caught:
        kustomize.build_overlay(overlay, chunk_files=CHUNK)
    message = str(caught.value)
    assert message.startswith("overlays/dev: kustomize failed:")
    assert "pipelines/p07.yaml" in message
    assert "reconciler-kustomize-" not in message and str(tmp_path) not in message


def test_a_broken_overlay_reports_the_whole_builds_error(tmp_path: Path) -> None:
    overlay = write_repo(
        tmp_path / "repo",
        OVERLAY + "patches:\n  - target: {kind: Environment}\n"
        "    patch: '- {op: test, path: /metadata/name, value: nope}'\n",
    )
    assert isinstance(plan_of(overlay), kustomize_plans.Plan)
    with pytest.raises(RenderError) as whole:
        kustomize.build_overlay(overlay, chunk_files=0)
    with pytest.raises(RenderError) as chunked:
        kustomize.build_overlay(overlay, chunk_files=CHUNK)
    assert str(chunked.value) == str(whole.value)
    assert "test failed" in str(whole.value)


def test_a_changed_pipeline_builds_only_its_chunk_again(tmp_path: Path) -> None:
    overlay = write_repo(tmp_path / "repo", OVERLAY)
    cache = caches.ContentCache()
    first = kustomize.build_overlay(overlay, chunk_files=CHUNK, cache=cache)
    planned = plan_of(overlay)
    assert isinstance(planned, kustomize_plans.Plan)
    built = len(planned.chunks(CHUNK)) + 1  # and the build without split files
    assert cache.stats()["kustomize-chunks"] == (0, built)
    write(tmp_path / "repo/pipelines/p05.yaml", pipeline(5).replace("lr: 0.01", "lr: 0.7"))
    changed = kustomize.build_overlay(overlay, chunk_files=CHUNK, cache=cache)
    assert cache.stats()["kustomize-chunks"] == (built - 1, built + 1)  # one chunk missed
    assert next(d for d in changed if d["metadata"]["name"] == "p05")["spec"]["params"]["lr"] == 0.7
    assert changed == kustomize.build_overlay(overlay, chunk_files=0)
    assert len(changed) == len(first)


def test_adding_a_file_changes_one_chunk(tmp_path: Path) -> None:
    overlay = write_repo(tmp_path / "repo", OVERLAY)
    before = plan_of(overlay)
    write(tmp_path / "repo/pipelines/new.yaml", pipeline(50, "new"))
    k = tmp_path / "repo/pipelines/kustomization.yaml"
    k.write_text(k.read_text() + "  - new.yaml\n")
    after = plan_of(overlay)
    assert isinstance(before, kustomize_plans.Plan) and isinstance(after, kustomize_plans.Plan)
    assert after.shared == before.shared  # the split kustomization is not a shared input
    old, new = set(before.chunks(CHUNK)), set(after.chunks(CHUNK))
    assert len(old - new) == 1 and len(new - old) == 1
    assert "new.yaml" in next(iter(new - old))


def test_merge_refuses_a_shared_document_that_differs_between_chunks() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    pipe = {"apiVersion": "reconciler.ml/v1alpha1", "kind": "Pipeline", "metadata": {"name": "a"}}
    order = {
        "order_first": kustomize_plans.DEFAULT_ORDER_FIRST,
        "order_last": kustomize_plans.DEFAULT_ORDER_LAST,
    }
    base = [("k-cm", [cm])]
    good = kustomize_chunks.merge(base, [[("k-a", [pipe]), ("k-cm", [cm])]], **order)
    assert isinstance(good, list) and [k for k, _ in good] == ["k-cm", "k-a"]
    changed = kustomize_chunks.merge(base, [[("k-cm2", [cm]), ("k-a", [pipe])]], **order)
    assert changed == "a document of the other inputs is not the same in every chunk"
    twice = kustomize_chunks.merge(base, [[("k-cm", [cm]), ("k-a", [pipe])]] * 2, **order)
    assert twice == "two documents are Pipeline 'a'"


def test_merge_orders_by_key_as_kustomize_compares_pairs() -> None:
    kinds = ["Pipeline", "Service", "Namespace", "ConfigMap", "Thing", "LimitRange"]
    docs = [
        {
            "apiVersion": api,
            "kind": kind,
            "metadata": {"name": f"n{i % 7}", **({"namespace": "x"} if i % 3 else {})},
        }
        for i, (api, kind) in enumerate(
            (api, kind)
            for api in ("v1", "apps/v1", "example.com/v2", "z/v1")
            for kind in kinds
            if kind != "Namespace" or api == "v1"
        )
    ]
    pieces = [(f"k{i}", [d]) for i, d in enumerate(docs)]
    first, last = kustomize_plans.DEFAULT_ORDER_FIRST, kustomize_plans.DEFAULT_ORDER_LAST
    merged = kustomize_chunks.merge(pieces, [pieces], order_first=first, order_last=last)
    assert isinstance(merged, list)
    orders = kustomize_chunks._type_orders(first, last)
    ids = [kustomize_chunks._id_of(d) for d in docs]
    expected = sorted(
        range(len(docs)),
        key=functools.cmp_to_key(
            lambda a, b: kustomize_chunks._compare(ids[a], ids[b], orders=orders)  # type: ignore[arg-type]
        ),
    )
    assert [k for k, _ in merged] == [f"k{i}" for i in expected]


def test_chunk_runs_are_killed_together(tmp_path: Path) -> None:
    runs = processes.RunSet()
    limits = kustomize.Limits(memory=1 << 30, cpu=300, wall=300.0, output=1 << 20)
    results: list[processes.Result] = []

    def run() -> None:
        results.append(processes.run_bounded(["sleep", "300"], limits=limits, runs=runs))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    started = time.monotonic()
    runs.kill()
    for t in threads:
        t.join(timeout=30)
    assert time.monotonic() - started < 30
    assert [r.failure for r in results] == ["was cancelled", "was cancelled"]
    late = processes.run_bounded(["sleep", "300"], limits=limits, runs=runs)
    assert late.failure == "was cancelled"


def test_kubectl_is_not_left_running_after_an_interrupted_chunked_build(tmp_path: Path) -> None:
    overlay = write_repo(tmp_path / "repo", OVERLAY)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    code = (
        "from pathlib import Path\nfrom reconciler.render import kustomize\n"
        f"while True: kustomize.build_overlay(Path({str(overlay)!r}), chunk_files=2, jobs=2)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "TMPDIR": str(tmp)})
    try:
        deadline = time.monotonic() + 60
        while not _kustomize_runs(tmp):
            assert time.monotonic() < deadline and parent.poll() is None
            time.sleep(0.02)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _kustomize_runs(tmp):
            time.sleep(0.1)
        assert not _kustomize_runs(tmp)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def _kustomize_runs(tmp: Path) -> list[str]:
    """Return the command lines of running ``kubectl kustomize`` of views under ``tmp``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if "kustomize" in cmdline and str(tmp) in cmdline and state != "Z":
            found.append(cmdline)
    return found


def test_views_leave_no_temporary_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    overlay = write_repo(tmp_path / "repo", OVERLAY)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    assert kustomize.build_overlay(overlay, chunk_files=CHUNK)
    assert list(tmp.iterdir()) == []
