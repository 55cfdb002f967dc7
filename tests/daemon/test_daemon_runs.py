"""``reconciler run`` as a process against the sandbox: runs followed by the cluster watch.

The daemon reconciles the example's ``dev`` environment with a resync of an hour and no
git polling, so everything it does after the first round comes from the cluster watch:
steps that finish start the next ones, a failed run is recorded, and ``reconciler retry
--no-sync`` (the request as an annotation on the Namespace) starts attempt 2 without
waiting for a resync. Every run transition is one JSON log line with its fields.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.chaos import support
from tests.workflows.world import GOOD, World, make_world

FAILING = {
    **GOOD,
    "05-fraud-train": {"match": "*/fraud-detector-*-train", "outcome": "Failed", "message": "OOM"},
}


@pytest.fixture
def world(tmp_path: Path, sandbox: Any) -> World:
    w = make_world(tmp_path, sandbox)
    w.outcomes(FAILING)
    return w


def log_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def events(path: Path, msg: str, **fields: str) -> list[dict[str, Any]]:
    return [
        e
        for e in log_lines(path)
        if e.get("msg") == msg and all(e.get(k) == v for k, v in fields.items())
    ]


@pytest.mark.parametrize("cache_objects", ["0", "100000"], ids=["listing", "live-cache"])
def test_the_daemon_follows_runs_by_watch_notices_a_retry_and_logs_every_transition(
    world: World, sandbox: Any, tmp_path: Path, cache_objects: str
) -> None:
    """With the live cache too: a pass a finished step wakes must see that step finished
    (nothing else would wake the environment before the hour's resync)."""
    env = support.process_env(sandbox.kubeconfig, tmp_path / "state")
    log = tmp_path / "daemon.log"
    port = support.free_port()
    args = ["run", "--repo", str(world.work), "--env", "dev", "--interval", "1h",
            "--resync", "1h", "--listen", f"127.0.0.1:{port}", "--log-format", "json",
            "--cache-objects", cache_objects]  # fmt: skip
    daemon = support.spawn(args, cwd=world.work, env=env, log=log)
    try:
        # Every pipeline's first run ends (fraud-detector's fails at train), steps having
        # followed each other through the watch alone.
        def ended() -> dict[str, dict[str, Any]]:
            done = {
                e["pipeline"]: e
                for e in log_lines(log)
                if e.get("msg") in ("run succeeded", "run failed")
            }
            return done if len(done) == 3 else {}

        done = support.wait_for(ended, 180)
        assert done, log.read_text()[-3000:]
        failed = done["fraud-detector"]
        assert failed["msg"] == "run failed" and "OOM" in failed["reason"]
        rid = failed["run"]
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=world.work, capture_output=True, text=True
        ).stdout.strip()
        for name, ended_event in done.items():
            started = events(log, "run started", pipeline=name, run=ended_event["run"])
            assert started, f"no 'run started' for {name}"
            recorded = events(log, "run recorded", pipeline=name, run=ended_event["run"])
            assert len(recorded) == 1, recorded
            for e in (started[0], ended_event, recorded[0]):
                assert (e["env"], e["commit"]) == ("dev", commit), e
                assert e["level"] == "info" and len(e["trace_id"]) == 16, e
        assert recorded[0]["record"].startswith("runs/dev/")
        promoted = events(log, "run promoted", pipeline="resnet50")
        assert promoted and promoted[0]["metric"] == "accuracy", promoted
        assert events(log, "change set applied", env="dev")
        assert not events(log, "run promoted", pipeline="fraud-detector")

        # Retry: the request is only written (--no-sync); the daemon notices it.
        world.outcomes(GOOD)
        result = support.run(
            ["retry", "fraud-detector", "--env", "dev", "--no-sync", "--repo", str(world.work)],
            cwd=world.work,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        assert f"attempt 2 as run {rid}-2" in result.stdout
        retried = support.wait_for(
            lambda: events(log, "run succeeded", pipeline="fraud-detector", run=f"{rid}-2"), 120
        )
        assert retried, log.read_text()[-3000:]
        assert events(log, "run started", pipeline="fraud-detector", run=f"{rid}-2")
        assert events(log, "run promoted", pipeline="fraud-detector", run=f"{rid}-2")
        assert not [e for e in log_lines(log) if e.get("level") in ("error", "critical")]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
        hits = re.search(r'reconciler_live_cache_reads_total\{result="hit"\} (\S+)', metrics)
        assert hits is not None, metrics
        assert (float(hits.group(1)) > 0) == (cache_objects != "0"), metrics
    finally:
        daemon.terminate()
        assert daemon.wait(20) == 0
