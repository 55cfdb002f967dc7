"""A daemon process for tests: the real ``run_daemon`` around a recording reconcile function.

The engine is not under test here; its place is taken by a function that appends one
JSON line per reconcile (key, pid, commit, start and end time) to ``--records`` and can
be told to be slow or to fail. The fetch is the real one (``refs_fetcher``) when
``--repo`` is given; flush writes ``--flushed``. Run as ``python -m tests.daemon.harness``.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

from reconciler.daemon import outcomes
from reconciler.daemon.loop import DaemonOptions, run_daemon
from reconciler.daemon.sharding import parse_shard
from reconciler.source import mirrors

_lock = threading.Lock()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--records", type=Path, required=True)
    p.add_argument("--flushed", type=Path, required=True)
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--repo", default="")
    p.add_argument("--targets", default="prod,staging")
    p.add_argument("--reconcile-seconds", type=float, default=0.0)
    p.add_argument("--fail", default="", help="keys whose reconcile fails")
    p.add_argument("--requeue-after", type=float, default=None)
    p.add_argument("--leader-elect", action="store_true")
    p.add_argument("--kubeconfig", default=None)
    p.add_argument("--lease-namespace", default="reconciler-system")
    p.add_argument("--lease", default="2,1.5,0.25", help="duration,renew deadline,retry")
    p.add_argument("--interval", type=float, default=30.0)
    p.add_argument("--shard", default="0/1")
    p.add_argument("--log-format", default="json")
    args = p.parse_args()

    duration, deadline, retry = (float(x) for x in args.lease.split(","))
    repo_path: Path | None = None
    if args.repo:
        repo_path, fetch = mirrors.refs_fetcher(args.repo, args.state_dir)
    else:

        def fetch() -> bool:
            return False

    def commit_of() -> str:
        if repo_path is None:
            return ""
        refs = mirrors.read_refs(repo_path)
        return refs.get("HEAD", "")

    def reconcile(key: str) -> outcomes.ReconcileOutcome:
        started = time.time()
        record = {"key": key, "pid": os.getpid(), "start": started, "commit": commit_of()}
        _append(args.records, {**record, "event": "start"})
        time.sleep(args.reconcile_seconds)
        _append(args.records, {**record, "event": "end", "end": time.time()})
        if key in args.fail.split(","):
            return outcomes.failed("told to fail", commit=record["commit"])
        fields = {
            "commit": record["commit"],
            "applied": 2,
            "pruned": 1,
            "runs_by_state": {"Running": 1, "Succeeded": 3},
        }
        if args.requeue_after is not None:
            return outcomes.requeue_after(args.requeue_after, **fields)
        return outcomes.succeeded(**fields)

    def flush() -> None:
        args.flushed.write_text(f"{os.getpid()}\n")

    options = DaemonOptions(
        repo=args.repo or "https://git.example.invalid/none.git",
        interval=args.interval,
        listen=args.listen,
        leader_elect=args.leader_elect,
        shard=parse_shard(args.shard),
        state_dir=args.state_dir,
        log_format=args.log_format,
        kubeconfig=args.kubeconfig,
        lease_namespace=args.lease_namespace,
        lease_duration=duration,
        renew_deadline=deadline,
        retry_period=retry,
        backoff_base=0.05,
        backoff_cap=1.0,
    )
    return run_daemon(
        options,
        reconcile=reconcile,
        list_targets=lambda: [k for k in args.targets.split(",") if k],
        fetch=fetch,
        flush=flush,
        cluster_ready=None if args.kubeconfig else (lambda: True),
    )


def _append(path: Path, record: dict[str, object]) -> None:
    with _lock, path.open("a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
