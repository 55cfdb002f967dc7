"""The daemon gives freed memory back and runs on the C allocator (``daemon.memory``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from reconciler.daemon import memory


def test_release_free_memory_returns_a_bool_and_never_raises() -> None:
    blocks = [bytearray(4096) for _ in range(2000)]
    del blocks
    assert memory.release_free_memory() in (True, False)


def test_use_system_allocator_leaves_a_process_that_is_not_reconciler_run_alone() -> None:
    before = os.environ.get(memory.ENV)
    memory.use_system_allocator()  # pytest's process: no exec, environment untouched
    assert os.environ.get(memory.ENV) == before


def test_reconciler_run_replaces_itself_with_the_system_allocator_once() -> None:
    """A process whose command line is ``reconciler run`` runs again with PYTHONMALLOC=malloc
    (same PID, same arguments); one started with PYTHONMALLOC set keeps it."""
    script = textwrap.dedent(
        """
        import os, sys
        sys.argv = ["reconciler", "run", "--help"]
        print(os.getpid(), os.environ.get("PYTHONMALLOC"), flush=True)
        from reconciler.daemon import memory
        memory.use_system_allocator()
        """
    )
    env = {k: v for k, v in os.environ.items() if k != memory.ENV}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    lines = [line.split() for line in out if line]
    if memory._malloc_trim() is None:  # no glibc: nothing to gain, nothing done
        assert lines == [[lines[0][0], "None"]]
        return
    assert lines == [[lines[0][0], "None"], [lines[0][0], "malloc"]]
    kept = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, memory.ENV: "pymalloc"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert kept[1:] == ["pymalloc"]
