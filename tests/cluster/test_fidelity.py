"""The sandbox's kubectl scenarios against a real cluster (``pytest -m cluster``).

The same assertions as :mod:`tests.sandbox.test_kubectl`, so a run against a real
kube-apiserver shows that the sandbox answers as one does. Needs a cluster in KUBECONFIG
where the user may create namespaces, ConfigMaps and Deployments.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox import scenarios

pytestmark = pytest.mark.cluster


def test_get_outputs_and_selectors(cluster_kubectl: Any, cluster_namespace: str) -> None:
    scenarios.scenario_get_outputs(cluster_kubectl, cluster_namespace)


def test_apply_server_side_conflict_then_force(
    cluster_kubectl: Any, cluster_namespace: str
) -> None:
    scenarios.scenario_apply_conflicts(cluster_kubectl, cluster_namespace)


def test_diff_server_side_exit_codes(cluster_kubectl: Any, cluster_namespace: str) -> None:
    scenarios.scenario_diff(cluster_kubectl, cluster_namespace)


def test_delete(cluster_kubectl: Any, cluster_namespace: str) -> None:
    scenarios.scenario_delete(cluster_kubectl, cluster_namespace)


def test_api_resources(cluster_kubectl: Any) -> None:
    scenarios.scenario_api_resources(cluster_kubectl)
