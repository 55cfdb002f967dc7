"""RBAC proven, not assumed: the reconciler runs with exactly what ``reconciler manifests``
grants, against a real kube-apiserver with ``--authorization-mode=RBAC``.

The install (``reconciler manifests --environment-namespace ml-dev``) is applied by an
administrator with kubectl, the operators' CRDs are installed by the administrator too,
and then a whole workflow story runs with the engine's client holding the token of the
ServiceAccount the install binds: every request it makes is allowed (the audit log says
so), and it can neither read Secrets nor write outside the environment's namespace.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler import engine
from reconciler.apply.manager import ResourceManager
from reconciler.daemon.leaderelection import Attempt, LeaderElector, LeaseConfig
from reconciler.provenance.store import ProvenanceStore
from tests.cluster.conftest import KubeHandle
from tests.cluster.control_plane import IDENTITIES
from tests.conftest import kubectl_binary
from tests.sandbox.http import call
from tests.support import dvcrepos
from tests.workflows.world import GOOD, NS, World, status

pytestmark = pytest.mark.cluster
RECONCILER = IDENTITIES["reconciler"].token


def kubectl_as(kube: KubeHandle, who: str, *args: str, stdin: str | None = None) -> Any:
    """Run kubectl as one identity of the control plane; never raises on exit codes."""
    return subprocess.run(
        [kubectl_binary(), "--kubeconfig", str(kube.server.kubeconfig_for(who)), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def installed(kube: KubeHandle) -> KubeHandle:
    """The cluster after an administrator installed the reconciler for namespace ml-dev."""
    printed = subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            "manifests",
            "--repo",
            "https://git.example.com/ml/pipelines.git",
            "--environment-namespace",
            NS,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    applied = kubectl_as(kube, "admin", "apply", "--server-side", "-f", "-", stdin=printed)
    assert applied.returncode == 0, applied.stderr
    kube.install_crds()
    return kube


def reconciler_world(kube: KubeHandle, tmp_path: Path) -> World:
    """The workflow world, with the engine acting as the reconciler's ServiceAccount."""
    work = dvcrepos.copy_example_repo(tmp_path / "work")
    manager = ResourceManager(kube.api_client("reconciler"))
    store = ProvenanceStore(work, remote="origin", state_dir=tmp_path / "state")
    ctx = engine.Context(repo=work, manager_for=lambda _ctx: manager, provenance=store)
    return World(
        work=work, origin=dvcrepos.origin_of(work), sandbox=kube, ctx=ctx, api=kube.api_client()
    )


def test_every_call_of_a_workflow_is_allowed(installed: KubeHandle, tmp_path: Path) -> None:
    world = reconciler_world(installed, tmp_path)
    world.outcomes(GOOD)
    out = world.until(
        lambda o: (
            all(p.status == "Succeeded" for p in o.pipelines)
            and status(o, "resnet50").serving is not None
            and status(o, "fraud-detector").serving is not None
        ),
        timeout=90,
    )
    assert out.changeset is not None
    requests = installed.server.requests(users=("reconciler",))
    calls = installed.server.request_counts(users=("reconciler",))
    denied = [r for r in requests if r.code in ("401", "403")]
    assert not denied, denied
    # It never asked for a Secret, and wrote only in its environment's namespace (or to
    # that Namespace itself).
    assert not [r for r in requests if r.resource == "secrets"]
    stray = [
        r
        for r in requests
        if r.is_write and r.namespace != NS and not (r.resource == "namespaces" and r.name == NS)
    ]
    assert not stray, stray
    writes = {k for k in calls if k[0] in ("POST", "PUT", "PATCH", "APPLY", "DELETE")}
    assert ("APPLY", "jobs", "201") in writes or ("APPLY", "jobs", "200") in writes, calls
    assert any(k[1] == "inferenceservices" for k in writes), calls
    assert {r.verb for r in requests if r.resource == "pods"} <= {"GET", "LIST", "WATCH"}


def test_no_secrets_and_no_writes_outside_its_namespaces(installed: KubeHandle) -> None:
    url = installed.url
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    assert call(url, "POST", f"/api/v1/namespaces/{NS}/secrets", secret).code == 201  # admin
    for path in (f"/api/v1/namespaces/{NS}/secrets/s", f"/api/v1/namespaces/{NS}/secrets"):
        denied = call(url, "GET", path, token=RECONCILER)
        assert (denied.code, denied.body["reason"]) == (403, "Forbidden"), path
    assert call(url, "GET", "/api/v1/secrets", token=RECONCILER).code == 403
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "stray"},
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i:1"}]}
            }
        },
    }
    for ns in ("default", "kube-system"):
        refused = call(url, "POST", f"/apis/batch/v1/namespaces/{ns}/jobs", job, token=RECONCILER)
        assert refused.code == 403, (ns, refused.body)
        assert call(url, "GET", f"/api/v1/namespaces/{ns}/pods", token=RECONCILER).code == 403
    allowed = call(url, "POST", f"/apis/batch/v1/namespaces/{NS}/jobs", job, token=RECONCILER)
    assert allowed.code == 201, allowed.body
    assert call(url, "GET", f"/api/v1/namespaces/{NS}/pods", token=RECONCILER).code == 200
    # kubectl auth can-i answers the same, as the reconciler sees itself.
    assert (
        kubectl_as(
            installed, "reconciler", "auth", "can-i", "get", "secrets", "-n", NS
        ).stdout.strip()
        == "no"
    )
    assert (
        kubectl_as(
            installed, "reconciler", "auth", "can-i", "create", "jobs", "-n", NS
        ).stdout.strip()
        == "yes"
    )
    assert (
        kubectl_as(
            installed, "reconciler", "auth", "can-i", "create", "jobs", "-n", "default"
        ).stdout.strip()
        == "no"
    )
    assert (
        kubectl_as(
            installed, "reconciler", "auth", "can-i", "delete", "clusterroles"
        ).stdout.strip()
        == "no"
    )


def test_namespaces_other_than_its_own_are_read_only(installed: KubeHandle) -> None:
    url = installed.url
    merge = "application/merge-patch+json"
    label = {"metadata": {"labels": {"touched": "yes"}}}
    own = call(
        url, "PATCH", f"/api/v1/namespaces/{NS}", label, token=RECONCILER, content_type=merge
    )
    assert own.code == 200, own.body
    for ns in ("kube-system", "default", "reconciler-system"):
        patched = call(
            url, "PATCH", f"/api/v1/namespaces/{ns}", label, token=RECONCILER, content_type=merge
        )
        assert patched.code == 403, (ns, patched.body)
        deleted = call(url, "DELETE", f"/api/v1/namespaces/{ns}", token=RECONCILER)
        assert deleted.code == 403, (ns, deleted.body)
    assert call(url, "DELETE", f"/api/v1/namespaces/{NS}", token=RECONCILER).code == 403
    created = call(
        url,
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "stray"}},
        token=RECONCILER,
    )
    assert created.code == 403, created.body
    assert call(url, "GET", "/api/v1/namespaces", token=RECONCILER).code == 200


def test_leader_lease_only_in_its_own_namespace(installed: KubeHandle) -> None:
    api = installed.api_client("reconciler")
    own = LeaderElector(api, LeaseConfig(namespace="reconciler-system", identity="a"))
    assert own.try_acquire_or_renew() is Attempt.LEADING  # create
    assert own.try_acquire_or_renew() is Attempt.LEADING  # renew (update)
    assert own.release()
    elsewhere = LeaderElector(api, LeaseConfig(namespace=NS, identity="a"))
    assert elsewhere.try_acquire_or_renew() is Attempt.ERROR
    lease = call(installed.url, "GET", f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases")
    assert lease.body["items"] == []
