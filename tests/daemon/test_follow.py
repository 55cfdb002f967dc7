"""``reconciler run --repo <clone>`` deploys what was pushed, not the clone's local commits.

A clone's ``origin`` is mirrored and fetched (when the clone's refs move, on a webhook and
every ``--interval``); ``--follow local`` deploys the clone's own branches (development).
Real git everywhere: a bare remote, clones, pushes; the daemon as a process on the sandbox.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from reconciler.source import mirrors
from reconciler.structs.errors import SourceError
from tests.chaos import support
from tests.daemon.helpers import commit, git, make_repo
from tests.support import dvcrepos
from tests.workflows.world import GOOD, NS, World, make_world


def clone_of(tmp_path: Path) -> tuple[Path, Path]:
    work = make_repo(tmp_path / "work", {"README": "one\n"})
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    git(work, "remote", "add", "origin", "../origin.git")  # relative, as people write it
    git(work, "fetch", "-q", "origin")
    return work, bare


def test_what_is_followed(tmp_path: Path) -> None:
    work, bare = clone_of(tmp_path)
    assert mirrors.followed(str(work), "remote") == (str(bare.resolve()), True)
    assert mirrors.followed(str(work), "local") == (str(work.resolve()), False)
    assert mirrors.followed(str(bare), "remote") == (str(bare.resolve()), False)
    assert mirrors.followed("https://git.example.com/ml.git", "local") == (
        "https://git.example.com/ml.git",
        True,
    )
    alone = make_repo(tmp_path / "alone", {"README": "x\n"})
    with pytest.raises(SourceError, match=r"without a remote 'origin'.*--follow local"):
        mirrors.followed(str(alone), "remote")
    with pytest.raises(SourceError, match="no such repository"):
        mirrors.followed(str(tmp_path / "missing"), "remote")


def test_the_fetcher_of_a_clone_sees_pushes_and_not_local_commits(tmp_path: Path) -> None:
    work, bare = clone_of(tmp_path)
    path, fetch = mirrors.refs_fetcher(str(work), tmp_path / "cache", follow="remote")
    assert path != work and fetch() is True
    pushed = git(bare, "rev-parse", "main").strip()
    local = commit(work, "not pushed")
    assert fetch() is False
    assert mirrors.read_refs(path)["refs/heads/main"] == pushed
    git(work, "push", "-q", "origin", "main")
    assert fetch() is True
    assert mirrors.read_refs(path)["refs/heads/main"] == local


def test_run_refuses_a_clone_without_a_remote_unless_told_to_follow_it(tmp_path: Path) -> None:
    alone = make_repo(tmp_path / "alone", {"README": "x\n"})
    env = support.process_env(tmp_path / "no-kubeconfig", tmp_path / "state")
    result = support.run(
        ["run", "--repo", str(alone), "--listen", "127.0.0.1:0"], cwd=alone, env=env
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "--follow local" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def world(tmp_path: Path, sandbox: Any) -> World:
    w = make_world(tmp_path, sandbox)
    w.outcomes({**GOOD, "01-slow": {"match": "*/*", "delay": 30.0}})
    return w


def fraud_runs(world: World) -> set[str]:
    jobs = client.BatchV1Api(world.api).list_namespaced_job(
        NS, label_selector="reconciler.ml/pipeline=fraud-detector"
    )
    return {(j.metadata.labels or {})["reconciler.ml/run"] for j in jobs.items}


def new_seed(world: World, seed: int) -> None:
    path = world.work / "pipelines" / "fraud-detector.yaml"
    path.write_text(re.sub(r"seed: \d+", f"seed: {seed}", path.read_text(), count=1))


def test_the_daemon_deploys_a_push_and_never_a_local_commit(
    world: World, sandbox: Any, tmp_path: Path
) -> None:
    env = support.process_env(sandbox.kubeconfig, tmp_path / "state")
    log = tmp_path / "daemon.log"
    args = ["run", "--repo", ".", "--env", "dev", "--interval", "1h", "--listen",
            f"127.0.0.1:{support.free_port()}", "--log-format", "json"]  # fmt: skip
    daemon = support.spawn(args, cwd=world.work, env=env, log=log)
    try:
        first = support.wait_for(lambda: fraud_runs(world), 120)
        assert first, log.read_text()[-3000:]
        new_seed(world, 4242)
        dvcrepos.commit_all(world.work, "a local experiment, not pushed")
        time.sleep(3.0)  # the clone's refs moved: the daemon fetched and found nothing new
        assert fraud_runs(world) == first
        dvcrepos.git(world.work, "push", "-q", "origin", "HEAD")
        pushed = support.wait_for(lambda: fraud_runs(world) - first, 60, every=0.05)
        assert pushed, log.read_text()[-3000:]
    finally:
        daemon.terminate()
        assert daemon.wait(20) == 0


def test_follow_local_deploys_local_commits(world: World, sandbox: Any, tmp_path: Path) -> None:
    env = support.process_env(sandbox.kubeconfig, tmp_path / "state")
    log = tmp_path / "daemon.log"
    args = ["run", "--repo", ".", "--follow", "local", "--env", "dev", "--interval", "1h",
            "--listen", f"127.0.0.1:{support.free_port()}", "--log-format", "json"]  # fmt: skip
    daemon = support.spawn(args, cwd=world.work, env=env, log=log)
    try:
        first = support.wait_for(lambda: fraud_runs(world), 120)
        assert first, log.read_text()[-3000:]
        new_seed(world, 4343)
        dvcrepos.commit_all(world.work, "a local experiment")
        assert support.wait_for(lambda: fraud_runs(world) - first, 60, every=0.05)
        ahead = subprocess.run(
            ["git", "rev-list", "--count", "origin/main..HEAD"],
            cwd=world.work,
            capture_output=True,
            text=True,
        ).stdout.strip()
        assert ahead == "1"  # deployed without a push
    finally:
        daemon.terminate()
        assert daemon.wait(20) == 0


def test_a_push_to_one_branch_reconciles_only_the_environments_that_follow_it(
    world: World, sandbox: Any, tmp_path: Path
) -> None:
    dvcrepos.git(world.work, "checkout", "-q", "-b", "exp/a")
    dvcrepos.git(world.work, "push", "-q", "origin", "exp/a")
    dvcrepos.git(world.work, "checkout", "-q", "main")
    env = support.process_env(sandbox.kubeconfig, tmp_path / "state")
    log = tmp_path / "daemon.log"
    args = ["run", "--repo", ".", "--env", "dev", "--env", "exp", "--interval", "1h",
            "--listen", f"127.0.0.1:{support.free_port()}", "--log-format", "json"]  # fmt: skip

    def reconciled() -> list[str]:
        return [e["env"] for e in log_events(log) if e.get("msg") == "reconciled"]

    daemon = support.spawn(args, cwd=world.work, env=env, log=log)
    try:
        assert support.wait_for(lambda: {"dev", "exp@exp/a"} <= set(reconciled()), 120), (
            log.read_text()[-3000:]
        )
        dvcrepos.git(world.work, "checkout", "-q", "exp/a")
        new_seed(world, 4444)
        dvcrepos.commit_all(world.work, "try a seed on exp/a")
        before = len(reconciled())

        def changes() -> list[dict[str, Any]]:
            return [e for e in log_events(log) if e.get("msg", "").startswith("source changed")]

        seen = len(changes())
        dvcrepos.git(world.work, "push", "-q", "origin", "exp/a")
        queued = support.wait_for(lambda: changes()[seen:], 60)
        assert queued[-1]["msg"] == "source changed: 1 of 2 environments queued", queued
        assert support.wait_for(lambda: "exp@exp/a" in reconciled()[before:], 60)
    finally:
        daemon.terminate()
        assert daemon.wait(20) == 0


def log_events(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def test_the_daemon_and_sync_in_the_clone_render_the_same_steps(
    world: World, sandbox: Any, tmp_path: Path
) -> None:
    """The daemon reads a mirror, sync the clone: the same run gets the same objects.

    The example's DVC remote is inside the repository: both name it in the clone (a
    mirror has no files), so neither finds the other's Job templates changed (they are
    immutable) and a run's record is the same whoever writes it.
    """
    env = support.process_env(sandbox.kubeconfig, tmp_path / "state")
    log = tmp_path / "daemon.log"
    args = ["run", "--repo", ".", "--env", "dev", "--interval", "1h", "--listen",
            f"127.0.0.1:{support.free_port()}", "--log-format", "json"]  # fmt: skip
    daemon = support.spawn(args, cwd=world.work, env=env, log=log)
    try:
        assert support.wait_for(lambda: fraud_runs(world), 120), log.read_text()[-3000:]
    finally:
        daemon.terminate()
        assert daemon.wait(20) == 0
    jobs = client.BatchV1Api(world.api).list_namespaced_job(
        NS, label_selector="reconciler.ml/pipeline=fraud-detector"
    )
    urls = {
        e.value
        for j in jobs.items
        for e in j.spec.template.spec.containers[0].env or []
        if e.name.startswith("DATASET_") and e.name.endswith("_URL")
    }
    assert urls and all(u.startswith(str(world.work.resolve())) for u in urls), urls
    sync = support.spawn(["sync", "--env", "dev"], cwd=world.work, env=env, log=log)
    assert sync.wait(120) == 0, log.read_text()[-3000:]
