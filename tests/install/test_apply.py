"""The install applied to the sandbox with the real kubectl (server-side apply)."""

from __future__ import annotations

import json
import time
from typing import Any

import yaml

from reconciler.install import manifests
from tests.install.test_manifests import reconciler_cli


def test_the_install_applies_server_side_and_reapplies_unchanged(kubectl: Any) -> None:
    proc = reconciler_cli("manifests", "--repo", "https://git.example.com/ml/pipelines.git")
    assert proc.returncode == 0, proc.stderr
    applied = kubectl("apply", "--server-side", "--field-manager", "reconciler-install",
                      "-f", "-", input=proc.stdout)  # fmt: skip
    lines = applied.stdout.strip().splitlines()
    assert len(lines) == len(manifests.install_objects()), applied.stdout
    assert all(line.endswith("serverside-applied") for line in lines), applied.stdout

    got = json.loads(kubectl("get", "deployment", "reconciler", "-n", "reconciler-system",
                             "-o", "json").stdout)  # fmt: skip
    container = got["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"][0]["name"] == "http-metrics"
    role = json.loads(kubectl("get", "clusterrole", "reconciler", "-o", "json").stdout)
    assert not any("secrets" in rule["resources"] for rule in role["rules"])
    svc = json.loads(kubectl("get", "service", "reconciler", "-n", "reconciler-system",
                             "-o", "json").stdout)  # fmt: skip
    assert svc["spec"]["ports"][0]["name"] == "http-metrics"

    # The same YAML again changes nothing (no field fights between apply and defaults).
    # Once the Deployment has settled: its status moving between kubectl's read of the live
    # object and its dry run would show as a diff on any cluster.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = json.loads(kubectl("get", "deployment", "reconciler", "-n", "reconciler-system",
                                    "-o", "json").stdout)["status"]  # fmt: skip
        if status.get("availableReplicas") == 1 and not status.get("unavailableReplicas"):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"the Deployment never became available: {status}")
    diff = kubectl("diff", "--server-side", "--field-manager", "reconciler-install", "-f", "-",
                   input=proc.stdout, check=False)  # fmt: skip
    assert diff.returncode == 0, diff.stdout + diff.stderr


def test_every_object_lands_in_the_right_place(kubectl: Any) -> None:
    objs = manifests.install_objects(manifests.InstallOptions(namespace="gitops"))
    kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(objs))
    for obj in objs:
        args = ["get", obj["kind"].lower(), obj["metadata"]["name"], "-o", "json"]
        if "namespace" in obj["metadata"]:
            args += ["-n", obj["metadata"]["namespace"]]
        live = json.loads(kubectl(*args).stdout)
        assert live["metadata"].get("namespace", "") == obj["metadata"].get("namespace", "")
        assert live["metadata"]["labels"]["app.kubernetes.io/name"] == "reconciler"
