"""Helpers for daemon tests: real git repositories, HTTP calls, waiting, the harness process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HARNESS = "tests.daemon.harness"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` and return its stdout (raises on failure)."""
    proc = subprocess.run(
        ["git", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **GIT_ENV},
    )
    return proc.stdout.strip()


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    """Create a git repository at ``path`` on branch main with one commit."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    for name, text in (files or {"README.md": "watched\n"}).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "first")
    return path


def commit(repo: Path, message: str = "change") -> str:
    """Make an empty commit on the current branch; return its sha."""
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, step: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; return it, or None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(step)


def free_port() -> int:
    """Return a TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """Make one HTTP request; return (status, body). Connection errors give (0, b"")."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def metric_value(text: str, name: str, labels: str = "") -> float | None:
    """Return the value of one sample in a Prometheus text page (None if absent)."""
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return None


def read_records(path: Path) -> list[dict[str, Any]]:
    """Return the JSON lines the harness's reconcile function wrote."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Harness:
    """A daemon in a child process (``python -m tests.daemon.harness``), for signals and kills."""

    def __init__(self, tmp: Path, name: str, *args: str, env: dict[str, str] | None = None):
        self.port = free_port()
        self.records = tmp / f"{name}.records"
        self.flushed = tmp / f"{name}.flushed"
        self.log = tmp / f"{name}.log"
        cmd = [
            sys.executable,
            "-m",
            HARNESS,
            "--listen",
            f"127.0.0.1:{self.port}",
            "--records",
            str(self.records),
            "--flushed",
            str(self.flushed),
            "--state-dir",
            str(tmp / f"{name}.state"),
            *args,
        ]
        self._log_file = self.log.open("wb")
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> tuple[int, str]:
        status, body = http(self.url + path)
        return status, body.decode()

    def metric(self, name: str, labels: str = "") -> float | None:
        status, text = self.get("/metrics")
        return metric_value(text, name, labels) if status == 200 else None

    def wait_healthy(self, timeout: float = 15.0) -> None:
        if not wait_for(
            lambda: self.get("/healthz")[0] == 200 or self.proc.poll() is not None, timeout
        ):
            raise AssertionError(f"daemon not healthy in {timeout}s:\n{self.output()}")
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.output()}")

    def terminate(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._log_file.close()
