"""Build kube-apiserver, etcd and kube-controller-manager from the pinned Go modules.

Usage (from the repository root)::

    python -m tools.kube.build              # build if needed, print the binaries' directory
    python -m tools.kube.build --print-dir  # print the directory only (exit 1 if not built)

The binaries go to a cache directory keyed by what decides their content: the pinned
``k8s.io/kubernetes`` and ``go.etcd.io/etcd/server/v3`` versions read from ``go.mod``,
the target platform, and a digest of ``go.mod``, ``go.sum`` and the ``cmd/`` sources::

    ${RECONCILER_KUBE_CACHE:-${XDG_CACHE_HOME:-~/.cache}/reconciler/kube}/
        kubernetes-v1.37.2_etcd-v3.7.3_linux-amd64_<digest>/{kube-apiserver,etcd,kube-controller-manager}

When all three binaries are there the build is skipped. A build runs under a file lock
(parallel test workers never build twice) into a temporary directory renamed into place,
so an interrupted build leaves nothing half-written. The Kubernetes binaries are stamped
with their release version (``/version`` answers ``v1.37.2``, as a release build would);
symbol tables are stripped (``-s -w``) to halve the disk they take.

Callers: ``.ci/run``, developers, and the cluster test suite's control plane
(``tests/cluster/control_plane.py``) through :func:`binaries_dir`. Standard library only.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODULE_DIR = Path(__file__).resolve().parent
BINARIES = ("kube-apiserver", "etcd", "kube-controller-manager")
_VERSION_PACKAGES = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")


def pinned_versions(go_mod: Path = MODULE_DIR / "go.mod") -> tuple[str, str]:
    """Return (kubernetes version, etcd server version) as pinned in ``go.mod``."""
    text = go_mod.read_text()
    kube = re.search(r"^\s*k8s\.io/kubernetes\s+(v\S+)", text, re.M)
    etcd = re.search(r"^\s*go\.etcd\.io/etcd/server/v3\s+(v\S+)", text, re.M)
    if kube is None or etcd is None:
        raise SystemExit(f"{go_mod}: k8s.io/kubernetes or go.etcd.io/etcd/server/v3 not pinned")
    return kube.group(1), etcd.group(1)


def _digest() -> str:
    h = hashlib.sha256()
    files = [MODULE_DIR / "go.mod", MODULE_DIR / "go.sum"]
    files += sorted((MODULE_DIR / "cmd").rglob("*.go"))
    for f in files:
        h.update(str(f.relative_to(MODULE_DIR)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def _platform() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    return f"{sys.platform}-{arch}"


def cache_root() -> Path:
    """Return the directory holding one subdirectory per built key."""
    env = os.environ.get("RECONCILER_KUBE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reconciler" / "kube"


def binaries_dir() -> Path:
    """Return where the binaries of the pinned versions live (built or not)."""
    kube, etcd = pinned_versions()
    return cache_root() / f"kubernetes-{kube}_etcd-{etcd}_{_platform()}_{_digest()}"


def is_built(directory: Path | None = None) -> bool:
    """True when every binary is present and executable."""
    d = directory or binaries_dir()
    return all(os.access(d / name, os.X_OK) for name in BINARIES)


def _ldflags(kube_version: str) -> str:
    m = re.match(r"v(\d+)\.(\d+)", kube_version)
    major, minor = (m.group(1), m.group(2)) if m else ("", "")
    flags = ["-s", "-w"]
    for pkg in _VERSION_PACKAGES:
        flags += [
            f"-X {pkg}.gitVersion={kube_version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(flags)


def build(*, quiet: bool = False) -> Path:
    """Build the binaries unless present; return their directory."""
    target = binaries_dir()
    if is_built(target):
        return target
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_built(target):  # another process built it while we waited
            return target
        go = shutil.which("go")
        if go is None:
            raise SystemExit("go is not on PATH: install Go 1.26 or newer to build kube-apiserver")
        kube, _ = pinned_versions()
        tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
        cmd = [
            go,
            "build",
            "-trimpath",
            "-buildvcs=false",
            "-ldflags",
            _ldflags(kube),
            "-o",
            str(tmp) + os.sep,
            "./cmd/...",
        ]
        if not quiet:
            print(f"building {', '.join(BINARIES)} into {target} ...", file=sys.stderr)
        started = time.monotonic()
        try:
            subprocess.run(cmd, cwd=MODULE_DIR, check=True)
            if target.exists():
                shutil.rmtree(target)
            tmp.chmod(0o755)
            tmp.rename(target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        if not quiet:
            print(f"built in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return target


def main(argv: list[str] | None = None) -> int:
    """Command line: build (or locate) the binaries and print their directory."""
    parser = argparse.ArgumentParser(prog="python -m tools.kube.build", description=__doc__)
    parser.add_argument(
        "--print-dir", action="store_true", help="print the directory; exit 1 if not built"
    )
    args = parser.parse_args(argv)
    if args.print_dir:
        d = binaries_dir()
        print(d)
        return 0 if is_built(d) else 1
    try:
        print(build())
    except subprocess.CalledProcessError as exc:
        print(f"go build failed with exit code {exc.returncode}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
