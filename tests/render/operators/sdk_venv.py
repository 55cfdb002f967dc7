"""Build (once) the virtualenv that holds the operators' official Python SDKs.

The SDKs (``sdk-requirements.txt``: kubeflow-training, kubeflow, kserve) pin older
``kubernetes`` clients than the project uses, so they live in a virtualenv of their own,
``.venv-sdk`` at the repository root (or ``$RECONCILER_SDK_VENV``). The rendered objects
reach them as JSON (``sdk_check.py``); nothing of the project is imported there.

``.ci/run`` builds it before the tests (``python tests/render/operators/sdk_venv.py``);
the ``sdk_python`` fixture builds it on first use otherwise. A stamp file with the
requirements' sha256 makes a changed requirements file rebuild it; an exclusive lock keeps
two pytest-xdist workers from building it at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
REQUIREMENTS = HERE / "sdk-requirements.txt"
STAMP = "requirements.sha256"
BUILD_TIMEOUT = 1800


class SdkVenvError(RuntimeError):
    """The SDK virtualenv could not be built (pip's output tail in the message)."""


def venv_dir() -> Path:
    """Return where the SDK virtualenv lives."""
    return Path(os.environ.get("RECONCILER_SDK_VENV") or ROOT / ".venv-sdk")


def ensure() -> Path:
    """Return the SDK virtualenv's python, building the virtualenv first if needed."""
    venv = venv_dir()
    python = venv / "bin" / "python"
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = venv / STAMP
        if python.exists() and stamp.exists() and stamp.read_text().strip() == want:
            return python
        _run([sys.executable, "-m", "venv", "--clear", str(venv)])
        _run([str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)])
        stamp.write_text(want + "\n")
    return python


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise SdkVenvError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{tail}")


if __name__ == "__main__":
    print(ensure())
