"""The in-process repository: lookups by name do not keep a new string each time."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from reconciler.source import git as gitcmd
from reconciler.source.objects import Repository


def repository(tmp_path: Path) -> Repository:
    repo = tmp_path / "r"
    gitcmd.run(["init", "-q", "-b", "main", str(repo)])
    (repo / "runs" / "dev" / "p").mkdir(parents=True)
    (repo / "runs" / "dev" / "p" / "a.yaml").write_text("run: a\n")
    gitcmd.run(["add", "-A"], repo=repo)
    gitcmd.run(
        ["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "one"], repo=repo
    )
    return Repository(repo)


def test_lookups_by_a_new_equal_name_hold_no_new_memory(tmp_path: Path) -> None:
    """pygit2 keeps every string ``references[name]`` and ``Tree[path]`` are given; a daemon
    asks for the same 20,000 names every pass. 9,000 lookups by new, equal strings must not
    keep 9,000 strings (~570 KB): they keep the one shared copy."""
    repo = repository(tmp_path)
    head = repo.tip("refs/heads/main")
    assert head is not None
    parts = ["refs", "heads", "main"]

    def lookups() -> None:
        for _ in range(3_000):
            assert repo.tip("/".join(parts)) == head  # a new string each time
            assert repo.tree_of(head, "/".join(["runs", "dev", "p"])) is not None
            assert repo.blob_ids(head, ["/".join(["runs", "dev", "p", "a.yaml"])])

    lookups()  # the first lookups make the shared copies
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        lookups()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 50_000, f"{kept} bytes kept by 9,000 lookups"
