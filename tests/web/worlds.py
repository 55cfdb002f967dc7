"""The web UI's test world: the example repository, the sandbox, and the real daemon serving it.

``start_daemon_world`` builds what a user has after ``reconciler run``: a clone of the
example with a bare ``origin``, the sandbox API server with the CRDs, and the daemon (the
real :class:`reconciler.daemon.loop.Daemon`, wired by :mod:`reconciler.cli.wiring`) in a
thread, run on the clone (``reconciler run --repo .``: it follows ``origin``, mirrored, and
names the example's DVC remote inside the repository in the clone; read from the bare
``origin`` itself, that remote is refused) and serving the UI on a free loopback port.
Steps report metrics as programmed (resnet50 and fraud-detector pass their gates; llm-finetune's train
step fails), so every page has something to show: served models, charts, a failure.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config

from reconciler.cli import wiring
from reconciler.daemon import loop
from reconciler.sandbox import Sandbox
from tests.support import dvcrepos

OUTCOMES = {
    "10-resnet-eval": {
        "match": "*/resnet50-*-evaluate",
        "message": '{"accuracy": 0.95, "top5": 0.99}',
    },
    "20-fraud-eval": {"match": "*/fraud-detector-*-evaluate", "message": '{"auc": 0.97}'},
    "30-llm-train": {
        "match": "*/llm-finetune-*-train",
        "outcome": "Failed",
        "message": "CUDA out of memory on rank 0",
    },
}


@dataclass
class DaemonWorld:
    """The running world: URLs, repositories, the daemon and the sandbox."""

    url: str
    work: Path
    origin: Path
    daemon: loop.Daemon
    thread: threading.Thread
    sandbox: Sandbox
    kubeconfig: Path

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        """GET a page; return (status, body text)."""
        req = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=180) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def snapshot(self) -> dict[str, Any]:
        """Return ``/api/snapshot``."""
        return dict(json.loads(self.get("/api/snapshot")[1]))

    def wait(self, cond: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
        """Poll ``cond`` until it holds; fail naming ``what`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.2)

    def push(self, path: str, old: str, new: str, message: str) -> str:
        """Edit a file of the clone, commit and push it to origin; return the commit."""
        f = self.work / path
        text = f.read_text()
        assert old in text, f"{old!r} not in {path}"
        f.write_text(text.replace(old, new, 1))
        sha = dvcrepos.commit_all(self.work, message)
        dvcrepos.git(self.work, "push", "-q", "origin", "HEAD")
        return sha

    def stop(self) -> None:
        """Stop the daemon and the sandbox."""
        self.daemon.stop()
        self.thread.join(20)
        self.sandbox.stop()


def program_outcomes(kubeconfig: Path, rules: dict[str, Any]) -> None:
    """Write the sandbox's ``sandbox-outcomes`` ConfigMap (what steps report)."""
    api = config.new_client_from_config(config_file=str(kubeconfig))
    core = client.CoreV1Api(api)
    body = {
        "metadata": {"name": "sandbox-outcomes", "namespace": "kube-system"},
        "data": {k: json.dumps(v) for k, v in rules.items()},
    }
    core.create_namespaced_config_map("kube-system", body)


def start_daemon_world(base: Path, *, envs: tuple[str, ...] = ("dev",)) -> DaemonWorld:
    """Start the sandbox, the example repository and the daemon with its UI."""
    sandbox = Sandbox(port=0, step_delay=0.2)
    sandbox.start()
    kubeconfig = sandbox.write_kubeconfig(base / "kubeconfig")
    sandbox.install_crds()
    program_outcomes(kubeconfig, OUTCOMES)
    work = dvcrepos.copy_example_repo(base / "work")
    origin = dvcrepos.origin_of(work)
    options = loop.DaemonOptions(
        repo=str(work),
        interval=1.0,
        resync=60.0,
        listen="127.0.0.1:0",
        envs=envs,
        state_dir=base / "state",
        kubeconfig=str(kubeconfig),
        shutdown_timeout=5.0,
    )
    daemon = loop.Daemon(options, **wiring.daemon_parts(options))
    thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    thread.start()
    return DaemonWorld(
        url=daemon.http.url,
        work=work,
        origin=origin,
        daemon=daemon,
        thread=thread,
        sandbox=sandbox,
        kubeconfig=kubeconfig,
    )


def settled(world: DaemonWorld) -> bool:
    """True once dev's runs have all finished and resnet50 is served."""
    snap = world.snapshot()
    envs = {e["key"]: e for e in snap["environments"]}
    dev = envs.get("dev")
    if dev is None or dev["inFlight"] or dev["state"] == "Unknown":
        return False
    status, body = world.get("/envs/dev")
    return status == 200 and "s3://models/resnet50/" in body
