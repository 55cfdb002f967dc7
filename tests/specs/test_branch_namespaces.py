"""One namespace per branch, in the cluster: a namespace of one branch is refused to another.

Against the sandbox with the real engine: two branches whose names map to the same
namespace (one crafted to collide with the other's hashed name) never share it; the
second is refused before anything is applied or pruned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler import engine
from reconciler.specs import branches, loading, validation
from reconciler.structs.errors import SpecErrors
from tests.support import dvcrepos
from tests.workflows.world import make_world


def test_a_branch_cannot_take_over_another_branchs_namespace(tmp_path: Path, sandbox: Any) -> None:
    world = make_world(tmp_path, sandbox)
    env_file = world.work / "overlays/exp/environment.yaml"
    env = validation.parse_environment(
        loading.load_document(env_file.read_bytes(), path="e.yaml"), path="e.yaml"
    )
    first = "exp/a_b"
    namespace = branches.namespace_for_branch(env, first)
    crafted = "exp/" + namespace.removeprefix("ml-exp-")  # maps to it as it is
    assert branches.namespace_for_branch(env, crafted) == namespace
    for branch in (first, crafted):
        dvcrepos.git(world.work, "branch", branch)
    out = world.reconcile("exp", first)
    created = world.jobs(namespace)
    assert created and out.target.namespace == namespace
    with pytest.raises(SpecErrors) as refused:
        engine.reconcile(world.ctx, "exp", crafted)
    message = str(refused.value)
    assert f"namespace {namespace!r} belongs to branch {first!r}" in message
    assert "spec.namespace" in message
    (error,) = refused.value.errors
    assert (error.path, error.line, error.column) == ("overlays/exp/environment.yaml", 10, 3)
    assert world.jobs(namespace) == created  # nothing of the first branch was pruned
