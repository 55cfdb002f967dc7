"""Fixtures for provenance tests: real git repositories (a bare remote and clones), records."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.provenance.records import RunRecord
from tests.provenance.helpers import ENV_EXP, ENV_PROD, git, make_record, write_files


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare repository whose main branch holds a small watched repository."""
    seed = tmp_path / "seed"
    git(tmp_path, "init", "-q", "-b", "main", str(seed))
    write_files(
        seed,
        {
            "pipelines/resnet50.yaml": "kind: Pipeline\nmetadata: {name: resnet50}\n",
            "overlays/prod/environment.yaml": ENV_PROD,
            "overlays/exp/environment.yaml": ENV_EXP,
            "README.md": "watched repo\n",
        },
    )
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "seed")
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    return bare


@pytest.fixture
def clone_of(tmp_path: Path) -> Callable[[Path, str], Path]:
    """Return a function making a clone (with a work tree) of a repository."""

    def _clone(source: Path, name: str) -> Path:
        target = tmp_path / name
        git(tmp_path, "clone", "-q", str(source), str(target))
        return target

    return _clone


@pytest.fixture
def clone(remote: Path, clone_of: Callable[[Path, str], Path]) -> Path:
    """A clone of ``remote`` with a work tree, on main."""
    return clone_of(remote, "clone")


@pytest.fixture
def record_factory() -> Callable[..., RunRecord]:
    """The :func:`make_record` factory, for tests that build several records."""
    return make_record
