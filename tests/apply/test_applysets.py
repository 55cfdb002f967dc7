"""ApplySet ids, parent annotations and the reconcile order (pure, no cluster)."""

from __future__ import annotations

import base64
import hashlib

from reconciler.apply import applysets, ordering
from reconciler.structs import labels


def test_id_is_kubectls_formula() -> None:
    digest = hashlib.sha256(b"reconciler-applyset-prod.ml-prod.ConfigMap.").digest()
    expected = "applyset-" + base64.urlsafe_b64encode(digest).decode().rstrip("=") + "-v1"
    assert applysets.applyset_for("prod", "ml-prod").id == expected


def test_id_is_a_valid_label_value() -> None:
    value = applysets.applyset_for("a-very-long-environment-name", "ml-some-namespace").id
    assert len(value) <= 63 and value[0].isalnum() and value[-1].isalnum()


def test_parent_annotations_sorted_like_kubectl() -> None:
    aset = applysets.applyset_for("prod", "ml-prod")
    parent = aset.parent_manifest(
        [("batch", "Job"), ("", "Service"), ("apps", "Deployment"), ("", "Namespace")],
        ["ml-prod", "other", "ml-prod", ""],
    )
    ann = parent["metadata"]["annotations"]
    assert (
        ann[labels.APPLYSET_CONTAINS_GROUP_KINDS],
        ann[labels.APPLYSET_ADDITIONAL_NAMESPACES],
        ann[labels.APPLYSET_TOOLING].startswith("reconciler/v"),
        parent["metadata"]["labels"][labels.APPLYSET_ID],
    ) == ("Deployment.apps,Job.batch,Namespace,Service", "other", True, aset.id)
    # Labelled like every generated object (regression: no reconciler.ml/env).
    assert parent["metadata"]["labels"][labels.MANAGED_BY] == "reconciler"
    assert parent["metadata"]["labels"][labels.ENV] == "prod"


def test_group_kinds_round_trip() -> None:
    value = "Deployment.apps,Ingress.networking.k8s.io,Service"
    assert applysets.parse_group_kinds(value) == [
        ("apps", "Deployment"),
        ("networking.k8s.io", "Ingress"),
        ("", "Service"),
    ]


def test_tooling_name() -> None:
    assert applysets.tooling_name("kubectl/v1.37") == "kubectl"


def test_order_namespaces_first_workloads_after_config() -> None:
    objs = [
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
        {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}},
    ]
    kinds = [o["kind"] for o in sorted(objs, key=ordering.sort_key)]
    assert kinds == ["Namespace", "ResourceQuota", "ConfigMap", "Job", "Widget"]
