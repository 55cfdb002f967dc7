"""Benchmarks of the daemon (``reconciler run`` as a process against the sandbox).

Run: ``pytest tests/bench/bench_daemon.py -m bench -s``. Prints figures; asserts only that
the daemon did its job (never a time).

- push -> first apply: a commit changes a pipeline's params (a new run); the clock starts
  before ``git push`` and stops when the new run's first Job exists in the cluster, over 20
  pushes: from the clone the daemon runs on (``--repo <clone>``: its refs watched, its
  remote fetched), and to a bare remote the daemon mirrors, fetched on a signed webhook.
- push -> first write at scale: 100 and 1,000 pipelines x 3 environments, every run in
  flight (a tenth of them finishing and recorded during the pushes, so watch events keep
  the environments busy), 10 pushes of one pipeline's params from the clone the daemon
  runs on; the clock starts before ``git push`` and stops when the new run's first Job
  exists in any environment (and, second figure, in all three).
- memory: the daemon's resident set size once 1,000 pipelines x 3 environments have been
  reconciled (3,000 Jobs applied), next to the same daemon with 1 pipeline (baseline).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from reconciler.daemon import webhooks
from tests.bench import procfs
from tests.daemon.helpers import free_port, http, metric_value, wait_for
from tests.support import dvcrepos

pytestmark = pytest.mark.bench

PUSHES = 20
SCALE_PUSHES = int(os.environ.get("BENCH_PUSHES", "10"))
PIPELINE = "fraud-detector"
NAMESPACE = "ml-prod"
SECRET = "bench-webhook-secret"


class DaemonProcess:
    """``python -m reconciler run ...`` with its output in a file."""

    def __init__(
        self, tmp: Path, kubeconfig: Path, repo: str, *args: str, report: Path | None = None
    ) -> None:
        """With ``report``, run under ``tests.bench.memory_report`` (see :meth:`report`)."""
        self.port = free_port()
        self.log = (tmp / "daemon.log").open("wb")
        self.report_path = report
        python = [sys.executable, "-m", "reconciler"]
        if report is not None:
            traced = ["-X", f"tracemalloc={MEMORY_REPORT}"] if MEMORY_REPORT.isdigit() else []
            python = [sys.executable, *traced, "-m", "tests.bench.memory_report", str(report)]
        self.proc = subprocess.Popen(
            [
                *python, "run", "--repo", repo,
                "--listen", f"127.0.0.1:{self.port}", "--kubeconfig", str(kubeconfig),
                "--state-dir", str(tmp / "state"), "--log-format", "json", *args,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **dvcrepos.tool_env()},
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"

    def metrics(self) -> str:
        return http(self.url + "/metrics")[1].decode()

    def rss_kib(self) -> tuple[int, int]:
        return procfs.rss_kib(self.proc.pid)

    def report(self) -> str:
        """Return what the daemon's memory holds (caches; allocations with tracemalloc)."""
        assert self.report_path is not None
        self.report_path.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGUSR1)
        path = self.report_path
        assert wait_for(lambda: path.exists() and path.stat().st_size > 0, 600, step=1.0)
        time.sleep(2.0)  # let the report finish writing
        return path.read_text()

    def stop(self, timeout: float = 15) -> int:
        """Terminate the daemon; return its exit code (it finishes in-flight reconciles)."""
        self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        finally:
            self.log.close()


def runs_of(api: client.ApiClient, pipeline: str) -> set[str]:
    jobs = client.BatchV1Api(api).list_namespaced_job(
        NAMESPACE, label_selector=f"reconciler.ml/pipeline={pipeline}"
    )
    return {(j.metadata.labels or {}).get("reconciler.ml/run", "") for j in jobs.items}


def change_params(repo: Path, i: int) -> None:
    path = repo / "pipelines" / f"{PIPELINE}.yaml"
    text = re.sub(r"seed: \d+", f"seed: {1000 + i}", path.read_text(), count=1)
    path.write_text(text)


def report(label: str, seconds: list[float]) -> None:
    ordered = sorted(seconds)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(
        f"\n{label}: push -> first apply over {len(seconds)} pushes: "
        f"p50 {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms"
    )


def measure_pushes(api: client.ApiClient, push: Any) -> list[float]:
    """Push PUSHES changes one by one; return the seconds until each new run's Job appears."""
    latencies = []
    for i in range(PUSHES):
        before = runs_of(api, PIPELINE)
        started = push(i)
        new = wait_for(lambda b=before: runs_of(api, PIPELINE) - b, 30, step=0.01)
        assert new, f"push {i}: no new run of {PIPELINE} appeared"
        latencies.append(time.monotonic() - started)
    return latencies


def test_push_to_first_apply_from_the_watched_clone(sandbox: Any, tmp_path: Path) -> None:
    sandbox.install_crds()
    api = sandbox.api_client()
    work = dvcrepos.copy_example_repo(tmp_path / "work")
    daemon = DaemonProcess(tmp_path, sandbox.kubeconfig, str(work), "--env", "prod")
    try:
        assert wait_for(lambda: runs_of(api, PIPELINE), 60), "no first reconcile"

        def push(i: int) -> float:
            change_params(work, i)
            dvcrepos.commit_all(work, f"seed {i}")
            started = time.monotonic()  # the clock starts before the push
            dvcrepos.git(work, "push", "-q", "origin", "main")
            return started

        latencies = measure_pushes(api, push)
    finally:
        assert daemon.stop() == 0
    report("git push from the clone the daemon runs on (its refs watched)", latencies)


def test_push_to_first_apply_with_the_webhook(sandbox: Any, tmp_path: Path) -> None:
    sandbox.install_crds()
    api = sandbox.api_client()
    work = dvcrepos.copy_example_repo(tmp_path / "work")
    remote = dvcrepos.origin_of(work)
    # Read by URL (a mirror, no work tree), a DVC remote inside the repository is refused:
    # the data goes to a store outside it, as an in-cluster install needs.
    store = tmp_path / "dvc-store"
    shutil.copytree(work / "dvc-storage", store)
    dvcrepos.dvc(work, "remote", "modify", "storage", "url", str(store))
    dvcrepos.commit_all(work, "DVC remote outside the repository")
    dvcrepos.git(work, "push", "-q", "origin", "main")
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET)
    daemon = DaemonProcess(
        tmp_path, sandbox.kubeconfig, remote.as_uri(), "--env", "prod",
        "--interval", "1h", "--webhook-secret-file", str(secret_file),
    )  # fmt: skip
    try:
        assert wait_for(lambda: runs_of(api, PIPELINE), 60), "no first reconcile"

        def push(i: int) -> float:
            change_params(work, i)
            dvcrepos.commit_all(work, f"seed {i}")
            started = time.monotonic()  # the clock starts before the push
            dvcrepos.git(work, "push", "-q", "origin", "main")
            after = dvcrepos.git(work, "rev-parse", "HEAD").strip()
            body = json.dumps({"ref": "refs/heads/main", "after": after}).encode()
            status, _ = http(
                daemon.url + "/hooks/git",
                method="POST",
                body=body,
                headers={
                    "X-Hub-Signature-256": webhooks.github_signature(SECRET.encode(), body),
                    "X-GitHub-Event": "push",
                    "X-GitHub-Delivery": f"bench-{i}-{after}",  # replays are refused (409)
                },
            )
            assert status == 202
            return started

        latencies = measure_pushes(api, push)
    finally:
        assert daemon.stop() == 0
    report("webhook + fetch of a remote", latencies)


def write_many_pipelines(repo: Path, count: int, envs: tuple[str, ...]) -> None:
    names = [f"p{i:04d}" for i in range(count)]
    (repo / "pipelines").mkdir(parents=True)
    for name in names:
        (repo / "pipelines" / f"{name}.yaml").write_text(
            "apiVersion: reconciler.ml/v1alpha1\nkind: Pipeline\n"
            f"metadata: {{name: {name}}}\n"
            "spec:\n"
            f"  params: {{seed: {len(name)}}}\n"
            "  steps:\n"
            "    - name: train\n"
            "      image: registry.example.com/bench/train:1.0.0\n"
            "      command: [python, train.py]\n"
            "      resources: {cpu: '1', memory: 1Gi}\n"
            f"      output: s3://models/{name}/{{run}}/\n"
        )
    (repo / "pipelines" / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
        + "".join(f"  - {n}.yaml\n" for n in names)
    )
    for env in envs:
        d = repo / "overlays" / env
        d.mkdir(parents=True)
        (d / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            "resources:\n  - ../../pipelines\n  - environment.yaml\n"
        )
        (d / "environment.yaml").write_text(
            "apiVersion: reconciler.ml/v1alpha1\nkind: Environment\n"
            f"metadata: {{name: {env}}}\n"
            f"spec: {{branch: main, namespace: bench-{env}, serve: false, "
            'provenanceBranch: "runs/{pipeline}"}\n'
        )


MEMORY_SIZES = [int(n) for n in os.environ.get("BENCH_MEMORY_PIPELINES", "1,1000").split(",")]
MEMORY_REPORT = os.environ.get("BENCH_MEMORY_REPORT", "")
"""``caches``: print what the daemon's caches hold once reconciled; a number N: also run it
under tracemalloc with N frames and print its top allocations (RSS then includes
tracemalloc's own)."""


@pytest.mark.parametrize("count", MEMORY_SIZES)
def test_memory_with_1000_pipelines_in_3_environments(
    sandbox: Any, tmp_path: Path, count: int
) -> None:
    """The daemon's RSS once it has reconciled ``count`` pipelines in three environments.

    ``BENCH_MEMORY_PIPELINES`` (``1,1000``) chooses the sizes, e.g. ``10000``;
    ``BENCH_MEMORY_REPORT`` prints what the daemon holds (see ``MEMORY_REPORT``).
    """
    envs = ("dev", "staging", "prod")
    repo = tmp_path / "many"
    write_many_pipelines(repo, count, envs)
    dvcrepos.git(repo, "init", "-q", "-b", "main")
    dvcrepos.commit_all(repo, f"{count} pipelines")
    api = sandbox.api_client()
    report = tmp_path / "memory-report.txt" if MEMORY_REPORT else None
    daemon = DaemonProcess(
        tmp_path, sandbox.kubeconfig, str(repo), "--follow", "local", report=report
    )
    started = time.monotonic()
    held = ""
    try:

        def all_reconciled() -> bool:
            text = daemon.metrics()
            return all(
                (metric_value(text, "reconciler_reconciles_total", f'env="{e}",result="ok"') or 0)
                >= 1
                for e in envs
            )

        assert wait_for(all_reconciled, max(600, count * 0.3), step=0.5), daemon.metrics()[-3000:]
        took = time.monotonic() - started
        rss, hwm = daemon.rss_kib()
        print(  # now: a slow listing or stop below must not lose the figure
            f"\n{count:,} pipelines x 3 environments: first full reconcile {took:.1f}s; "
            f"daemon RSS {rss / 1024:.0f} MiB (peak {hwm / 1024:.0f} MiB)"
        )
        held = daemon.report() if report is not None else ""
        jobs = sum(
            len(client.BatchV1Api(api).list_namespaced_job(f"bench-{e}").items) for e in envs
        )
    finally:  # a reconcile of every environment may be in flight (runs finishing)
        assert daemon.stop(max(15, count * 0.03)) == 0
    assert jobs == 3 * count
    print(f"{jobs} Jobs")
    if held:
        print(held)


def jobs_of(
    api: client.ApiClient, namespaces: tuple[str, ...], pipeline: str
) -> dict[str, set[str]]:
    """Return the run labels of a pipeline's Jobs per namespace."""
    out = {}
    for ns in namespaces:
        jobs = client.BatchV1Api(api).list_namespaced_job(
            ns, label_selector=f"reconciler.ml/pipeline={pipeline}"
        )
        out[ns] = {(j.metadata.labels or {}).get("reconciler.ml/run", "") for j in jobs.items}
    return out


ENVS = ("dev", "staging", "prod")
NAMESPACES = tuple(f"bench-{e}" for e in ENVS)


def scale_world(sandbox: Any, tmp_path: Path, count: int) -> Path:
    """Return a clone (with a bare origin) of ``count`` pipelines x 3 environments, and
    program the sandbox: a tenth of the runs finish a minute in (recorded while the pushes
    go on), the others stay in flight for the whole benchmark."""
    work = tmp_path / "work"
    write_many_pipelines(work, count, ENVS)
    dvcrepos.git(work, "init", "-q", "-b", "main")
    dvcrepos.commit_all(work, f"{count} pipelines")
    origin = tmp_path / "origin.git"
    dvcrepos.git(tmp_path, "clone", "-q", "--bare", str(work), str(origin))
    dvcrepos.git(work, "remote", "add", "origin", str(origin))
    dvcrepos.git(work, "fetch", "-q", "origin")
    rules = {
        "10-finishing": {"match": "bench-*/p*0-*-train", "delay": 60.0},
        "20-in-flight": {"match": "*", "delay": 3600.0},
    }
    client.CoreV1Api(sandbox.api_client()).create_namespaced_config_map(
        "kube-system",
        {
            "metadata": {"name": "sandbox-outcomes", "namespace": "kube-system"},
            "data": {k: json.dumps(v) for k, v in rules.items()},
        },
    )
    return work


def reconciled_envs(daemon: DaemonProcess) -> set[str]:
    """Return the environments a daemon has reconciled successfully at least once."""
    text = daemon.metrics()
    return {
        e
        for e in ENVS
        if (metric_value(text, "reconciler_reconciles_total", f'env="{e}",result="ok"') or 0) >= 1
    }


def measure_scale_pushes(
    api: client.ApiClient, work: Path, count: int
) -> tuple[list[float], list[float]]:
    """Push SCALE_PUSHES params changes from the clone; return (first write, all 3) seconds."""
    firsts: list[float] = []
    alls: list[float] = []
    for i in range(SCALE_PUSHES):
        pipeline = f"p{(count // 2 + i) % count:04d}"
        before = jobs_of(api, NAMESPACES, pipeline)
        path = work / "pipelines" / f"{pipeline}.yaml"
        path.write_text(re.sub(r"seed: \d+", f"seed: {9000 + i}", path.read_text(), count=1))
        dvcrepos.commit_all(work, f"{pipeline}: seed {9000 + i}")
        clock = time.monotonic()  # the clock starts before the push
        dvcrepos.git(work, "push", "-q", "origin", "main")
        first = None
        deadline = clock + 900
        while time.monotonic() < deadline:
            now = jobs_of(api, NAMESPACES, pipeline)
            new = [ns for ns in NAMESPACES if now[ns] - before[ns]]
            if new and first is None:
                first = time.monotonic() - clock
            if len(new) == len(NAMESPACES):
                break
            time.sleep(0.05)
        assert first is not None, f"push {i}: no new run of {pipeline}"
        firsts.append(first)
        alls.append(time.monotonic() - clock)
        print(f"push {i}: first write {first:.2f}s, all environments {alls[-1]:.2f}s")
    return firsts, alls


@pytest.mark.parametrize("count", [100, 1000])
def test_push_to_first_write_at_scale_with_runs_in_flight(
    sandbox: Any, tmp_path: Path, count: int
) -> None:
    work = scale_world(sandbox, tmp_path, count)
    api = sandbox.api_client()
    daemon = DaemonProcess(tmp_path, sandbox.kubeconfig, str(work), "--interval", "1h")
    try:
        started = time.monotonic()
        assert wait_for(lambda: reconciled_envs(daemon) == set(ENVS), 1800, step=1.0), (
            daemon.metrics()[-3000:]
        )
        print(
            f"\n{count} x 3: first reconcile of every environment {time.monotonic() - started:.1f}s"
        )
        firsts, alls = measure_scale_pushes(api, work, count)
    finally:
        assert daemon.stop() == 0
    report(f"{count:,} pipelines x 3 environments, runs in flight: first write", firsts)
    report(f"{count:,} pipelines x 3 environments, runs in flight: all 3 written", alls)


@pytest.mark.parametrize("split", ["shard", "env"])
def test_three_daemons_split_1000_pipelines_x_3_environments(
    sandbox: Any, tmp_path: Path, split: str
) -> None:
    """Three daemons, ``--shard I/3`` or one ``--env`` each: what each holds, push -> write.

    ``BENCH_SPLIT_PIPELINES`` pipelines per environment (1,000).
    """
    count = int(os.environ.get("BENCH_SPLIT_PIPELINES", "1000"))
    work = scale_world(sandbox, tmp_path, count)
    api = sandbox.api_client()
    daemons = []
    for i, env in enumerate(ENVS):
        home = tmp_path / f"daemon-{i}"
        home.mkdir()
        selection = ("--shard", f"{i}/3") if split == "shard" else ("--env", env)
        daemons.append(
            DaemonProcess(home, sandbox.kubeconfig, str(work), "--interval", "1h", *selection)
        )
    try:
        started = time.monotonic()

        def every_env_reconciled() -> bool:
            held = set().union(*(reconciled_envs(d) for d in daemons))
            return held == set(ENVS)

        assert wait_for(every_env_reconciled, 1800, step=1.0)
        took = time.monotonic() - started
        held = [sorted(reconciled_envs(d)) for d in daemons]
        rss = [d.rss_kib()[0] // 1024 for d in daemons]
        print(
            f"\n--{split}: first reconcile of every environment {took:.1f}s; environments held "
            f"per daemon {held}; RSS MiB {rss}"
        )
        firsts, alls = measure_scale_pushes(api, work, count)
    finally:
        for d in daemons:
            assert d.stop() == 0
    report(f"three daemons (--{split}), {count:,} x 3, runs in flight: first write", firsts)
    report(f"three daemons (--{split}), {count:,} x 3, runs in flight: all 3 written", alls)
