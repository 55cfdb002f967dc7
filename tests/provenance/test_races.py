"""Several reconciler *processes* writing records to one branch at once: none lost, none twice.

Each worker is a separate Python process (``race_worker.py``) with its own ProvenanceStore;
they wait for a start file so their fetch/commit/push cycles really overlap.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from reconciler.provenance.records import RunRecord
from tests.provenance.helpers import git

Factory = Callable[..., RunRecord]
BRANCH = "experiments/resnet50"
WORKER = Path(__file__).with_name("race_worker.py")


def start_workers(
    tmp_path: Path, jobs: list[tuple[Path, str, list[RunRecord]]]
) -> list[subprocess.Popen[str]]:
    """Start one worker per (repo, remote or "-", records); they wait for the go file."""
    go = tmp_path / "go"
    procs = []
    for i, (repo, remote, records) in enumerate(jobs):
        files = []
        for j, rec in enumerate(records):
            f = tmp_path / f"w{i}-r{j}.yaml"
            f.write_text(rec.to_yaml())
            files.append(str(f))
        args = [str(repo), str(tmp_path / f"state{i}"), BRANCH, str(go), remote, *files]
        procs.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    time.sleep(0.8)  # let every interpreter import and reach the start line
    go.touch()
    return procs


def results_of(procs: list[subprocess.Popen[str]]) -> list[list[dict[str, str]]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr
        out.append([json.loads(line) for line in stdout.splitlines()])
    return out


def assert_each_record_once_and_linear(repo: Path, paths: set[str]) -> None:
    """The branch holds exactly ``paths``, each added by one commit, in a linear history."""
    files = git(repo, "ls-tree", "-r", "--name-only", BRANCH).splitlines()
    assert sorted(files) == sorted(paths)
    history = git(repo, "rev-list", "--parents", BRANCH).splitlines()
    assert all(len(line.split()) <= 2 for line in history), "a merge commit"
    assert sum(len(line.split()) == 1 for line in history) == 1, "more than one root"
    assert len(history) == len(paths), "one commit per record"
    added = git(repo, "log", "--format=", "--name-only", "--diff-filter=A", BRANCH).split()
    assert Counter(added) == Counter(paths)


def test_concurrent_processes_push_every_record_exactly_once(
    remote: Path,
    clone_of: Callable[[Path, str], Path],
    tmp_path: Path,
    record_factory: Factory,
) -> None:
    clones = [clone_of(remote, f"c{i}") for i in range(6)]
    shared = clone_of(remote, "shared")
    distinct = [[record_factory(f"w{i}r{j}") for j in range(3)] for i in range(4)]
    same = record_factory("same")
    jobs: list[tuple[Path, str, list[RunRecord]]] = [
        *((clones[i], "origin", distinct[i]) for i in range(4)),
        # two reconcilers writing the very same record
        (clones[4], "origin", [same]),
        (clones[5], "origin", [same]),
        # two processes sharing one repository (same tracking refs and object store)
        (shared, "origin", [record_factory("shared-a")]),
        (shared, "origin", [record_factory("shared-b")]),
    ]
    results = results_of(start_workers(tmp_path, jobs))

    flat = [r for rs in results for r in rs]
    assert all(r["outcome"] != "pending" for r in flat), flat
    same_outcomes = sorted(r["outcome"] for rs in results[4:6] for r in rs)
    assert same_outcomes == ["unchanged", "written"]
    assert all(r["outcome"] == "written" for r in flat if r["path"] != same.path)
    paths = {rec.path for recs in distinct for rec in recs}
    paths |= {same.path, record_factory("shared-a").path, record_factory("shared-b").path}
    assert_each_record_once_and_linear(remote, paths)
    # nothing left waiting in any outbox
    assert list(tmp_path.glob("state*/outbox/*.json")) == []
    print("push cycles per record:", sorted(r["attempts"] for r in flat))


def test_concurrent_processes_commit_locally_with_compare_and_swap(
    clone: Path, tmp_path: Path, record_factory: Factory
) -> None:
    """No remote: three processes on one repository race on update-ref."""
    jobs: list[tuple[Path, str, list[RunRecord]]] = [
        (clone, "-", [record_factory(f"p{i}r{j}") for j in range(3)]) for i in range(3)
    ]
    jobs.append((clone, "-", [record_factory("p0r0")]))  # a duplicate of the first
    results = results_of(start_workers(tmp_path, jobs))
    flat = [r for rs in results for r in rs]
    assert all(r["outcome"] in ("written", "unchanged") for r in flat), flat
    assert sum(r["outcome"] == "written" for r in flat) == 9
    assert_each_record_once_and_linear(
        clone, {f"runs/prod/resnet50/p{i}r{j}.yaml" for i in range(3) for j in range(3)}
    )
