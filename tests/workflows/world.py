"""A user's world for workflow tests: a clone of the example repository with a bare
``origin``, the sandbox API server (with the CRDs), and the engine wired to both.

Everything is real: git commits and pushes, DVC pointers, the sandbox over HTTP with the
official client. Steps finish after the sandbox's step delay; ``outcomes`` programs what
they report (the sandbox's ``sandbox-outcomes`` ConfigMap).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client

from reconciler import engine
from reconciler.apply.manager import ResourceManager
from reconciler.provenance.records import RunRecord
from reconciler.provenance.store import ProvenanceStore
from tests.support import dvcrepos

NS = "ml-dev"


@dataclass
class World:
    """The repository clone, its origin, the sandbox and the engine context."""

    work: Path
    origin: Path
    sandbox: Any
    ctx: engine.Context
    api: Any

    # -- git -------------------------------------------------------------------------

    def edit(self, path: str, old: str, new: str) -> None:
        """Replace text in a file of the work tree (the text must be there)."""
        f = self.work / path
        text = f.read_text()
        assert old in text, f"{old!r} not in {path}"
        f.write_text(text.replace(old, new, 1))

    def commit_and_push(self, message: str) -> str:
        """Commit everything and push main; return the commit sha."""
        sha = dvcrepos.commit_all(self.work, message)
        dvcrepos.git(self.work, "push", "-q", "origin", "HEAD")
        return sha

    def origin_files(self, branch: str, prefix: str = "runs/") -> list[str]:
        """Return the files under ``prefix`` on a branch of the bare origin ([] if none)."""
        out = dvcrepos.git(
            self.origin, "ls-tree", "-r", "--name-only", branch, "--", prefix, check=False
        )
        return sorted(out.split())

    def origin_record(self, branch: str, path: str) -> RunRecord:
        """Read a record from the bare origin."""
        text = dvcrepos.git(self.origin, "show", f"{branch}:{path}")
        return RunRecord.from_yaml(text, path=path)

    # -- cluster ---------------------------------------------------------------------

    def outcomes(self, rules: Mapping[str, Mapping[str, Any]]) -> None:
        """Program what steps report: ``{rule: {match, outcome, message, delay}}``."""
        core = client.CoreV1Api(self.api)
        body = {
            "metadata": {"name": "sandbox-outcomes", "namespace": "kube-system"},
            "data": {k: json.dumps(v) for k, v in rules.items()},
        }
        try:
            core.replace_namespaced_config_map("sandbox-outcomes", "kube-system", body)
        except client.ApiException as e:
            if e.status != 404:
                raise
            core.create_namespaced_config_map("kube-system", body)

    def jobs(self, ns: str = NS) -> dict[str, str]:
        """Return ``{name: uid}`` of the Jobs in a namespace."""
        return {
            j.metadata.name: j.metadata.uid
            for j in client.BatchV1Api(self.api).list_namespaced_job(ns).items
        }

    def pytorchjobs(self, ns: str = NS) -> dict[str, str]:
        """Return ``{name: uid}`` of the PyTorchJobs in a namespace."""
        items = client.CustomObjectsApi(self.api).list_namespaced_custom_object(
            "kubeflow.org", "v1", ns, "pytorchjobs"
        )["items"]
        return {i["metadata"]["name"]: i["metadata"]["uid"] for i in items}

    def inference_service(self, name: str, ns: str = NS) -> dict[str, Any] | None:
        """Return a live InferenceService, or None."""
        try:
            return client.CustomObjectsApi(self.api).get_namespaced_custom_object(
                "serving.kserve.io", "v1beta1", ns, "inferenceservices", name
            )
        except client.ApiException as e:
            if e.status == 404:
                return None
            raise

    def deployment(self, name: str, ns: str = NS) -> Any:
        """Return a live Deployment, or None."""
        try:
            return client.AppsV1Api(self.api).read_namespaced_deployment(name, ns)
        except client.ApiException as e:
            if e.status == 404:
                return None
            raise

    def writes(self) -> int:
        """Return the number of write requests the sandbox has served so far."""
        return sum(
            n
            for (verb, _res, _code), n in self.sandbox.request_counts().items()
            if verb.upper()
            in ("POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION", "CREATE", "UPDATE")
        )

    # -- engine ----------------------------------------------------------------------

    def reconcile(self, env: str = "dev", branch: str | None = None) -> engine.Outcome:
        """Reconcile once; the outcome must be ok."""
        out = engine.reconcile(self.ctx, env, branch)
        assert not out.errors, out.errors
        assert not out.changeset.failed, str(out.changeset)
        return out

    def until(
        self,
        cond: Callable[[engine.Outcome], bool],
        *,
        env: str = "dev",
        branch: str | None = None,
        timeout: float = 40.0,
    ) -> engine.Outcome:
        """Reconcile (as the daemon would) until ``cond(outcome)``; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.reconcile(env, branch)
            if cond(out):
                return out
            assert time.monotonic() < deadline, (
                f"condition not reached: {[p.to_dict() for p in out.pipelines]}"
            )
            time.sleep(0.15)


def status(out: engine.Outcome, pipeline: str) -> engine.PipelineStatus:
    """Return one pipeline's status from an outcome."""
    return next(p for p in out.pipelines if p.name == pipeline)


def make_world(tmp_path: Path, sandbox: Any) -> World:
    """Build the world: example clone + origin, CRDs installed, engine context."""
    sandbox.install_crds()
    work = dvcrepos.copy_example_repo(tmp_path / "work")
    api = sandbox.api_client()
    manager = ResourceManager(api)
    store = ProvenanceStore(work, remote="origin", state_dir=tmp_path / "state")
    ctx = engine.Context(repo=work, manager_for=lambda _ctx: manager, provenance=store)
    return World(work=work, origin=dvcrepos.origin_of(work), sandbox=sandbox, ctx=ctx, api=api)


GOOD = {
    "10-resnet-eval": {"match": "*/resnet50-*-evaluate", "message": '{"accuracy": 0.95}'},
    "20-fraud-eval": {"match": "*/fraud-detector-*-evaluate", "message": '{"auc": 0.97}'},
}
