"""Bare mirrors of a remote with real git: clone, fetch --prune, redaction, refs fetcher."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.source import mirrors
from reconciler.structs.errors import SourceError
from tests.daemon.helpers import commit, git, make_repo


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, Path]:
    """A work tree and the bare repository it pushes to (the "remote")."""
    work = make_repo(tmp_path / "work")
    git(work, "branch", "exp/lr-sweep")
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    return work, bare


def test_ensure_mirror_clones_then_fetches_and_prunes(
    tmp_path: Path, remote: tuple[Path, Path]
) -> None:
    work, bare = remote
    url = bare.as_uri()
    cache = tmp_path / "cache"
    path = mirrors.ensure_mirror(url, cache)
    assert path.is_relative_to(cache)
    refs = mirrors.read_refs(path)
    assert refs["refs/heads/main"] == git(work, "rev-parse", "main")
    assert "refs/heads/exp/lr-sweep" in refs
    assert git(path, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert git(path, "remote", "get-url", "origin") == url  # for the provenance store

    new = commit(work, "next")
    git(work, "push", "-q", str(bare), "main", ":exp/lr-sweep")  # move main, delete the branch
    assert mirrors.ensure_mirror(url, cache) == path
    refs = mirrors.read_refs(path)
    assert refs["refs/heads/main"] == new
    assert "refs/heads/exp/lr-sweep" not in refs  # pruned


def test_a_failed_first_clone_leaves_nothing_and_hides_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0"):
        monkeypatch.delenv(name, raising=False)
    cache = tmp_path / "cache"
    url = "https://ci-bot:ghp_s3cretT0ken@127.0.0.1:9/ml/pipelines.git"
    with pytest.raises(SourceError) as err:
        mirrors.ensure_mirror(url, cache, timeout=30)
    message = str(err.value)
    assert "ghp_s3cretT0ken" not in message
    assert "127.0.0.1:9/ml/pipelines.git" in message
    assert not cache.exists() or list(cache.iterdir()) == []


def test_credentials_reach_git_in_memory_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0"):
        monkeypatch.delenv(name, raising=False)
    url = "https://ci-bot:ghp_s3cretT0ken@git.example.com/ml/pipelines.git"
    mirrors.provide_credentials(url)
    mirrors.provide_credentials(url)  # once is enough
    mirrors.provide_credentials("https://git.example.com/public.git")  # nothing to hide
    repo = make_repo(tmp_path / "r")
    # Real git sees the rewrite of the public URL to the credentialed one...
    rewritten = git(repo, "ls-remote", "--get-url", "https://git.example.com/ml/pipelines.git")
    assert rewritten == url
    # ...while nothing on disk holds the token.
    assert "ghp_s3cretT0ken" not in (repo / ".git" / "config").read_text()


def test_mirror_path_ignores_credentials() -> None:
    cache = Path("/cache")
    a = mirrors.mirror_path("https://u:one@git.example.com/ml/pipelines.git", cache)
    b = mirrors.mirror_path("https://u:two@git.example.com/ml/pipelines.git", cache)
    assert a == b
    assert a.name.startswith("pipelines-") and a.name.endswith(".git")
    assert "one" not in str(a)


@pytest.mark.parametrize(
    ("repo", "url"),
    [
        ("https://github.com/org/repo.git", True),
        ("file:///srv/git/repo.git", True),
        ("git@github.com:org/repo.git", True),
        ("ssh://git@host/org/repo", True),
        ("./repo", False),
        ("/srv/repo", False),
        ("repo", False),
    ],
)
def test_is_url(repo: str, url: bool) -> None:
    assert mirrors.is_url(repo) is url


def test_local_or_mirror(tmp_path: Path, remote: tuple[Path, Path]) -> None:
    work, bare = remote
    assert mirrors.local_or_mirror(str(work), tmp_path / "c") == (work.resolve(), False)
    path, mirrored = mirrors.local_or_mirror(bare.as_uri(), tmp_path / "c")
    assert mirrored and (path / "HEAD").is_file()
    with pytest.raises(SourceError, match="no such repository"):
        mirrors.local_or_mirror(str(tmp_path / "missing"), tmp_path / "c")


def test_refs_fetcher_says_when_something_changed(
    tmp_path: Path, remote: tuple[Path, Path]
) -> None:
    work, bare = remote
    path, fetch = mirrors.refs_fetcher(bare.as_uri(), tmp_path / "cache")
    assert path == mirrors.mirror_path(bare.as_uri(), tmp_path / "cache")
    assert fetch() is True  # first call
    assert fetch() is False
    commit(work, "next")
    git(work, "push", "-q", str(bare), "main")
    assert fetch() is True
    assert fetch() is False
    # The provenance store's fetches write remote-tracking refs: not a change of the source.
    git(path, "update-ref", "refs/remotes/origin/experiments/resnet50", "refs/heads/main")
    assert fetch() is False

    local_path, local_fetch = mirrors.refs_fetcher(str(work), tmp_path / "cache")
    assert local_path == work.resolve()
    assert local_fetch() is True
    assert local_fetch() is False
    commit(work, "local")
    assert local_fetch() is True


def test_two_processes_making_the_same_mirror_at_once_both_get_it(
    tmp_path: Path, remote: tuple[Path, Path]
) -> None:
    """Two daemons on one state directory: the second rename finds the first's mirror."""
    from concurrent.futures import ThreadPoolExecutor

    work, bare = remote
    url = bare.as_uri()
    cache = tmp_path / "cache"
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: mirrors.ensure_mirror(url, cache, timeout=60), range(4)))
    assert len(set(paths)) == 1
    assert mirrors.read_refs(paths[0])["refs/heads/main"] == git(work, "rev-parse", "main")
    assert [p.name for p in cache.iterdir()] == [paths[0].name]  # no temporary clone left


def test_the_state_directory_is_the_environment_variable_for_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.cli.contexts import default_state_dir as cli_default
    from reconciler.daemon.loop import DaemonOptions

    monkeypatch.setenv("RECONCILER_STATE_DIR", str(tmp_path / "state"))
    assert DaemonOptions().resolved_state_dir() == tmp_path / "state"
    assert cli_default() == tmp_path / "state"
    monkeypatch.delenv("RECONCILER_STATE_DIR")
    assert DaemonOptions().resolved_state_dir().name == "reconciler"
