"""Benchmark: requests and wall time of a sync, ours against ``kubectl apply --server-side``.

Run: ``pytest tests/bench/bench_sync.py -m bench -s``. Prints figures; asserts only what
the sync must do (no write on a no-op, writes only for the changed pipeline), never a time.

Setup: a generated repository of 1,000 pipelines (three batch steps each, served by a
Deployment + Service, every tenth with an HPA) and three environments, rendered by the
project's own render (Kustomize, run specs) into about 15,000 objects, synced into the
sandbox. The kubectl baseline applies the same rendered objects, in namespaces of its own
(``<namespace>-kubectl``), with ``kubectl apply --server-side -f`` (one file per
environment), warmed up once so its discovery cache is hot.

Measured, for both, from the sandbox's ``apiserver_request_total`` (requests and writes)
and the wall clock:

- no-op: nothing changed in Git or in the cluster;
- one pipeline changed: the middle pipeline's (``p0500``) params change (a new run: new Job names), in every
  environment.

Our side uses a fresh client per measurement, so its figures include the discovery a new
process makes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.applysets import applyset_for
from reconciler.apply.manager import ResourceManager
from reconciler.apply.sync import SyncResult, sync_objects
from reconciler.structs import labels
from reconciler.structs.changesets import Action

pytestmark = pytest.mark.bench

PIPELINES = int(os.environ.get("BENCH_PIPELINES", "1000"))
ENVS = ("dev", "staging", "prod")
WRITE_VERBS = {"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"}
_METRIC = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\d+)")

Manifest = dict[str, Any]


# -- the repository and its render ------------------------------------------------------


def pipeline_yaml(name: str, seed: int, autoscale: bool) -> str:
    scale = "    autoscale: {minReplicas: 1, maxReplicas: 4, targetCPUUtilization: 70}\n"
    return (
        "apiVersion: reconciler.ml/v1alpha1\nkind: Pipeline\n"
        f"metadata: {{name: {name}}}\n"
        "spec:\n"
        f"  params: {{seed: {seed}, lr: 0.01}}\n"
        "  steps:\n"
        "    - name: prepare\n"
        "      image: registry.example.com/bench/prepare:1.0.0\n"
        "      command: [python, prepare.py]\n"
        "      resources: {cpu: '1', memory: 1Gi}\n"
        "    - name: train\n"
        "      needs: [prepare]\n"
        "      image: registry.example.com/bench/train:1.0.0\n"
        "      command: [python, train.py]\n"
        "      resources: {cpu: '2', memory: 4Gi}\n"
        f"      output: s3://models/{name}/{{run}}/\n"
        "    - name: evaluate\n"
        "      needs: [train]\n"
        "      image: registry.example.com/bench/train:1.0.0\n"
        "      command: [python, evaluate.py]\n"
        "  serve:\n"
        "    image: registry.example.com/bench/serve:1.0.0\n"
        "    replicas: 2\n"
        "    resources: {cpu: 500m, memory: 512Mi}\n"
        "    port: 8080\n" + (scale if autoscale else "")
    )


def write_repo(repo: Path, count: int) -> list[str]:
    """Write ``count`` pipelines and the three environments; return the pipeline names."""
    names = [f"p{i:04d}" for i in range(count)]
    (repo / "pipelines").mkdir(parents=True)
    for i, name in enumerate(names):
        (repo / "pipelines" / f"{name}.yaml").write_text(pipeline_yaml(name, i, i % 10 == 0))
    (repo / "pipelines" / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
        + "".join(f"  - {n}.yaml\n" for n in names)
    )
    for env in ENVS:
        d = repo / "overlays" / env
        d.mkdir(parents=True)
        (d / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            "resources:\n  - ../../pipelines\n  - environment.yaml\n  - quota.yaml\n"
        )
        (d / "environment.yaml").write_text(
            "apiVersion: reconciler.ml/v1alpha1\nkind: Environment\n"
            f"metadata: {{name: {env}}}\n"
            f"spec: {{branch: main, namespace: bench-{env}, serve: true, "
            'provenanceBranch: "runs/{pipeline}"}\n'
        )
        (d / "quota.yaml").write_text(
            "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: compute}\n"
            "spec: {hard: {requests.cpu: '10000', requests.memory: 20000Gi}}\n"
        )
    return names


def render(repo: Path, env: str) -> tuple[str, list[Manifest]]:
    """Render one environment with the project's render: (namespace, objects)."""
    from reconciler import engine
    from reconciler.render import environments
    from reconciler.structs.runs import ServedModel

    prepared = engine.prepare_target(repo, env, branch=None)
    assert prepared.errors == [], prepared.errors[:3]
    models = {
        name: ServedModel(run="0123abcd", model_uri=f"s3://models/{name}/0123abcd/")
        for name in prepared.run_specs
    }
    objs = environments.render_objects(prepared, all_steps=True, models=models)
    return prepared.target.namespace, objs


# -- measuring ----------------------------------------------------------------------------


def api_requests(url: str) -> Counter[str]:
    """Requests so far by verb from the sandbox's /metrics (reads of /metrics excluded)."""

    def read() -> Counter[str]:
        with urllib.request.urlopen(url + "/metrics", timeout=30) as resp:
            text = resp.read().decode()
        out: Counter[str] = Counter()
        for line in text.splitlines():
            m = _METRIC.match(line)
            if m:
                lab = dict(re.findall(r'(\w+)="([^"]*)"', m.group("labels")))
                if lab.get("subresource") != "/metrics":
                    out[lab.get("verb", "")] += int(m.group("value"))
        return out

    last = read()
    while True:  # a request is counted once answered: wait until the counters settle
        time.sleep(0.1)
        now = read()
        if now == last:
            return now
        last = now


class Figures:
    """Requests, writes and wall time of one measured operation."""

    def __init__(self, requests: int, writes: int, seconds: float) -> None:
        self.requests, self.writes, self.seconds = requests, writes, seconds

    def __str__(self) -> str:
        return f"{self.requests:>7} requests {self.writes:>7} writes {self.seconds:>8.2f}s"


def measure(url: str, action: Callable[[], object], what: str = "") -> Figures:
    before = api_requests(url)
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    after = api_requests(url)
    made = {verb: after[verb] - before[verb] for verb in after}
    figures = Figures(
        sum(made.values()), sum(n for verb, n in made.items() if verb in WRITE_VERBS), seconds
    )
    if what:
        print(f"  {what:<24} {figures}", file=sys.stderr, flush=True)
    return figures


def for_kubectl(objs: list[Manifest], namespace: str) -> list[Manifest]:
    """The same objects in the baseline's own namespace."""
    out = []
    for obj in objs:
        meta = dict(obj["metadata"])
        if obj["kind"] == "Namespace":
            meta["name"] = f"{namespace}-kubectl"
        elif meta.get("namespace"):
            meta["namespace"] = f"{meta['namespace']}-kubectl"
        out.append({**obj, "metadata": meta})
    return out


def kubectl_apply(sandbox: Any, home: Path, files: list[Path]) -> None:
    binary = Path(sys.executable).parent / "kubectl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env.update(
        {"KUBECONFIG": str(sandbox.kubeconfig), "HOME": str(home), "KUBECACHEDIR": str(home)}
    )
    for path in files:
        proc = subprocess.run(
            [str(binary if binary.exists() else "kubectl"), "apply", "--server-side", "-f",
             str(path)],
            env=env, capture_output=True, text=True, timeout=1800, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]


def sync_all(sandbox: Any, rendered: dict[str, tuple[str, list[Manifest]]]) -> list[SyncResult]:
    manager = ResourceManager(sandbox.api_client())  # a fresh process's client
    out = []
    for env, (namespace, objs) in rendered.items():
        out.append(sync_objects(manager, applyset=applyset_for(env, namespace), desired=objs))
    return out


def ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b else "inf"


def test_sync_against_kubectl_server_side(sandbox: Any, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    names = write_repo(repo, PIPELINES)
    started = time.perf_counter()
    rendered = {env: render(repo, env) for env in ENVS}
    render_s = time.perf_counter() - started
    total = sum(len(objs) for _, objs in rendered.values())
    home = tmp_path / "kubectl-home"
    home.mkdir()

    def kubectl_files(tag: str) -> list[Path]:
        paths = []
        for env, (namespace, objs) in rendered.items():
            # JSON, not YAML: PyYAML leaves strings such as 12e45678 (a run id) unquoted,
            # which kubectl's YAML reads as numbers.
            path = tmp_path / f"{env}-{tag}.json"
            items = for_kubectl(objs, namespace)
            path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
            paths.append(path)
        return paths

    results: list[SyncResult] = []
    ours_first = measure(
        sandbox.url, lambda: results.extend(sync_all(sandbox, rendered)), "ours: first sync"
    )
    assert all(r.ok for r in results), [str(e) for r in results for e in r.changeset.entries][:5]
    files = kubectl_files("v1")
    kubectl_first = measure(
        sandbox.url, lambda: kubectl_apply(sandbox, home, files), "kubectl: first apply"
    )

    results.clear()
    ours_noop = measure(
        sandbox.url, lambda: results.extend(sync_all(sandbox, rendered)), "ours: no-op"
    )
    assert all(e.action is Action.UNCHANGED for r in results for e in r.changeset.entries)
    kubectl_noop = measure(
        sandbox.url, lambda: kubectl_apply(sandbox, home, files), "kubectl: no-op"
    )

    changed_name = names[len(names) // 2]
    path = repo / "pipelines" / f"{changed_name}.yaml"
    path.write_text(path.read_text().replace("lr: 0.01", "lr: 0.02"))
    rendered = {env: render(repo, env) for env in ENVS}
    files = kubectl_files("v2")
    results.clear()
    ours_change = measure(
        sandbox.url, lambda: results.extend(sync_all(sandbox, rendered)), "ours: one pipeline"
    )
    parents = {applyset_for(env, ns).parent_ref for env, (ns, _) in rendered.items()}
    changed = [
        e
        for r in results
        for e in r.changeset.entries
        if e.action is not Action.UNCHANGED and e.subject not in parents
    ]
    touched = {
        (r.live.get(e.subject.key) or {}).get("metadata", {}).get("labels", {}).get(labels.PIPELINE)
        for r in results
        for e in r.changeset.entries
        if e.action in (Action.CREATED, Action.CONFIGURED)
    }
    assert touched <= {changed_name}, touched
    assert all(e.subject.name.startswith(changed_name) for e in changed), [str(e) for e in changed]
    kubectl_change = measure(
        sandbox.url, lambda: kubectl_apply(sandbox, home, files), "kubectl: one pipeline"
    )

    print(
        f"\n{len(names)} pipelines x {len(ENVS)} environments: {total} objects "
        f"(rendered in {render_s:.1f}s)\n"
        f"first sync      ours    {ours_first}\n"
        f"                kubectl {kubectl_first}\n"
        f"no-op           ours    {ours_noop}\n"
        f"                kubectl {kubectl_noop}\n"
        f"                ratio   {ratio(kubectl_noop.requests, ours_noop.requests)} fewer "
        f"requests, wall time {ours_noop.seconds / kubectl_noop.seconds:.3f}x kubectl's\n"
        f"one pipeline    ours    {ours_change} ({len(changed)} objects changed)\n"
        f"                kubectl {kubectl_change}\n"
        f"                ratio   {ratio(kubectl_change.requests, ours_change.requests)} fewer "
        f"requests, wall time {ours_change.seconds / kubectl_change.seconds:.3f}x kubectl's"
    )
    assert ours_noop.writes == 0
    assert ours_change.writes == len(changed)
