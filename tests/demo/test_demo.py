"""``reconciler demo`` end to end, as the README's first command runs it: a subprocess, no
cluster, no network. It must finish, say what it promised at each stage, and leave the
repository, records and kubeconfig where it says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_runs_the_whole_loop(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo", "--workdir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for stage in ("1. git push", "2. experiment", "3. a bad change", "git revert", "done in"):
        assert stage in out
    assert "new Jobs: 0 (no retraining)" in out
    assert "serving resnet50 -> s3://models/resnet50/" in out
    assert "| resnet50 | accuracy |" in out or "accuracy" in out
    remote = tmp_path / "demo" / "remote.git"
    branches = subprocess.run(
        ["git", "-C", str(remote), "for-each-ref", "--format=%(refname:short)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert {"main", "exp/lr-sweep", "experiments/resnet50", "experiments/fraud-detector"} <= set(
        branches
    )
    assert (tmp_path / "demo" / "kubeconfig").is_file()
