"""``reconciler init``: a new watched repository from the bundled starter, ready to push.

The starter (``reconciler/example/``, shipped in the package) is one pipeline
(``pipelines/classifier.yaml``: prepare -> train -> evaluate as batch Jobs, a promotion gate,
a Deployment), a small dataset and two environments: ``dev`` (every commit on ``main``,
serving) and ``exp`` (a namespace per ``exp/*`` branch, train only, records on
``runs/<branch>``). :func:`scaffold` copies it into an empty directory, runs ``git init``,
``dvc init``, adds a DVC remote inside the repository (``dvc-storage/``, committed, so a
clone works offline: replace it with your bucket), ``dvc add``s and ``dvc push``es the data
and commits everything on ``main``. Nothing is pushed: the repository has no remote yet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from reconciler.structs.errors import ReconcilerError

STARTER = Path(__file__).resolve().parents[1] / "example"
DATA = "datasets/train.csv"
COMMIT_MESSAGE = "reconciler init: a classifier pipeline, environments dev and exp"
FILES = (
    ("pipelines/classifier.yaml", "the pipeline: prepare -> train -> evaluate, gate, serving"),
    ("pipelines/kustomization.yaml", "lists the pipelines"),
    ("datasets/train.csv.dvc", "the DVC pointer of datasets/train.csv (dvc add)"),
    ("overlays/dev/", "environment dev: main, namespace ml-dev, serves"),
    ("overlays/exp/", "environment exp: branches exp/*, namespace ml-exp-<branch>, trains"),
    (".dvc/config", "DVC remote 'storage': dvc-storage/ (replace with your bucket)"),
)


@dataclass(frozen=True)
class Scaffolded:
    """Where the repository is and its first commit."""

    root: Path
    commit: str


def scaffold(target: Path) -> Scaffolded:
    """Create the starter repository in ``target`` (absent or empty); return it.

    Raises ReconcilerError naming the directory when it is not empty, or the command that
    failed (git without an identity, dvc) with its own message.
    """
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ReconcilerError(
            f"{target}: not an empty directory; `reconciler init` starts a new repository "
            "(pass a new directory name)"
        )
    if not (STARTER / "pipelines").is_dir():
        raise ReconcilerError(f"the starter repository is missing from the package ({STARTER})")
    target.mkdir(parents=True, exist_ok=True)
    for src in sorted(STARTER.rglob("*")):
        rel = src.relative_to(STARTER)
        if src.is_dir() or "__pycache__" in rel.parts:
            continue
        dest = target / (".gitignore" if rel.as_posix() == "gitignore" else rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    _run(target, "git", "init", "-q", "-b", "main")
    _dvc(target, "init", "-q")
    _dvc(target, "remote", "add", "-d", "storage", "dvc-storage")  # cwd-relative
    _dvc(target, "add", "-q", DATA)
    _dvc(target, "push", "-q")
    _run(target, "git", "add", "-A")
    _run(target, "git", "commit", "-q", "-m", COMMIT_MESSAGE)
    sha = _run(target, "git", "rev-parse", "HEAD").strip()
    return Scaffolded(target, sha)


def _dvc(cwd: Path, *args: str) -> str:
    return _run(cwd, sys.executable, "-m", "dvc", *args)


def _run(cwd: Path, *cmd: str) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_TERMINAL_PROMPT": "0"}
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
        )
    except OSError as exc:
        raise ReconcilerError(f"{cmd[0]}: {exc.strerror or exc}") from exc
    if proc.returncode != 0:
        shown = "dvc " + " ".join(cmd[3:]) if cmd[0] == sys.executable else " ".join(cmd)
        message = (proc.stderr or proc.stdout).strip()
        raise ReconcilerError(f"{shown} failed in {cwd}: {message}")
    return proc.stdout
