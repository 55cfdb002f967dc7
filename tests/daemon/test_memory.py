"""The daemon gives freed memory back to the system after a reconcile (``daemon.memory``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from reconciler.daemon import memory

FREED_THEN_TRIMMED = textwrap.dedent(
    """
    import os
    from reconciler.daemon import memory

    def rss_mib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    # 100,000 blocks of 1 KiB: over pymalloc's 512 bytes, so glibc's malloc serves them
    # from its heap (under its mmap threshold); the last one stays and pins the heap's top,
    # so freeing the others returns nothing by itself.
    blocks = [bytes(1024) for _ in range(100_000)]
    pinned = bytes(1024)
    del blocks
    before = rss_mib()
    released = memory.release_free_memory()
    print(released, round(before), round(rss_mib()))
    """
)


@pytest.mark.skipif(memory._malloc_trim() is None, reason="no glibc malloc_trim here")
def test_a_trim_gives_the_pages_of_freed_blocks_back() -> None:
    out = subprocess.run(
        [sys.executable, "-c", FREED_THEN_TRIMMED], capture_output=True, text=True, check=True
    ).stdout.split()
    released, before, after = out[0], int(out[1]), int(out[2])
    assert released == "True"
    assert before - after >= 50, f"RSS {before} MiB before the trim, {after} MiB after"


def test_a_trim_while_another_runs_returns_at_once() -> None:
    with memory._lock:  # another worker's trim in progress
        assert memory.release_free_memory() is False
