"""Real git + DVC repositories for tests: the example repository, or small made-up ones.

Every helper runs the real tools (git as a subprocess, DVC through its own library or its
CLI) in directories under pytest's ``tmp_path``; nothing is mocked and no hand-written
pointer files are produced. Main entry points:

``copy_example_repo(dest)``
    The project's example repository (``pipelines/``, ``overlays/``, ``datasets/*.dvc``,
    ``.dvc/config``, ``.dvcignore`` and the committed DVC remote ``dvc-storage/``) as a
    fresh git repository at ``dest`` on branch ``main`` with ONE commit, plus a bare
    remote ``origin`` (``origin_of(dest)``) that ``main`` is pushed to and tracks. The
    DVC remote is relative (``../dvc-storage`` in ``.dvc/config``), so every pointer
    resolves offline in the copy, in its clones and in ``git archive`` exports. Raw data
    is not copied (it is gitignored in the project too): use ``dvc pull`` if a test needs
    it in the work tree.

``make_dvc_repo(tmp_path, files)``
    A new git repository ``tmp_path/"repo"`` with DVC initialised, a local DVC remote
    ``tmp_path/"repo-dvc-remote"`` (default remote ``storage``, relative URL), the given
    files written and ``dvc add``-ed (each file by default, or the targets in ``add=``,
    e.g. a directory), pushed, and everything committed on ``main``.

Smaller pieces: ``git(repo, *args)``, ``dvc(repo, *args)`` (the real ``dvc`` CLI of this
environment), ``commit_all(repo, message)``, ``dvc_add(repo, targets, push=True)`` (for
a new dataset version in an existing repo), ``archive_commit(repo, dest)`` (``git
archive`` of a commit into a directory, as the reconciler does for ``--ref``), and
``tool_env()`` (the environment all of them use: fixed git identity, no DVC analytics,
no prompts).

Typical use::

    from tests.support import dvcrepos

    def test_something(tmp_path):
        repo = dvcrepos.copy_example_repo(tmp_path / "work")
        (repo / "pipelines/resnet50.yaml").write_text(...)
        sha = dvcrepos.commit_all(repo, "change lr")
        dvcrepos.git(repo, "push", "origin", "main")
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The project's repository root: the example repository lives at its top level."""

EXAMPLE_DIRS = ("pipelines", "overlays", "dvc-storage")
"""Directories copied whole from the example repository."""

EXAMPLE_FILES = (".dvc/config", ".dvc/.gitignore", ".dvcignore")
"""Single files copied from the example repository."""

EXAMPLE_DATASET_PATTERNS = ("*.dvc", ".gitignore", "generate.py")
"""What of ``datasets/`` is copied: pointers, their .gitignore, the generator (no raw data)."""

DVC_REMOTE_DIR = "dvc-storage"
"""The example repository's committed DVC remote (a directory at its top level)."""

GIT_NAME = "Reconciler Tests"
GIT_EMAIL = "tests@reconciler.invalid"


def tool_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment for git and dvc subprocesses in tests.

    A fixed author and committer (so commits work without a global git config), no
    commit signing, no terminal prompts, no DVC analytics or update checks.
    """
    env = dict(os.environ)
    env.update(
        {
            "GIT_AUTHOR_NAME": GIT_NAME,
            "GIT_AUTHOR_EMAIL": GIT_EMAIL,
            "GIT_COMMITTER_NAME": GIT_NAME,
            "GIT_COMMITTER_EMAIL": GIT_EMAIL,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "commit.gpgsign",
            "GIT_CONFIG_VALUE_0": "false",
            "DVC_NO_ANALYTICS": "1",
            "DVC_IGNORE_UPDATER": "1",
        }
    )
    if extra:
        env.update(extra)
    return env


def site_cache_dir(repo: Path) -> Path:
    """Return where DVC keeps ``repo``'s scratch databases in tests (inside ``.dvc/tmp``).

    DVC's default is a shared ``/var/tmp/dvc`` that would gain a directory for every
    test repository; inside the repository it goes away with ``tmp_path``.
    """
    return repo / ".dvc" / "tmp" / "site-cache"


@contextlib.contextmanager
def _dvc_scratch(repo: Path) -> Iterator[None]:
    """Point in-process DVC's site cache into ``repo`` for the duration of the block.

    Also silences the DeprecationWarnings DVC's own index code raises (pygtrie), which
    would otherwise fill every test report.
    """
    old = os.environ.get("DVC_SITE_CACHE_DIR")
    os.environ["DVC_SITE_CACHE_DIR"] = str(site_cache_dir(repo))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        if old is None:
            os.environ.pop("DVC_SITE_CACHE_DIR", None)
        else:
            os.environ["DVC_SITE_CACHE_DIR"] = old


def git(repo: Path, *args: str, check: bool = True) -> str:
    """Run ``git -C repo ARGS`` and return its stdout, stripped.

    Raises AssertionError with git's stderr if it fails and ``check`` is true.
    """
    proc = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        env=tool_env(),
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {repo}:\n{proc.stderr}")
    return proc.stdout.strip()


def dvc_binary() -> str:
    """Return the ``dvc`` executable of this environment (next to the interpreter)."""
    candidate = Path(sys.executable).parent / "dvc"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dvc")
    if not found:
        raise AssertionError("dvc is not installed in this environment")
    return found


def dvc(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real ``dvc`` CLI with ``ARGS`` in ``repo`` and return the finished process.

    Raises AssertionError with DVC's output if it fails and ``check`` is true. About a
    second per call: prefer the library-based helpers for set-up, this for behaviour that
    a test wants to see exactly as a user would (``dvc status -c``, ``dvc pull``).
    """
    proc = subprocess.run(
        [dvc_binary(), *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env=tool_env({"DVC_SITE_CACHE_DIR": str(site_cache_dir(repo))}),
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"dvc {' '.join(args)} failed in {repo}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def commit_all(repo: Path, message: str) -> str:
    """Stage every change (``git add -A``), commit it, and return the new commit's sha."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def origin_of(repo: Path) -> Path:
    """Return the path of the bare repository ``repo``'s ``origin`` points at."""
    return Path(git(repo, "remote", "get-url", "origin"))


def add_bare_origin(repo: Path, origin: Path | None = None) -> Path:
    """Create a bare repository, add it as ``origin`` and push ``main`` to it (tracking).

    The bare repository defaults to ``<repo>-origin.git`` next to ``repo``. Returns it.
    """
    origin = origin or repo.with_name(repo.name + "-origin.git")
    subprocess.run(
        ["git", "init", "-q", "--bare", "-b", "main", str(origin)],
        check=True,
        env=tool_env(),
    )
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "-u", "origin", "main")
    return origin


def archive_commit(repo: Path, dest: Path, ref: str = "HEAD") -> Path:
    """Export the tree of ``ref`` into ``dest`` with ``git archive`` (no ``.git``); return it.

    This is how a commit is rendered without a checkout; the result has ``.dvc/config``
    and the pointers but is not a git repository.
    """
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", ref],
        capture_output=True,
        env=tool_env(),
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def copy_example_repo(dest: Path, *, origin: bool = True) -> Path:
    """Copy the example repository into a fresh git repository at ``dest``; return ``dest``.

    Copies ``pipelines/``, ``overlays/``, ``datasets/`` (pointers, their .gitignore and
    generator, no raw data), ``.dvc/config``, ``.dvc/.gitignore``, ``.dvcignore`` and the
    committed DVC remote ``dvc-storage/`` from the project's work tree, makes ONE commit
    on ``main`` ("Example repository") and, with ``origin`` (the default), creates the
    bare repository ``<dest>-origin.git`` next to it, adds it as ``origin`` and pushes
    ``main`` to it with upstream tracking (``origin_of(dest)`` returns it).

    ``dest`` must not exist or be an empty directory.
    """
    if dest.exists() and any(dest.iterdir()):
        raise AssertionError(f"{dest} is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    for name in EXAMPLE_DIRS:
        shutil.copytree(PROJECT_ROOT / name, dest / name, dirs_exist_ok=True)
    for name in EXAMPLE_FILES:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, dest / name)
    (dest / "datasets").mkdir()
    for pattern in EXAMPLE_DATASET_PATTERNS:
        for src in sorted((PROJECT_ROOT / "datasets").glob(pattern)):
            if src.is_file():
                shutil.copy2(src, dest / "datasets" / src.name)
    # Copies of the remote keep DVC's read-only modes; make the tree removable and
    # writable like a fresh clone's.
    for path in dest.rglob("*"):
        if path.is_file():
            path.chmod(0o644)
    subprocess.run(["git", "init", "-q", "-b", "main", str(dest)], check=True, env=tool_env())
    commit_all(dest, "Example repository")
    if origin:
        add_bare_origin(dest)
    return dest


def dvc_add(repo: Path, targets: Iterable[str], *, push: bool = True) -> None:
    """``dvc add`` the repository-relative ``targets`` (files or directories) of ``repo``.

    Uses DVC's library in-process (the code the ``dvc add``/``dvc push`` commands run,
    without a second of start-up each); pushes to the default remote with ``push``.
    Writes/updates the ``.dvc`` pointers and the ``.gitignore`` next to them; commit
    them yourself (``commit_all``).
    """
    from dvc.repo import Repo

    with _dvc_scratch(repo), Repo(str(repo)) as dvc_repo:
        dvc_repo.add([str(repo / t) for t in targets])
        if push:
            dvc_repo.push()


def make_dvc_repo(
    tmp_path: Path,
    files: Mapping[str, bytes],
    *,
    add: Iterable[str] | None = None,
    name: str = "repo",
    remote_name: str = "storage",
    push: bool = True,
    commit: bool = True,
) -> Path:
    """Create a git + DVC repository ``tmp_path/name`` holding ``files``; return its root.

    - ``git init -b main`` and DVC initialised in it (``.dvc/config``, ``.dvcignore``);
    - a local DVC remote directory ``tmp_path/<name>-dvc-remote``, configured as the
      default remote ``remote_name`` with a URL relative to ``.dvc/`` (as
      ``dvc remote add -d`` writes it);
    - every ``files`` entry (repository-relative path -> bytes) written;
    - ``dvc add`` of each path in ``add`` (files or directories, e.g. ``"data/images"``
      for a ``.dir`` pointer), or of every file in ``files`` when ``add`` is None; pass
      ``add=[]`` to write plain files that DVC does not track;
    - ``dvc push`` to the remote when ``push`` (pass False to get pointers whose md5 the
      remote does not hold);
    - everything committed on ``main`` when ``commit``.

    Runs DVC's library in-process (see :func:`dvc_add`); about 0.3 s per repository.
    """
    from dvc.repo import Repo

    root = tmp_path / name
    remote_dir = tmp_path / f"{name}-dvc-remote"
    remote_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True, env=tool_env())
    with _dvc_scratch(root):
        Repo.init(str(root)).close()
        with Repo(str(root)) as dvc_repo, dvc_repo.config.edit() as conf:
            # DVC takes a relative URL as relative to the working directory and stores
            # it relative to .dvc/, exactly like `dvc remote add -d`.
            conf["remote"][remote_name] = {"url": os.path.relpath(remote_dir)}
            conf["core"]["remote"] = remote_name
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    targets = list(files) if add is None else list(add)
    if targets:
        dvc_add(root, targets, push=push)
    if commit:
        commit_all(root, "Datasets")
    return root
