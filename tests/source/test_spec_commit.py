"""The commit a branch's specs come from: provenance-only commits are skipped, per tip."""

from __future__ import annotations

from pathlib import Path

from reconciler.source import git as gitcmd
from reconciler.source import repos
from tests.support.dvcrepos import commit_all


def test_each_tip_gets_its_own_answer_asked_again(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    gitcmd.run(["init", "-q", "-b", "main", str(repo)])
    (repo / "pipelines").mkdir()
    (repo / "pipelines" / "a.yaml").write_text("a: 1\n")
    spec = commit_all(repo, "spec")
    (repo / "runs").mkdir()
    (repo / "runs" / "r.yaml").write_text("run: 1\n")
    record = commit_all(repo, "record")
    assert repos.spec_commit(repo, "main").sha == spec
    assert repos.spec_commit(repo, "main").sha == spec  # asked again: the same
    assert repos.spec_commit(repo, record).sha == spec
    (repo / "pipelines" / "a.yaml").write_text("a: 2\n")
    newer = commit_all(repo, "spec again")
    assert repos.spec_commit(repo, "main").sha == newer  # the branch moved: a new answer
    (repo / "runs" / "r.yaml").write_text("run: 2\n")
    commit_all(repo, "record again")
    assert repos.spec_commit(repo, "main").sha == newer
    assert repos.spec_commit(repo, spec).sha == spec  # an older tip keeps its own answer
