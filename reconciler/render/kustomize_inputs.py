"""Check every file a Kustomize build will read, before Kustomize runs.

Called by :func:`reconciler.render.kustomize.build_overlay` for every overlay. Kustomize
(Go, kyaml) expands YAML aliases without a budget and reads whatever directory a
``resources`` entry names, so the reconciler walks the kustomization graph itself first:

- every kustomization, resource, patch, component, replacement, CRD, configuration,
  OpenAPI schema and generator/transformer config, and every inline patch string, is loaded
  with :mod:`reconciler.specs.loading` (the same limits as pipeline files: size, alias count
  and expansion, custom tags, duplicate keys, nesting depth, UTF-8). A file of at most the
  size limit with no ``&``, ``*`` or ``!`` where a node can start cannot hold an anchor,
  alias or tag, so it is not parsed (10,000 pipeline files must not be parsed twice); Kustomize itself refuses its
  syntax errors and duplicate keys;
- ConfigMap/Secret generator files (``files``, ``envs``, ``env``) are data that Kustomize
  copies without parsing: they get the size limit, and the YAML checks too when they are
  YAML or JSON by name (whoever reads the ConfigMap later would expand the bomb);
- every referenced path must stay inside the repository, after ``..`` and after symlinks
  are resolved; absolute paths and remote bases (URLs, ``git@``) are refused, as are Helm
  charts (Kustomize would run ``helm``).

Errors are :class:`SpecError` values naming the kustomization and the field
(``overlays/dev/kustomization.yaml:3:5: resources[1]: ...``), raised together as
:class:`SpecErrors`. A missing file is left for Kustomize to report. The result is what
Kustomize will read: the files and their bytes (which size its resource limits), the hash
of each file (content addresses for caching a build by exactly what it reads), and the
graph of kustomizations (each one's fields, the kustomization file names in its directory,
the directories it names), from which :mod:`reconciler.render.kustomize_plans` decides
whether the build can be split.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.specs import loading
from reconciler.structs import codec, documents
from reconciler.structs.errors import SpecError, SpecErrors

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

# Fields whose entries are files or directories (a directory holds a kustomization).
_TREE_FIELDS = ("resources", "bases", "components")
# Fields whose entries are YAML files (or, for generators/transformers/validators, inline YAML).
_FILE_FIELDS = ("crds", "configurations", "generators", "transformers", "validators")
# Fields whose entries are mappings with a ``path`` and/or an inline ``patch``.
_PATCH_FIELDS = ("patches", "patchesJson6902", "replacements")
_GENERATOR_FIELDS = ("configMapGenerator", "secretGenerator")
_REFUSED_FIELDS = {
    "helmCharts": "Helm charts are not supported (Kustomize would run helm)",
    "helmChartInflationGenerator": "Helm charts are not supported (Kustomize would run helm)",
    "helmGlobals": "Helm charts are not supported (Kustomize would run helm)",
}
_REMOTE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://|git@|github\.com/|gitlab\.com/)")
_YAML_SUFFIXES = (".yaml", ".yml", ".json")
_HAZARDS = re.compile(rb"(?:^|[\s\[{,:])[&*!]", re.MULTILINE)
"""Where an anchor, alias or tag can start (a node starts after a space, a line start, or
``[ { , :`` in flow style); a file with none of these has none, so is not parsed."""


@dataclass
class Inputs:
    """What one build reads, every path repository-relative (``/``-separated).

    ``files``: every file read, and ``bytes`` their total size; ``digests``: the sha256 of
    each file's bytes, ``sizes`` their sizes; ``plain``: the files read reached through no
    symbolic link below the repository root; ``kustomizations``: each kustomization directory's first document
    as plain data (None if it is not a mapping or does not load); ``names``: the
    kustomization file names present in each such directory (Kustomize refuses more than
    one); ``references``: the directories each kustomization directory names in
    ``resources``, ``bases`` and ``components``, in order.
    """

    files: set[str] = field(default_factory=set)
    bytes: int = 0
    errors: list[SpecError] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    plain: set[str] = field(default_factory=set)
    kustomizations: dict[str, Any] = field(default_factory=dict)
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    references: dict[str, list[str]] = field(default_factory=dict)


def check_overlay(overlay_dir: Path, *, repo_root: Path) -> Inputs:
    """Check every file the build of ``overlay_dir`` reads; raise SpecErrors on any problem.

    ``repo_root`` is the boundary: nothing outside it may be referenced (the overlay itself
    must be inside it). Returns the files and bytes Kustomize will read.
    """
    walker = _Walker(repo_root.resolve())
    real = Path(overlay_dir).resolve()
    if not _is_within(real, walker.root):
        shown = walker.rel(Path(overlay_dir).absolute())
        raise SpecErrors([SpecError(shown, 0, 0, "", "the overlay is outside the repository")])
    walker.kustomization_dir(real)
    if walker.inputs.errors:
        raise SpecErrors(walker.inputs.errors)
    return walker.inputs


@dataclass
class _Where:
    """The kustomization entry that referenced a path, for error messages."""

    path: str
    locator: loading.Locator
    field: str

    def error(self, message: str) -> SpecError:
        line, col = self.locator.position(self.field)
        return SpecError(self.path, line, col, self.field, message)


class _Walker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.inputs = Inputs()
        self.seen_dirs: set[Path] = set()
        self.root_text = str(root)
        self.root_prefix = self.root_text.rstrip("/") + "/"
        self.plain_dirs: set[str] = set()
        self.plain_paths: set[str] = set()

    # ------------------------------------------------------------------ paths

    def rel(self, path: Path | str) -> str:
        text = str(path)
        if text.startswith(self.root_prefix):  # the common case, without pathlib
            return text[len(self.root_prefix) :]
        path = Path(path)
        try:
            return path.relative_to(self.root).as_posix() or "."
        except ValueError:
            return path.as_posix()

    def inside(self, ref: str, base: Path, where: _Where) -> Path | None:
        """Resolve ``ref`` against ``base``; None (and an error) if it leaves the repository."""
        if _REMOTE.match(ref):
            self.inputs.errors.append(
                where.error(
                    f"{ref!r}: remote bases are not supported; vendor it into the repository"
                )
            )
            return None
        if os.path.isabs(ref) or ref.startswith("\\"):
            self.inputs.errors.append(
                where.error(f"{ref!r}: absolute paths are not allowed (the path must be relative)")
            )
            return None
        lexical = os.path.normpath(os.path.join(base, ref))
        if not _is_within(lexical, self.root):
            self.inputs.errors.append(where.error(f"{ref!r} is outside the repository"))
            return None
        if os.path.lexists(lexical):
            plain = self.plain(lexical)
            real = lexical if plain else os.path.realpath(lexical)
            if not _is_within(real, self.root):
                self.inputs.errors.append(
                    where.error(f"{ref!r} is a symlink that points outside the repository")
                )
                return None
            if plain:
                self.plain_paths.add(real)
            return Path(real)
        return Path(lexical)

    def plain(self, path: str) -> bool:
        """True if no component of ``path`` below the (resolved) root is a symlink.

        Such a path is its own real path: the lstat of each directory is asked once per
        walk (1,000 pipeline files share one), the path's own every time.
        """
        parent = os.path.dirname(path)
        if parent != self.root_text and parent not in self.plain_dirs:
            if os.path.islink(parent) or not self.plain(parent):
                return False
            self.plain_dirs.add(parent)
        return not os.path.islink(path)

    # ------------------------------------------------------------------ files

    def _read(self, path: Path, rel: str) -> bytes | None:
        """Read and count one input file; None (an error recorded) if it cannot be read."""
        try:
            content = path.read_bytes()
        except OSError as e:
            self.inputs.errors.append(SpecError(rel, 0, 0, "", f"cannot read: {e.strerror or e}"))
            return None
        self._count(rel, content, path)
        return content

    def yaml_file(self, path: Path, *, shown: str | None = None) -> Any:
        rel = shown or self.rel(path)
        content = self._read(path, rel)
        if content is None:
            return None
        if not needs_yaml_check(content):
            return None  # no anchor, alias or tag can be in it: Kustomize reports the rest
        try:
            return loading.load_documents(content, path=rel)
        except SpecErrors as e:
            self.inputs.errors.extend(e.errors)
            return None

    def data_file(self, path: Path) -> None:
        rel = self.rel(path)
        if path.name.endswith(_YAML_SUFFIXES):
            self.yaml_file(path)
            return
        try:
            size = path.stat().st_size
            if size > loading.MAX_BYTES:
                message = f"file is {size} bytes, over the {loading.MAX_BYTES}-byte limit"
                self.inputs.errors.append(SpecError(rel, 0, 0, "", message))
                return
            content = path.read_bytes()
        except OSError:
            return  # missing: Kustomize reports it
        self._count(rel, content)

    def inline(self, text: str, where: _Where) -> None:
        try:
            loading.load_documents(text.encode(), path=where.path)
        except SpecErrors as e:
            for err in e.errors:
                self.inputs.errors.append(where.error(f"inline YAML: {err.message}"))

    def _count(self, rel: str, content: bytes, path: Path | None = None) -> None:
        if rel not in self.inputs.files:
            self.inputs.files.add(rel)
            self.inputs.bytes += len(content)
            self.inputs.digests[rel] = hashlib.sha256(content).hexdigest()
            self.inputs.sizes[rel] = len(content)
            if path is not None and str(path) in self.plain_paths:
                self.inputs.plain.add(rel)

    # ------------------------------------------------------------------ kustomizations

    def kustomization_dir(self, directory: Path) -> None:
        real = directory.resolve()
        if real in self.seen_dirs:
            return
        self.seen_dirs.add(real)
        present = tuple(n for n in KUSTOMIZATION_FILES if (real / n).is_file())
        if not present:
            return  # Kustomize reports a directory without a kustomization
        here = self.rel(real)
        self.inputs.names[here] = present
        self.inputs.kustomizations[here] = None
        self.inputs.references[here] = []
        found = real / present[0]
        rel = self.rel(found)
        loaded = self.kustomization_file(found, rel)
        if loaded is None:
            return
        doc, locator = loaded
        if not isinstance(doc, dict):
            self.inputs.errors.append(SpecError(rel, 1, 1, "", "a kustomization must be a mapping"))
            return
        self.inputs.kustomizations[here] = documents.plain(doc)
        for name, message in _REFUSED_FIELDS.items():
            if name in doc:
                self.inputs.errors.append(_Where(rel, locator, name).error(message))
        for name, index, value in _entries(doc, _TREE_FIELDS):
            self.tree_entry(real, value, _Where(rel, locator, f"{name}[{index}]"))
        for name, index, value in _entries(doc, _FILE_FIELDS):
            self.file_entry(real, value, _Where(rel, locator, f"{name}[{index}]"))
        for name, index, value in _entries(doc, ("patchesStrategicMerge",)):
            self.file_entry(real, value, _Where(rel, locator, f"{name}[{index}]"))
        for name, index, value in _entries(doc, _PATCH_FIELDS):
            self.patch_entry(real, value, _Where(rel, locator, f"{name}[{index}]"))
        for name, index, value in _entries(doc, _GENERATOR_FIELDS):
            self.generator_entry(real, value, _Where(rel, locator, f"{name}[{index}]"))
        openapi = doc.get("openapi")
        if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
            self.file_entry(real, openapi["path"], _Where(rel, locator, "openapi.path"))

    def kustomization_file(self, path: Path, rel: str) -> tuple[Any, loading.Locator] | None:
        """Load a kustomization's first document and a Locator for its fields' positions.

        A file that cannot hold an anchor, alias or tag is parsed by the C loader, its
        positions only when an error needs one (a ``pipelines/kustomization.yaml`` of
        10,000 entries takes the position-tracking loader seconds); any other file, or one
        the C loader refuses, by the position-tracking loader, whose errors name the line.
        None (an error recorded, or nothing to check) when there is no document.
        """
        content = self._read(path, rel)
        if content is None:
            return None
        if not needs_yaml_check(content):
            try:
                fast = codec.load_stream(content)
            except codec.YAMLError:
                pass  # the position-tracking loader says where
            else:
                return (fast[0], loading.LazyLocator(content, path=rel)) if fast else None
        try:
            docs = loading.load_documents(content, path=rel)
        except SpecErrors as e:
            self.inputs.errors.extend(e.errors)
            return None
        return (docs[0], loading.Locator.of(docs[0])) if docs else None

    def tree_entry(self, base: Path, value: Any, where: _Where) -> None:
        if not isinstance(value, str):
            return  # Kustomize refuses it with its own message
        target = self.inside(value, base, where)
        if target is None:
            return
        try:
            mode = os.stat(target).st_mode
        except OSError:
            return  # missing: Kustomize reports it
        if stat.S_ISDIR(mode):
            self.inputs.references.setdefault(self.rel(base), []).append(self.rel(target))
            self.kustomization_dir(target)
        elif stat.S_ISREG(mode):
            self.yaml_file(target)

    def file_entry(self, base: Path, value: Any, where: _Where) -> None:
        if not isinstance(value, str):
            return
        if "\n" in value or (":" in value and not _REMOTE.match(value)):
            self.inline(value, where)  # an inline YAML document, not a path
            return
        target = self.inside(value, base, where)
        if target is None:
            return
        if target.is_dir():
            self.kustomization_dir(target)
        elif target.is_file():
            self.yaml_file(target)

    def patch_entry(self, base: Path, value: Any, where: _Where) -> None:
        if isinstance(value, str):
            self.file_entry(base, value, where)
            return
        if not isinstance(value, dict):
            return
        if isinstance(value.get("path"), str):
            self.file_entry(
                base, value["path"], _Where(where.path, where.locator, f"{where.field}.path")
            )
        if isinstance(value.get("patch"), str):
            self.inline(value["patch"], _Where(where.path, where.locator, f"{where.field}.patch"))

    def generator_entry(self, base: Path, value: Any, where: _Where) -> None:
        if not isinstance(value, dict):
            return
        refs: list[tuple[str, str]] = []
        for key in ("files", "envs"):
            items = value.get(key)
            if isinstance(items, list):
                refs += [(f"{key}[{i}]", v) for i, v in enumerate(items) if isinstance(v, str)]
        if isinstance(value.get("env"), str):
            refs.append(("env", value["env"]))
        for sub, ref in refs:
            path = ref.split("=", 1)[1] if "=" in ref else ref
            at = _Where(where.path, where.locator, f"{where.field}.{sub}")
            target = self.inside(path, base, at)
            if target is not None and target.is_file():
                self.data_file(target)


def needs_yaml_check(content: bytes) -> bool:
    """True if a file is over the size limit or may hold an anchor, alias or tag.

    Only such a file can make a YAML library (Kustomize's, DVC's) blow up; any other file
    is left to its reader, who reports its syntax errors in its own words.
    """
    return len(content) > loading.MAX_BYTES or _HAZARDS.search(content) is not None


def _entries(doc: dict[str, Any], names: tuple[str, ...]) -> Iterator[tuple[str, int, Any]]:
    for name in names:
        items = doc.get(name)
        if isinstance(items, list):
            for index, value in enumerate(items):
                yield name, index, value


def _is_within(path: Path | str, root: Path) -> bool:
    """True if ``path`` is ``root`` or below it (both absolute and normalised)."""
    text, top = str(path), str(root)
    return text == top or text.startswith(top.rstrip("/") + "/")
