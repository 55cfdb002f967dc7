"""The refs watch with watchdog on real repositories: commits and pushes are noticed."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from reconciler.daemon import watching
from reconciler.structs.errors import SourceError
from tests.daemon.helpers import commit, git, make_repo


class Calls:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.event = threading.Event()

    def __call__(self) -> None:
        self.times.append(time.monotonic())
        self.event.set()


def test_a_commit_in_a_work_tree_is_noticed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    calls = Calls()
    watcher = watching.RefsWatcher(repo, calls, debounce=0.05)
    watcher.start()
    try:
        time.sleep(0.1)
        assert calls.times == []  # starting to watch is not a change
        (repo / "model.yaml").write_text("lr: 0.1\n")
        git(repo, "add", "model.yaml")  # writes .git/index: not a ref
        time.sleep(0.3)
        assert calls.times == []
        started = time.monotonic()
        git(repo, "commit", "-q", "-m", "tune lr")
        assert calls.event.wait(5), "the commit was not noticed"
        print(f"commit noticed after {calls.times[0] - started:.3f}s")
    finally:
        watcher.stop()
    assert len(calls.times) == 1  # one commit, one callback (debounced)


def test_a_push_into_a_bare_repository_is_noticed(tmp_path: Path) -> None:
    work = make_repo(tmp_path / "work")
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    calls = Calls()
    watcher = watching.RefsWatcher(bare, calls, debounce=0.05)
    watcher.start()
    try:
        commit(work, "next")
        git(work, "push", "-q", str(bare), "main:main", "main:exp/lr-sweep")  # new nested ref too
        assert calls.event.wait(5), "the push was not noticed"
    finally:
        watcher.stop()


def test_packed_refs_and_branch_deletion_are_noticed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "branch", "exp/a")
    calls = Calls()
    watcher = watching.RefsWatcher(repo, calls, debounce=0.05)
    watcher.start()
    try:
        git(repo, "pack-refs", "--all")
        assert calls.event.wait(5)
        calls.event.clear()
        git(repo, "branch", "-D", "exp/a")
        assert calls.event.wait(5)
    finally:
        watcher.stop()


def test_is_ref_path(tmp_path: Path) -> None:
    g = tmp_path / ".git"
    assert watching.is_ref_path(str(g / "refs/heads/main"), g, g)
    assert watching.is_ref_path(str(g / "refs/heads/exp/lr"), g, g)
    assert watching.is_ref_path(str(g / "HEAD"), g, g)
    assert watching.is_ref_path(str(g / "packed-refs"), g, g)
    assert watching.is_ref_path(str(g / "FETCH_HEAD"), g, g)
    assert not watching.is_ref_path(str(g / "refs/heads/main.lock"), g, g)
    assert not watching.is_ref_path(str(g / "index"), g, g)
    assert not watching.is_ref_path(str(g / "objects/ab/cdef"), g, g)
    assert not watching.is_ref_path(str(tmp_path / "refs/heads/main"), g, g)


def test_a_directory_that_is_not_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a git repository"):
        watching.RefsWatcher(tmp_path, lambda: None)
