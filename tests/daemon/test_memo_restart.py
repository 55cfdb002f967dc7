"""``reconciler run`` keeps its memo of objects found in sync, and its exports, across a restart.

The memo (content addresses of desired/live pairs found in sync) lets a pass skip comparing
a member, and lets a full pass hold it as a thin copy (:mod:`reconciler.apply.thin_copies`).
The daemon writes it to the state directory at shutdown (and at most every few minutes),
and reads it at start: a restarted daemon's first pass over a settled environment
compares nothing it compared before and writes nothing. The commits it exported stay in
the state directory's slots (``trees/``), so the next start updates a tree rather than
writing every file again (:mod:`reconciler.source.exports`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.chaos import support
from tests.daemon.test_daemon_runs import events, log_lines
from tests.workflows.world import GOOD, make_world


def _reconciled(log: Path) -> list[dict[str, Any]]:
    return [e for e in log_lines(log) if e.get("msg") == "reconciled"]


def test_a_restarted_daemon_reads_the_in_sync_memo_it_saved_at_shutdown(
    tmp_path: Path, sandbox: Any
) -> None:
    world = make_world(tmp_path, sandbox)
    world.outcomes(GOOD)
    state = tmp_path / "state"
    env = support.process_env(sandbox.kubeconfig, state)
    args = ["run", "--repo", str(world.work), "--env", "dev", "--interval", "1h",
            "--resync", "2s", "--listen", "127.0.0.1:0", "--log-format", "json", "--no-ui"]  # fmt: skip

    first_log = tmp_path / "first.log"
    daemon = support.spawn(args, cwd=world.work, env=env, log=first_log)
    try:
        recorded = support.wait_for(
            lambda: len({e["pipeline"] for e in events(first_log, "run recorded")}) == 3, 180
        )
        assert recorded, first_log.read_text()[-3000:]
        # Two passes after every run was recorded: the serving objects compared and in sync.
        seen = len(_reconciled(first_log))
        assert support.wait_for(lambda: len(_reconciled(first_log)) >= seen + 2, 60)
    finally:
        daemon.terminate()
        assert daemon.wait(30) == 0
    assert not events(first_log, "in-sync memo read")  # nothing to read at the first start
    saved = events(first_log, "in-sync memo saved")
    assert len(saved) == 1 and saved[0]["entries"] > 0, first_log.read_text()[-3000:]
    files = list((state / "cache").glob("verified.*.json"))
    assert len(files) == 1, files
    on_disk = json.loads(files[0].read_text())["entries"]
    assert len(on_disk) == saved[0]["entries"]
    kept = list((state / "trees").glob("slot-*/written.json"))
    assert kept, "the daemon's exports were not kept in the state directory"
    exported = json.loads(kept[0].read_text())["entries"]
    assert any(path.startswith("pipelines/") for path in exported), sorted(exported)[:10]

    second_log = tmp_path / "second.log"
    daemon = support.spawn(args, cwd=world.work, env=env, log=second_log)
    try:
        first_pass = support.wait_for(lambda: _reconciled(second_log), 120)
        assert first_pass, second_log.read_text()[-3000:]
    finally:
        daemon.terminate()
        assert daemon.wait(30) == 0
    read = events(second_log, "in-sync memo read")
    assert len(read) == 1 and read[0]["entries"] == saved[0]["entries"], read
    lines = log_lines(second_log)
    assert lines.index(read[0]) < lines.index(first_pass[0])  # read at start, before any pass
    assert first_pass[0]["applied"] == 0 and first_pass[0]["pruned"] == 0, first_pass[0]
