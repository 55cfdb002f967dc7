"""The kubeconfig that points kubectl and the Python client at a sandbox.

One cluster, user and context, all named ``sandbox``; the server is
``http://127.0.0.1:PORT`` and the user a dummy bearer token (the sandbox does no
authentication). Written atomically with mode 0600, as kubectl writes its own.

Callers: :class:`reconciler.sandbox.Sandbox`, ``reconciler sandbox``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

NAME = "sandbox"
TOKEN = "sandbox-token-not-checked"


def kubeconfig(server: str, *, name: str = NAME, namespace: str = "default") -> dict[str, Any]:
    """Return the kubeconfig document for ``server``."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": server}}],
        "users": [{"name": name, "user": {"token": TOKEN}}],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}
        ],
        "current-context": name,
    }


def write_kubeconfig(path: str | os.PathLike[str], server: str) -> Path:
    """Write the kubeconfig of ``server`` to ``path`` (parents created); returns the path."""
    target = Path(path).expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(kubeconfig(server), sort_keys=False)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
