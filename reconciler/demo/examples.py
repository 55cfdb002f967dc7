"""The bundled example repository (pipelines/, datasets/, overlays/, .dvc/, dvc-storage/).

Used by the demo (and handy for trying things): copy it into a fresh git repository with
one commit on ``main`` and a bare remote ``origin``, exactly what a new user's repository
looks like.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from reconciler.structs.errors import ReconcilerError

EXAMPLE_PATHS = ("pipelines", "datasets", "overlays", ".dvc", ".dvcignore", "dvc-storage")
DEMO_IDENTITY = {
    "GIT_AUTHOR_NAME": "Demo User",
    "GIT_AUTHOR_EMAIL": "demo@example.com",
    "GIT_COMMITTER_NAME": "Demo User",
    "GIT_COMMITTER_EMAIL": "demo@example.com",
}


def find_example_root() -> Path:
    """Return the directory holding the example repository (this project's checkout).

    Raises ReconcilerError if the package was installed without it (install from a clone
    with ``pip install -e .``).
    """
    here = Path(__file__).resolve().parents[2]
    if all((here / p).exists() for p in ("pipelines", "overlays", ".dvc")):
        return here
    raise ReconcilerError(
        "the example repository (pipelines/, datasets/, overlays/) was not found next to the "
        f"package ({here}); run the demo from a clone of the project (pip install -e .)"
    )


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git in ``cwd`` as the demo user; SourceError with git's whole message on failure."""
    from reconciler.source import git as gitcmd

    proc = gitcmd.run(args, repo=cwd, env={**DEMO_IDENTITY, **(env or {})})
    return proc.stdout.decode(errors="replace")


def make_example_repos(example: Path, dest: Path) -> tuple[Path, Path]:
    """Copy the example into ``dest/work`` (one commit on main) with a bare ``dest/remote.git``.

    Returns ``(work, remote)``; ``work`` tracks ``origin/main``.
    """
    work, remote = dest / "work", dest / "remote.git"
    work.mkdir(parents=True)
    for name in EXAMPLE_PATHS:
        src = example / name
        if src.is_dir():
            shutil.copytree(src, work / name, ignore=shutil.ignore_patterns("tmp", "cache"))
        elif src.exists():
            shutil.copy2(src, work / name)
    gitignore = example / ".gitignore"
    if gitignore.exists():
        shutil.copy2(gitignore, work / ".gitignore")
    git(dest, "init", "-q", "--bare", "-b", "main", str(remote))
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Example ML pipelines")
    git(work, "remote", "add", "origin", str(remote))
    git(work, "push", "-q", "-u", "origin", "main")
    return work, remote
