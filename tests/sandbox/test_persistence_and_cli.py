"""``reconciler sandbox --state``: what it acknowledged survives a kill; the CLI contract."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reconciler.sandbox import Sandbox
from tests.sandbox.http import call

CM = "/api/v1/namespaces/default/configmaps"


def start_cli(tmp_path: Path, state: Path) -> tuple[subprocess.Popen[str], str, Path]:
    kubeconfig = tmp_path / "kc.yaml"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler",
            "sandbox",
            "--state",
            str(state),
            "--kubeconfig",
            str(kubeconfig),
            "--step-delay",
            "100ms",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(3)]
    assert lines[0].startswith("Sandbox API server listening on http://127.0.0.1:"), lines
    url = lines[0].split()[-1]
    assert lines[1].strip() == f"Kubeconfig written to {kubeconfig}"
    assert lines[2].strip() == f"export KUBECONFIG={kubeconfig}"
    return proc, url, kubeconfig


def test_killed_cli_sandbox_keeps_acknowledged_writes(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    proc, url, kubeconfig = start_cli(tmp_path, state)
    try:
        cfg = yaml.safe_load(kubeconfig.read_text())
        assert cfg["current-context"] == "sandbox"
        assert cfg["clusters"][0] == {"name": "sandbox", "cluster": {"server": url}}
        assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600"
        for i in range(5):
            body = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"c{i}"},
                "data": {"i": str(i)},
            }
            assert call(url, "POST", CM, body).code == 201
        assert call(url, "DELETE", f"{CM}/c0").code == 200
        last_rv = int(call(url, "GET", CM).body["metadata"]["resourceVersion"])
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    proc2, url2, _ = start_cli(tmp_path, state)
    try:
        names = [o["metadata"]["name"] for o in call(url2, "GET", CM).body["items"]]
        assert names == ["c1", "c2", "c3", "c4"]
        created = call(
            url2,
            "POST",
            CM,
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after"}},
        )
        assert int(created.body["metadata"]["resourceVersion"]) > last_rv
    finally:
        proc2.send_signal(signal.SIGTERM)
        assert proc2.wait(timeout=15) == 0


def test_clean_stop_compacts_and_restores_crds(tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    with Sandbox(state_file=state, step_delay=0.1) as sb:
        sb.install_crds()
        body = {
            "apiVersion": "kueue.x-k8s.io/v1beta1",
            "kind": "LocalQueue",
            "metadata": {"name": "q"},
            "spec": {"clusterQueue": "c"},
        }
        path = "/apis/kueue.x-k8s.io/v1beta1/namespaces/default/localqueues"
        assert call(sb.url, "POST", path, body).code == 201
    assert state.exists()
    assert Path(str(state) + ".journal").read_text() == ""
    with Sandbox(state_file=state, step_delay=0.1) as sb:
        got = call(sb.url, "GET", f"{path}/q")
        assert got.code == 200 and got.body["spec"] == {"clusterQueue": "c"}


def test_cli_reports_a_busy_port(tmp_path: Path) -> None:
    with Sandbox() as sb:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "reconciler",
                "sandbox",
                "--port",
                str(sb.port),
                "--kubeconfig",
                str(tmp_path / "kc"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 1
    assert f"error: cannot listen on 127.0.0.1:{sb.port}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_step_delay_durations() -> None:
    import click

    from reconciler.cli.sandbox import step_delay_seconds

    assert step_delay_seconds("2s") == 2.0
    assert step_delay_seconds("500ms") == 0.5
    assert step_delay_seconds("1m") == 60.0
    assert step_delay_seconds("1.5") == 1.5
    assert step_delay_seconds("0") == 0.0
    with pytest.raises(click.BadParameter, match="expected a duration"):
        step_delay_seconds("soon")
