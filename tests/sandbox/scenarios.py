"""kubectl scenarios shared by the sandbox suite and the real-cluster suite (``-m cluster``).

Each scenario drives the real kubectl binary and asserts the output and exit codes that
kube-apiserver and kubectl produce, as documented on these pages:

- kubectl get output formats: https://kubernetes.io/docs/reference/kubectl/#output-options
- label selectors: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/
- server-side apply, managers, conflicts, ``--force-conflicts``:
  https://kubernetes.io/docs/reference/using-api/server-side-apply/
- kubectl diff exit codes (0 no differences, 1 differences, >1 error):
  https://kubernetes.io/docs/reference/kubectl/generated/kubectl_diff/
- status subresource: https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/
  custom-resource-definitions/#status-subresource and ``kubectl patch --subresource``:
  https://kubernetes.io/docs/reference/kubectl/generated/kubectl_patch/
- API conventions (Status errors, 404/409/422):
  https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/
  api-conventions.md
- watch: https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes

A ``Kubectl`` is ``kubectl(*args, input=None, check=True, timeout=60)``; ``ns`` is a
namespace the scenario may create objects in (it exists beforehand).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

import yaml

Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]


def configmap(
    name: str, ns: str, data: dict[str, str], labels: dict[str, str] | None = None
) -> str:
    """Return a ConfigMap manifest as YAML text."""
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if labels:
        meta["labels"] = labels
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})


def deployment(name: str, ns: str, *, replicas: int = 1, image: str = "nginx:1.27") -> str:
    """Return a Deployment manifest as YAML text."""
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "containers": [
                            {"name": "web", "image": image, "ports": [{"containerPort": 8080}]}
                        ]
                    },
                },
            },
        }
    )


def scenario_get_outputs(kubectl: Kubectl, ns: str) -> None:
    """kubectl get: -o json/yaml/name, the default table, and -l selectors."""
    docs = "---\n".join(
        [
            configmap("alpha", ns, {"k": "1"}, {"tier": "gpu", "team": "vision"}),
            configmap("beta", ns, {"k": "2", "j": "3"}, {"tier": "cpu"}),
            configmap("gamma", ns, {}, {"team": "nlp"}),
        ]
    )
    kubectl("apply", "--server-side", "-f", "-", input=docs)

    out = kubectl("get", "configmaps", "-n", ns, "-l", "tier", "-o", "json").stdout
    listing = json.loads(out)
    assert listing["kind"] == "List"
    names = [i["metadata"]["name"] for i in listing["items"]]
    assert names == ["alpha", "beta"]
    assert all(i["kind"] == "ConfigMap" and i["apiVersion"] == "v1" for i in listing["items"])

    one = yaml.safe_load(kubectl("get", "configmap", "beta", "-n", ns, "-o", "yaml").stdout)
    assert one["data"] == {"j": "3", "k": "2"}
    assert int(one["metadata"]["resourceVersion"]) > 0
    assert one["metadata"]["uid"]

    assert kubectl("get", "cm", "-n", ns, "-l", "tier=gpu", "-o", "name").stdout.split() == [
        "configmap/alpha"
    ]
    assert kubectl("get", "cm", "-n", ns, "-l", "tier!=gpu,team", "-o", "name").stdout.split() == [
        "configmap/gamma"
    ]
    assert kubectl(
        "get", "cm", "-n", ns, "-l", "tier in (cpu,tpu)", "-o", "name"
    ).stdout.split() == ["configmap/beta"]
    assert kubectl(
        "get", "cm", "-n", ns, "-l", "tier notin (cpu),team", "-o", "name"
    ).stdout.split() == ["configmap/alpha", "configmap/gamma"]
    assert kubectl("get", "cm", "-n", ns, "-l", "!tier", "-o", "name").stdout.split() == [
        "configmap/gamma"
    ]

    table = kubectl("get", "cm", "-n", ns, "-l", "tier").stdout.splitlines()
    assert table[0].split() == ["NAME", "DATA", "AGE"]
    assert table[1].split()[:2] == ["alpha", "1"]
    assert table[2].split()[:2] == ["beta", "2"]

    none = kubectl("get", "cm", "-n", ns, "-l", "tier=tpu")
    assert none.stdout == ""
    assert f"No resources found in {ns} namespace." in none.stderr

    missing = kubectl("get", "configmap", "nope", "-n", ns, check=False)
    assert missing.returncode == 1
    assert 'Error from server (NotFound): configmaps "nope" not found' in missing.stderr


def scenario_apply_conflicts(kubectl: Kubectl, ns: str) -> None:
    """apply --server-side: serverside-applied, a second manager's conflict, force."""
    out = kubectl("apply", "--server-side", "-f", "-", input=deployment("web", ns, replicas=2))
    assert out.stdout.strip() == "deployment.apps/web serverside-applied"
    again = kubectl("apply", "--server-side", "-f", "-", input=deployment("web", ns, replicas=2))
    assert again.stdout.strip() == "deployment.apps/web serverside-applied"

    other = deployment("web", ns, replicas=5)
    clash = kubectl(
        "apply", "--server-side", "--field-manager=ops", "-f", "-", input=other, check=False
    )
    assert clash.returncode == 1
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas' in clash.stderr
    assert "--force-conflicts" in clash.stderr
    assert (
        kubectl("get", "deploy", "web", "-n", ns, "-o", "jsonpath={.spec.replicas}").stdout == "2"
    )

    forced = kubectl(
        "apply", "--server-side", "--field-manager=ops", "--force-conflicts", "-f", "-", input=other
    )
    assert forced.stdout.strip() == "deployment.apps/web serverside-applied"
    live = json.loads(
        kubectl("get", "deploy", "web", "-n", ns, "-o", "json", "--show-managed-fields").stdout
    )
    assert live["spec"]["replicas"] == 5
    owners = {
        m["manager"]: m for m in live["metadata"]["managedFields"] if m["operation"] == "Apply"
    }
    assert "f:replicas" in owners["ops"]["fieldsV1"]["f:spec"]
    assert "f:replicas" not in owners["kubectl"]["fieldsV1"]["f:spec"]
    # Both applied the same image: co-owned, so no conflict and both keep it.
    image_path = owners["kubectl"]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert "f:image" in image_path['k:{"name":"web"}']


def scenario_diff(kubectl: Kubectl, ns: str) -> None:
    """diff --server-side: exit 0 without differences (server defaults do not count), 1 with."""
    manifest = deployment("diffed", ns, replicas=1)
    kubectl("apply", "--server-side", "-f", "-", input=manifest)
    # Diff a settled Deployment: kubectl diff reads the live object and the dry run apart,
    # and a controller writing status between the two reads would show as a difference.
    kubectl("rollout", "status", "deployment/diffed", "-n", ns, "--timeout=30s")
    same = kubectl("diff", "--server-side", "-f", "-", input=manifest, check=False)
    assert same.returncode == 0, same.stderr
    assert same.stdout == ""
    changed = kubectl(
        "diff",
        "--server-side",
        "-f",
        "-",
        input=deployment("diffed", ns, replicas=3, image="nginx:1.28"),
        check=False,
    )
    assert changed.returncode == 1, changed.stderr
    assert "-  replicas: 1" in changed.stdout
    assert "+  replicas: 3" in changed.stdout
    assert "+      - image: nginx:1.28" in changed.stdout
    assert "+  generation: 2" in changed.stdout
    # A dry run changes nothing.
    assert (
        kubectl("get", "deploy", "diffed", "-n", ns, "-o", "jsonpath={.spec.replicas}").stdout
        == "1"
    )


def scenario_delete(kubectl: Kubectl, ns: str) -> None:
    """delete: the confirmation line, then 404 for the object."""
    kubectl("apply", "--server-side", "-f", "-", input=configmap("doomed", ns, {"a": "b"}))
    out = kubectl("delete", "configmap", "doomed", "-n", ns)
    assert out.stdout.strip().startswith('configmap "doomed" deleted')
    gone = kubectl("get", "configmap", "doomed", "-n", ns, check=False)
    assert gone.returncode == 1
    assert 'configmaps "doomed" not found' in gone.stderr
    again = kubectl("delete", "configmap", "doomed", "-n", ns, check=False)
    assert again.returncode == 1
    assert 'Error from server (NotFound): configmaps "doomed" not found' in again.stderr
    ignored = kubectl("delete", "configmap", "doomed", "-n", ns, "--ignore-not-found")
    assert ignored.returncode == 0


def scenario_api_resources(kubectl: Kubectl) -> None:
    """api-resources: the built-in kinds with short names, versions and scope."""
    rows = {
        line.split()[0]: line.split() for line in kubectl("api-resources").stdout.splitlines()[1:]
    }
    assert rows["deployments"] == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    assert rows["namespaces"] == ["namespaces", "ns", "v1", "false", "Namespace"]
    assert rows["jobs"] == ["jobs", "batch/v1", "true", "Job"]
    assert rows["horizontalpodautoscalers"][1:] == [
        "hpa",
        "autoscaling/v2",
        "true",
        "HorizontalPodAutoscaler",
    ]
    assert rows["customresourcedefinitions"][1:] == [
        "crd,crds",
        "apiextensions.k8s.io/v1",
        "false",
        "CustomResourceDefinition",
    ]
    names = kubectl("api-resources", "--api-group=rbac.authorization.k8s.io", "-o", "name")
    assert sorted(names.stdout.split()) == [
        "clusterrolebindings.rbac.authorization.k8s.io",
        "clusterroles.rbac.authorization.k8s.io",
        "rolebindings.rbac.authorization.k8s.io",
        "roles.rbac.authorization.k8s.io",
    ]
