"""Exports kept in a directory: the next process updates them, and the result is exactly a
fresh export; a slot in use is never shared, and one whose user died is written whole."""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.source import exports, repos, trees
from tests.source.test_trees import make_repo, snapshot
from tests.support.dvcrepos import commit_all


def export(kept: exports.Exports, repo: Path) -> tuple[Path, trees.Written, trees.Tree]:
    """Take a directory of ``kept`` and bring it to ``repo``'s HEAD (the caller gives it back)."""
    root, written = kept.take()
    tree = trees.update(repos.open_repo(repo), repos.resolve(repo, "HEAD"), root, written)
    return root, written, tree


def fresh(repo: Path, dest: Path) -> dict[str, tuple[str, str | bytes, bool]]:
    return snapshot(
        trees.materialise(repos.open_repo(repo), repos.resolve(repo, "HEAD"), dest).root
    )


def process(state: Path) -> exports.Exports:
    """What a new process has: no free directory in memory, exports kept in ``state``."""
    kept = exports.Exports()
    kept.keep_in(state)
    return kept


def end(kept: exports.Exports) -> None:
    """The process exits: the locks of the slots it keeps go with it."""
    for fd in kept._held.values():
        os.close(fd)
    kept._held.clear()


def test_the_next_process_updates_the_kept_export_exactly(tmp_path: Path) -> None:
    repo, state = tmp_path / "repo", tmp_path / "state" / "trees"
    make_repo(
        repo, links={"a/link.yaml": "../b/x.yaml"}, files={"b/x.yaml": "x: 1\n", "c.yaml": "c\n"}
    )
    first = process(state)
    root, written, _ = export(first, repo)
    (root / ".dvc" / "tmp").mkdir(parents=True)  # a reader's leftovers
    (root / ".dvc" / "tmp" / "lock").write_text("x")
    first.give_back(root, written)
    end(first)
    inode = (root / "c.yaml").stat().st_ino

    second = process(state)
    (repo / "b" / "x.yaml").write_text("x: 2\n")
    commit_all(repo, "next")
    again, written2, _ = export(second, repo)
    assert again == root  # the same slot, updated in place
    assert (again / "c.yaml").stat().st_ino == inode  # an unchanged file is not written again
    assert snapshot(again) == fresh(repo, tmp_path / "fresh1")
    second.give_back(again, written2)
    end(second)

    (root / "c.yaml").write_text("changed by someone, same size?\n")  # between processes
    (root / "b" / "x.yaml").unlink()
    third = process(state)
    again, written3, _ = export(third, repo)
    assert snapshot(again) == fresh(repo, tmp_path / "fresh2")
    third.give_back(again, written3)


def test_a_slot_in_use_is_never_shared_and_a_dead_users_slot_is_written_whole(
    tmp_path: Path,
) -> None:
    repo, state = tmp_path / "repo", tmp_path / "state" / "trees"
    make_repo(repo, links={}, files={"a.yaml": "a: 1\n", "b.yaml": "b: 1\n"})
    one, two = process(state), process(state)
    root1, written1, _ = export(one, repo)
    root2, written2, _ = export(two, repo)  # the first is in use: another slot
    assert root1 != root2
    two.give_back(root2, written2)
    one.give_back(root1, written1)
    end(one)
    end(two)

    # A process takes the first slot, writes into it and dies (its lock goes with it).
    dying = process(state)
    taken, _, _ = export(dying, repo)
    assert not (taken.parent / "written.json").exists()  # in use: nothing claims the tree
    (taken / "a.yaml").write_text("a: 9\n")
    end(dying)  # killed: nothing given back
    later, other = process(state), process(state)
    got, _, _ = export(later, repo)
    assert got == taken  # free again, and written whole (its written.json is gone)
    assert snapshot(got) == fresh(repo, tmp_path / "fresh")
    got2, _, _ = export(other, repo)
    assert {got, got2} == {root1, root2}
    end(later)
    end(other)
