"""Decide whether an overlay's Kustomize build may be split into chunks of resource files.

Called by :func:`reconciler.render.kustomize.build_overlay` after the inputs are checked
(:mod:`reconciler.render.kustomize_inputs`). Kustomize's build time grows with the square
of the resources in one build (every resource added is compared with every one before it),
so an overlay that lists ``../../pipelines`` with 10,000 files costs minutes. Most of what
an overlay does to a resource depends on that resource alone; then building the overlay
once per chunk of the pipeline files, each chunk with every other input unchanged, and
taking the union gives Kustomize's own output. :mod:`reconciler.render.kustomize_chunks`
builds and merges the chunks and checks the outputs; this module decides when the inputs
permit it, and returns :class:`Whole` with the reason when they do not.

**The split directory** is a directory the overlay names in ``resources`` whose
kustomization only lists files in it (fields ``apiVersion``, ``kind``, ``resources``; no
directories, no symlinks, no ``..``, each file once), named by no other kustomization.
When several qualify, the one with most files is split.

**Per resource, supported** (each resource's output depends on the resource and on inputs
present in every chunk; Kustomize v5 source, ``api/internal/target/kusttarget.go``): in
the overlay's kustomization ``resources`` (other files and directories: built in every
chunk), ``namespace``, ``namePrefix``, ``nameSuffix``, ``labels``, ``commonLabels``,
``commonAnnotations``, ``images``, ``replicas``, ``patches`` and ``patchesJson6902`` with a
``target`` (a selector matches resource by resource, and matching nothing is no error),
``configMapGenerator``, ``secretGenerator``, ``generatorOptions`` (generated objects are
built in every chunk), ``sortOptions`` with the legacy order (the default: a total order on
resource ids, which the merge applies). Name references are per resource too as long as no
split resource can be referred to: every output document of the split directory must be of
a kind that is not a target of Kustomize's built-in name references (ConfigMap, Secret,
Service, Deployment...; :data:`REFERRAL_KINDS`), which the merge checks.

**Across resources, not supported** (then the overlay is built whole, as before):
``patchesStrategicMerge`` and ``patches`` without a ``target`` (each must match exactly
one resource: a chunk without it fails), ``replacements`` and ``vars`` (a value taken from
one resource into others), ``components``, ``bases``, generator and transformer plugins
(``generators``, ``transformers``, ``validators``), ``configurations``, ``crds`` and
``openapi`` anywhere in the build (they change which fields refer to which kinds, for
every resource), ``buildMetadata`` (origin annotations name paths), ``sortOptions`` with
the FIFO order, any field this list does not name, and a symlink in the overlay directory.

What the merge still checks, since inputs alone cannot show it
(:mod:`reconciler.render.kustomize_chunks`): the documents built from the other inputs
(one build with the split directory empty) appear unchanged in every chunk; the ids of all
output documents are unique (Kustomize fails on a duplicate id; chunks would not see a
duplicate across them); the split documents' kinds are not referral kinds. Any doubt falls
back to the whole build.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.render import kustomize_inputs
from reconciler.source import caches
from reconciler.structs import codec

PLAN_VERSION = "kustomize-plan-1"
"""Part of every chunk's cache key: a change of how chunks are made invalidates them."""

KUSTOMIZATION_API = "kustomize.config.k8s.io/v1beta1"

OVERLAY_FIELDS = frozenset(
    {
        "apiVersion",
        "kind",
        "metadata",
        "resources",
        "namespace",
        "namePrefix",
        "nameSuffix",
        "labels",
        "commonLabels",
        "commonAnnotations",
        "images",
        "replicas",
        "patches",
        "patchesJson6902",
        "configMapGenerator",
        "secretGenerator",
        "generatorOptions",
        "sortOptions",
    }
)
"""The overlay fields whose effect on a resource depends on that resource alone."""

SPLIT_FIELDS = frozenset({"apiVersion", "kind", "resources"})
"""The fields a split directory's kustomization may have."""

GRAPH_FIELDS = ("vars", "configurations", "crds", "openapi")
"""Fields that, in any kustomization of the build, act on every resource of the overlay."""

REFERRAL_KINDS = frozenset(
    {
        "ConfigMap",
        "Secret",
        "Service",
        "Role",
        "ClusterRole",
        "ServiceAccount",
        "PersistentVolumeClaim",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "IngressClass",
        "ValidatingAdmissionPolicy",
        "Deployment",
        "ReplicationController",
        "ReplicaSet",
        "StatefulSet",
    }
)
"""Kinds other resources refer to by name (Kustomize's built-in ``nameReference``
configuration, ``api/internal/konfig/builtinpluginconsts/namereference.go``), and the
kinds ``replicas`` changes: a split resource of one of these kinds could be referred to from
another chunk."""

DEFAULT_ORDER_FIRST = (
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
)
DEFAULT_ORDER_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
"""Kustomize's legacy output order (``plugin/builtin/sortordertransformer``)."""


@dataclass(frozen=True)
class Whole:
    """The overlay is built whole; ``reason`` says why it is not split."""

    reason: str


@dataclass(frozen=True)
class Plan:
    """How to build an overlay in chunks; every path is repository-relative.

    ``overlay``: the overlay directory; ``split``: the directory whose files are divided
    among chunks, ``kustomization`` its kustomization file name and ``entries`` its
    ``resources`` as written (in order); ``overlay_files``: the files under the overlay
    directory the build reads (copied into every chunk's tree); ``shared``: the content
    address of every input but the split files (files read and their hashes, the
    kustomization file names in each directory); ``shared_files``/``shared_bytes``: their
    number and size; ``entry_digests``/``entry_bytes``: each entry's file hash and size;
    ``order_first``/``order_last``: the legacy output order's kinds; ``ids_by_id``: True
    when the id a split resource comes out with depends on its own id alone (no patch of
    the overlay selects resources by label or annotation, the only selectors that read
    their content), so that a file whose documents keep their ids keeps its output ids.
    """

    overlay: str
    split: str
    kustomization: str
    entries: tuple[str, ...]
    overlay_files: tuple[str, ...]
    shared: str
    shared_files: int
    shared_bytes: int
    entry_digests: dict[str, str]
    entry_bytes: dict[str, int]
    order_first: tuple[str, ...]
    order_last: tuple[str, ...]
    ids_by_id: bool = False

    def chunks(self, size: int) -> list[tuple[str, ...]]:
        """Divide the entries into chunks of about ``size`` (at most), kept in listed order.

        An entry's chunk is a hash of the entry itself, not its position, among a power of
        two of chunks: adding or removing a file changes one chunk, and the number of chunks
        changes only when the number of files crosses a power of two times ``size``. Empty
        chunks are left out.
        """
        count = 1 << max(0, math.ceil(math.log2(max(1, math.ceil(len(self.entries) / size)))))
        buckets: list[list[str]] = [[] for _ in range(count)]
        for entry in self.entries:
            buckets[chunk_of(entry, count)].append(entry)
        return [tuple(b) for b in buckets if b]

    def path_of(self, entry: str) -> str:
        """Return the repository-relative path of a split entry's file."""
        return _join(self.split, os.path.normpath(entry).replace(os.sep, "/"))


def chunk_of(entry: str, count: int) -> int:
    """Return the chunk (of ``count``, a power of two) an entry of the split list goes to."""
    digest = hashlib.sha256(os.path.normpath(entry).encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") & (count - 1)


def plan(
    overlay_dir: Path, *, root: Path, inputs: kustomize_inputs.Inputs, chunk_files: int
) -> Plan | Whole:
    """Return how to build ``overlay_dir`` in chunks of ``chunk_files`` files, or Whole.

    ``inputs`` is what :func:`kustomize_inputs.check_overlay` found for the overlay under
    ``root``. Whole when chunks are off (``chunk_files`` < 1), when no directory of the
    overlay has more than ``chunk_files`` files to split, or when a field of the build is
    not per resource (module docstring); its reason names the field.
    """
    if chunk_files < 1:
        return Whole("splitting is off")
    real_root = root.resolve()
    overlay_real = Path(overlay_dir).resolve()
    overlay = _rel(overlay_real, real_root)
    doc = inputs.kustomizations.get(overlay)
    if not isinstance(doc, dict):
        return Whole(f"{overlay}: no kustomization mapping")
    refusal = _overlay_refusal(overlay, doc, inputs, overlay_dir=overlay_real)
    if refusal:
        return Whole(refusal)
    order = _order(overlay, doc.get("sortOptions"))
    if isinstance(order, Whole):
        return order
    split = _split_directory(overlay, inputs, root=real_root)
    if isinstance(split, Whole):
        return split
    directory, entries = split
    if len(entries) <= chunk_files:
        return Whole(f"{directory}: {len(entries)} files, not more than a chunk ({chunk_files})")
    if _has_symlink(overlay_real):
        return Whole(f"{overlay}: a symlink in the overlay directory")
    kustomization = inputs.names[directory][0]
    split_files = {_join(directory, os.path.normpath(e).replace(os.sep, "/")) for e in entries}
    split_files.add(_join(directory, kustomization))
    shared_paths = sorted(set(inputs.digests) - split_files)
    overlay_files = {p for p in shared_paths if p.startswith(overlay + "/")}
    overlay_files.update(_join(overlay, n) for n in inputs.names[overlay])
    shared = caches.key_of(
        PLAN_VERSION,
        overlay,
        directory,
        *(f"{p}\0{inputs.digests[p]}" for p in shared_paths),
        *(f"{d}\0{','.join(inputs.names[d])}" for d in sorted(inputs.names)),
    )
    sizes = {
        p: inputs.sizes[p] if p in inputs.sizes else (real_root / p).stat().st_size
        for p in [*shared_paths, *split_files]
    }
    entry_paths = {e: _join(directory, os.path.normpath(e).replace(os.sep, "/")) for e in entries}
    return Plan(
        overlay=overlay,
        split=directory,
        kustomization=kustomization,
        entries=tuple(entries),
        overlay_files=tuple(sorted(overlay_files)),
        shared=shared,
        shared_files=len(shared_paths),
        shared_bytes=sum(sizes[p] for p in shared_paths),
        entry_digests={e: inputs.digests[p] for e, p in entry_paths.items()},
        entry_bytes={e: sizes[p] for e, p in entry_paths.items()},
        order_first=order[0],
        order_last=order[1],
        ids_by_id=not _selects_by_content(doc),
    )


def _overlay_refusal(
    overlay: str, doc: dict[str, Any], inputs: kustomize_inputs.Inputs, *, overlay_dir: Path
) -> str:
    """Return why the overlay's fields are not per resource ("" if they all are)."""
    for name in doc:
        if name not in OVERLAY_FIELDS:
            return f"{overlay}: {name} is not per resource"
    if doc.get("kind", "Kustomization") != "Kustomization":
        return f"{overlay}: kind {doc.get('kind')!r}"
    patches = doc.get("patches") or []
    if not isinstance(patches, list):
        return f"{overlay}: patches is not a list"
    for index, patch in enumerate(patches):
        if not isinstance(patch, dict) or not isinstance(patch.get("target"), dict):
            return f"{overlay}: patches[{index}] has no target (it must match one resource)"
    for name in ("patches", "patchesJson6902"):
        entries = doc.get(name) or []
        if not isinstance(entries, list):
            return f"{overlay}: {name} is not a list"
        for index, patch in enumerate(entries):
            if _changes_kind(patch, overlay_dir):
                return f"{overlay}: {name}[{index}] may change a resource's kind"
    for directory, kustomization in inputs.kustomizations.items():
        if not isinstance(kustomization, dict):
            return f"{directory}: no kustomization mapping"
        for name in GRAPH_FIELDS:
            if name in kustomization:
                return f"{directory}: {name} applies to every resource of the build"
    return ""


def _selects_by_content(doc: dict[str, Any]) -> bool:
    """True if a patch of the overlay selects resources by label or annotation."""
    for name in ("patches", "patchesJson6902"):
        for patch in doc.get(name) or []:
            target = patch.get("target") if isinstance(patch, dict) else None
            if not isinstance(target, dict) or any(
                key in target for key in ("labelSelector", "annotationSelector")
            ):
                return True
    return False


def _changes_kind(patch: Any, overlay_dir: Path) -> bool:
    """True if a patch entry may change a resource's kind or apiVersion (or is unreadable).

    A resource whose kind changes keeps its former id too, which name references and
    ``replicas`` also match: a former ConfigMap could be referred to across chunks. An
    entry may change a kind with ``options.allowKindChange``, or with a JSON6902 operation
    on ``/kind``, ``/apiVersion`` or the whole document.
    """
    if not isinstance(patch, dict):
        return True
    options = patch.get("options")
    if isinstance(options, dict) and options.get("allowKindChange"):
        return True
    text = patch.get("patch")
    if not isinstance(text, str):
        path = patch.get("path")
        if not isinstance(path, str):
            return True
        try:
            text = (overlay_dir / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return True
    try:
        docs = codec.load_stream(str(text))  # ruamel scalars are str subclasses
    except codec.YAMLError:
        return True
    for ops in docs:
        if not isinstance(ops, list):
            continue  # a strategic-merge patch: it keeps the kind without allowKindChange
        for op in ops:
            if not isinstance(op, dict):
                return True
            for key in ("path", "from"):
                value = op.get(key)
                if isinstance(value, str) and value in _KIND_POINTERS:
                    return True
    return False


_KIND_POINTERS = frozenset({"", "/", "/kind", "/apiVersion"})


def _order(overlay: str, options: Any) -> tuple[tuple[str, ...], tuple[str, ...]] | Whole:
    """Return the legacy order's first and last kinds, or Whole for another order."""
    if options is None:
        return DEFAULT_ORDER_FIRST, DEFAULT_ORDER_LAST
    if not isinstance(options, dict) or options.get("order") != "legacy":
        return Whole(f"{overlay}: sortOptions other than the legacy order")
    legacy = options.get("legacySortOptions")
    if legacy is None:
        return DEFAULT_ORDER_FIRST, DEFAULT_ORDER_LAST
    if not isinstance(legacy, dict):
        return Whole(f"{overlay}: sortOptions.legacySortOptions is not a mapping")
    lists = [legacy.get("orderFirst") or [], legacy.get("orderLast") or []]
    if not all(isinstance(x, list) and all(isinstance(k, str) for k in x) for x in lists):
        return Whole(f"{overlay}: sortOptions.legacySortOptions lists are not lists of kinds")
    return tuple(lists[0]), tuple(lists[1])


def _split_directory(
    overlay: str, inputs: kustomize_inputs.Inputs, *, root: Path
) -> tuple[str, list[str]] | Whole:
    """Return the directory to split and its entries, or Whole if there is none."""
    named = [d for refs in inputs.references.values() for d in refs]
    best: tuple[str, list[str]] | None = None
    for directory in inputs.references.get(overlay, []):
        entries = _plain_entries(directory, inputs, root=root)
        if entries is None or named.count(directory) != 1:
            continue
        if _contains(directory, overlay) or _contains(overlay, directory):
            continue
        if best is None or len(entries) > len(best[1]):
            best = (directory, entries)
    if best is None:
        return Whole(f"{overlay}: no directory of resource files only, named once")
    return best


def _plain_entries(
    directory: str, inputs: kustomize_inputs.Inputs, *, root: Path
) -> list[str] | None:
    """Return a kustomization's ``resources`` if it lists only its own files, else None."""
    doc = inputs.kustomizations.get(directory)
    if not isinstance(doc, dict) or len(inputs.names.get(directory, ())) != 1:
        return None
    if set(doc) - SPLIT_FIELDS or not isinstance(doc.get("resources"), list):
        return None
    if doc.get("apiVersion", KUSTOMIZATION_API) != KUSTOMIZATION_API:
        return None
    if doc.get("kind", "Kustomization") != "Kustomization":
        return None
    entries: list[str] = doc["resources"]
    seen: set[str] = set()
    for entry in entries:
        if not isinstance(entry, str) or not entry or os.path.isabs(entry):
            return None
        normal = os.path.normpath(entry).replace(os.sep, "/")
        if normal in seen or normal == ".." or normal.startswith("../") or "\\" in entry:
            return None
        if normal in kustomize_inputs.KUSTOMIZATION_FILES:
            return None
        seen.add(normal)
        rel = _join(directory, normal)
        if rel not in inputs.digests:
            return None
        # A file the checks reached through no symlink below the root is plain here too.
        if rel not in inputs.plain and not _plain_file(root / rel, root / directory):
            return None
    return entries


def _plain_file(path: Path, directory: Path) -> bool:
    """True if ``path`` is a regular file reached through no symlink below ``directory``."""
    current = path
    while current != directory:
        if current.is_symlink():
            return False
        current = current.parent
    return path.is_file()


def _has_symlink(directory: Path) -> bool:
    for base, dirs, files in os.walk(directory):
        for name in [*dirs, *files]:
            if os.path.islink(os.path.join(base, name)):
                return True
    return False


def _contains(outer: str, inner: str) -> bool:
    return outer == inner or outer == "." or inner.startswith(outer + "/")


def _join(directory: str, name: str) -> str:
    return name if directory in ("", ".") else f"{directory}/{name}"


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix() or "."
    except ValueError:
        return path.as_posix()
