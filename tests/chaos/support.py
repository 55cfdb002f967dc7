"""Helpers of the chaos suite: the CLI and the daemon as real processes, and the checks.

Everything runs for real: ``reconciler`` processes (killed with SIGKILL where a case says
so) against the sandbox over HTTP, git repositories with a bare origin, the provenance
branches read back from the origin with git.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from reconciler import engine
from reconciler.sandbox.kubeconfig import write_kubeconfig
from reconciler.structs import labels
from tests.support import dvcrepos
from tests.workflows.world import World

RECONCILER = str(Path(sys.executable).parent / "reconciler")
SERVED = {
    "fraud-detector": ("apps", "Deployment"),
    "resnet50": ("serving.kserve.io", "InferenceService"),
}


def process_env(kubeconfig: Path, state: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "RECONCILER_"))}
    env.update({"KUBECONFIG": str(kubeconfig), "RECONCILER_STATE_DIR": str(state), **extra})
    return env


def spawn(args: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")  # noqa: SIM115 (closed with the process by the caller)
    return subprocess.Popen(
        [RECONCILER, *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
    )


def run(
    args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RECONCILER, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kubeconfig_for(server: str, path: Path, *, token: str | None = None) -> Path:
    write_kubeconfig(path, server)
    if token:
        doc = yaml.safe_load(path.read_text())
        for user in doc.get("users") or []:
            user.setdefault("user", {})["token"] = token
        path.write_text(yaml.safe_dump(doc))
    return path


def live_runs(world: World, ns: str = "ml-dev") -> dict[str, set[str]]:
    """``{pipeline: {run}}`` of the live step objects (Jobs and PyTorchJobs)."""
    out: dict[str, set[str]] = {}
    batch = client.BatchV1Api(world.api)
    items = [j.metadata.labels or {} for j in batch.list_namespaced_job(ns).items]
    custom = client.CustomObjectsApi(world.api).list_namespaced_custom_object(
        "kubeflow.org", "v1", ns, "pytorchjobs"
    )["items"]
    items += [(i["metadata"].get("labels") or {}) for i in custom]
    for lab in items:
        if labels.PIPELINE in lab and labels.RUN in lab:
            out.setdefault(lab[labels.PIPELINE], set()).add(lab[labels.RUN])
    return out


def serving_present(world: World) -> set[str]:
    present = set()
    if world.deployment("fraud-detector") is not None:
        present.add("fraud-detector")
    if world.inference_service("resnet50") is not None:
        present.add("resnet50")
    return present


def record_files(world: World, pipeline: str) -> list[str]:
    return world.origin_files(f"experiments/{pipeline}", f"runs/dev/{pipeline}/")


def commits_touching(world: World, branch: str, path: str) -> int:
    out = dvcrepos.git(world.origin, "log", "--format=%H", branch, "--", path)
    return len(out.split())


def converge(world: World, *, timeout: float = 120.0) -> engine.Outcome:
    """Reconcile in-process until every current run is recorded and serving is up.

    Then flush the provenance outbox, as the daemon does between reconciles (records that
    killed processes or a missing remote left there are pushed now).
    """

    def done(o: engine.Outcome) -> bool:
        finished = all(p.status in ("Succeeded", "Failed", "Cancelled") for p in o.pipelines)
        served = all(
            any(p.name == name and p.serving is not None for p in o.pipelines) for name in SERVED
        )
        return finished and served and not o.records_pending

    out = world.until(done, timeout=timeout)
    world.ctx.provenance.flush()
    assert not world.ctx.provenance.pending(), world.ctx.provenance.pending()
    return out


def wait_for(cond: Callable[[], Any], timeout: float, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def check_records(world: World, seen: dict[str, set[str]]) -> dict[str, int]:
    """Every run ever seen live has exactly one record, written by exactly one commit."""
    lost = doubled = total = 0
    for pipeline, runs in seen.items():
        files = set(record_files(world, pipeline))
        total += len(files)
        for run in runs:
            path = f"runs/dev/{pipeline}/{run}.yaml"
            if path not in files:
                lost += 1
        for path in files:
            if commits_touching(world, f"experiments/{pipeline}", path) != 1:
                doubled += 1
    return {"records": total, "lost_records": lost, "doubled_records": doubled}
