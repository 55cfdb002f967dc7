"""reconciler.render.datasets: DVC pointers resolved with DVC's library, in real repos.

Pointers are made by real ``dvc add`` (tests/support/dvcrepos.py); pointer YAML is written
by hand only to test a broken pointer.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from reconciler.render import datasets
from reconciler.render.datasets import DatasetFacts, DatasetResolver
from reconciler.structs.errors import SpecError, SpecErrors
from tests.support import dvcrepos

TABLE = b"id,amount\n" + b"".join(b"%d,%d\n" % (i, i * 7 % 101) for i in range(200))
IMAGES = {"data/images/a.png": b"\x89PNG a", "data/images/b.png": b"\x89PNG bb"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git+DVC repo: a file pointer and a directory pointer, pushed to a local remote."""
    return dvcrepos.make_dvc_repo(
        tmp_path_factory.mktemp("datasets"),
        {"data/table.csv": TABLE, **IMAGES},
        add=["data/table.csv", "data/images"],
    )


def resolve_error(root: Path, pointer: str, *, check_remote: bool = False) -> SpecError:
    with pytest.raises(SpecErrors) as info:
        datasets.resolve_dataset(root, pointer, name="train", check_remote=check_remote)
    assert len(info.value.errors) >= 1
    return info.value.errors[0]


def remote_object(url: str) -> Path:
    path = Path(url)
    assert path.is_file(), url
    return path


def test_file_pointer(repo: Path) -> None:
    facts = datasets.resolve_dataset(repo, "data/table.csv.dvc", name="table", check_remote=True)
    md5 = hashlib.md5(TABLE).hexdigest()
    assert facts == DatasetFacts(
        name="table",
        path="data/table.csv.dvc",
        md5=md5,
        size=len(TABLE),
        nfiles=None,
        remote="storage",
        url=facts.url,
        in_remote=True,
    )
    assert not facts.is_dir
    assert remote_object(facts.url).read_bytes() == TABLE
    assert facts.url.endswith(f"/files/md5/{md5[:2]}/{md5[2:]}")


def test_directory_pointer_keeps_dir_suffix(repo: Path) -> None:
    facts = datasets.resolve_dataset(repo, "data/images.dvc", name="train", check_remote=True)
    assert facts.md5.endswith(".dir") and facts.is_dir
    assert facts.nfiles == 2
    assert facts.size == sum(len(b) for b in IMAGES.values())
    assert facts.url.endswith(f"/{facts.md5[:2]}/{facts.md5[2:]}")
    assert remote_object(facts.url)
    assert facts.to_dict()["md5"] == facts.md5


def test_url_is_what_dvc_api_get_url_gives(repo: Path) -> None:
    import dvc.api

    for data, pointer in (
        ("data/table.csv", "data/table.csv.dvc"),
        ("data/images", "data/images.dvc"),
    ):
        facts = datasets.resolve_dataset(repo, pointer, name="x", check_remote=False)
        assert facts.url == dvc.api.get_url(data, repo=str(repo))
        assert facts.in_remote is None


def test_git_archive_export_without_git(repo: Path, tmp_path: Path) -> None:
    export = dvcrepos.archive_commit(repo, tmp_path / "export")
    assert not (export / ".git").exists()
    # .dvc/config says ../../repo-dvc-remote: give the export its own copy of the remote.
    shutil.copytree(repo.parent / "repo-dvc-remote", tmp_path / "repo-dvc-remote")
    facts, errors = datasets.resolve_datasets(
        export, {"t": "data/table.csv.dvc", "i": "data/images.dvc"}, check_remote=True
    )
    assert errors == []
    work = datasets.resolve_dataset(repo, "data/images.dvc", name="i", check_remote=False)
    assert facts["i"].md5 == work.md5
    # The relative remote URL in .dvc/config resolves against the export itself.
    assert facts["t"].url.startswith(str(tmp_path / "repo-dvc-remote") + "/")
    assert all(f.in_remote for f in facts.values())


def test_resolving_leaves_the_work_tree_clean(repo: Path) -> None:
    datasets.resolve_datasets(repo, {"t": "data/table.csv.dvc"}, check_remote=True)
    assert dvcrepos.git(repo, "status", "--porcelain") == ""


def test_remote_without_the_data(tmp_path: Path) -> None:
    root = dvcrepos.make_dvc_repo(tmp_path, {"data/x.csv": b"a\n1\n"}, push=False)
    facts = datasets.resolve_dataset(root, "data/x.csv.dvc", name="x", check_remote=False)
    assert facts.in_remote is None
    err = resolve_error(root, "data/x.csv.dvc", check_remote=True)
    assert err.path == "data/x.csv.dvc"
    assert err.field == "outs[0].md5"
    assert "remote 'storage' does not hold" in err.message
    assert "dvc push" in err.message
    assert err.message.startswith("dataset 'train': ")


def test_remote_missing_one_file_of_a_directory(tmp_path: Path) -> None:
    root = dvcrepos.make_dvc_repo(tmp_path, dict(IMAGES), add=["data/images"])
    md5 = hashlib.md5(IMAGES["data/images/b.png"]).hexdigest()
    obj = tmp_path / "repo-dvc-remote" / "files" / "md5" / md5[:2] / md5[2:]
    assert obj.is_file()
    obj.unlink()
    err = resolve_error(root, "data/images.dvc", check_remote=True)
    assert "not 1 of its 2 files" in err.message


def test_missing_pointer(repo: Path) -> None:
    err = resolve_error(repo, "data/nope.dvc")
    assert (err.path, err.field) == ("data/nope.dvc", "")
    assert "does not exist" in err.message


@pytest.mark.parametrize(
    ("pointer", "expected"),
    [
        ("../outside.dvc", "points outside the repository"),
        ("data/../../outside.dvc", "points outside the repository"),
        ("/etc/hosts.dvc", "not an absolute path"),
        ("data/table.csv", "is not a DVC pointer file"),
        ("data", "is not a DVC pointer file"),
        ("", "empty"),
    ],
)
def test_refused_pointer_paths(repo: Path, pointer: str, expected: str) -> None:
    assert expected in resolve_error(repo, pointer).message


def test_symlink_out_of_the_repository_is_refused(repo: Path, tmp_path: Path) -> None:
    other = dvcrepos.make_dvc_repo(tmp_path, {"data/y.csv": b"y\n"}, name="other")
    link = repo / "data" / "linked.dvc"
    link.symlink_to(other / "data" / "y.csv.dvc")
    try:
        err = resolve_error(repo, "data/linked.dvc")
    finally:
        link.unlink()
    assert "symlink that points outside the repository" in err.message


def test_symlink_inside_the_repository_is_followed(repo: Path) -> None:
    link = repo / "data" / "alias.dvc"
    link.symlink_to("table.csv.dvc")
    try:
        facts = datasets.resolve_dataset(repo, "data/alias.dvc", name="a", check_remote=False)
    finally:
        link.unlink()
    assert facts.md5 == hashlib.md5(TABLE).hexdigest()
    assert facts.path == "data/alias.dvc"


def test_normalised_pointer_path(repo: Path) -> None:
    facts = datasets.resolve_dataset(repo, "data/./table.csv.dvc", name="t", check_remote=False)
    assert facts.path == "data/table.csv.dvc"


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real repo to drop hand-written BROKEN pointers into (one name per test)."""
    return dvcrepos.make_dvc_repo(tmp_path_factory.mktemp("broken"), {"data/ok.csv": b"ok\n"})


def write_pointer(root: Path, text: str) -> str:
    name = hashlib.sha1(text.encode()).hexdigest()[:12]
    (root / "data" / f"{name}.dvc").write_text(text)
    return f"data/{name}.dvc"


def test_invalid_yaml_has_a_position(broken: Path) -> None:
    pointer = write_pointer(broken, "outs:\n- md5: [\n")
    err = resolve_error(broken, pointer)
    assert err.path == pointer
    assert err.line >= 2
    assert "invalid YAML" in err.message


def test_schema_violation_names_the_field(broken: Path) -> None:
    pointer = write_pointer(broken, "outs:\n- md5: 12\n  size: lots\n  path: x\n")
    with pytest.raises(SpecErrors) as info:
        datasets.resolve_dataset(broken, pointer, name="d", check_remote=False)
    fields = {e.field for e in info.value.errors}
    assert "outs[0].size" in fields
    assert all(e.line > 0 for e in info.value.errors)


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        ("", "outs", "tracks no output"),
        ("outs: []\n", "outs", "tracks no output"),
        ("- a\n- b\n", "", "expected a dictionary"),
        ("outs:\n- path: x\n", "outs[0].md5", "no md5"),
        ("outs:\n- md5: nothex\n  hash: md5\n  path: x\n", "outs[0].md5", "not an md5"),
        (
            "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  hash: md5\n  path: a\n"
            "- md5: 0123456789abcdef0123456789abcdee\n  hash: md5\n  path: b\n",
            "outs",
            "exactly one output",
        ),
        (
            "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  hash: md5\n"
            "  path: ../../../etc/passwd\n",
            "outs[0].path",
            "outside the repository",
        ),
        (
            "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  hash: md5\n  path: x\n"
            "  remote: nowhere\n",
            "outs[0].remote",
            "DVC remote 'nowhere' is not configured",
        ),
    ],
)
def test_broken_pointers(broken: Path, text: str, field: str, expected: str) -> None:
    pointer = write_pointer(broken, text)
    err = resolve_error(broken, pointer)
    assert err.path == pointer
    assert err.field == field
    assert expected in err.message


def test_no_remote_configured(tmp_path: Path) -> None:
    root = dvcrepos.make_dvc_repo(tmp_path, {"data/x.csv": b"x\n"})
    dvcrepos.dvc(root, "remote", "remove", "storage")
    err = resolve_error(root, "data/x.csv.dvc")
    assert err.path == "data/x.csv.dvc"
    assert "no DVC remote" in err.message


def test_no_dvc_directory_never_uses_a_parent_repository(repo: Path, tmp_path: Path) -> None:
    # A tree without .dvc/ inside a DVC repository: DVC alone would walk up to the parent.
    inner = repo / "inner"
    (inner / "data").mkdir(parents=True)
    shutil.copy(repo / "data" / "table.csv.dvc", inner / "data" / "t.dvc")
    try:
        facts, errors = datasets.resolve_datasets(
            inner, {"a": "data/t.dvc", "b": "data/t.dvc"}, check_remote=False
        )
    finally:
        shutil.rmtree(inner)
    assert facts == {}
    assert {e.path for e in errors} == {".dvc/config"}
    assert "dvc init" in errors[0].message
    assert {e.message.split(":")[0] for e in errors} == {"dataset 'a'", "dataset 'b'"}


def test_resolve_datasets_mixes_facts_and_errors(repo: Path) -> None:
    facts, errors = datasets.resolve_datasets(
        repo,
        {"table": "data/table.csv.dvc", "images": "data/images.dvc", "gone": "data/gone.dvc"},
        check_remote=False,
    )
    assert set(facts) == {"table", "images"}
    assert facts["table"].name == "table"
    assert [(e.path, e.message.split(":")[0]) for e in errors] == [
        ("data/gone.dvc", "dataset 'gone'")
    ]


def test_resolver_caches_per_pointer_and_keeps_names(repo: Path) -> None:
    with DatasetResolver(repo, check_remote=True) as resolver:
        first = resolver.resolve("data/table.csv.dvc", name="a")
        second = resolver.resolve("data/./table.csv.dvc", name="b")
        with pytest.raises(SpecErrors):
            resolver.resolve("data/gone.dvc", name="c")
        with pytest.raises(SpecErrors, match="dataset 'd'"):
            resolver.resolve("data/gone.dvc", name="d")
    assert (first.name, second.name) == ("a", "b")
    assert first.md5 == second.md5 and first.url == second.url
