"""Materialising a commit: symlinks out of the repository are refused, the rest is written."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from reconciler import engine
from reconciler.source import repos, trees
from reconciler.structs.errors import RenderError
from tests.support import dvcrepos
from tests.support.dvcrepos import commit_all, copy_example_repo


def make_repo(root: Path, links: dict[str, str], files: dict[str, str]) -> str:
    from reconciler.source import git as gitcmd

    gitcmd.run(["init", "-q", "-b", "main", str(root)])
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for rel, target in links.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, root / rel)
    return commit_all(root, "tree")


def link_extra(repo: Path, target: str) -> None:
    """Make ``overlays/dev/extra.yaml`` a symlink to ``target``, listed by the overlay."""
    os.symlink(target, repo / "overlays" / "dev" / "extra.yaml")
    kustomization = repo / "overlays" / "dev" / "kustomization.yaml"
    kustomization.write_text(
        kustomization.read_text().replace(
            "  - network-policy.yaml\n", "  - network-policy.yaml\n  - extra.yaml\n"
        )
    )


def test_links_inside_are_kept_and_links_out_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    outside = tmp_path / "secret.txt"
    outside.write_text("host file\n")
    sha = make_repo(
        repo,
        links={
            "a/inside.yaml": "../b/real.yaml",
            "a/dir-link": "../b",
            "a/absolute": str(outside),
            "a/climb": "../../secret.txt",
            "a/via-link": "dir-link/../../../secret.txt",
            "a/loop1": "loop2",
            "a/loop2": "loop1",
            "a/chain": "absolute",
        },
        files={"b/real.yaml": "x: 1\n", "run.sh": "#!/bin/sh\n"},
    )
    (repo / "run.sh").chmod(0o755)
    commit_all(repo, "exec")
    sha = repos.resolve(repo, "HEAD")
    tree = repos.export_tree(repo, sha, tmp_path / "out")
    out = tree.root
    assert (out / "a/inside.yaml").read_text() == "x: 1\n"
    assert (out / "a/dir-link/real.yaml").read_text() == "x: 1\n"
    assert os.access(out / "run.sh", os.X_OK)
    assert sorted(tree.refused) == [
        "a/absolute",
        "a/chain",
        "a/climb",
        "a/loop1",
        "a/loop2",
        "a/via-link",
    ]
    for path in tree.refused:
        assert not os.path.lexists(out / path)  # nothing there to follow
    assert tree.refused["a/absolute"].startswith(f"symbolic link to '{outside}' is absolute")
    assert "leads outside the repository" in tree.refused["a/climb"]
    assert "loops" in tree.refused["a/loop1"]
    assert tree.refusal_messages()[0].startswith("a/absolute: symbolic link")


def test_resolution_follows_links_inside_the_tree() -> None:
    links = {"x/up": "..", "x/deep": "up/x/up/../etc", "x/fine": "up/up/etc", "y": "x/up/z"}
    assert trees.refusal("x/deep", links).endswith("leads outside the repository: refused")
    assert trees.refusal("y", links) == ""
    assert trees.refusal("x/up", links) == ""
    assert trees.refusal("x/fine", links) == ""  # "up" at the top is no link: a path inside


@pytest.mark.slow
def test_render_refuses_the_file_that_uses_an_escaping_link_and_only_it(tmp_path: Path) -> None:
    repo = copy_example_repo(tmp_path / "example", origin=False)
    host = tmp_path / "host-secret.yaml"
    host.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stolen}\n")
    os.symlink(str(host), repo / "docs-passwd")  # unrelated, absolute: must not matter
    link_extra(repo, "../../../host-secret.yaml")
    commit_all(repo, "links")
    with repos.checkout_tree(repo, "HEAD") as (root, _):
        prepared = engine.prepare_target(root, "prod", branch="main")
        assert prepared.run_specs  # an unrelated absolute link breaks nothing
    with pytest.raises(RenderError) as err, repos.checkout_tree(repo, "HEAD") as (root, _):
        engine.prepare_target(root, "dev", branch="main")
    message = str(err.value)
    assert message.startswith(
        "overlays/dev/extra.yaml: symbolic link to '../../../host-secret.yaml' leads outside "
        "the repository: refused"
    )
    assert "stolen" not in message and "reconciler-tree-" not in message


@pytest.mark.slow
def test_the_work_tree_is_copied_under_the_same_rules(tmp_path: Path) -> None:
    repo = copy_example_repo(tmp_path / "example", origin=False)
    host = tmp_path / "host-secret.yaml"
    host.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stolen}\n")
    # Uncommitted: an edit, a new file, and a link out of the repository.
    (repo / "notes.txt").write_text("not committed\n")
    link_extra(repo, "../../../host-secret.yaml")
    with repos.checkout_tree(repo, None) as (root, commit):
        assert root != repo and commit is not None
        assert (root / "notes.txt").read_text() == "not committed\n"
        assert not os.path.lexists(root / "overlays" / "dev" / "extra.yaml")
        assert trees.refused_at(root, "overlays/dev/extra.yaml").endswith(
            "leads outside the repository: refused"
        )
    assert not root.exists() and trees.refused_at(root, "overlays/dev/extra.yaml") == ""
    with pytest.raises(RenderError) as err, repos.checkout_tree(repo, None) as (root, _):
        engine.prepare_target(root, "dev", branch="main")
    assert str(err.value).startswith(
        "overlays/dev/extra.yaml: symbolic link to '../../../host-secret.yaml' leads outside "
        "the repository: refused"
    )
    assert "stolen" not in str(err.value)


@pytest.mark.slow
def test_validate_and_review_say_why_a_linked_file_is_missing(tmp_path: Path) -> None:
    """Commands that collect errors rather than raise them explain a refused link too:
    Kustomize alone says only that the file does not exist."""
    from click.testing import CliRunner

    from reconciler.cli.main import cli

    repo = copy_example_repo(tmp_path / "example", origin=False)
    dvcrepos.git(repo, "branch", "base")
    link_extra(repo, "/etc/passwd")
    commit_all(repo, "a link out")
    why = "overlays/dev/extra.yaml: symbolic link to '/etc/passwd' is absolute: refused"
    state = ["--state-dir", str(tmp_path / "state")]
    for args in (
        ["validate", "--offline", "--repo", str(repo), "--ref", "HEAD"],
        ["validate", "--offline", "--repo", str(repo)],  # the work tree
        ["review", "base..main", "--repo", str(repo), *state],
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code in (1, 2), result.output
        assert why in result.output, (args, result.output)
        assert "root:" not in result.output  # /etc/passwd's content never shows


@pytest.mark.slow
@pytest.mark.parametrize("ref", ["HEAD", None])
def test_a_dvc_pointer_linked_out_of_the_repository_says_so(
    tmp_path: Path, ref: str | None
) -> None:
    repo = copy_example_repo(tmp_path / "example", origin=False)
    pointer = repo / "datasets" / "imagenet-mini.dvc"
    outside = tmp_path / "imagenet-mini.dvc"
    outside.write_bytes(pointer.read_bytes())
    pointer.unlink()
    os.symlink(str(outside), pointer)
    commit_all(repo, "pointer linked out")
    with repos.checkout_tree(repo, ref) as (root, _):
        prepared = engine.prepare_target(root, "prod", branch="main")
    (error,) = [e for e in prepared.errors if e.field == "spec.datasets.train"]
    lines = (repo / "pipelines" / "resnet50.yaml").read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if text.strip().startswith("train: {path:"))
    assert (error.path, error.line) == ("pipelines/resnet50.yaml", line)
    assert error.message == (
        f"datasets/imagenet-mini.dvc: dataset 'train': symbolic link to '{outside}' is "
        "absolute: refused (it leads outside the repository)"
    )
    assert "resnet50" in prepared.failed_pipelines


def snapshot(root: Path) -> dict[str, tuple[str, str | bytes, bool]]:
    """Return every path below ``root``: its type, its content or link target, executable."""
    out: dict[str, tuple[str, str | bytes, bool]] = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path), False)
            elif path.is_dir():
                out[rel] = ("dir", "", False)
            else:
                out[rel] = ("file", path.read_bytes(), os.access(path, os.X_OK))
    return out


def test_an_updated_export_is_exactly_a_fresh_one(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(
        repo,
        links={"a/link.yaml": "../b/real.yaml", "a/out": "../b"},
        files={
            "b/real.yaml": "x: 1\n",
            "b/gone.yaml": "y: 1\n",
            "c/d/e.yaml": "deep: 1\n",
            "run.sh": "#!/bin/sh\n",
            "f.yaml": "f: 1\n",
        },
    )
    handle = repos.open_repo(repo)
    reused, written = tmp_path / "reused", trees.Written()

    def check(label: str) -> None:
        sha = repos.resolve(repo, "HEAD")
        fresh = trees.materialise(handle, sha, tmp_path / label)
        updated = trees.update(handle, sha, reused, written)
        assert snapshot(updated.root) == snapshot(fresh.root), label
        assert updated.refused == fresh.refused, label

    check("first")
    (repo / "b" / "real.yaml").write_text("x: 2\n")  # changed
    (repo / "b" / "new.yaml").write_text("new: 1\n")  # added
    (repo / "b" / "gone.yaml").unlink()  # removed
    (repo / "run.sh").chmod(0o755)  # mode only
    commit_all(repo, "change add remove")
    check("second")
    (repo / "f.yaml").unlink()
    os.symlink("b/real.yaml", repo / "f.yaml")  # a file turned into a symlink
    (repo / "a" / "out").unlink()
    os.symlink("../..", repo / "a" / "out")  # now leads out: refused, and a/link.yaml stays
    shutil.rmtree(repo / "c" / "d")
    (repo / "c" / "d").write_text("now a file\n")  # a directory turned into a file
    commit_all(repo, "types")
    check("third")
    assert "a/out" in trees.update(handle, repos.resolve(repo, "HEAD"), reused, written).refused
    # A reader that wrote into the tree (DVC's .dvc/tmp, an edited file) leaves no trace.
    (reused / ".dvc" / "tmp").mkdir(parents=True)
    (reused / ".dvc" / "tmp" / "lock").write_text("x")
    (reused / "b" / "new.yaml").write_text("edited by a reader, same size\n")
    (reused / "b" / "real.yaml").unlink()
    os.symlink("/etc/passwd", reused / "b" / "real.yaml")
    (repo / "f.yaml").unlink()
    (repo / "f.yaml").write_text("a file again\n")  # a symlink turned back into a file
    commit_all(repo, "back")
    check("fourth")


def test_checkouts_in_use_at_once_never_share_a_directory(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, links={}, files={"a.yaml": "a: 1\n"})
    with repos.checkout_tree(repo, "HEAD") as (first, _):
        (first / "scratch").write_text("a reader's file\n")
        with repos.checkout_tree(repo, "HEAD") as (second, _):
            assert second != first and not (second / "scratch").exists()
    (repo / "a.yaml").write_text("a: 2\n")
    commit_all(repo, "next")
    with repos.checkout_tree(repo, "HEAD") as (again, _):
        assert snapshot(again) == {"a.yaml": ("file", b"a: 2\n", False)}


def test_a_directory_that_cannot_be_updated_is_replaced(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, links={}, files={"a.yaml": "a: 1\n"})
    with repos.checkout_tree(repo, "HEAD") as (first, _):
        pass
    shutil.rmtree(first)
    first.write_text("a reader put a file where the tree was\n")  # mkdir there fails
    with repos.checkout_tree(repo, "HEAD") as (again, _):
        assert again != first
        assert snapshot(again) == {"a.yaml": ("file", b"a: 1\n", False)}
    assert not first.exists()  # the broken one is removed, not kept
