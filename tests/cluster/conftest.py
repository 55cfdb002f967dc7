"""Fixtures of the cluster suite: a real kube-apiserver (with etcd) per test, and the
sandbox's simulated controllers running against it as a separate process.

Run with ``pytest -m cluster`` after ``python -m tools.kube.build`` (the default run
deselects the marker). Without the binaries the suite is skipped, unless
``RECONCILER_CLUSTER_REQUIRED=1`` (set by ``.ci/run``) makes that an error.

``kube``
    A :class:`KubeHandle`: a :class:`~tests.cluster.control_plane.ControlPlane` (etcd,
    kube-apiserver, kube-controller-manager) as it is after start-up, plus a fresh
    ``python -m reconciler.sandbox.simulate`` against it. Starting a control plane takes
    seconds of both cores, so the tests of a module share one, and each test gets it
    reset: etcd brought back to its state after start-up (every namespace, CRD and
    object a test made gone, bootstrap objects restored), the audit log counted from
    there, the simulator started anew. Tests stay independent; a component that died
    gets the control plane restarted. It has the surface of the ``sandbox``
    fixture's handle (``url``, ``kubeconfig``, ``api_client()``, ``request_counts()``,
    ``install_crds()``), and :func:`tests.sandbox.http.call` reaches it with the admin
    token.
``sandbox`` (overridden here)
    The ``kube`` handle: every test under ``tests/cluster`` that asks for the sandbox
    gets the real API server instead, so the workflow stories and the sandbox scenarios
    run unchanged against it.
``sandbox_server``
    The in-process sandbox, for the differential tests that run a scenario on both.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox import Sandbox
from reconciler.sandbox.crds import bundled_crds
from tests.cluster.control_plane import IDENTITIES, ControlPlane, ControlPlaneError
from tests.conftest import TEST_STEP_DELAY, SandboxHandle
from tests.sandbox import http
from tools.kube import build


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)


class Simulator:
    """``python -m reconciler.sandbox.simulate`` as a child process (see the module docstring)."""

    def __init__(self, kubeconfig: Path, log: Path, step_delay: float) -> None:
        self.log = log
        self._out = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reconciler.sandbox.simulate",
                "--kubeconfig",
                str(kubeconfig),
                "--step-delay",
                str(step_delay),
            ],
            stdout=subprocess.PIPE,
            stderr=self._out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        assert self.popen.stdout is not None
        line = self.popen.stdout.readline()
        if line.strip() != b"ready":
            self.stop()
            raise RuntimeError(f"simulator did not start: {log.read_text(errors='replace')}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        self._out.close()


class KubeHandle:
    """What the ``kube`` fixture yields: the ``sandbox`` handle's surface on a real server."""

    def __init__(self, server: ControlPlane) -> None:
        self.server = server
        self.kubeconfig = server.kubeconfig_for("admin")
        self.simulator: Simulator | None = None

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT``."""
        return self.server.url

    def api_client(self, who: str = "admin") -> Any:
        """Return a ``kubernetes.client.ApiClient`` for one identity (admin by default)."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.server.kubeconfig_for(who)))

    def request_counts(self) -> dict[tuple[str, str, str], int]:
        """{(verb, resource, code): n} of the requests admin and reconciler made."""
        return self.server.request_counts()

    def install_crds(self) -> list[str]:
        """Server-side apply the bundled CRDs; wait until established and discoverable."""
        names = []
        for crd in bundled_crds():
            name = crd["metadata"]["name"]
            code, body = self.server.raw(
                "PATCH",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                f"{name}?fieldManager=sandbox&force=true",
                body=json.dumps(crd).encode(),
                headers={"Content-Type": "application/apply-patch+yaml"},
            )
            assert code in (200, 201), (name, code, body[:500])
            names.append(name)
        for crd in bundled_crds():
            self.wait_established(crd)
        return names

    def wait_established(self, crd: dict[str, Any], timeout: float = 30.0) -> None:
        """Wait until a CRD is Established and its kinds are in discovery."""
        spec = crd["spec"]
        name = crd["metadata"]["name"]
        served = [v["name"] for v in spec["versions"] if v.get("served", True)]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code, body = self.server.raw(
                "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
            )
            conds = (
                {
                    c["type"]: c["status"]
                    for c in (json.loads(body).get("status") or {}).get("conditions") or []
                }
                if code == 200
                else {}
            )
            if conds.get("Established") == "True" and all(
                spec["names"]["plural"] in self._discovered(spec["group"], v) for v in served
            ):
                return
            time.sleep(0.1)
        raise AssertionError(f"CRD {name} not established in {timeout}s")

    def _discovered(self, group: str, version: str) -> set[str]:
        code, body = self.server.raw("GET", f"/apis/{group}/{version}")
        if code != 200:
            return set()
        return {r["name"] for r in json.loads(body).get("resources") or []}


@pytest.fixture(scope="session")
def kube_binaries() -> Path:
    """The built binaries' directory; skip (or fail in CI) when not built."""
    directory = build.binaries_dir()
    if not build.is_built(directory):
        message = f"kube-apiserver is not built in {directory}: run `python -m tools.kube.build`"
        if os.environ.get("RECONCILER_CLUSTER_REQUIRED"):
            pytest.fail(message)
        pytest.skip(message)
    return directory


class SharedControlPlane:
    """One control plane for the tests of a module, handed to each test as if fresh."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, binaries: Path) -> None:
        self._tmp = tmp_path_factory
        self._binaries = binaries
        self._cp: ControlPlane | None = None

    def fresh(self) -> ControlPlane:
        """The control plane, reset to its state after start-up (restarted if a component
        died)."""
        if self._cp is not None:
            try:
                self._cp.reset()
                return self._cp
            except ControlPlaneError:
                self._cp.stop()
                self._cp = None
        cp = ControlPlane(self._tmp.mktemp("kube"), binaries=self._binaries)
        cp.start()
        cp.snapshot()
        self._cp = cp
        return cp

    def stop(self) -> None:
        """Stop the control plane, if started."""
        if self._cp is not None:
            self._cp.stop()
            self._cp = None


@pytest.fixture(scope="module")
def shared_control_plane(
    tmp_path_factory: pytest.TempPathFactory, kube_binaries: Path
) -> Iterator[SharedControlPlane]:
    """The module's control plane (started on first use, stopped after the module)."""
    shared = SharedControlPlane(tmp_path_factory, kube_binaries)
    try:
        yield shared
    finally:
        shared.stop()


@pytest.fixture
def control_plane(shared_control_plane: SharedControlPlane) -> ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager as they are after start-up: the
    module's control plane, its store reset (:meth:`ControlPlane.reset`)."""
    return shared_control_plane.fresh()


@pytest.fixture
def kube(control_plane: ControlPlane) -> Iterator[KubeHandle]:
    """The real API server with the simulated controllers running against it."""
    handle = KubeHandle(control_plane)
    http.register(control_plane.url, IDENTITIES["admin"].token, control_plane.ssl_context())
    handle.simulator = Simulator(
        control_plane.kubeconfig_for("simulator"),
        control_plane.workdir / "simulator.log",
        TEST_STEP_DELAY,
    )
    try:
        yield handle
    finally:
        handle.simulator.stop()
        http.unregister(control_plane.url)


@pytest.fixture
def sandbox(kube: KubeHandle) -> KubeHandle:
    """Override: tests under tests/cluster that use the sandbox get the real server."""
    return kube


@pytest.fixture
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """The in-process sandbox (for tests comparing both servers)."""
    home = tmp_path_factory.mktemp("sandbox")
    server = Sandbox(port=0, step_delay=TEST_STEP_DELAY)
    server.start()
    try:
        yield SandboxHandle(server, server.write_kubeconfig(home / "kubeconfig"))
    finally:
        server.stop()
