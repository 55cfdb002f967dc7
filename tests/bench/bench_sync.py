"""Benchmark: a whole ``reconciler sync`` process against ``kubectl apply --server-side``.

Run: ``pytest tests/bench/bench_sync.py -m bench -s`` (``BENCH_SIZES=100,1000`` pipelines;
add 10000 for the large case). Prints figures; asserts only what the sync must do (no write
on a no-op, writes only for the changed pipeline), never a time.

End to end, as a user runs it. For each size, a generated repository of N pipelines (three
batch steps each, served by a Deployment + Service, every tenth with an HPA) and one
environment, with a bare ``origin`` for the provenance branches, is synced into the sandbox
by ``reconciler sync --env dev`` processes until every run has finished and is recorded and
a sync changes nothing (*settled*: the records are present, as in a running system). Then,
measured in the same run on the same sandbox:

- ours, no-op: one more ``reconciler sync`` process (a new Python process: imports, Git,
  records, render, discovery, the cluster), wall time from start to exit;
- kubectl, no-op: ``kubectl apply --server-side -f`` of the same objects (the environment's
  live objects, server-set fields removed), in a namespace of its own, applied once before
  so that it too is a no-op, its discovery cache warm;
- ours, one pipeline changed: the middle pipeline's params change (a new run: new Jobs),
  committed, one ``reconciler sync`` process.

Ours are printed as soon as measured, before kubectl runs: at 10,000 pipelines (50,000
objects) kubectl's applies take most of an hour on a small machine; ``BENCH_KUBECTL=0``
skips them (and the ratio). ``BENCH_PROFILE=path`` runs one more no-op under cProfile
(CPU time) and writes ``path-<count>``; ``BENCH_HOLD=file`` then keeps the settled
environment and times a no-op each time that file changes (code changed since). Settling takes one sync per step of a pipeline and one to
record (more while the sandbox's controllers catch up at 10,000); ``BENCH_SETTLE_SYNCS``
raises the limit (40).

Requests and writes are counted from the sandbox's ``apiserver_request_total``.
Caches: the state directory is the one the settling syncs used, so the no-op finds what the
previous process derived (Kustomize output by tree id, parsed documents, record summaries by
blob id), as a second ``reconciler sync`` on a user's machine would.
"""

from __future__ import annotations

import compileall
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import reconciler
from reconciler.structs import labels

pytestmark = pytest.mark.bench

SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "100,1000").split(",")]
ENV = "dev"
NAMESPACE = "bench-dev"
SETTLE_SYNCS = int(os.environ.get("BENCH_SETTLE_SYNCS", "40"))
KUBECTL = os.environ.get("BENCH_KUBECTL", "1") != "0"
PROFILE = os.environ.get("BENCH_PROFILE", "")
HOLD = os.environ.get("BENCH_HOLD", "")
WRITE_VERBS = {"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"}
_METRIC = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\d+)")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}

Manifest = dict[str, Any]


# -- the repository -----------------------------------------------------------------------


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


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
        env={**os.environ, **GIT_ENV},
    ).stdout  # fmt: skip


def write_repo(base: Path, count: int) -> tuple[Path, list[str]]:
    """Write and commit ``count`` pipelines and one environment, with a bare origin."""
    repo = base / "repo"
    names = [f"p{i:05d}" for i in range(count)]
    (repo / "pipelines").mkdir(parents=True)
    for i, name in enumerate(names):
        (repo / "pipelines" / f"{name}.yaml").write_text(pipeline_yaml(name, i, i % 10 == 0))
    (repo / "pipelines" / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
        + "".join(f"  - {n}.yaml\n" for n in names)
    )
    overlay = repo / "overlays" / ENV
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources:\n  - ../../pipelines\n  - environment.yaml\n  - quota.yaml\n"
    )
    (overlay / "environment.yaml").write_text(
        "apiVersion: reconciler.ml/v1alpha1\nkind: Environment\n"
        f"metadata: {{name: {ENV}}}\n"
        f"spec: {{branch: main, namespace: {NAMESPACE}, serve: true, "
        'provenanceBranch: "runs/{pipeline}"}\n'
    )
    (overlay / "quota.yaml").write_text(
        "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: compute}\n"
        "spec: {hard: {requests.cpu: '100000', requests.memory: 200000Gi}}\n"
    )
    git(base, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "pipelines")
    origin = base / "origin.git"
    git(base, "init", "-q", "--bare", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "-u", "origin", "main")
    return repo, names


# -- measuring ----------------------------------------------------------------------------


def api_requests(url: str) -> Counter[str]:
    """Requests so far by verb from the sandbox's /metrics (reads of /metrics excluded)."""

    def read() -> Counter[str]:
        with urllib.request.urlopen(url + "/metrics", timeout=60) as resp:
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
        time.sleep(0.2)
        now = read()
        if now == last:
            return now
        last = now


class Figures:
    """Requests, writes and wall time of one measured operation."""

    def __init__(self, requests: int, writes: int, seconds: float) -> None:
        self.requests, self.writes, self.seconds = requests, writes, seconds

    def __str__(self) -> str:
        return f"{self.requests:>7} requests {self.writes:>6} writes {self.seconds:>8.2f} s"


def measured(
    url: str, command: list[str], *, cwd: Path, env: dict[str, str]
) -> tuple[Figures, str]:
    """Run ``command`` as a process; return its figures and stdout (it must succeed).

    Its output goes to files, as a user's ``> out.json`` does, not to pipes: this process
    also serves the sandbox, whose threads hold the GIL while the controllers work after a
    large sync, and a pipe read here waited behind them (a 10,000-pipeline first sync spent
    10 s of its 65 s blocked writing its JSON to a full pipe).
    """
    before = api_requests(url)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=err, timeout=3600)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    after = api_requests(url)
    assert proc.returncode == 0, (command, stdout[-2000:], stderr[-2000:])
    made = {verb: after[verb] - before[verb] for verb in after}
    writes = sum(n for verb, n in made.items() if verb in WRITE_VERBS)
    return Figures(sum(made.values()), writes, seconds), stdout


PROFILED = """
import cProfile, runpy, sys, time
out = sys.argv[1]
sys.argv = ["reconciler", *sys.argv[2:]]
profile = cProfile.Profile(time.process_time)
try:
    profile.runcall(runpy.run_module, "reconciler", run_name="__main__")
except SystemExit as stop:
    if stop.code:
        raise
finally:
    profile.dump_stats(out)
"""
"""A no-op sync under cProfile counting CPU time (``python -c PROFILED OUT -m reconciler ...``)."""


def sync_command() -> list[str]:
    return [sys.executable, "-m", "reconciler", "sync", "--env", ENV, "--format", "json"]


def kubectl_command(path: Path) -> list[str]:
    binary = Path(sys.executable).parent / "kubectl"
    exe = str(binary) if binary.exists() else "kubectl"
    return [exe, "apply", "--server-side", "-f", str(path)]


def settled(outcome: dict[str, Any]) -> bool:
    """True if every run has finished and nothing was changed by this sync."""
    summary = outcome["summary"]
    changed = summary["created"] + summary["configured"] + summary["deleted"]
    done = all(p["status"] == "Succeeded" for p in outcome["pipelines"])
    return outcome["ok"] and done and changed == 0 and not outcome["records"]


def live_members(sandbox: Any) -> list[Manifest]:
    """Return the environment's live objects as kubectl would apply them (server fields out)."""
    from reconciler.apply.applysets import applyset_for
    from reconciler.apply.manager import ResourceManager

    manager = ResourceManager(sandbox.api_client())
    out: list[Manifest] = []
    selector = applyset_for(ENV, NAMESPACE).selector
    for api, kind in (
        ("v1", "Namespace"), ("v1", "ResourceQuota"), ("batch/v1", "Job"),
        ("apps/v1", "Deployment"), ("v1", "Service"), ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("networking.k8s.io/v1", "NetworkPolicy"), ("policy/v1", "PodDisruptionBudget"),
    ):  # fmt: skip
        namespace = "" if kind == "Namespace" else NAMESPACE
        for obj in manager.list(api, kind, namespace=namespace, label_selector=selector):
            out.append(applied_form(obj))
    return out


def applied_form(obj: Manifest) -> Manifest:
    """An object as a user would apply it: no status, no server-set metadata, own namespace."""
    meta = obj.get("metadata") or {}
    keep = {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta}
    # Not members of our ApplySet, nor of our environment: copies kubectl owns.
    keep["labels"] = {
        k: v for k, v in (meta.get("labels") or {}).items()
        if k not in (labels.APPLYSET_PART_OF, labels.ENV)
    }  # fmt: skip
    if obj["kind"] == "Namespace":
        keep["name"] = f"{meta['name']}-kubectl"
    elif keep.get("namespace"):
        keep["namespace"] = f"{keep['namespace']}-kubectl"
    out = {k: v for k, v in obj.items() if k not in ("status", "metadata")}
    out["metadata"] = keep
    spec = out.get("spec")
    if obj["kind"] == "Job" and isinstance(spec, dict):
        # The Job controller's own selector and pod labels are immutable and server-made.
        spec = dict(spec)
        spec.pop("selector", None)
        template = dict(spec.get("template") or {})
        tmeta = dict(template.get("metadata") or {})
        tmeta["labels"] = {
            k: v
            for k, v in (tmeta.get("labels") or {}).items()
            if k not in ("controller-uid", "batch.kubernetes.io/controller-uid", "job-name",
                         "batch.kubernetes.io/job-name")
        }  # fmt: skip
        template["metadata"] = tmeta
        spec["template"] = template
        out["spec"] = spec
    return out


def hold(control: Path, url: str, repo: Path, env: dict[str, str]) -> None:
    """Keep the settled environment and time one more no-op each time ``control`` changes.

    For measuring code changed after a long settle (10,000 pipelines settle in half an
    hour): the no-op runs whatever code the interpreter imports at that moment. Writing
    ``stop`` into ``control`` ends the hold; ``profile <path>`` profiles that no-op.
    """
    print(f"holding: write to {control} to time a no-op, 'stop' to go on", file=sys.stderr)
    control.write_text("")  # a file left with "stop" by an earlier hold would never change
    seen = ""
    while True:
        time.sleep(1.0)
        text = control.read_text() if control.exists() else ""
        if text == seen:
            continue
        seen = text
        if text.strip() == "stop":
            return
        command = sync_command()
        if text.startswith("profile "):
            command = [sys.executable, "-c", PROFILED, text.split()[1], *command[3:]]
        figures, out = measured(url, command, cwd=repo, env=env)
        print(
            f"held no-op ({text.strip()}): {figures} settled {settled(json.loads(out))}"
            f" (load average {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True,
        )  # fmt: skip


def import_floor() -> float:
    """Median wall time of a process that only imports the official kubernetes client.

    Every ``reconciler sync`` pays it (its ``__init__`` imports the whole client: kube
    config with google-auth and OAuth, the dynamic client with kubernetes-validate and
    jsonschema), so it bounds the ratio a small no-op can reach.
    """
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import kubernetes"], check=True)
        times.append(time.perf_counter() - started)
    return sorted(times)[1]


def ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b else "inf"


@pytest.mark.parametrize("count", SIZES)
def test_sync_process_against_kubectl_server_side(sandbox: Any, tmp_path: Path, count: int) -> None:
    repo, names = write_repo(tmp_path, count)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env.update(
        {
            "KUBECONFIG": str(sandbox.kubeconfig),
            "RECONCILER_STATE_DIR": str(tmp_path / "state"),
            "HOME": str(tmp_path / "home"),
            "KUBECACHEDIR": str(tmp_path / "home" / "kube-cache"),
            **GIT_ENV,
        }
    )
    (tmp_path / "home").mkdir()
    # Bytecode, as an installed wheel has it (an editable install under
    # PYTHONDONTWRITEBYTECODE would compile the package from source in every process).
    compileall.compile_dir(str(Path(reconciler.__file__).parent), quiet=1)

    # Settle: sync until every run has finished, is recorded, and a sync changes nothing.
    settle_started = time.perf_counter()
    first, out = measured(sandbox.url, sync_command(), cwd=repo, env=env)
    print(f"\n{count} pipelines: first sync {first}", file=sys.stderr, flush=True)
    syncs = 1
    while not settled(json.loads(out)):
        assert syncs < SETTLE_SYNCS, "the environment did not settle"
        time.sleep(3.0)
        figures, out = measured(sandbox.url, sync_command(), cwd=repo, env=env)
        syncs += 1
        outcome = json.loads(out)
        print(
            f"  settling sync {syncs}: {figures}, {len(outcome['records'])} runs recorded",
            file=sys.stderr, flush=True,
        )  # fmt: skip
    settle_s = time.perf_counter() - settle_started
    records = git(repo, "ls-remote", "origin", "refs/heads/runs/*").count("\n")
    assert records == count  # one provenance branch per pipeline: every run recorded

    ours_noop, out = measured(sandbox.url, sync_command(), cwd=repo, env=env)
    assert settled(json.loads(out))
    assert ours_noop.writes == 0
    print(
        f"{count} pipelines: {records} runs recorded (settled in {syncs} syncs, {settle_s:.0f} s)"
        f"\nno-op, whole process   ours    {ours_noop} (load average {os.getloadavg()[0]:.1f})",
        file=sys.stderr, flush=True,
    )  # fmt: skip

    if PROFILE:  # one more no-op under cProfile (CPU time), written to BENCH_PROFILE-<count>
        out_path = f"{PROFILE}-{count}"
        profiled = [sys.executable, "-c", PROFILED, out_path, *sync_command()[3:]]
        measured(sandbox.url, profiled, cwd=repo, env=env)
        print(f"profile of a no-op: {out_path}", file=sys.stderr, flush=True)
    if HOLD:
        hold(Path(HOLD), sandbox.url, repo, env)

    objects = live_members(sandbox)
    kubectl_first = kubectl_noop = None
    if KUBECTL:
        path = tmp_path / "objects.json"
        path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
        kubectl_first, _ = measured(sandbox.url, kubectl_command(path), cwd=tmp_path, env=env)
        kubectl_noop, _ = measured(sandbox.url, kubectl_command(path), cwd=tmp_path, env=env)

    changed = names[len(names) // 2]
    spec = repo / "pipelines" / f"{changed}.yaml"
    spec.write_text(spec.read_text().replace("lr: 0.01", "lr: 0.02"))
    git(repo, "commit", "-q", "-am", f"{changed}: lr 0.02")
    ours_change, out = measured(sandbox.url, sync_command(), cwd=repo, env=env)
    outcome = json.loads(out)
    touched = {c["name"] for c in outcome["changes"] if c["action"] != "unchanged"}
    assert all(name.startswith(changed) or name == NAMESPACE for name in touched), touched

    floor = import_floor()
    if kubectl_noop is None:
        against = (
            "                       kubectl not run (BENCH_KUBECTL=0)\n"
            f"floor                  `import kubernetes` alone {floor:.2f} s\n"
        )
    else:
        against = (
            f"                       kubectl {kubectl_noop}\n"
            f"                       ratio   {ratio(kubectl_noop.requests, ours_noop.requests)} "
            f"fewer requests, wall time {ours_noop.seconds / kubectl_noop.seconds:.3f}x "
            f"kubectl's\nfloor                  `import kubernetes` alone {floor:.2f} s = "
            f"{floor / kubectl_noop.seconds:.3f}x kubectl's (the official client's import)\n"
            f"first apply            kubectl {kubectl_first} (of the settled objects)\n"
        )
    print(
        f"\n{count} pipelines, 1 environment: {len(objects)} objects, {records} runs recorded "
        f"(settled in {syncs} syncs, {settle_s:.0f} s)\n"
        f"no-op, whole process   ours    {ours_noop}\n{against}"
        f"one pipeline changed   ours    {ours_change} ({len(touched)} objects changed)\n"
        f"machine load average   {os.getloadavg()[0]:.1f}",
        flush=True,
    )
