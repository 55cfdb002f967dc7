"""``reconciler ui`` as a user starts it: a clone, a kubeconfig, a token; pages from dry runs.

The process refreshes its snapshot with ``status``'s dry run (no write anywhere); viewers
only read that snapshot, so page loads add no request to the cluster.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.helpers import free_port, wait_for
from tests.support import dvcrepos

pytestmark = pytest.mark.slow

TOKEN = "ui-test-token-1234"


def get(url: str, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def total_requests(sandbox: Any) -> int:
    """Return the requests the sandbox answered, but for reads of its own /metrics."""
    return sum(n for (_verb, resource, _code), n in sandbox.request_counts().items() if resource)


def test_reconciler_ui_serves_dry_run_status_with_a_token(sandbox: Any, tmp_path: Path) -> None:
    sandbox.install_crds()
    work = dvcrepos.copy_example_repo(tmp_path / "work")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **dvcrepos.tool_env(), "RECONCILER_UI_TOKEN": TOKEN}
    log = (tmp_path / "ui.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "reconciler", "ui", "--repo", str(work),
            "--listen", f"127.0.0.1:{port}", "--refresh", "1h", "--env", "dev",
            "--kubeconfig", str(sandbox.kubeconfig), "--state-dir", str(tmp_path / "state"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )  # fmt: skip
    try:

        def refreshed() -> bool:
            try:
                status, body = get(url + "/api/snapshot")
            except OSError:
                return False
            return status == 200 and '"state": "OutOfSync"' in body

        assert wait_for(refreshed, 120, step=0.3), (tmp_path / "ui.log").read_text()
        assert get(url + "/", token=None)[0] == 401
        assert get(url + "/", token="wrong")[0] == 401
        assert get(url + "/healthz", token=None)[0] == 200
        snapshot = json.loads(get(url + "/api/snapshot")[1])
        assert [e["key"] for e in snapshot["environments"]] == ["dev"]

        before = total_requests(sandbox)
        status, changes = get(url + "/envs/dev/changes")
        assert status == 200
        assert "Pending diff of dev" in changes
        assert "Namespace/ml-dev" in changes and "created" in changes
        for path in ("/", "/envs/dev", "/envs/dev/pipelines/resnet50", "/failures") * 5:
            assert get(url + path)[0] == 200
        assert total_requests(sandbox) == before, "page views must not reach the cluster"
        assert "<code>" in get(url + "/envs/dev")[1]
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
        log.close()
    assert code == 0
