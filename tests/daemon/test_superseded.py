"""A daemon's reconcile stops before applying once its branch has a newer commit.

Real git: the check reads the branch as the daemon's mirror holds it. A provenance commit
(only ``runs/``) does not make a reconcile stale; a commit changing anything else does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import engine
from reconciler.engine import sources
from reconciler.source import repos
from tests.daemon.helpers import commit, git, make_repo


def source_of(repo: Path) -> engine.Source:
    return engine.Source(repo, "main", repos.spec_commit(repo, "refs/heads/main"))


def test_a_newer_commit_supersedes_and_a_record_does_not(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"pipelines/a.yaml": "a: 1\n"})
    source = source_of(repo)
    check = sources.current_check(source, None)
    check()  # nothing moved
    (repo / "runs").mkdir()
    (repo / "runs" / "r.yaml").write_text("run: 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a record")
    check()  # only runs/ changed: the same spec commit
    (repo / "pipelines" / "a.yaml").write_text("a: 2\n")
    git(repo, "commit", "-qam", "a change")
    newer = git(repo, "rev-parse", "HEAD")
    with pytest.raises(engine.Superseded, match=f"main moved to {newer[:12]}"):
        check()


def test_a_fixed_ref_is_never_superseded(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    check = sources.current_check(source_of(repo), "HEAD")
    commit(repo, "a change")
    check()
