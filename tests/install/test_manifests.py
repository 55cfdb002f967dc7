"""The in-cluster install: official schemas, least-privilege RBAC, PSS restricted, the CLI.

Server-side apply to the sandbox with the venv's kubectl is in ``test_apply.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from reconciler.daemon import leaderelection, webhooks
from reconciler.install import manifests

ROOT = Path(__file__).resolve().parents[2]
OBJECTS = manifests.install_objects(
    manifests.InstallOptions(repo="https://git.example.com/ml/pipelines.git")
)


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [o for o in OBJECTS if o["kind"] == kind]


def reconciler_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("version", ["1.30", kubernetes_validate.latest_version()])
def test_every_object_validates_against_the_official_schemas(version: str) -> None:
    for obj in OBJECTS:
        kubernetes_validate.validate(obj, version, strict=True)
    assert [o["kind"] for o in OBJECTS] == [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Service",
        "Service",
        "Deployment",
    ]
    scoped = manifests.install_objects(
        manifests.InstallOptions(environment_namespaces=("ml-dev", "ml-prod"))
    )
    for obj in scoped:
        kubernetes_validate.validate(obj, version, strict=True)
    bindings = [
        (o["kind"], o["metadata"].get("namespace")) for o in scoped if "Binding" in o["kind"]
    ]
    assert bindings == [
        ("ClusterRoleBinding", None),
        ("RoleBinding", "ml-dev"),
        ("RoleBinding", "ml-prod"),
        ("RoleBinding", "reconciler-system"),
    ]


def test_a_broken_object_would_be_caught_by_the_schema_check() -> None:
    broken = json.loads(json.dumps(by_kind("Deployment")[0]))
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30", strict=True)


def rbac_rules() -> list[dict[str, Any]]:
    return [rule for o in OBJECTS if o["kind"] in ("ClusterRole", "Role") for rule in o["rules"]]


def test_rbac_has_no_wildcards_no_secrets_and_no_escalation() -> None:
    rules = rbac_rules()
    assert rules
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
            assert "*" not in rule.get(field, []), rule
        assert not any(r == "secrets" or r.startswith("secrets/") for r in rule["resources"])
        assert not {"escalate", "bind", "impersonate", "deletecollection"} & set(rule["verbs"])
        assert "rbac.authorization.k8s.io" not in rule["apiGroups"]
    for binding in by_kind("ClusterRoleBinding") + by_kind("RoleBinding"):
        assert binding["roleRef"]["name"] not in ("cluster-admin", "admin", "edit")
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "reconciler", "namespace": "reconciler-system"}
        ]


def granted() -> dict[tuple[str, str], set[str]]:
    """What the two ClusterRoles grant together (the cluster one and the environment one)."""
    out: dict[tuple[str, str], set[str]] = {}
    for rule in [r for role in by_kind("ClusterRole") for r in role["rules"]]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def test_cluster_role_grants_exactly_the_kinds_we_render() -> None:
    g = granted()
    writes = {"get", "list", "watch", "create", "update", "patch", "delete"}
    for key in [
        ("batch", "jobs"),
        ("kubeflow.org", "pytorchjobs"),
        ("serving.kserve.io", "inferenceservices"),
        ("apps", "deployments"),
        ("", "services"),
        ("", "configmaps"),
        ("", "namespaces"),
        ("autoscaling", "horizontalpodautoscalers"),
        ("networking.k8s.io", "ingresses"),
        ("networking.k8s.io", "networkpolicies"),
        ("", "resourcequotas"),
        ("", "limitranges"),
        ("kueue.x-k8s.io", "localqueues"),
        ("policy", "poddisruptionbudgets"),
        ("trainer.kubeflow.org", "trainjobs"),
    ]:
        assert g.pop(key) == writes, key
    assert g.pop(("", "pods")) == {"get", "list", "watch"}
    assert g == {}  # nothing else
    cluster_wide, environment = by_kind("ClusterRole")
    # Cluster-wide, the reconciler may touch Namespaces only; the rest is per environment.
    assert [r["resources"] for r in cluster_wide["rules"]] == [["namespaces"]]
    assert environment["metadata"]["name"] == "reconciler-environment"
    assert not any("namespaces" in r["resources"] for r in environment["rules"])


def test_with_environment_namespaces_other_namespaces_are_read_only() -> None:
    scoped = manifests.install_objects(
        manifests.InstallOptions(environment_namespaces=("ml-dev", "ml-prod"))
    )
    cluster_wide = next(
        o for o in scoped if o["kind"] == "ClusterRole" and o["metadata"]["name"] == "reconciler"
    )
    assert cluster_wide["rules"] == [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
        {
            "apiGroups": [""],
            "resources": ["namespaces"],
            "resourceNames": ["ml-dev", "ml-prod"],
            "verbs": ["update", "patch"],
        },
    ]


PLURALS = {
    "Namespace": "namespaces",
    "ResourceQuota": "resourcequotas",
    "LimitRange": "limitranges",
    "NetworkPolicy": "networkpolicies",
    "LocalQueue": "localqueues",
    "Job": "jobs",
    "PyTorchJob": "pytorchjobs",
    "TrainJob": "trainjobs",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "Deployment": "deployments",
    "Service": "services",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "Ingress": "ingresses",
    "InferenceService": "inferenceservices",
    "ConfigMap": "configmaps",
}


@pytest.mark.parametrize(
    "args",
    [
        ("--env", "prod"),
        ("--env", "staging"),
        ("--env", "dev"),
        ("--env", "exp", "--branch", "exp/lr-sweep"),
    ],
)
def test_every_kind_the_example_renders_is_granted(args: tuple[str, ...]) -> None:
    proc = reconciler_cli("render", *args, "--all-steps", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    g = granted()
    kinds = {(o["apiVersion"], o["kind"]) for o in json.loads(proc.stdout)["items"]}
    assert kinds
    for api_version, kind in kinds:
        group = api_version.split("/")[0] if "/" in api_version else ""
        assert "create" in g.get((group, PLURALS[kind]), set()), (api_version, kind)


def test_leases_only_in_our_namespace() -> None:
    (role,) = by_kind("Role")
    assert role["metadata"]["namespace"] == "reconciler-system"
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["get", "create", "update"],
        }
    ]
    assert not any(
        "coordination.k8s.io" in r["apiGroups"]
        for role in by_kind("ClusterRole")
        for r in role["rules"]
    )
    assert manifests.DEFAULT_NAMESPACE == leaderelection.DEFAULT_NAMESPACE


def test_deployment_runs_the_daemon_restricted_with_probes_and_limits() -> None:
    (dep,) = by_kind("Deployment")
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    args = c["args"]
    assert args[0] == "run"
    assert args[args.index("--repo") + 1] == "https://git.example.com/ml/pipelines.git"
    assert "--leader-elect" in args
    assert args[args.index("--listen") + 1] == ":8080"
    assert args[args.index("--log-format") + 1] == "json"
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"}
    assert set(c["resources"]["requests"]) == {"cpu", "memory"}
    assert set(c["resources"]["limits"]) == {"cpu", "memory"}
    # Pod Security Standard "restricted"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["readOnlyRootFilesystem"] is True
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not sc.get("privileged")
    assert all(set(v) <= {"name", "emptyDir"} for v in pod["volumes"])
    assert pod["serviceAccountName"] == "reconciler"
    ns = by_kind("Namespace")[0]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_webhook_secret_is_referenced_never_literal() -> None:
    (dep,) = by_kind("Deployment")
    env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    ref = env[webhooks.SECRET_ENV_VAR]
    assert "value" not in ref
    assert ref["valueFrom"]["secretKeyRef"]["name"] == "reconciler-webhook"
    assert not by_kind("Secret")


def test_service_has_the_named_metrics_port_and_selects_the_pods() -> None:
    svc = next(o for o in by_kind("Service") if o["metadata"]["name"] == "reconciler")
    (dep,) = by_kind("Deployment")
    assert svc["spec"]["ports"] == [
        {"name": "http-metrics", "port": 8080, "targetPort": "http-metrics", "protocol": "TCP"}
    ]
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert dep["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"] == "http-metrics"


def test_cli_prints_the_install_as_yaml_with_options() -> None:
    proc = reconciler_cli(
        "manifests",
        "--namespace",
        "gitops",
        "--repo",
        "https://git.example.com/x.git",
        "--image",
        "ghcr.io/acme/reconciler:1.2.3",
    )
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert [d["kind"] for d in docs] == [o["kind"] for o in OBJECTS]
    dep = docs[-1]
    assert dep["metadata"]["namespace"] == "gitops"
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "ghcr.io/acme/reconciler:1.2.3"
    assert "https://git.example.com/x.git" in c["args"]
    assert docs[0]["metadata"]["name"] == "gitops"
    assert docs[3]["subjects"][0]["namespace"] == "gitops"
    assert proc.stderr == ""


def test_cli_without_repo_is_an_error_and_json_output() -> None:
    proc = reconciler_cli("manifests", "-o", "json")
    assert proc.returncode == 1, proc.stdout
    assert "Missing option '--repo'" in proc.stderr and proc.stdout == ""
    proc = reconciler_cli("manifests", "--repo", "https://git.example.com/x.git", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    items = json.loads(proc.stdout)["items"]
    assert (
        "https://git.example.com/x.git"
        in items[-1]["spec"]["template"]["spec"]["containers"][0]["args"]
    )


def test_cli_refuses_a_bad_interval() -> None:
    proc = reconciler_cli(
        "manifests", "--repo", "https://git.example.com/x.git", "--interval", "soon"
    )
    assert proc.returncode == 1
    assert "Invalid value for '--interval': 'soon': expected a duration like" in proc.stderr


def test_web_ui_service_ingress_and_token_by_reference() -> None:
    ui = next(o for o in by_kind("Service") if o["metadata"]["name"] == "reconciler-ui")
    (dep,) = by_kind("Deployment")
    assert ui["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http-metrics", "protocol": "TCP"}
    ]
    assert ui["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    ref = env["RECONCILER_UI_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "reconciler-ui", "key": "token", "optional": True}
    assert not by_kind("Ingress")
    objs = manifests.install_objects(
        manifests.InstallOptions(ui_host="ml.example.com", ui_tls_secret="ml-tls")
    )
    (ingress,) = [o for o in objs if o["kind"] == "Ingress"]
    for obj in objs:
        kubernetes_validate.validate(obj, kubernetes_validate.latest_version(), strict=True)
    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == "ml.example.com"
    assert rule["http"]["paths"][0]["backend"]["service"]["name"] == "reconciler-ui"
    assert ingress["spec"]["tls"] == [{"hosts": ["ml.example.com"], "secretName": "ml-tls"}]
