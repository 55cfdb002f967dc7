"""What ``/proc`` says of a process the benchmarks started: resident memory and CPU time.

Linux only. Shared by :mod:`tests.bench.bench_daemon` and :mod:`tests.bench.daemon_passes`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path


def rss_kib(pid: int) -> tuple[int, int]:
    """Return the process's resident set and its peak (``VmRSS``, ``VmHWM``), in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+)", status, re.MULTILINE))
    return int(found.get("VmRSS", 0)), int(found.get("VmHWM", 0))


def cpu_seconds(pid: int) -> float:
    """Return the process's CPU time so far, user and system, every thread."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
