"""Fixtures of the real-cluster suite: kubectl against the cluster in KUBECONFIG.

Run with ``pytest -m cluster`` (the default run deselects the marker). Skipped when no
kubeconfig is configured or the cluster does not answer. Each test gets a fresh
namespace, deleted afterwards.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import kubectl_binary


def _kubeconfig() -> str | None:
    path = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    return path if all(Path(p).exists() for p in path.split(os.pathsep) if p) else None


@pytest.fixture
def cluster_kubectl() -> Iterator[object]:
    """``kubectl(*args, input=None, check=True, timeout=60)`` against KUBECONFIG."""
    config = _kubeconfig()
    if config is None:
        pytest.skip("no kubeconfig: set KUBECONFIG to run the cluster suite")
    binary = kubectl_binary()
    env = {**os.environ, "KUBECONFIG": config}

    def run(
        *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [binary, *args], input=input, capture_output=True, text=True, env=env, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    probe = run("version", "-o", "json", check=False, timeout=20)
    if probe.returncode != 0:
        pytest.skip(f"the cluster in {config} does not answer: {probe.stderr.strip()}")
    yield run


@pytest.fixture
def cluster_namespace(cluster_kubectl: object) -> Iterator[str]:
    """A fresh namespace, deleted after the test."""
    run = cluster_kubectl
    name = f"reconciler-fidelity-{secrets.token_hex(3)}"
    run("create", "namespace", name)  # type: ignore[operator]
    try:
        yield name
    finally:
        run("delete", "namespace", name, "--wait=false", check=False)  # type: ignore[operator]
