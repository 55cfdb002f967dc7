"""DVC remotes when the reconciler reads a repository by URL (``reconciler run --repo URL``).

The daemon installed in a cluster mirrors the repository into its state directory: a bare
mirror, no work tree. A DVC remote that is a local path inside the repository (the
example's ``dvc-storage/``) would be named inside that mirror, a path no pod can see: it
is refused at render, on ``.dvc/config``'s ``remote.<name>.url``, the pipelines using it
are listed as not rendering and keep their live objects. A remote outside the repository
is named as it is. Real git mirror, real DVC, the sandbox over HTTP.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from reconciler import engine
from reconciler.source import mirrors
from tests.support import dvcrepos
from tests.workflows.world import World, make_world, status


def mirrored(world: World, tmp_path: Path) -> engine.Context:
    """Return the engine context of a daemon run with ``--repo <origin URL>``."""
    mirror = mirrors.ensure_mirror(world.origin.as_uri(), tmp_path / "mirrors")
    return engine.Context(
        repo=mirror, manager_for=world.ctx.manager_for, provenance=world.ctx.provenance
    )


def fraud_urls(world: World) -> set[str]:
    from kubernetes import client

    jobs = client.BatchV1Api(world.api).list_namespaced_job(
        "ml-dev", label_selector="reconciler.ml/pipeline=fraud-detector"
    )
    return {
        e.value
        for j in jobs.items
        for e in j.spec.template.spec.containers[0].env or []
        if e.name == "DATASET_TRANSACTIONS_URL"
    }


def test_a_remote_inside_the_repository_is_refused_when_read_by_url(
    tmp_path: Path, sandbox: Any
) -> None:
    world = make_world(tmp_path, sandbox)
    world.reconcile()  # from the clone: the remote is named in the clone
    before = world.jobs()
    assert before
    ctx = mirrored(world, tmp_path)
    out = engine.reconcile(ctx, "dev")
    fraud = status(out, "fraud-detector")
    assert fraud.status == "RenderError"
    (err,) = fraud.errors
    assert (err.path, err.field) == (".dvc/config", "remote.storage.url")
    assert "local path inside the repository (dvc-storage)" in err.message
    assert "nowhere a pod can read it" in err.message
    assert str(tmp_path / "mirrors") not in err.message  # never the daemon's own paths
    assert {p.name for p in out.pipelines if p.status == "RenderError"} == {
        "fraud-detector",
        "llm-finetune",
        "resnet50",
    }
    assert world.jobs() == before  # nothing pruned, nothing replaced


def test_a_remote_outside_the_repository_is_named_as_it_is(tmp_path: Path, sandbox: Any) -> None:
    world = make_world(tmp_path, sandbox)
    outside = tmp_path / "shared-dvc-store"
    shutil.copytree(world.work / "dvc-storage", outside)
    dvcrepos.dvc(world.work, "remote", "modify", "storage", "url", str(outside))
    world.commit_and_push("DVC remote on shared storage")
    out = engine.reconcile(mirrored(world, tmp_path), "dev")
    assert not out.errors, out.errors
    assert status(out, "fraud-detector").status != "RenderError"
    urls = fraud_urls(world)
    assert urls and all(u.startswith(str(outside)) for u in urls), urls
