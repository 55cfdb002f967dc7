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

With ``--memory-report FILE`` the daemon runs under :mod:`tests.bench.memory_report` and is
sent SIGUSR1 a few seconds after each pass ends, so the report (its caches, the objects the
collector tracks by type, pymalloc's arenas) is taken between passes, not inside one: give
it a ``--resync`` longer than a pass and the report (a minute at 10,000 pipelines).

Linux only (reads ``/proc``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
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
    parser.add_argument("--memory-report", help="append a memory report here after each pass")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["KUBECONFIG"] = args.kubeconfig
    runner = ["-m", "reconciler"]
    if args.memory_report:
        runner = ["-m", "tests.bench.memory_report", str(Path(args.memory_report).resolve())]
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")]
        )
    command = [
        sys.executable, *runner, "run", "--repo", ".", "--env", args.env,
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
                if args.memory_report:
                    time.sleep(3)  # the pass's objects freed, the worker back to waiting
                    daemon.send_signal(signal.SIGUSR1)
            if time.monotonic() - started > args.seconds:
                break
    finally:
        daemon.terminate()
        daemon.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
