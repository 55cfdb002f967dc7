"""Render through the content cache: what did not change is not derived again, what changed is.

Real git, real Kustomize. The cache is keyed by content (the commit's tree id for Kustomize's
output, the hash of each document's text, of each pipeline file, of each valid document), so
every test changes an input and checks that the change is read: a cache that never misses
would keep rendering the old pipeline.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import engine
from reconciler.engine import preparing
from reconciler.engine.seams import Source
from reconciler.provenance.store import ProvenanceStore
from reconciler.render import environments
from reconciler.source import caches, repos
from tests.provenance.helpers import git

PIPELINES = ("alpha", "beta", "gamma")


def pipeline_yaml(name: str, lr: str = "0.01") -> str:
    return (
        "apiVersion: reconciler.ml/v1alpha1\nkind: Pipeline\n"
        f"metadata: {{name: {name}}}\n"
        "spec:\n"
        f"  params: {{lr: {lr}}}\n"
        "  steps:\n"
        "    - name: train\n"
        "      image: registry.example.com/train:1.0.0\n"
        "      command: [python, train.py]\n"
        f"      output: s3://models/{name}/{{run}}/\n"
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    files = {f"pipelines/{n}.yaml": pipeline_yaml(n) for n in PIPELINES}
    files["pipelines/kustomization.yaml"] = "resources:\n" + "".join(
        f"  - {n}.yaml\n" for n in PIPELINES
    )
    files["overlays/dev/kustomization.yaml"] = "resources: [../../pipelines, environment.yaml]\n"
    files["overlays/dev/environment.yaml"] = (
        "apiVersion: reconciler.ml/v1alpha1\nkind: Environment\nmetadata: {name: dev}\n"
        "spec: {branch: main, namespace: ml-dev}\n"
    )
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    git(tmp_path, "init", "-q", "-b", "main", str(root))
    commit(root, "init")
    return root


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def context(repo: Path, state: Path) -> engine.Context:
    def no_cluster(_context: str | None) -> object:
        raise AssertionError("prepare needs no cluster")

    return engine.Context(
        repo=repo,
        manager_for=no_cluster,  # type: ignore[arg-type]
        provenance=ProvenanceStore(repo, remote=None, state_dir=state / "provenance"),
        cache=caches.ContentCache(state / "cache"),
    )


def prepare(ctx: engine.Context) -> environments.Prepared:
    source = Source(ctx.repo, "main", repos.commit_info(ctx.repo, "main"))
    return preparing.prepare(ctx, source, "dev")


def lr_of(prepared: environments.Prepared, name: str) -> object:
    return dict(prepared.run_specs[name].pipeline.params)["lr"]


def test_an_unchanged_tree_is_not_built_or_parsed_again(repo: Path, tmp_path: Path) -> None:
    ctx = context(repo, tmp_path / "state")
    first = prepare(ctx)
    assert first.errors == []
    assert ctx.cache.stats()["kustomize-builds"] == (0, 1)
    again = prepare(ctx)
    assert ctx.cache.stats()["kustomize-builds"] == (1, 1)  # Kustomize did not run
    assert again.run_specs == first.run_specs
    # A new process (a new cache on the same state directory) finds it too.
    later = context(repo, tmp_path / "state")
    assert prepare(later).run_specs == first.run_specs
    assert later.cache.stats()["kustomize-builds"] == (1, 0)
    assert later.cache.stats()["valid-documents"] == (3, 0)


def test_a_changed_pipeline_is_read_again_and_only_it(repo: Path, tmp_path: Path) -> None:
    ctx = context(repo, tmp_path / "state")
    assert lr_of(prepare(ctx), "beta") == 0.01
    (repo / "pipelines/beta.yaml").write_text(pipeline_yaml("beta", lr="0.5"))
    commit(repo, "beta: lr 0.5")
    ctx = context(repo, tmp_path / "state")  # a new process
    changed = prepare(ctx)
    assert lr_of(changed, "beta") == 0.5  # the new tree missed; the new content was read
    assert lr_of(changed, "alpha") == 0.01
    stats = ctx.cache.stats()
    assert stats["kustomize-builds"] == (0, 1)
    assert stats["kustomize-docs.overlays.dev"] == (3, 1)  # only beta's document parsed
    assert stats["pipeline-sources"] == (2, 1)  # only beta's file parsed
    assert stats["valid-documents"] == (2, 1)  # only beta validated


def test_an_invalid_change_is_reported_not_served_from_the_cache(
    repo: Path, tmp_path: Path
) -> None:
    ctx = context(repo, tmp_path / "state")
    assert prepare(ctx).errors == []
    (repo / "pipelines/gamma.yaml").write_text(
        pipeline_yaml("gamma").replace("image: registry", "imag: registry")
    )
    commit(repo, "gamma: a typo")
    broken = prepare(ctx)
    assert "gamma" in broken.failed_pipelines
    assert any(e.path == "pipelines/gamma.yaml" and "imag" in e.field for e in broken.errors)
    again = prepare(ctx).failed_pipelines  # errors are never cached as valid
    assert set(again) == {"gamma"}
    assert [e.field for e in again["gamma"]] == [e.field for e in broken.failed_pipelines["gamma"]]


def test_a_cache_that_cannot_be_read_is_derived_again(repo: Path, tmp_path: Path) -> None:
    first = prepare(context(repo, tmp_path / "state"))
    for path in (tmp_path / "state" / "cache").glob("*.json"):
        path.write_text("garbage")
    ctx = context(repo, tmp_path / "state")
    assert prepare(ctx).run_specs == first.run_specs
    assert ctx.cache.stats()["kustomize-builds"] == (0, 1)
