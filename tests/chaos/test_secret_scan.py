"""Secret scan: known secret values planted through every input never appear in any output.

Planted: a token in a step's ``env`` under a harmless name (a spec error), a token in a
step's reported metrics (termination message), a bearer token in the kubeconfig, the
webhook secret, a Kubernetes Secret's value (referenced by ``secretEnv``), a password in a
DVC remote URL, a token in a commit message. Scanned: ``validate``, ``render``, ``plan``
(text and JSON), ``sync``, ``status``, ``history``, ``review`` outputs, the daemon's JSON
logs at DEBUG and its ``/metrics``, every provenance record on the origin (every provenance
branch, whole history), and every file the state directory holds (outbox, caches) but the
Kustomize output cache, a private copy of what the repository holds.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.chaos import support
from tests.chaos.conftest import Figures
from tests.support import dvcrepos
from tests.workflows.world import GOOD, World, make_world

PLANTED = {
    "env": "ghp_" + "Pl4nt3dEnvT0k3n" * 2 + "AbCdEf",
    "metric": "hf_" + "Pl4nt3dMetricToken" * 2,
    "kubeconfig": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.UGxhbnRlZFNpZ25hdHVyZQ",
    "webhook": "whsec-Pl4nt3dW3bh00kS3cr3t-9f8e7d",
    "k8s_secret": "sk-Pl4nt3dK8sSecretValue0123456789",
    "dvc_password": "Pl4nt3dDvcPassw0rd",
    "commit_message": "xoxb-1111111111-Pl4nt3dSlackToken",
}


@pytest.fixture
def world(tmp_path: Path, sandbox: Any) -> World:
    w = make_world(tmp_path, sandbox)
    note = json.dumps({"accuracy": 0.95, "note": f"uploaded with {PLANTED['metric']}"})
    w.outcomes({**GOOD, "10-resnet-eval": {"match": "*/resnet50-*-evaluate", "message": note}})
    client.CoreV1Api(w.api).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name="ml-dev"))
    )
    client.CoreV1Api(w.api).create_namespaced_secret(
        "ml-dev",
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="huggingface"),
            string_data={"token": PLANTED["k8s_secret"]},
        ),
    )
    return w


def plant(world: World) -> None:
    world.edit(
        "pipelines/llm-finetune.yaml",
        "HF_HOME: /tmp/hf",
        f"HF_HOME: /tmp/hf\n        NOTES: {PLANTED['env']}",
    )
    config = world.work / ".dvc/config"
    config.write_text(
        config.read_text()
        + f"['remote \"backup\"']\n    url = https://ml:{PLANTED['dvc_password']}@dvc.example.com/store\n"
    )
    world.commit_and_push(f"Planted secrets (token {PLANTED['commit_message']})")


def test_no_planted_secret_appears_in_any_output(
    world: World, sandbox: Any, tmp_path: Path, figures: Figures
) -> None:
    plant(world)
    kubeconfig = support.kubeconfig_for(
        sandbox.url, tmp_path / "token-kubeconfig", token=PLANTED["kubeconfig"]
    )
    state = tmp_path / "state"
    env = support.process_env(kubeconfig, state, RECONCILER_WEBHOOK_SECRET=PLANTED["webhook"])
    outputs: dict[str, str] = {}

    def cli(name: str, *args: str) -> subprocess.CompletedProcess[str]:
        proc = support.run(list(args), cwd=world.work, env=env)
        outputs[name] = proc.stdout + proc.stderr
        return proc

    assert cli("validate", "validate", "--offline").returncode == 1
    assert "spec.steps[0].env.NOTES: looks like a GitHub token" in outputs["validate"]
    cli("render", "render", "--env", "dev", "-o", "yaml")
    cli("plan", "plan", "--env", "dev")
    cli("plan-json", "plan", "--env", "dev", "--format", "json")
    port = support.free_port()
    log = tmp_path / "daemon.log"
    args = ["run", "--repo", str(world.work), "--env", "dev", "--interval", "1s",
            "--listen", f"127.0.0.1:{port}", "--log-format", "json", "--log-level", "DEBUG"]  # fmt: skip
    daemon = support.spawn(args, cwd=world.work, env=env, log=log)
    try:
        served = support.wait_for(
            lambda: (
                support.serving_present(world) == set(support.SERVED)
                and len(support.record_files(world, "resnet50")) >= 1
            ),
            180,
            every=1.0,
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            outputs["metrics"] = r.read().decode()
    finally:
        daemon.terminate()
        daemon.wait(30)
    outputs["daemon-log"] = log.read_text()
    assert served, outputs["daemon-log"][-3000:]
    cli("sync", "sync", "--env", "dev")
    cli("status", "status", "--env", "dev")
    cli("history", "history", "resnet50", "--env", "dev")
    world.edit("pipelines/resnet50.yaml", "lr: 0.01", "lr: 0.02")
    world.commit_and_push("Try lr 0.02")
    cli("review", "review", "HEAD~1..HEAD", "--format", "markdown")
    branches = dvcrepos.git(
        world.origin, "for-each-ref", "--format=%(refname)", "refs/heads/experiments/"
    ).split()
    assert branches
    # The provenance branches, whole history (the user's own branches hold what was planted).
    outputs["records"] = dvcrepos.git(world.origin, "log", "-p", *branches)
    # The Kustomize output cache is the repository's own overlays as Kustomize built them:
    # what Git holds (the refused env value too, as the mirror does), private to the state
    # directory's owner and never printed. Every other file of the state directory is
    # scanned (the outbox, record summaries, the verified-object and spec caches).
    copies = [f for f in state.rglob("kustomize-docs.*") if f.is_file()]
    assert copies and all(f.stat().st_mode & 0o077 == 0 for f in copies), copies
    # So are the commit exports one-shot commands keep for the next (source/exports.py):
    # the repository's files as Git holds them, in slots private to the owner.
    slots = [d for d in state.rglob("slot-*") if d.is_dir()]
    assert slots and all(d.stat().st_mode & 0o077 == 0 for d in slots), slots
    copies += [f for d in slots for f in d.rglob("*") if f.is_file()]
    outputs["state-files"] = "\n".join(
        f.read_text(errors="replace")
        for f in state.rglob("*")
        if f.is_file() and f.stat().st_size < 1 << 20 and f not in copies
    )
    leaks = {
        (what, where)
        for what, value in PLANTED.items()
        for where, text in outputs.items()
        if value in text
    }
    figures.update(planted=len(PLANTED), outputs=len(outputs),
                   scanned_kib=sum(len(t) for t in outputs.values()) // 1024, leaks=len(leaks))  # fmt: skip
    figures.report()
    assert "metrics" in outputs["records"] and "accuracy" in outputs["records"]  # scanned for real
    assert not leaks, sorted(leaks)
