"""What render makes is accepted by an API server with the shipped CRDs, and a TrainJob runs.

Every rendered object (all example environments, the serving and step variants) goes in
with ``kubectl apply --server-side`` (strict field validation: an unknown field is an
error) against the sandbox with the bundled CRDs; the shipped ClusterTrainingRuntime too.
Then a TrainJob goes through the simulated Trainer controller the way the run engine
watches it: pods per node, the rank-0 pod's termination message, ``Complete``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from reconciler import health
from reconciler.runs import recording
from reconciler.structs.runs import StepPhase
from tests.conftest import KubectlRunner, SandboxHandle
from tests.render.operators.conftest import ROOT


def apply(kubectl: KubectlRunner, objs: list[dict[str, Any]]) -> str:
    body = json.dumps({"apiVersion": "v1", "kind": "List", "items": objs})
    return kubectl("apply", "--server-side", "--field-manager=test", "-f", "-", input=body).stdout


def test_every_rendered_object_is_accepted_by_the_api_server(
    sandbox: SandboxHandle, kubectl: KubectlRunner, rendered: list[tuple[str, dict[str, Any]]]
) -> None:
    sandbox.install_crds()
    kubectl(
        "apply", "--server-side", "-f", str(ROOT / "reconciler/crds/runtimes/reconciler-torch.yaml")
    )
    namespaces = [o for _, o in rendered if o["kind"] == "Namespace"]
    apply(kubectl, namespaces)
    objs = {
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for _, o in rendered
    }
    out = apply(kubectl, [o for o in objs.values() if o["kind"] != "Namespace"])
    kinds = {o["kind"] for o in objs.values()}
    assert {"TrainJob", "PyTorchJob", "InferenceService", "PodDisruptionBudget"} <= kinds
    for kind in kinds - {"Namespace"}:
        assert f"{kind.lower()}" in out.lower(), kind


def wait_for(predicate: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_trainjob_runs_to_completion_and_its_rank_zero_pod_reports(
    sandbox: SandboxHandle, kubectl: KubectlRunner, rendered: list[tuple[str, dict[str, Any]]]
) -> None:
    sandbox.install_crds()
    (trainjob,) = [o for w, o in rendered if w.startswith("trainjob on 2 nodes")]
    trainjob = json.loads(json.dumps(trainjob))
    ns = trainjob["metadata"]["namespace"]
    name = trainjob["metadata"]["name"]
    trainjob["metadata"]["annotations"]["sandbox.reconciler.ml/termination-message"] = (
        '{"loss": 0.42}'
    )
    kubectl("create", "namespace", ns)
    apply(kubectl, [trainjob])

    def get() -> dict[str, Any]:
        out: dict[str, Any] = json.loads(
            kubectl("get", "trainjob", "-n", ns, name, "-o", "json").stdout
        )
        return out

    def finished() -> dict[str, Any] | None:
        obj = get()
        return obj if health.step_phase(obj) is StepPhase.SUCCEEDED else None

    done = wait_for(finished)
    assert health.health_of(done).status is health.Health.HEALTHY
    pods = json.loads(kubectl("get", "pods", "-n", ns, "-o", "json").stdout)["items"]
    by_job = recording.pods_by_job(pods)
    assert len(by_job[name]) == trainjob["spec"]["trainer"]["numNodes"] == 2
    speaker = recording.step_pod(by_job[name])
    assert speaker is not None
    assert speaker["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == "0"
    term = speaker["status"]["containerStatuses"][0]["state"]["terminated"]
    assert json.loads(term["message"]) == {"loss": 0.42}
    pod_spec = speaker["spec"]
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    assert pod_spec["containers"][0]["image"] == trainjob["spec"]["trainer"]["image"]
