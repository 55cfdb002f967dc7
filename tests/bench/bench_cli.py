"""Benchmark: ``reconciler --help`` must answer in under 0.3 s (heavy imports are lazy).

Run: ``pytest tests/bench/bench_cli.py -m bench -s``. Prints the median and best of 10
cold process starts; never asserts a time (figures, not flaky tests).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.bench
TARGET = 0.3


def test_help_startup_time() -> None:
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "reconciler", "--help"], capture_output=True, check=True
        )
        times.append(time.perf_counter() - t0)
        assert b"Commands" in proc.stdout
    median = statistics.median(times)
    print(
        f"\nreconciler --help: median {median * 1000:.0f} ms, best {min(times) * 1000:.0f} ms "
        f"(target {TARGET * 1000:.0f} ms, ratio {median / TARGET:.2f})"
    )
    # Heavy libraries must not be imported for --help.
    probe = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "reconciler", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    for heavy in ("kubernetes", "dvc", "git", "rich", "ruamel"):
        assert f"| {heavy}\n" not in probe and f"| {heavy}." not in probe, heavy
