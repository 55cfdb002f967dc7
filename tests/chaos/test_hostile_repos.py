"""Hostile repositories: each gets a clear error naming its file, in bounded memory and time.

Every case commits one hostile change to a copy of the example repository and runs the real
``reconciler validate --ref HEAD`` (the daemon's path: the commit exported, Kustomize run on
it) as a process; the figures are its exit code, its peak memory (``wait4``'s maxrss, which
includes Kustomize's) and its duration. A case passes when the exit code is 1, the output
names the offending path, shows no traceback, and the peak memory stays under 1.5 GiB. The
last case runs the daemon through a hostile commit and its fix: it stays up and converges.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.chaos import support
from tests.chaos.conftest import Figures
from tests.render.test_kustomize_inputs import BOMB, BOMB_CONFIGMAP
from tests.support import dvcrepos

MAX_RSS_KIB = 1536 * 1024
Mutate = Callable[[Path, Path], None]


def append(path: str, text: str) -> Mutate:
    def mutate(repo: Path, _outside: Path) -> None:
        f = repo / path
        f.write_text(f.read_text() + text)

    return mutate


def add_resource(name: str, text: str) -> Mutate:
    def mutate(repo: Path, _outside: Path) -> None:
        (repo / "overlays/dev" / name).write_text(text)
        k = repo / "overlays/dev/kustomization.yaml"
        k.write_text(k.read_text().replace("resources:\n", f"resources:\n  - {name}\n", 1))

    return mutate


def escape(repo: Path, outside: Path) -> None:
    (outside / "kustomization.yaml").write_text("resources: [leak.yaml]\n")
    (outside / "leak.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leak}\n")
    rel = os.path.relpath(outside, repo / "overlays/dev")
    k = repo / "overlays/dev/kustomization.yaml"
    k.write_text(k.read_text().replace("resources:\n", f"resources:\n  - {rel}\n", 1))


def symlink_out(repo: Path, outside: Path) -> None:
    (outside / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: host}\n")
    (repo / "overlays/dev/host.yaml").symlink_to(outside / "cm.yaml")
    k = repo / "overlays/dev/kustomization.yaml"
    k.write_text(k.read_text().replace("resources:\n", "resources:\n  - host.yaml\n", 1))


def dataset_escape(repo: Path, _outside: Path) -> None:
    f = repo / "pipelines/fraud-detector.yaml"
    text = f.read_text()
    start = text.index("datasets/")
    end = text.index(".dvc", start) + 4
    f.write_text(text[:start] + "../../../../etc/passwd.dvc" + text[end:])


def duplicate_names(repo: Path, _outside: Path) -> None:
    shutil.copy(repo / "pipelines/fraud-detector.yaml", repo / "pipelines/fraud-detector-2.yaml")
    k = repo / "pipelines/kustomization.yaml"
    k.write_text(k.read_text() + "  - fraud-detector-2.yaml\n")


def system_namespace(repo: Path, _outside: Path) -> None:
    f = repo / "overlays/dev/environment.yaml"
    f.write_text(f.read_text().replace("namespace: ml-dev", "namespace: kube-system"))


BOMB_DOC = "\nbomb:\n" + textwrap.indent(BOMB, "  ")
CASES: dict[str, tuple[Mutate, str]] = {
    "bomb in an overlay ConfigMap": (add_resource("bomb.yaml", BOMB_CONFIGMAP), "overlays/dev/bomb.yaml"),
    "bomb in a pipeline file": (append("pipelines/fraud-detector.yaml", BOMB_DOC), "pipelines/fraud-detector.yaml"),
    "bomb in environment.yaml": (append("overlays/dev/environment.yaml", BOMB_DOC), "overlays/dev/environment.yaml"),
    "bomb in a kustomization": (append("overlays/dev/kustomization.yaml", BOMB_DOC), "overlays/dev/kustomization.yaml"),
    "bomb in a DVC pointer": (append("datasets/fraud-transactions.csv.dvc", BOMB_DOC), "datasets/fraud-transactions.csv.dvc"),
    "huge pipeline file": (append("pipelines/fraud-detector.yaml", "\n# " + "x" * (3 << 20) + "\n"), "pipelines/fraud-detector.yaml"),
    "huge overlay resource": (add_resource("huge.yaml", "a: " + "x" * (3 << 20) + "\n"), "overlays/dev/huge.yaml"),
    "path escape in an overlay": (escape, "overlays/dev/kustomization.yaml"),
    "symlink out of the repository": (symlink_out, "overlays/dev/host.yaml"),
    "dataset pointer outside the repository": (dataset_escape, "pipelines/fraud-detector.yaml"),
    "pipeline names that collide": (duplicate_names, "pipelines/fraud-detector-2.yaml"),
    "system namespace": (system_namespace, "overlays/dev/environment.yaml"),
}  # fmt: skip


def measured(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> tuple[int, str, int, float]:
    """Run the CLI; return exit code, output, peak RSS (KiB, descendants included), seconds."""
    start = time.monotonic()
    out = cwd.parent / "out.txt"
    with open(out, "wb") as f:
        proc = subprocess.Popen([support.RECONCILER, *args], cwd=cwd, stdout=f, stderr=f, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return (
        proc.returncode,
        out.read_text(errors="replace"),
        usage.ru_maxrss,
        time.monotonic() - start,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return dvcrepos.copy_example_repo(tmp_path / "repo", origin=False)


@pytest.mark.parametrize("split", ["whole", "in chunks"])
@pytest.mark.parametrize("case", list(CASES))
def test_hostile_commit_gives_a_clear_bounded_error(
    case: str, split: str, repo: Path, tmp_path: Path, figures: Figures
) -> None:
    """Each case with Kustomize building the overlay whole, and in chunks of one pipeline."""
    mutate, path = CASES[case]
    outside = tmp_path / "outside"
    outside.mkdir()
    mutate(repo, outside)
    dvcrepos.commit_all(repo, case)
    chunk = "1" if split == "in chunks" else "0"
    env = {**os.environ, "RECONCILER_KUSTOMIZE_CHUNK": chunk}
    code, output, rss, seconds = measured(["validate", "--offline", "--ref", "HEAD"], repo, env)
    figures.update(exit=code, peak_rss_mib=rss // 1024, seconds=round(seconds, 2))
    figures.report()
    assert code == 1, output
    assert path in output, output
    assert "Traceback" not in output
    if mutate is symlink_out:  # the link's own text (committed) is named, and why it is refused
        assert f"symbolic link to '{outside / 'cm.yaml'}' is absolute: refused" in output, output
        output = output.replace(str(outside / "cm.yaml"), "<the link's target>")
    assert str(tmp_path) not in output  # no path of this machine: exports, state, temp files
    assert rss < MAX_RSS_KIB


@pytest.mark.parametrize(
    "branch",
    ["exp/A.B", "exp/a_b", "exp/a-b", "exp/ünïcode", "exp/" + "x" * 196, "exp/a.b"],
)
def test_odd_branch_names_get_valid_distinct_namespaces(
    branch: str, repo: Path, figures: Figures
) -> None:
    from reconciler import engine

    prepared = engine.prepare_target(repo, "exp", branch=branch)
    ns = prepared.target.namespace
    figures.update(branch=branch[:24], namespace=ns)
    figures.report()
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", ns), ns  # a DNS-1123 label


def test_branches_that_normalise_alike_get_different_namespaces(repo: Path) -> None:
    from reconciler import engine

    names = ["exp/a_b", "exp/a-b", "exp/A.B", "exp/a.b"]
    namespaces = {engine.prepare_target(repo, "exp", branch=b).target.namespace for b in names}
    assert len(namespaces) == len(names)


def test_daemon_stays_up_through_a_hostile_commit(
    sandbox: Any, tmp_path: Path, figures: Figures
) -> None:
    from tests.workflows.world import GOOD, make_world

    world = make_world(tmp_path, sandbox)
    world.outcomes(GOOD)
    port = support.free_port()
    env = support.process_env(sandbox.kubeconfig, tmp_path / "state")
    log = tmp_path / "daemon.log"
    args = ["run", "--repo", str(world.work), "--env", "dev", "--interval", "1s",
            "--listen", f"127.0.0.1:{port}", "--log-format", "json"]  # fmt: skip
    daemon = support.spawn(args, cwd=world.work, env=env, log=log)

    def applied(sha: str) -> bool:
        from kubernetes import client

        try:
            ns = client.CoreV1Api(world.api).read_namespace("ml-dev")
        except client.ApiException:
            return False
        return (ns.metadata.annotations or {}).get("reconciler.ml/commit") == sha

    try:
        first = dvcrepos.git(world.work, "rev-parse", "HEAD")
        assert support.wait_for(lambda: applied(first), 120), log.read_text()[-3000:]
        add_resource("bomb.yaml", BOMB_CONFIGMAP)(world.work, tmp_path)
        bad = world.commit_and_push("Hostile ConfigMap")
        assert support.wait_for(lambda: "overlays/dev/bomb.yaml" in log.read_text(), 60), (
            log.read_text()[-3000:]
        )
        alive_after_bad = daemon.poll() is None
        dvcrepos.git(world.work, "revert", "--no-edit", "HEAD")
        dvcrepos.git(world.work, "push", "-q", "origin", "HEAD")
        fixed = dvcrepos.git(world.work, "rev-parse", "HEAD")
        converged = support.wait_for(lambda: applied(fixed), 120)
        figures.update(
            alive_after_hostile_commit=alive_after_bad, converged_after_fix=bool(converged)
        )
        figures.report()
        assert alive_after_bad and daemon.poll() is None and converged
        assert bad and "Traceback" not in log.read_text()
    finally:
        daemon.kill()
        daemon.wait()
