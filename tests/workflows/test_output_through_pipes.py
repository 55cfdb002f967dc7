"""Machine-readable output larger than a pipe arrives whole, even if the writer is stopped."""

from __future__ import annotations

import array
import fcntl
import os
import signal
import subprocess
import sys
import termios
import time

import pytest

SIZE = 4_000_000

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="pipe sizes read as Linux has them")


def _queued(fd: int) -> int:
    """Bytes waiting in the pipe behind ``fd`` (FIONREAD)."""
    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return buf[0]


WRITERS = {
    # What the console script does first, then text printed as every command prints it.
    "print": (
        f"from reconciler.cli import output; output.whole_writes_stdout(); print('x' * {SIZE})"
    ),
    "click.echo": (
        "import click; from reconciler.cli import output; output.whole_writes_stdout(); "
        f"click.echo('x' * {SIZE})"
    ),
}


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_output_larger_than_a_pipe_survives_a_stop_and_continue(writer: str) -> None:
    """Ctrl-Z then ``fg`` (SIGSTOP, SIGCONT) while the writer waits on a full pipe makes its
    write return short; Python's buffered stdout then dropped the rest (a 10 MB
    ``sync -o json`` arrived as 64 KiB, exit status 0). Once the console script has made
    stdout write whole, every byte arrives."""
    code = WRITERS[writer]
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    capacity = fcntl.fcntl(fd, 1032)  # F_GETPIPE_SZ
    deadline = time.monotonic() + 60
    while _queued(fd) < capacity:  # the pipe is full: the writer waits in write()
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    time.sleep(0.1)
    os.kill(proc.pid, signal.SIGSTOP)
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGCONT)
    out = proc.stdout.read()
    assert proc.wait(timeout=60) == 0
    assert len(out) == SIZE + 1 and out == b"x" * SIZE + b"\n"
