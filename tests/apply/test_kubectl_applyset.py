"""kubectl's ApplySet implementation and ours agree on what belongs to the set.

Runs the venv's kubectl against the sandbox: ``kubectl apply --server-side --prune
--applyset=configmaps/<name> -n <ns>`` (ApplySet support is alpha in kubectl, enabled with
``KUBECTL_APPLYSET=true``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.apply.applysets import applyset_for
from reconciler.apply.manager import ResourceManager
from reconciler.apply.sync import sync_objects
from reconciler.plan.plans import plan_objects
from reconciler.structs import labels
from reconciler.structs.changesets import Action
from reconciler.structs.manifests import ObjectRef
from tests.apply import objects

ENV, NS = "dev", "ml-dev"
APPLYSET = applyset_for(ENV, NS)


def kubectl_path() -> str:
    here = Path(sys.executable).parent / "kubectl"
    return str(here) if here.exists() else "kubectl"


def kubectl_applyset(sandbox: Any, tmp_path: Path, objs: list[dict], *args: str) -> str:
    """Run ``kubectl apply --server-side --prune --applyset=...`` on ``objs``; return stdout."""
    path = tmp_path / "objs.yaml"
    path.write_text(yaml.safe_dump_all(objs))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env.update(
        {
            "KUBECONFIG": str(sandbox.kubeconfig),
            "KUBECTL_APPLYSET": "true",
            "HOME": str(tmp_path),
            "KUBECACHEDIR": str(tmp_path / "cache"),
        }
    )
    proc = subprocess.run(
        [
            kubectl_path(),
            "apply",
            "--server-side",
            "--prune",
            f"--applyset=configmaps/{APPLYSET.name}",
            "-n",
            NS,
            "-f",
            str(path),
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_kubectl_parent_id_and_members_are_what_we_list(
    sandbox: Any, tmp_path: Path, kubectl: Any
) -> None:
    kubectl(
        "apply", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NS}}}\n"
    )
    objs = objects.environment(ENV, NS, ["a"])
    kubectl_applyset(sandbox, tmp_path, objs)
    manager = ResourceManager(sandbox.api_client())
    parent = manager.get(APPLYSET.parent_ref)
    assert parent is not None and parent["metadata"]["labels"][labels.APPLYSET_ID] == APPLYSET.id
    live = manager.list_live(APPLYSET, [])  # the kinds come from kubectl's parent annotation
    assert sorted(str(ObjectRef.of(o)) for o in live.values()) == sorted(
        str(ObjectRef.of(o)) for o in objs
    )


def test_kubectl_prunes_what_our_plan_prunes(sandbox: Any, tmp_path: Path, kubectl: Any) -> None:
    manager = ResourceManager(sandbox.api_client())
    everything = objects.environment(ENV, NS, ["a", "b"])
    assert sync_objects(manager, applyset=APPLYSET, desired=everything).ok
    remaining = objects.environment(ENV, NS, ["a"])
    ours = sorted(
        str(e.subject)
        for e in plan_objects(manager, applyset=APPLYSET, desired=remaining).entries
        if e.action is Action.DELETED
    )
    # Hand the set to kubectl (it refuses parents of other tools, as the KEP says).
    kubectl(
        "annotate",
        "configmap",
        APPLYSET.name,
        "-n",
        NS,
        f"{labels.APPLYSET_TOOLING}=kubectl/v1.37",
        "--overwrite",
    )
    out = kubectl_applyset(sandbox, tmp_path, remaining, "--dry-run=server")
    pruned = sorted(
        line.split()[0]
        for line in out.splitlines()
        if line.rstrip().endswith("pruned (server dry run)")
    )
    kinds = {"deployment.apps": "Deployment", "job.batch": "Job", "service": "Service"}
    theirs = sorted(f"{kinds[p.split('/')[0]]}/{NS}/{p.split('/')[1]}" for p in pruned)
    assert ours == theirs and len(ours) == 4


@pytest.mark.parametrize("tool", ["kubectl/v1.37"])
def test_we_refuse_a_parent_of_another_tool(
    sandbox: Any, tmp_path: Path, kubectl: Any, tool: str
) -> None:
    kubectl(
        "apply", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NS}}}\n"
    )
    objs = objects.environment(ENV, NS, ["a"])
    kubectl_applyset(sandbox, tmp_path, objs)
    manager = ResourceManager(sandbox.api_client())
    result = sync_objects(manager, applyset=APPLYSET, desired=[])
    assert [str(e.action) for e in result.changeset.entries] == ["conflict"]
    assert tool.split("/")[0] in result.changeset.entries[0].message
