"""Time the daemon's passes over an environment: wall, CPU between passes, RSS.

Not a test: a measuring tool for a settled environment that a benchmark holds
(``BENCH_HOLD=<file>`` in bench_sync.py keeps its sandbox and repository). It starts
``reconciler run`` on that repository (one environment, one worker, a short resync, no
fetches), reads the daemon's JSON log, and prints one line per ``reconciled``: the pass's
own ``seconds``, the process's CPU (user + system, every thread) since the pass before,
its RSS and the load average. The first pass is a restarted daemon's (it prepares the
commit and reads the records); the next ones are no-ops::

    python tests/bench/daemon_passes.py --repo <held repo> --kubeconfig <sandbox kubeconfig> \\
        --state-dir <copy of the benchmark's state dir> --seconds 200 [--cache-objects N]

Linux only (reads ``/proc``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from tests.bench import procfs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", required=True)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--env", default="dev")
    parser.add_argument("--resync", default="10s")
    parser.add_argument("--seconds", type=float, default=200.0)
    parser.add_argument("--cache-objects", default="0", help="the daemon's --cache-objects")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["KUBECONFIG"] = args.kubeconfig
    command = [
        sys.executable, "-m", "reconciler", "run", "--repo", ".", "--env", args.env,
        "--resync", args.resync, "--interval", "600s", "--listen", "127.0.0.1:0", "--no-ui",
        "--state-dir", args.state_dir, "--log-format", "json", "--workers", "1",
        "--cache-objects", args.cache_objects,
    ]  # fmt: skip
    daemon = subprocess.Popen(
        command, cwd=args.repo, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    assert daemon.stderr is not None
    started, last = time.monotonic(), None
    try:
        for line in daemon.stderr:
            if '"reconciled"' in line:
                cpu = procfs.cpu_seconds(daemon.pid)
                rss, peak = procfs.rss_kib(daemon.pid)
                since = "-" if last is None else f"{cpu - last:.2f}"
                print(
                    f"pass {json.loads(line)['seconds']:.2f} s, CPU since the pass before "
                    f"{since} s, RSS {rss // 1024} MiB (peak {peak // 1024} MiB), "
                    f"load average {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
                last = cpu
            if time.monotonic() - started > args.seconds:
                break
    finally:
        daemon.terminate()
        daemon.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
