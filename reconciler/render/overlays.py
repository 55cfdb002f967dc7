"""Overlays: turn one environment's Kustomize output into an Environment, Pipelines and objects.

Kustomize output has no line numbers, so each Pipeline is validated after the overlay's
patches and its errors are pointed back at the pipeline's source file
(``pipelines/<file>.yaml``, matched by ``metadata.name``) wherever the field exists there.
A pipeline that fails validation is reported in ``failed_pipelines``, with its errors (its
live objects are kept, and ``status`` lists it as not rendering); the others still render.

With a content cache (:mod:`reconciler.source.caches`) nothing is derived twice from the
same content: Kustomize's output by tree id, a pipeline file's name by the hash of its bytes
(the position-tracking parse of the file is then needed only for an error), and a pipeline
document's validity by the hash of its canonical JSON.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reconciler.render import kustomize, kustomize_inputs
from reconciler.source import caches
from reconciler.specs import loading, validation
from reconciler.specs.models import Environment, Pipeline
from reconciler.structs import codec, documents, memos
from reconciler.structs.errors import RenderError, SpecError, SpecErrors
from reconciler.structs.manifests import Manifest

OVERLAYS_DIR = "overlays"
PIPELINES_DIR = "pipelines"
ENVIRONMENT_FILE = "environment.yaml"
SPEC_KINDS = ("Pipeline", "Environment")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass(frozen=True)
class PipelineSource:
    """A pipeline's source file: path, sha256 of its bytes, and a Locator for positions."""

    name: str
    path: str
    sha256: str
    locator: loading.Locator | None


@dataclass
class Overlay:
    """One environment's overlay output, parsed.

    ``env`` is None when the Environment itself is broken (then nothing renders).
    ``objects`` are the overlay's plain Kubernetes objects (quotas, queues, policies...).
    """

    name: str
    path: str
    env: Environment | None
    pipelines: list[Pipeline] = field(default_factory=list)
    objects: list[Manifest] = field(default_factory=list)
    errors: list[SpecError] = field(default_factory=list)
    failed_pipelines: dict[str, list[SpecError]] = field(default_factory=dict)
    """Pipelines that failed validation, by name, each with its own errors (also in
    ``errors``): they are left out of ``pipelines`` and their live objects are kept."""
    locators: dict[str, loading.Locator] = field(default_factory=dict)
    """Source-file Locators by path, to point later errors (datasets) at a line."""


def environment_names(root: Path) -> list[str]:
    """Return the names of the overlay directories (``overlays/<env>/kustomization.yaml``)."""
    base = root / OVERLAYS_DIR
    if not base.is_dir():
        return []
    return sorted(
        p.name
        for p in base.iterdir()
        if p.is_dir() and any((p / k).is_file() for k in KUSTOMIZATION_FILES)
    )


SOURCES_VERSION = "sources-1"


def pipeline_sources(
    root: Path, *, cache: caches.ContentCache | None = None
) -> tuple[dict[str, PipelineSource], list[SpecError]]:
    """Index ``pipelines/*.yaml`` by ``metadata.name``; errors for unreadable or duplicate files.

    With ``cache``, a file whose bytes were indexed before is not parsed again: its kind and
    name are cached by the hash of its bytes (files that do not load are never cached).
    """
    names = cache.table("pipeline-sources") if cache is not None else None
    out: dict[str, PipelineSource] = {}
    errors: list[SpecError] = []
    base = root / PIPELINES_DIR
    if not base.is_dir():
        return out, errors
    for f in sorted(base.glob("*.y*ml")):
        if f.name.startswith("kustomization."):
            continue
        rel = f.relative_to(root).as_posix()
        content = f.read_bytes()
        sha256 = hashlib.sha256(content).hexdigest()
        key = caches.key_of(SOURCES_VERSION, sha256)
        known = names.get(key) if names is not None else None
        if isinstance(known, list) and len(known) == 2:
            kind, name = known
        else:
            fast = _plain_kind_and_name(content)
            if fast is not None:
                kind, name = fast
            else:
                try:
                    doc = loading.load_document(content, path=rel)
                except SpecErrors as e:
                    errors.extend(e.errors)
                    continue
                kind, name = _kind_and_name(doc)
            if names is not None:
                names[key] = [kind, name]
        if kind != "Pipeline" or not isinstance(name, str):
            continue
        if name in out:
            doc = loading.load_document(content, path=rel)
            line, col = loading.Locator.of(doc).position("metadata.name")
            errors.append(
                SpecError(
                    rel,
                    line,
                    col,
                    "metadata.name",
                    f"duplicate pipeline name {name!r} (also in {out[name].path})",
                )
            )
            continue
        out[name] = PipelineSource(
            name=name,
            path=rel,
            sha256=sha256,
            locator=loading.LazyLocator(content, path=rel),
        )
    return out, errors


_SHARED_SOURCES = 4
"""Commits whose pipeline index :func:`_shared_sources` keeps per cache (by tree id)."""
_Index = tuple[dict[str, PipelineSource], list[SpecError]]
_shared: weakref.WeakKeyDictionary[caches.ContentCache, memos.Memo[str, _Index]] = (
    weakref.WeakKeyDictionary()
)
_shared_lock = threading.Lock()
"""Guards ``_shared`` itself (each cache's memo has a lock of its own)."""


def _shared_sources(root: Path, *, cache: caches.ContentCache | None, tree: str | None) -> _Index:
    """Return :func:`pipeline_sources` of ``root``, indexed once per tree and cache.

    The environments of one commit read the same files (``tree`` is the id of ``root``'s
    content): with the same ``cache`` (the daemon's, for its life), the second and third
    are given the first one's index (copies of its containers; a PipelineSource is
    immutable). Without ``tree`` or ``cache`` the files are indexed.
    """
    if tree is None or cache is None:
        return pipeline_sources(root, cache=cache)
    with _shared_lock:
        memo = _shared.get(cache)
        if memo is None:
            memo = _shared[cache] = memos.Memo(_SHARED_SOURCES)
    known = memo.get(tree)
    if known is None:
        known = pipeline_sources(root, cache=cache)
        memo.put(tree, known)
    return dict(known[0]), list(known[1])


def _plain_kind_and_name(content: bytes) -> tuple[str | None, str | None] | None:
    """Return a file's ``kind`` and ``metadata.name`` read by the C parser, or None.

    None when the file may be one the position-tracking loader refuses (then it is loaded
    by it, and its error names the line): when it may hold an anchor, alias or tag, is not
    UTF-8, does not parse, is not exactly one document, nests deeper than
    ``loading.MAX_DEPTH``, has a key that is not a scalar or a key twice in a mapping. The
    C parser only composes nodes (10,000 pipeline files: a second, against most of a
    minute for the position-tracking loader).
    """
    if kustomize_inputs.needs_yaml_check(content):
        return None
    try:
        nodes = list(yaml.compose_all(content.decode("utf-8"), Loader=codec.Loader))
    except (UnicodeDecodeError, yaml.YAMLError):
        return None
    if len(nodes) != 1 or not _plain_node(nodes[0]):
        return None
    root = nodes[0]
    if not isinstance(root, yaml.MappingNode):
        return None, None
    kind = _scalar(root, "kind")
    meta = next((v for k, v in root.value if _is_key(k, "metadata")), None)
    name = _scalar(meta, "name") if isinstance(meta, yaml.MappingNode) else None
    return kind, name


_STR = "tag:yaml.org,2002:str"


def _plain_node(root: yaml.Node) -> bool:
    """True if no mapping under ``root`` repeats a key or has one that is not a scalar,
    and nothing nests deeper than ``loading.MAX_DEPTH``."""
    stack: list[tuple[yaml.Node, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > loading.MAX_DEPTH:
            return False
        if isinstance(node, yaml.MappingNode):
            seen: set[tuple[str, str]] = set()
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode) or (key.tag, key.value) in seen:
                    return False
                seen.add((key.tag, key.value))
                stack.append((value, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in node.value)
    return True


def _is_key(node: yaml.Node, name: str) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _STR and node.value == name


def _scalar(mapping: yaml.MappingNode, key: str) -> str | None:
    """Return the string value of ``key`` in a mapping node (None if absent or no string)."""
    for k, v in mapping.value:
        if _is_key(k, key):
            return str(v.value) if isinstance(v, yaml.ScalarNode) and v.tag == _STR else None
    return None


def _kind_and_name(doc: Any) -> tuple[str | None, str | None]:
    """Return a loaded document's ``kind`` and ``metadata.name`` where they are strings."""
    if not isinstance(doc, dict):
        return None, None
    kind = doc.get("kind")
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return (
        str(kind) if isinstance(kind, str) else None,
        str(name) if isinstance(name, str) else None,
    )


def load_overlay(
    root: Path,
    name: str,
    *,
    cache: caches.ContentCache | None = None,
    tree: str | None = None,
) -> Overlay:
    """Build ``overlays/<name>`` with Kustomize and parse its Environment and Pipelines.

    Raises RenderError if Kustomize fails (then nothing of the environment renders and
    nothing is pruned). Spec errors are collected in ``Overlay.errors``. ``tree`` is the
    Git tree id of ``root`` when it is a commit's exported tree (it keys Kustomize's output
    in ``cache``).
    """
    overlay_dir = root / OVERLAYS_DIR / name
    rel_dir = f"{OVERLAYS_DIR}/{name}"
    sources, source_errors = _shared_sources(root, cache=cache, tree=tree)
    valid = cache.table("valid-documents") if cache is not None else None
    try:
        docs = kustomize.build_overlay(overlay_dir, cache=cache, tree=tree)
    except RenderError:
        if source_errors:  # our positioned errors explain kustomize's failure better
            raise SpecErrors(source_errors) from None
        raise
    overlay = Overlay(name=name, path=rel_dir, env=None)
    envs = [d for d in docs if d.get("kind") == "Environment"]
    env_path = f"{rel_dir}/{ENVIRONMENT_FILE}"
    env_locator = None
    env_file = overlay_dir / ENVIRONMENT_FILE
    if env_file.is_file():
        try:
            env_locator = loading.Locator.of(
                loading.load_document(env_file.read_bytes(), path=env_path)
            )
        except SpecErrors as e:
            overlay.errors.extend(e.errors)
    if len(envs) != 1:
        what = "no Environment" if not envs else f"{len(envs)} Environments"
        overlay.errors.append(
            SpecError(
                f"{rel_dir}/kustomization.yaml",
                0,
                0,
                "resources",
                f"the overlay must produce exactly one Environment; it produced {what}",
            )
        )
    else:
        try:
            env = validation.parse_environment(
                documents.plain(envs[0]), path=env_path, locator=env_locator
            )
            if env.name != name:
                line, col = env_locator.position("metadata.name") if env_locator else (0, 0)
                overlay.errors.append(
                    SpecError(
                        env_path,
                        line,
                        col,
                        "metadata.name",
                        f"Environment {env.name!r} must be named like its overlay "
                        f"directory {name!r}",
                    )
                )
            else:
                overlay.env = env
        except SpecErrors as e:
            overlay.errors.extend(e.errors)
    seen_errors = set(source_errors)
    overlay.errors.extend(source_errors)
    for doc in docs:
        kind = doc.get("kind")
        if kind == "Environment":
            continue
        if kind != "Pipeline":
            overlay.objects.append(documents.plain(doc))
            continue
        meta = doc.get("metadata") or {}
        pname = str(meta.get("name", ""))
        src = sources.get(pname)
        path = src.path if src else f"{rel_dir} (kustomize output)"
        try:
            pipeline = validation.parse_pipeline(
                documents.plain(doc),
                path=path,
                sha256=src.sha256 if src else "",
                locator=src.locator if src else None,
                valid=valid,
                plain=True,
            )
        except SpecErrors as e:
            overlay.failed_pipelines.setdefault(pname, []).extend(e.errors)
            for err in e.errors:
                if err not in seen_errors:
                    seen_errors.add(err)
                    overlay.errors.append(err)
            continue
        overlay.pipelines.append(pipeline)
    if overlay.env is not None:
        locators = {s.path: s.locator for s in sources.values() if s.locator is not None}
        overlay.locators = locators
        if env_locator is not None:  # later errors about the environment point at a line
            overlay.locators.setdefault(env_path, env_locator)
        for err in validation.check_pipeline_set(overlay.pipelines, overlay.env, locators=locators):
            if err not in seen_errors:
                overlay.errors.append(err)
                for p in overlay.pipelines:
                    if p.path == err.path:
                        overlay.failed_pipelines.setdefault(p.name, []).append(err)
        overlay.pipelines = [p for p in overlay.pipelines if p.name not in overlay.failed_pipelines]
    return overlay
