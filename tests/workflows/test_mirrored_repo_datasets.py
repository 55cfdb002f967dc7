"""DVC remotes when the reconciler reads a repository by URL (``reconciler run --repo URL``).

The daemon installed in a cluster mirrors the repository into its state directory: a bare
mirror, no work tree. A DVC remote that is a local path inside the repository (the
example's ``dvc-storage/``) is named inside that mirror, a path no pod can see: the
pipelines still render and run (a pod can ``dvc get`` the committed store by
``DVC_REPO_URL`` and REV), and a warning says what to do on a real cluster. A remote
outside the repository is named as it is. Real git mirror, real DVC, the sandbox over HTTP.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

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


def test_a_remote_inside_the_repository_read_by_url_renders_with_a_warning(
    tmp_path: Path, sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    world = make_world(tmp_path, sandbox)
    ctx = mirrored(world, tmp_path)
    with caplog.at_level(logging.WARNING, logger="reconciler.render.datasets"):
        out = engine.reconcile(ctx, "dev")
    assert not out.errors, out.errors
    assert not [p.name for p in out.pipelines if p.status == "RenderError"]
    assert fraud_urls(world)  # the runs started, their data named
    (warning,) = [r.getMessage() for r in caplog.records if "DVC remote 'storage'" in r.message]
    assert "local path inside the repository (dvc-storage)" in warning
    assert "dvc get --rev" in warning and "object store" in warning
    # Once per remote and process: a second reconcile says nothing new.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="reconciler.render.datasets"):
        engine.reconcile(ctx, "dev")
    assert not [r for r in caplog.records if "DVC remote 'storage'" in r.message]


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
