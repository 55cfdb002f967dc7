"""``HEAD`` of a bare repository made by ``git init --bare`` that names a branch never pushed.

Regression: with git's default ``master`` in the bare origin and only ``main`` pushed,
``reconciler run --repo URL`` (and ``status``, ``plan`` on the bare repository) found no
environment at all: "unknown git ref 'HEAD'", and the daemon reconciled nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.source import git as gitcmd
from reconciler.source import mirrors, repos
from reconciler.structs.errors import SourceError


def bare_with_dangling_head(tmp_path: Path, branch: str) -> tuple[Path, str]:
    """Return a bare repository whose HEAD names ``master``, and the sha pushed to ``branch``."""
    origin = tmp_path / "origin.git"
    gitcmd.run(["init", "-q", "--bare", str(origin)])
    gitcmd.run(["symbolic-ref", "HEAD", "refs/heads/master"], repo=origin)
    work = tmp_path / "work"
    gitcmd.run(["init", "-q", "-b", branch, str(work)])
    (work / "README").write_text("hello\n")
    gitcmd.run(["add", "README"], repo=work)
    gitcmd.run(
        ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "first"],
        repo=work,
    )
    gitcmd.run(["push", "-q", str(origin), branch], repo=work)
    return origin, gitcmd.output(["rev-parse", "HEAD"], repo=work).strip()


def test_a_head_naming_no_commit_falls_back_to_main(tmp_path: Path) -> None:
    origin, sha = bare_with_dangling_head(tmp_path, "main")
    assert repos.resolve(origin, "HEAD") == sha
    mirror = mirrors.ensure_mirror(origin.as_uri(), tmp_path / "cache", timeout=60)
    assert repos.resolve(mirror, "HEAD") == sha
    with pytest.raises(SourceError, match="unknown git ref 'nope'"):
        repos.resolve(origin, "nope")


def test_no_fallback_branch_says_what_to_do(tmp_path: Path) -> None:
    origin, _ = bare_with_dangling_head(tmp_path, "trunk")
    with pytest.raises(SourceError) as err:
        repos.resolve(origin, "HEAD")
    assert "names no commit and there is no branch main or master" in str(err.value)
    assert "git symbolic-ref HEAD refs/heads/BRANCH" in str(err.value)
