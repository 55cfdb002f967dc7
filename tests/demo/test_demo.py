"""``reconciler demo`` end to end, as the README's first command runs it: a subprocess, no
cluster, no network. It must finish, say what it promised at each stage, record the
experiment beside its branch (never on it), and leave nothing behind: no temporary
directory, no kubeconfig printed for a sandbox that is already stopped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_runs_the_whole_loop_and_leaves_nothing_behind(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for stage in ("1. git push", "2. experiment", "3. a bad change", "git revert", "done in"):
        assert stage in out
    assert "new Jobs: 0 (no retraining)" in out
    assert "serving resnet50 -> s3://models/resnet50/" in out
    assert "accuracy" in out
    widest = max(len(line) for line in out.splitlines())
    assert widest <= 200, f"piped output has a {widest}-character line"
    assert "record runs/exp/lr-sweep:runs/exp/resnet50/" in out
    assert "record exp/lr-sweep:" not in out  # never a commit on the engineer's branch
    assert "record experiments/resnet50:runs/prod/resnet50/" in out
    assert "KUBECONFIG" not in out  # the sandbox is stopped: nothing to point at
    assert list(scratch.iterdir()) == []  # the temporary directory is gone
