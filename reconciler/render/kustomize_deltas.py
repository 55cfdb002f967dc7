"""Find what of a chunk changed since its last build, so that only that is built again.

Called by :func:`reconciler.render.kustomize.build_overlay` for each chunk missing from the
cache. A push changes one pipeline file; the chunk that holds it has up to 128, and
Kustomize's time grows with the files it reads (0.3 s of CPU for 128 of the benchmark's
pipeline files, about 0.1 s for one). When the same chunk (the same entries of the split
directory, with the same shared inputs: the same overlay and every other file it reads)
was built before and only a few of its files changed since, Kustomize builds just those
files, twice: as they were (their bytes kept by hash) and as they are. The chunk's output
is then its previous output less the old files' documents plus the new files' documents
(:func:`reconciler.render.kustomize_chunks.splice`): each split file's documents depend on
that file and the shared inputs alone, which is what allows chunks at all
(:mod:`reconciler.render.kustomize_plans`), so this is what building the chunk gives.

What it keeps, in the content cache: per chunk (its entries and shared inputs) the key of
its newest output and the hash of each of its files then (``kustomize-latest``), and each
split file's bytes by their hash (``kustomize-sources``: the old side of a later delta).
A chunk whose entries changed (a file added or removed), whose previous output or old
bytes are no longer cached, or where more than a quarter of the files changed, is built
whole, as before.

One build instead of two: when the ids a split resource comes out with depend on its own
id alone (:attr:`kustomize_plans.Plan.ids_by_id`: no patch selects by label or
annotation) and every changed file holds documents of the same ids as before (apiVersion,
kind, namespace and name, read from both versions' bytes; no ``List``), the old files'
documents are those of the previous output with the new documents' ids
(:func:`reconciler.render.kustomize_chunks.splice_by_id`), and only the new files are built.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.render import kustomize_plans
from reconciler.source import caches
from reconciler.structs import codec

LATEST_TABLE = "kustomize-latest"
SOURCES_TABLE = "kustomize-sources"


@dataclass(frozen=True)
class Delta:
    """A chunk's files that changed since its build whose output is ``previous``.

    ``changed``: the entries whose bytes differ, in the chunk's order; ``old``: their
    bytes then; ``same_ids``: their documents have the ids they had and the overlay gives
    a resource its output id by its id alone (the old side need not be built).
    """

    previous: str
    changed: tuple[str, ...]
    old: dict[str, bytes]
    same_ids: bool = False


class Deltas:
    """The chunks of one overlay's plan: what each was last built from, and its files' bytes.

    ``prefix`` is what every chunk key of the build starts with (cache version, kubectl,
    the plan's shared inputs); ``root`` the repository the plan's paths are under.
    """

    def __init__(
        self,
        store: caches.ContentCache,
        *,
        prefix: Sequence[str],
        plan: kustomize_plans.Plan,
        root: Path,
    ) -> None:
        self.latest = store.table(LATEST_TABLE)
        self.sources = store.table(SOURCES_TABLE)
        self.prefix = tuple(prefix)
        self.plan = plan
        self.root = root

    def find(self, entries: Sequence[str]) -> Delta | None:
        """Return how ``entries`` (a chunk) changed since its last build, or None.

        None when the chunk was not built before in this form, nothing or more than a
        quarter of its files changed, or an old file's bytes are not kept. The caller
        still checks that the previous output is cached.
        """
        record = self.latest.get(self._key(entries))
        if not isinstance(record, dict):
            return None
        before, previous = record.get("digests"), record.get("chunk")
        if not isinstance(previous, str) or not isinstance(before, list):
            return None
        if len(before) != len(entries):
            return None
        digests = self.plan.entry_digests
        changed = tuple(e for e, d in zip(entries, before, strict=True) if d != digests[e])
        if not changed or len(changed) > len(entries) // 4:
            return None
        old: dict[str, bytes] = {}
        for entry, digest in zip(entries, before, strict=True):
            if entry not in changed:
                continue
            text = self.sources.get(str(digest))
            if not isinstance(text, str):
                return None
            content = text.encode("utf-8", "surrogateescape")
            if hashlib.sha256(content).hexdigest() != digest:
                return None
            old[entry] = content
        same = self.plan.ids_by_id and all(self._same_ids(e, old[e]) for e in changed)
        return Delta(previous=previous, changed=changed, old=old, same_ids=same)

    def _same_ids(self, entry: str, old: bytes) -> bool:
        """True if ``entry``'s file now holds documents of the ids its ``old`` bytes held."""
        new = self._checked_bytes(entry)
        if new is None:
            return False
        before, after = input_ids(old), input_ids(new)
        return before is not None and before == after

    def remember(self, entries: Sequence[str], chunk: str) -> None:
        """Record that ``entries`` now build to the output keyed ``chunk``; keep their bytes.

        Called for every chunk of a build, cached or built, so that a delta is taken from
        the newest build of its entries. A file whose bytes no longer match the plan's hash
        (changed since it was checked) is not kept, and the chunk is not recorded.
        """
        key = self._key(entries)
        known = self.latest.get(key)
        if isinstance(known, dict) and known.get("chunk") == chunk:
            return
        digests = self.plan.entry_digests
        for entry in entries:
            digest = digests[entry]
            if digest in self.sources:
                continue
            content = self._checked_bytes(entry)
            if content is None:
                return
            self.sources[digest] = content.decode("utf-8", "surrogateescape")
        self.latest[key] = {
            "chunk": chunk,
            "digests": [digests[e] for e in entries],
        }

    def _checked_bytes(self, entry: str) -> bytes | None:
        """Return ``entry``'s file's bytes; None if unreadable or not those the plan hashed."""
        try:
            content = (self.root / self.plan.path_of(entry)).read_bytes()
        except OSError:
            return None
        if hashlib.sha256(content).hexdigest() != self.plan.entry_digests[entry]:
            return None
        return content

    def _key(self, entries: Sequence[str]) -> str:
        return caches.key_of(*self.prefix, "latest", *entries)


def input_ids(content: bytes) -> Counter[tuple[str, str, str, str]] | None:
    """Return the ids (apiVersion, kind, namespace, name) of a resource file's documents.

    None when the file does not parse, a document is not a mapping, an id field is not a
    string, or a document is a list (``kind: ...List``, which Kustomize expands into its
    items): then its output ids are not known from it. Empty documents are skipped, as
    Kustomize skips them.
    """
    try:
        docs = codec.load_stream(content)
    except codec.YAMLError:
        return None
    ids: Counter[tuple[str, str, str, str]] = Counter()
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            return None
        meta = doc.get("metadata")
        meta = {} if meta is None else meta
        if not isinstance(meta, dict):
            return None
        values = (doc.get("apiVersion"), doc.get("kind"), meta.get("namespace"), meta.get("name"))
        api, kind, namespace, name = ("" if v is None else v for v in values)
        if not all(isinstance(v, str) for v in (api, kind, namespace, name)):
            return None
        if kind.endswith("List") or "items" in doc:
            return None
        ids[(str(api), str(kind), str(namespace), str(name))] += 1
    return ids
