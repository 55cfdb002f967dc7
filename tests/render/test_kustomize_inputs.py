"""Hostile overlays: every file Kustomize reads is checked first, and Kustomize runs bounded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reconciler.render import kustomize, processes
from reconciler.structs.errors import RenderError, SpecErrors

# ~400 bytes that expand to 9^9 strings: gigabytes in an unguarded YAML library.
BOMB = textwrap.dedent(
    """\
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
    """
)
BOMB_CONFIGMAP = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n" + textwrap.indent(BOMB, "  ")
)
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write(root / "base/kustomization.yaml", "resources: [cm.yaml]\n")
    write(root / "base/cm.yaml", CONFIGMAP)
    return root


def overlay(repo: Path, kustomization: str, **files: str) -> Path:
    d = repo / "overlays/dev"
    write(d / "kustomization.yaml", kustomization)
    for name, text in files.items():
        write(d / name.replace("__", "/"), text)
    return d


HOSTILE = {
    "resource": (
        "resources: [bomb.yaml]\n",
        {"bomb.yaml": BOMB_CONFIGMAP},
        "overlays/dev/bomb.yaml",
    ),
    "kustomization": ("resources: [../../base]\n" + BOMB, {}, "overlays/dev/kustomization.yaml"),
    "base resource": ("resources: [../../base]\n", {}, "base/cm.yaml"),
    "patch file": (
        "resources: [../../base]\npatches: [{path: p.yaml}]\n",
        {"p.yaml": BOMB_CONFIGMAP.replace("bomb", "c")},
        "overlays/dev/p.yaml",
    ),
    "inline patch": (
        "resources: [../../base]\npatches:\n  - patch: |\n"
        + textwrap.indent(BOMB_CONFIGMAP.replace("bomb", "c"), "      "),
        {},
        "overlays/dev/kustomization.yaml",
    ),
    "strategic merge": (
        "resources: [../../base]\npatchesStrategicMerge: [p.yaml]\n",
        {"p.yaml": BOMB_CONFIGMAP.replace("bomb", "c")},
        "overlays/dev/p.yaml",
    ),
    "component": (
        "resources: [../../base]\ncomponents: [comp]\n",
        {
            "comp__kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\n"
            "kind: Component\nresources: [x.yaml]\n",
            "comp__x.yaml": BOMB_CONFIGMAP,
        },
        "overlays/dev/comp/x.yaml",
    ),
    "generator file": (
        "configMapGenerator: [{name: g, files: [conf.yaml]}]\n",
        {"conf.yaml": BOMB},
        "overlays/dev/conf.yaml",
    ),
    "replacement": (
        "resources: [../../base]\nreplacements: [{path: r.yaml}]\n",
        {"r.yaml": BOMB},
        "overlays/dev/r.yaml",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_alias_bomb_in_any_file_kustomize_reads_is_refused_before_it_runs(
    repo: Path, case: str
) -> None:
    kustomization, files, bad = HOSTILE[case]
    if case == "base resource":
        write(repo / "base/cm.yaml", BOMB_CONFIGMAP)
    d = overlay(repo, kustomization, **files)
    with pytest.raises(SpecErrors) as info:
        kustomize.build_overlay(d)
    message = str(info.value)
    assert message.startswith(bad + ":"), message
    assert "alias" in message
    assert str(repo) not in message


def test_huge_resource_and_huge_generator_data_are_refused(repo: Path) -> None:
    big = "x" * (1 << 20) + "\n"
    d = overlay(
        repo,
        "resources: [big.yaml]\nconfigMapGenerator: [{name: g, files: [data.bin]}]\n",
        **{"big.yaml": "a: " + big, "data.bin": big},
    )
    with pytest.raises(SpecErrors) as info:
        kustomize.build_overlay(d)
    assert [e.path for e in info.value.errors] == ["overlays/dev/big.yaml", "overlays/dev/data.bin"]
    assert all("byte limit" in e.message for e in info.value.errors)


def test_directory_outside_the_repository_is_never_built(tmp_path: Path, repo: Path) -> None:
    # Kustomize's root-only restrictor lets a resources entry name any directory.
    outside = tmp_path / "host"
    write(outside / "kustomization.yaml", "resources: [leak.yaml]\n")
    write(outside / "leak.yaml", CONFIGMAP.replace("name: c", "name: leaked"))
    d = overlay(repo, "resources:\n  - ../../base\n  - ../../../host\n")
    with pytest.raises(SpecErrors) as info:
        kustomize.build_overlay(d)
    (error,) = info.value.errors
    assert str(error) == (
        "overlays/dev/kustomization.yaml:3:5: resources[1]: '../../../host' is outside the repository"
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("/etc", "absolute paths are not allowed"),
        ("https://github.com/example/base?ref=v1", "remote bases are not supported"),
        ("git@github.com:example/base.git", "remote bases are not supported"),
    ],
)
def test_absolute_and_remote_references_are_refused(repo: Path, entry: str, message: str) -> None:
    d = overlay(repo, f"resources: [{entry!r}]\n")
    with pytest.raises(SpecErrors, match=message):
        kustomize.build_overlay(d)


def test_symlink_out_of_the_repository_is_refused(tmp_path: Path, repo: Path) -> None:
    write(tmp_path / "host/passwd.yaml", CONFIGMAP)
    d = overlay(repo, "resources: [cm.yaml]\ncomponents: []\n")
    (d / "cm.yaml").symlink_to(tmp_path / "host/passwd.yaml")
    with pytest.raises(SpecErrors, match="symlink that points outside the repository"):
        kustomize.build_overlay(d)


def test_a_directory_symlink_on_the_way_is_followed(tmp_path: Path, repo: Path) -> None:
    write(tmp_path / "host/passwd.yaml", CONFIGMAP)
    d = overlay(repo, "resources: [out/passwd.yaml]\n")
    (d / "out").symlink_to(tmp_path / "host")  # a directory link out: refused
    (d / "in").symlink_to(repo / "base")  # a directory link inside: followed
    with pytest.raises(SpecErrors, match=r"out/passwd\.yaml' is a symlink that points outside"):
        kustomize.build_overlay(d)
    (d / "kustomization.yaml").write_text("resources: [in]\n")
    assert [m["kind"] for m in kustomize.build_overlay(d)] == ["ConfigMap"]


def test_generator_file_escaping_the_repository_is_refused(repo: Path) -> None:
    d = overlay(repo, "secretGenerator: [{name: s, files: [key=../../../../../etc/hostname]}]\n")
    with pytest.raises(SpecErrors, match=r"secretGenerator\[0\]\.files\[0\]: .* outside"):
        kustomize.build_overlay(d)


def test_helm_is_refused(repo: Path) -> None:
    d = overlay(repo, "helmCharts: [{name: x, repo: https://charts.example.com}]\n")
    with pytest.raises(SpecErrors, match="Helm charts are not supported"):
        kustomize.build_overlay(d)


def test_a_good_overlay_still_builds_with_every_kind_of_input(repo: Path) -> None:
    d = overlay(
        repo,
        "resources: [../../base]\ncomponents: [comp]\n"
        "patches: [{path: p.yaml}]\n"
        "configMapGenerator: [{name: g, files: [conf.yaml], envs: [vars.env]}]\n",
        **{
            "p.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: patched}\n",
            "conf.yaml": "x: &x {a: 1}\ny: *x\n",
            "vars.env": "A=1\n",
            "comp__kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\n"
            "kind: Component\nresources: [x.yaml]\n",
            "comp__x.yaml": CONFIGMAP.replace("name: c", "name: from-component"),
        },
    )
    names = sorted(doc["metadata"]["name"] for doc in kustomize.build_overlay(d))
    assert names[0] == "c" and names[1] == "from-component" and names[2].startswith("g-")


# --------------------------------------------------------------------------- bounded runs


def limits(**overrides: float) -> kustomize.Limits:
    base = {"memory": 1 << 30, "cpu": 30, "wall": 30.0, "output": 1 << 20}
    base.update(overrides)
    return kustomize.Limits(
        memory=int(base["memory"]),
        cpu=int(base["cpu"]),
        wall=base["wall"],
        output=int(base["output"]),
    )


def test_kustomize_itself_is_held_to_its_memory_limit(repo: Path) -> None:
    # Bypass the checks (call Kustomize directly) to prove the limit is the second line.
    d = overlay(repo, "resources: [bomb.yaml]\n", **{"bomb.yaml": BOMB_CONFIGMAP})
    command = [kustomize.kubectl_binary(), "kustomize", str(d)]
    result = processes.run_bounded(command, limits=limits(memory=256 << 20))
    assert result.returncode != 0
    assert result.out_of_memory
    assert result.stdout == b""


def test_a_memory_limit_too_small_is_a_clear_error(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = overlay(repo, "resources: [../../base]\n")
    monkeypatch.setenv(kustomize.MEMORY_ENV, "8Mi")
    with pytest.raises(
        RenderError, match=r"overlays/dev: kustomize ran out of its memory limit \(8 MiB"
    ):
        kustomize.build_overlay(d)


def test_cpu_limit() -> None:
    result = processes.run_bounded([sys.executable, "-c", "while True: pass"], limits=limits(cpu=1))
    assert result.failure == "used more than 1 s of CPU"


def test_output_limit() -> None:
    result = processes.run_bounded(
        [sys.executable, "-c", "import sys; sys.stdout.write('x' * (8 << 20))"],
        limits=limits(output=1 << 20),
    )
    assert result.failure == "wrote more than 1 MiB of output"
    assert len(result.stdout) <= 1 << 20


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie of another parent still answers kill(0): look at its state.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "Z"


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


def test_wall_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild"
    script = f"sleep 300 & echo $! > {pidfile}; wait"
    result = processes.run_bounded(["sh", "-c", script], limits=limits(wall=1.0))
    assert result.failure == "did not finish within 1s"
    assert _wait_gone(int(pidfile.read_text()))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_child_dies_with_its_parent(tmp_path: Path) -> None:
    pidfile = tmp_path / "child"
    parent_code = textwrap.dedent(
        f"""
        from reconciler.render import kustomize, processes
        limits = kustomize.Limits(memory=1 << 30, cpu=300, wall=300.0, output=1 << 20)
        processes.run_bounded(["sh", "-c", "echo $$ > {pidfile}; exec sleep 300"], limits=limits)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code])
    try:
        deadline = time.monotonic() + 60
        while not (pidfile.exists() and pidfile.read_text().strip()):
            assert time.monotonic() < deadline and parent.poll() is None
            time.sleep(0.05)
        child = int(pidfile.read_text())
        assert not _gone(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _wait_gone(child)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_limits_scale_with_the_input_and_can_be_set(monkeypatch: pytest.MonkeyPatch) -> None:
    small, large = kustomize.limits_for(10_000), kustomize.limits_for(50 << 20)
    assert large.memory > small.memory and large.wall > small.wall and large.output > small.output
    assert small.cpu >= small.wall
    # Kustomize's time grows with the square of the files: 10,000 pipelines get 50 minutes.
    thousand, ten_thousand = (
        kustomize.limits_for(1 << 20, files=1000),
        kustomize.limits_for(10 << 20, files=10_000),
    )
    assert thousand.wall < 120 and ten_thousand.wall > 3000
    monkeypatch.setenv(kustomize.MEMORY_ENV, "3Gi")
    monkeypatch.setenv(kustomize.TIMEOUT_ENV, "600")
    set_ = kustomize.limits_for(10_000)
    assert (set_.memory, set_.wall) == (3 << 30, 600.0)
    monkeypatch.setenv(kustomize.MEMORY_ENV, "lots")
    with pytest.raises(RenderError, match="RECONCILER_KUSTOMIZE_MEMORY='lots' is not a number"):
        kustomize.limits_for(1)


def test_alias_bomb_in_a_dvc_pointer_is_refused_before_dvc_reads_it(tmp_path: Path) -> None:
    # DVC's loader expands aliases without a budget (it spun for minutes on this file).
    from reconciler.render import datasets
    from tests.support import dvcrepos

    root = dvcrepos.copy_example_repo(tmp_path / "repo", origin=False)
    pointer = root / "datasets/fraud-transactions.csv.dvc"
    pointer.write_text(pointer.read_text() + "bomb:\n" + textwrap.indent(BOMB, "  "))
    with pytest.raises(SpecErrors) as info:
        datasets.resolve_dataset(
            root, "datasets/fraud-transactions.csv.dvc", name="t", check_remote=False
        )
    assert "datasets/fraud-transactions.csv.dvc" in str(info.value)
    assert "alias" in str(info.value)
