"""The Environments a commit declares, read from the object store."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.render import environments
from reconciler.source import git as gitcmd
from reconciler.structs.errors import SourceError
from tests.support.dvcrepos import commit_all

ENV = (
    "apiVersion: reconciler.ml/v1alpha1\nkind: Environment\nmetadata: {{name: {0}}}\n"
    "spec: {{branch: {1}, namespace: ml-{0}}}\n"
)


def test_environments_of_each_commit(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    gitcmd.run(["init", "-q", "-b", "main", str(repo)])
    (repo / "README.md").write_text("no overlays yet\n")
    bare = commit_all(repo, "no overlays")
    for name, branch in (("dev", "main"), ("prod", "release")):
        (repo / "overlays" / name).mkdir(parents=True)
        (repo / "overlays" / name / "environment.yaml").write_text(ENV.format(name, branch))
    (repo / "overlays" / "notes.txt").write_text("not an environment\n")
    (repo / "overlays" / "broken").mkdir()
    (repo / "overlays" / "broken" / "environment.yaml").write_text("kind: [\n")
    two = commit_all(repo, "two environments")
    assert [e.name for e in environments.environments_at(repo, two)] == ["dev", "prod"]
    assert environments.default_branch(repo, "prod", two) == "release"
    with pytest.raises(SourceError):
        environments.environments_at(repo, bare)  # no overlays directory: git says so
