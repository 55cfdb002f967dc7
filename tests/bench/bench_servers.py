"""Benchmark: the sync on both API servers, the sandbox and kube-apiserver, in one run.

Run: ``pytest tests/bench/bench_servers.py -m bench -s`` (kube-apiserver built with
``python -m tools.kube.build``; without it only the sandbox is measured). Prints figures,
asserts only what a sync must do (no write on a no-op, writes only for the changed
pipeline), never a time.

Setup, per server: a generated repository of ``BENCH_SERVER_PIPELINES`` pipelines (200
by default; three batch steps each, served by a Deployment + Service, every tenth with
an HPA) in three environments, rendered once by the project's render into about 1,000
objects per environment. Then, on a fresh server each:

- first sync, no-op, one pipeline changed: the reconciler's sync of the rendered objects
  (``reconciler.apply.sync``: one fresh client per measurement, so discovery is included;
  render time is excluded, as it is for the baseline);
- the same three with ``kubectl apply --server-side -f`` of the same objects, in
  namespaces of its own (``<namespace>-kubectl``), discovery cache warm.

Requests are counted by the server: the sandbox's ``apiserver_request_total``, and on
kube-apiserver its audit log (the admin identity both clients use; the control plane's
own traffic is not counted).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.applysets import applyset_for
from reconciler.apply.manager import ResourceManager
from reconciler.apply.sync import SyncResult, sync_objects
from reconciler.sandbox import Sandbox
from reconciler.structs.changesets import Action
from tests.cluster.control_plane import ControlPlane
from tests.conftest import kubectl_binary
from tools.kube import build

pytestmark = pytest.mark.bench

PIPELINES = int(os.environ.get("BENCH_SERVER_PIPELINES", "200"))
ENVS = ("dev", "staging", "prod")
WRITE_VERBS = {"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"}
_METRIC = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\d+)")

Manifest = dict[str, Any]


def pipeline_yaml(name: str, seed: int, autoscale: bool) -> str:
    """One generated pipeline: three steps, served, maybe autoscaled."""
    scale = "    autoscale: {minReplicas: 1, maxReplicas: 4, targetCPUUtilization: 70}\n"
    return (
        "apiVersion: reconciler.ml/v1alpha1\nkind: Pipeline\n"
        f"metadata: {{name: {name}}}\nspec:\n  params: {{seed: {seed}, lr: 0.01}}\n  steps:\n"
        "    - {name: prepare, image: 'registry.example.com/b/prepare:1', command: [python],"
        " resources: {cpu: '1', memory: 1Gi}}\n"
        "    - {name: train, needs: [prepare], image: 'registry.example.com/b/train:1',"
        f" command: [python], resources: {{cpu: '2', memory: 4Gi}}, output: 's3://m/{name}/{{run}}/'}}\n"
        "    - {name: evaluate, needs: [train], image: 'registry.example.com/b/train:1',"
        " command: [python]}\n"
        "  serve:\n    image: registry.example.com/b/serve:1\n    replicas: 2\n"
        "    resources: {cpu: 500m, memory: 512Mi}\n    port: 8080\n" + (scale if autoscale else "")
    )


def write_repo(repo: Path, count: int) -> list[str]:
    """Write ``count`` pipelines and three environments; return the pipeline names."""
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
            "resources:\n  - ../../pipelines\n  - environment.yaml\n"
        )
        (d / "environment.yaml").write_text(
            "apiVersion: reconciler.ml/v1alpha1\nkind: Environment\n"
            f"metadata: {{name: {env}}}\n"
            f"spec: {{branch: main, namespace: bench-{env}, serve: true, "
            'provenanceBranch: "runs/{pipeline}"}\n'
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
        name: ServedModel(run="0123abcd", model_uri=f"s3://m/{name}/0123abcd/")
        for name in prepared.run_specs
    }
    return prepared.target.namespace, environments.render_objects(
        prepared, all_steps=True, models=models
    )


class Server:
    """A server under measurement: its kubeconfig, a client, and its request counter."""

    def __init__(self, name: str, kubeconfig: Path, counter: Callable[[], Counter[str]]):
        self.name, self.kubeconfig, self._counter = name, kubeconfig, counter

    def counts(self) -> Counter[str]:
        """Requests so far by verb, once the counter has settled."""
        last = self._counter()
        while True:
            time.sleep(0.1)
            now = self._counter()
            if now == last:
                return now
            last = now

    def api_client(self) -> Any:
        """A fresh client, as a new process would build it."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))


def sandbox_counter(url: str) -> Callable[[], Counter[str]]:
    """Read the sandbox's ``apiserver_request_total`` by verb (reads of /metrics excluded)."""

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

    return read


def kube_counter(cp: ControlPlane) -> Callable[[], Counter[str]]:
    """Count the admin identity's requests in kube-apiserver's audit log, by verb."""

    def read() -> Counter[str]:
        out: Counter[str] = Counter()
        for (verb, _res, _code), n in cp.request_counts(users=("admin",)).items():
            out[verb] += n
        return out

    return read


@pytest.fixture(params=["sandbox", "kube-apiserver"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """Each server in turn, fresh."""
    if request.param == "sandbox":
        sb = Sandbox(port=0, controllers=False).start()
        try:
            yield Server(
                "sandbox", sb.write_kubeconfig(tmp_path / "kubeconfig"), sandbox_counter(sb.url)
            )
        finally:
            sb.stop()
        return
    if not build.is_built():
        pytest.skip("kube-apiserver is not built: python -m tools.kube.build")
    with ControlPlane(tmp_path / "kube", controller_manager=False) as cp:
        yield Server("kube-apiserver", cp.kubeconfig_for("admin"), kube_counter(cp))


class Figures:
    """Requests, writes and wall time of one measured operation."""

    def __init__(self, requests: int, writes: int, seconds: float) -> None:
        self.requests, self.writes, self.seconds = requests, writes, seconds

    def __str__(self) -> str:
        return f"{self.requests:>6} requests {self.writes:>6} writes {self.seconds:>7.2f}s"


def measure(server: Server, action: Callable[[], object]) -> Figures:
    """Run ``action``; return the requests and writes it made and its wall time."""
    before = server.counts()
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    made = server.counts() - before
    return Figures(sum(made.values()), sum(n for v, n in made.items() if v in WRITE_VERBS), seconds)


def for_kubectl(objs: list[Manifest]) -> list[Manifest]:
    """The same objects in the baseline's own namespaces."""
    out = []
    for obj in objs:
        meta = dict(obj["metadata"])
        if obj["kind"] == "Namespace":
            meta["name"] = f"{meta['name']}-kubectl"
        elif meta.get("namespace"):
            meta["namespace"] = f"{meta['namespace']}-kubectl"
        out.append({**obj, "metadata": meta})
    return out


def kubectl_apply(server: Server, home: Path, files: list[Path]) -> None:
    """``kubectl apply --server-side -f FILE`` of each file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env.update({"KUBECONFIG": str(server.kubeconfig), "HOME": str(home), "KUBECACHEDIR": str(home)})
    for path in files:
        proc = subprocess.run(
            [kubectl_binary(), "apply", "--server-side", "-f", str(path)],
            env=env, capture_output=True, text=True, timeout=1800, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]


def sync_all(server: Server, rendered: dict[str, tuple[str, list[Manifest]]]) -> list[SyncResult]:
    """Sync every environment's rendered objects with a fresh client."""
    manager = ResourceManager(server.api_client())
    return [
        sync_objects(manager, applyset=applyset_for(env, ns), desired=objs)
        for env, (ns, objs) in rendered.items()
    ]


def test_sync_on_both_servers_against_kubectl(server: Server, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    names = write_repo(repo, PIPELINES)
    rendered = {env: render(repo, env) for env in ENVS}
    total = sum(len(objs) for _, objs in rendered.values())
    home = tmp_path / "kubectl-home"
    home.mkdir()

    def files(tag: str) -> list[Path]:
        out = []
        for env, (_ns, objs) in rendered.items():
            path = tmp_path / f"{env}-{tag}.json"
            path.write_text(
                json.dumps({"apiVersion": "v1", "kind": "List", "items": for_kubectl(objs)})
            )
            out.append(path)
        return out

    results: list[SyncResult] = []
    rows: list[tuple[str, Figures, Figures]] = []
    ours = measure(server, lambda: results.extend(sync_all(server, rendered)))
    assert all(r.ok for r in results), [str(e) for r in results for e in r.changeset.entries][:5]
    v1 = files("v1")
    rows.append(("first sync", ours, measure(server, lambda: kubectl_apply(server, home, v1))))
    results.clear()
    ours = measure(server, lambda: results.extend(sync_all(server, rendered)))
    assert all(e.action is Action.UNCHANGED for r in results for e in r.changeset.entries)
    rows.append(("no-op", ours, measure(server, lambda: kubectl_apply(server, home, v1))))
    assert ours.writes == 0
    changed = names[len(names) // 2]
    spec = repo / "pipelines" / f"{changed}.yaml"
    spec.write_text(spec.read_text().replace("lr: 0.01", "lr: 0.02"))
    rendered = {env: render(repo, env) for env in ENVS}
    v2 = files("v2")
    results.clear()
    ours = measure(server, lambda: results.extend(sync_all(server, rendered)))
    parents = {applyset_for(env, ns).parent_ref for env, (ns, _) in rendered.items()}
    touched = [
        e
        for r in results
        for e in r.changeset.entries
        if e.action is not Action.UNCHANGED and e.subject not in parents
    ]
    assert all(e.subject.name.startswith(changed) for e in touched), [str(e) for e in touched]
    assert ours.writes == len(touched)
    rows.append(("one pipeline", ours, measure(server, lambda: kubectl_apply(server, home, v2))))
    print(f"\n{server.name}: {PIPELINES} pipelines x {len(ENVS)} environments, {total} objects")
    for what, mine, theirs in rows:
        print(f"  {what:<13} ours    {mine}")
        print(
            f"  {'':<13} kubectl {theirs}   ({theirs.requests / max(mine.requests, 1):.1f}x "
            f"our requests, our time {mine.seconds / theirs.seconds:.2f}x)"
        )
