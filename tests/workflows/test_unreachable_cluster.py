"""A cluster that refuses connections is reported at once, as kubectl does.

``status``, ``plan`` and ``sync`` against a kubeconfig context whose server refuses
connections (a free port on 127.0.0.1): exit 1, one error naming the server URL, the
kubeconfig file and the context, no traceback and no retry (a refused connection is not a
transient fault). The same kubeconfig's other context, the sandbox over HTTP, still works.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import yaml
from click.testing import Result

from reconciler.cli.main import cli
from tests.support import dvcrepos
from tests.support.clirunner import cli_runner


def free_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def two_contexts(tmp_path: Path, live: str, dead: str) -> Path:
    """Write a kubeconfig with a ``dead`` (current) and a ``live`` context."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "live", "cluster": {"server": live}},
            {"name": "dead", "cluster": {"server": dead}},
        ],
        "users": [{"name": "me", "user": {"token": "t"}}],
        "contexts": [
            {"name": "sandbox", "context": {"cluster": "live", "user": "me"}},
            {"name": "gone", "context": {"cluster": "dead", "user": "me"}},
        ],
        "current-context": "gone",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def run(work: Path, kubeconfig: Path, *args: str) -> Result:
    return cli_runner().invoke(
        cli,
        [
            *args,
            "--repo",
            str(work),
            "--kubeconfig",
            str(kubeconfig),
            "--state-dir",
            str(work.parent / "state"),
        ],
    )


def test_a_refused_connection_fails_at_once_naming_server_kubeconfig_and_context(
    tmp_path: Path, sandbox: Any
) -> None:
    sandbox.install_crds()
    work = dvcrepos.copy_example_repo(tmp_path / "work")
    dead = f"http://127.0.0.1:{free_port()}"
    kubeconfig = two_contexts(tmp_path, sandbox.url, dead)
    expected = (
        f"cannot reach the API server {dead} (connection refused; "
        f"kubeconfig {kubeconfig}, context gone)"
    )
    for args in (("status", "--env", "dev"), ("plan", "--env", "dev"), ("sync", "--env", "dev")):
        result = run(work, kubeconfig, *args)
        assert result.exit_code == 1, (args, result.output)
        assert isinstance(result.exception, SystemExit), result.exception
        said = result.stdout + result.stderr
        assert expected in said, (args, said)
        assert "retried" not in said and "Traceback" not in said, said
        errors = [line for line in said.splitlines() if expected in line]
        assert len(errors) == 1, said  # one line, not repeated in the sync reason
    live = run(work, kubeconfig, "status", "--env", "dev", "--context", "sandbox")
    assert live.exit_code == 0, live.output
    assert "sync OutOfSync (never synced" in live.stdout
