"""The daemon end to end with a recording reconcile function: in-process and as a process.

The engine's place is taken by a function that records its calls (the daemon only
schedules); git, the refs watch, HTTP, the webhook and the signals are all real.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from reconciler.daemon import outcomes, webhooks
from reconciler.daemon.loop import Daemon, DaemonOptions, parse_duration
from reconciler.source import mirrors
from tests.daemon.helpers import Harness, commit, git, http, make_repo, read_records, wait_for

SECRET = "hook-secret-for-tests"


class Engine:
    """Stands in for reconciler.engine: records (key, commit) per call."""

    def __init__(self, repo: Path | None = None) -> None:
        self.repo = repo
        self.calls: list[tuple[str, str, float]] = []
        self.lock = threading.Lock()

    def reconcile(self, key: str) -> outcomes.ReconcileOutcome:
        sha = mirrors.read_refs(self.repo).get("refs/heads/main", "") if self.repo else ""
        with self.lock:
            self.calls.append((key, sha, time.monotonic()))
        return outcomes.succeeded(
            commit=sha,
            applied_commit=sha,
            applied=2,
            pruned=1,
            runs_by_state={"Running": 1, "Succeeded": 3},
        )

    def commits(self, key: str) -> list[str]:
        with self.lock:
            return [c for k, c, _ in self.calls if k == key]


@contextmanager
def running(daemon: Daemon) -> Iterator[Daemon]:
    thread = threading.Thread(target=daemon.run)
    thread.start()
    try:
        yield daemon
    finally:
        daemon.stop()
        thread.join(15)
        assert not thread.is_alive()


def options(tmp_path: Path, repo: str, **kw: object) -> DaemonOptions:
    base: dict[str, object] = {
        "repo": repo,
        "listen": "127.0.0.1:0",
        "interval": 30.0,
        "state_dir": tmp_path / "state",
        "backoff_base": 0.05,
        "backoff_cap": 1.0,
    }
    base.update(kw)
    return DaemonOptions(**base)  # type: ignore[arg-type]


def test_a_commit_to_a_local_repository_is_reconciled_promptly(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    engine = Engine(repo)
    _, fetch = mirrors.refs_fetcher(str(repo), tmp_path / "state")
    daemon = Daemon(
        options(tmp_path, str(repo)),
        reconcile=engine.reconcile,
        list_targets=lambda: ["prod", "staging"],
        fetch=fetch,
        flush=lambda: None,
    )
    with running(daemon):
        first = git(repo, "rev-parse", "HEAD")
        assert wait_for(lambda: engine.commits("prod") == [first] and engine.commits("staging"))
        started = time.monotonic()
        new = commit(repo, "retrain")
        assert wait_for(lambda: new in engine.commits("prod"), 5), engine.calls
        took = next(t for k, c, t in engine.calls if c == new) - started
        print(f"commit -> reconcile: {took:.3f}s")
        assert new in engine.commits("staging") or wait_for(
            lambda: new in engine.commits("staging"), 5
        )


def test_metrics_endpoint_serves_every_metric(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    engine = Engine(repo)
    _, fetch = mirrors.refs_fetcher(str(repo), tmp_path / "state")
    daemon = Daemon(
        options(tmp_path, str(repo)),
        reconcile=engine.reconcile,
        list_targets=lambda: ["prod"],
        fetch=fetch,
        flush=lambda: None,
    )
    with running(daemon):
        assert wait_for(lambda: engine.commits("prod"))
        sha = engine.commits("prod")[0]
        assert wait_for(
            lambda: b"reconciler_reconciles_total{" in http(daemon.http.url + "/metrics")[1]
        )
        status, body = http(daemon.http.url + "/metrics")
    text = body.decode()
    assert status == 200
    for sample in (
        'reconciler_reconcile_duration_seconds_bucket{env="prod",le="0.05",result="ok"}',
        'reconciler_reconciles_total{env="prod",result="ok"} 1.0',
        f'reconciler_last_applied_commit_info{{commit="{sha}",env="prod"}} 1.0',
        'reconciler_objects_applied_total{env="prod"} 2.0',
        'reconciler_objects_pruned_total{env="prod"} 1.0',
        'reconciler_runs{env="prod",state="Running"} 1.0',
        'reconciler_runs{env="prod",state="Succeeded"} 3.0',
        "reconciler_provenance_push_failures_total 0.0",
        "reconciler_git_fetches_total",
        "reconciler_git_fetch_errors_total 0.0",
        "reconciler_leader 1.0",
        "reconciler_workqueue_depth",
        "reconciler_workqueue_retries_total 0.0",
    ):
        assert sample in text, sample


def test_a_signed_webhook_fetches_a_remote_and_reconciles(tmp_path: Path) -> None:
    work = make_repo(tmp_path / "work")
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    url = bare.as_uri()
    mirror, fetch = mirrors.refs_fetcher(url, tmp_path / "state")
    engine = Engine(mirror)
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    daemon = Daemon(
        options(tmp_path, url, webhook_secret_file=secret_file, interval=3600.0),
        reconcile=engine.reconcile,
        list_targets=lambda: ["prod"],
        fetch=fetch,
        flush=lambda: None,
    )
    assert daemon.watcher is None  # a URL is fetched, not watched
    with running(daemon):
        assert wait_for(lambda: engine.commits("prod"))
        new = commit(work, "retrain")
        git(work, "push", "-q", str(bare), "main")
        time.sleep(0.2)
        assert new not in engine.commits("prod")  # nothing happens until the hook (or interval)
        body = b'{"ref": "refs/heads/main"}'
        status, _ = http(
            daemon.http.url + "/hooks/git",
            method="POST",
            body=body,
            headers={"X-Hub-Signature-256": webhooks.github_signature(SECRET.encode(), body)},
        )
        assert status == 202
        assert wait_for(lambda: new in engine.commits("prod"), 5)
        status, _ = http(
            daemon.http.url + "/hooks/git",
            method="POST",
            body=body,
            headers={"X-Gitlab-Token": "x"},
        )
        assert status == 401
        metrics = http(daemon.http.url + "/metrics")[1].decode()
    assert 'reconciler_webhook_requests_total{code="202"} 1.0' in metrics
    assert 'reconciler_webhook_requests_total{code="401"} 1.0' in metrics


def test_readyz_waits_for_the_first_successful_fetch_and_counts_errors(tmp_path: Path) -> None:
    attempts = {"n": 0}

    def fetch() -> bool:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise RuntimeError("remote unreachable")
        return True

    engine = Engine()
    daemon = Daemon(
        options(tmp_path, "https://git.example.invalid/ml.git", interval=0.3),
        reconcile=engine.reconcile,
        list_targets=lambda: ["prod"],
        fetch=fetch,
        flush=lambda: None,
        cluster_ready=lambda: True,
    )
    with running(daemon):
        assert wait_for(lambda: attempts["n"] >= 1)
        first = http(daemon.http.url + "/readyz")
        assert wait_for(lambda: http(daemon.http.url + "/readyz")[0] == 200, 5)
        metrics = http(daemon.http.url + "/metrics")[1].decode()
    if attempts["n"] == 1:
        pytest.fail("fetch was not retried")
    assert first[0] == 503 and b"[-]git failed" in first[1]
    assert "reconciler_git_fetch_errors_total 1.0" in metrics


def test_env_filter_and_shard_select_the_targets(tmp_path: Path) -> None:
    from reconciler.daemon.sharding import Shard

    keys = ["prod", "staging", "canary", "exp@exp/a", "exp@exp/b"]
    picked = [
        options(tmp_path, "x", envs=("exp", "prod"), shard=Shard(i, 2)).select(keys) for i in (0, 1)
    ]
    # --env first (prod and the exp branches), then the shards split those three: 2 + 1.
    assert sorted(picked[0] + picked[1]) == ["exp@exp/a", "exp@exp/b", "prod"]
    assert sorted(len(p) for p in picked) == [1, 2]
    assert DaemonOptions(envs=("exp@exp/a",)).select(["exp@exp/a", "exp@exp/b"]) == ["exp@exp/a"]


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("1h30m", 5400), ("500ms", 0.5), ("45", 45)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "-5", "5x", "m5", "5m garbage"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


# -- as a process: signals -----------------------------------------------------------------


@pytest.mark.slow
def test_sigterm_finishes_the_current_reconcile_flushes_and_exits_0(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    daemon = Harness(tmp_path, "d", "--repo", str(repo), "--reconcile-seconds", "1.5")
    try:
        daemon.wait_healthy()
        assert wait_for(lambda: any(r["event"] == "start" for r in read_records(daemon.records)))
        started = time.monotonic()
        daemon.terminate(signal.SIGTERM)
        code = daemon.proc.wait(12)
        took = time.monotonic() - started
    finally:
        daemon.close()
    print(f"exit after SIGTERM: {took:.2f}s")
    assert code == 0, daemon.output()
    assert took < 10
    records = read_records(daemon.records)
    started_keys = [r["key"] for r in records if r["event"] == "start"]
    ended_keys = [r["key"] for r in records if r["event"] == "end"]
    # every reconcile in flight was finished (workers end in any order), none new began
    assert sorted(started_keys) == sorted(ended_keys)
    assert daemon.flushed.read_text().strip() == str(daemon.proc.pid)


@pytest.mark.slow
def test_sigterm_abandons_a_stuck_reconcile_and_still_exits_0_within_10s(tmp_path: Path) -> None:
    daemon = Harness(tmp_path, "d", "--reconcile-seconds", "60", "--targets", "prod")
    try:
        daemon.wait_healthy()
        assert wait_for(lambda: read_records(daemon.records))
        started = time.monotonic()
        daemon.terminate(signal.SIGTERM)
        code = daemon.proc.wait(12)
        took = time.monotonic() - started
    finally:
        daemon.close()
    print(f"exit after SIGTERM with a stuck reconcile: {took:.2f}s")
    assert code == 0
    assert took < 10
    assert daemon.flushed.exists()
    assert "abandoning in-flight reconciles" in daemon.output()


def test_unusable_options_are_clear_errors_before_anything_starts(tmp_path: Path) -> None:
    import socket

    from reconciler.structs.errors import ReconcilerError

    parts = {
        "reconcile": Engine().reconcile,
        "list_targets": list,
        "fetch": lambda: False,
        "flush": lambda: None,
    }
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ReconcilerError, match=f"--listen 127.0.0.1:{port}: "):
            Daemon(options(tmp_path, "https://h/r.git", listen=f"127.0.0.1:{port}"), **parts)  # type: ignore[arg-type]
    missing = tmp_path / "no-such-secret"
    with pytest.raises(ReconcilerError, match=r"--webhook-secret-file .*no-such-secret"):
        Daemon(options(tmp_path, "https://h/r.git", webhook_secret_file=missing), **parts)  # type: ignore[arg-type]
    with pytest.raises(ReconcilerError, match="not a git repository"):
        Daemon(options(tmp_path, str(tmp_path)), **parts)  # type: ignore[arg-type]
    with pytest.raises(ReconcilerError, match="no such repository"):
        Daemon(options(tmp_path, str(tmp_path / "missing")), **parts)  # type: ignore[arg-type]


def test_a_user_error_is_logged_without_a_traceback_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from reconciler.structs.errors import SpecError, SpecErrors

    calls: list[float] = []

    def reconcile(key: str) -> outcomes.ReconcileOutcome:
        calls.append(time.monotonic())
        raise SpecErrors([SpecError("pipelines/a.yaml", 3, 5, "spec.steps[0].image", "required")])

    daemon = Daemon(
        options(tmp_path, "https://h/r.git"),
        reconcile=reconcile,
        list_targets=lambda: ["prod"],
        fetch=lambda: True,
        flush=lambda: None,
    )
    with caplog.at_level("INFO"), running(daemon):
        assert wait_for(lambda: len(calls) >= 3, 5)  # retried with backoff
    failures = [r for r in caplog.records if r.getMessage().startswith("reconcile failed")]
    assert failures
    assert "pipelines/a.yaml:3:5: spec.steps[0].image: required" in failures[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records)
