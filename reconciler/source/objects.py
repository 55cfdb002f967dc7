"""A Git repository opened in-process (libgit2, through pygit2): refs, trees, blobs, commits.

Used by :mod:`reconciler.source.repos` (reading the watched repository),
:mod:`reconciler.source.trees` (materialising a commit) and the provenance store (reading
records, building commits without a checkout). Nothing here starts a process, touches a work
tree or an index file, or moves a ref: refs are moved by git's own ref transactions
(:mod:`reconciler.provenance.plumbing`), so every writer honours the same lock files.

libgit2 forbids sharing one repository handle between threads, so a :class:`Repository` keeps
one handle per thread. Objects and refs written by another process (a ``git fetch``) are
seen: libgit2 rescans the object database on a miss and re-reads refs on every lookup.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2

from reconciler.structs.errors import SourceError

EXECUTABLE_MODE = pygit2.GIT_FILEMODE_BLOB_EXECUTABLE
BLOB_MODES = frozenset({pygit2.GIT_FILEMODE_BLOB, EXECUTABLE_MODE})
LINK_MODE = pygit2.GIT_FILEMODE_LINK
TREE_MODE = pygit2.GIT_FILEMODE_TREE
_HEX = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _name(text: str) -> str:
    """Return the one shared copy of ``text``, to hand pygit2 as a ref name or tree path.

    pygit2 (1.21) keeps a reference to the string ``references[name]`` and ``Tree[path]``
    are given and never releases it: a daemon looking up 10,000 provenance branches and
    their record directories every pass kept 20,000 new strings a pass (~2 MiB, its RSS
    rising pass after pass). Interned, every lookup of the same name holds the same
    string, so what pygit2 keeps is bounded by the names the repository has.
    """
    return sys.intern(text)


@dataclass(frozen=True)
class Entry:
    """One entry of a tree listing: repository path, file mode and object id (hex)."""

    path: str
    mode: int
    oid: str


class Repository:
    """A repository with a work tree, or bare. Raises SourceError if ``path`` is not one."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            handle = pygit2.Repository(str(self.path))
        except (pygit2.GitError, KeyError) as exc:
            raise SourceError(f"{path}: not a git repository") from exc
        self.git_dir = Path(handle.path)
        self.bare: bool = handle.is_bare
        self.workdir = Path(handle.workdir) if handle.workdir else None
        self._local = threading.local()
        self._local.handle = handle

    @property
    def handle(self) -> pygit2.Repository:
        """This thread's libgit2 handle (opened on first use in a thread)."""
        handle: pygit2.Repository | None = getattr(self._local, "handle", None)
        if handle is None:
            handle = pygit2.Repository(str(self.git_dir))
            self._local.handle = handle
        return handle

    # ------------------------------------------------------------------ refs

    def tip(self, ref: str) -> str | None:
        """Return the commit a full ref (``refs/heads/x``) points at, or None if none."""
        try:
            target = self.handle.references[_name(ref)].resolve().target
        except (KeyError, pygit2.GitError, pygit2.InvalidSpecError):
            return None
        return self._peel_commit(str(target))

    def resolve(self, rev: str) -> str | None:
        """Return the commit a revision names (branch, tag, sha, ``origin/x``), or None."""
        try:
            obj = self.handle.revparse_single(rev)
            commit = obj.peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            return None
        return str(commit.id)

    def refs(self, *prefixes: str) -> dict[str, str]:
        """Return ``{ref: object id}`` of the refs under any of ``prefixes`` (all if none)."""
        out: dict[str, str] = {}
        for name in self.handle.references:
            if prefixes and not name.startswith(prefixes):
                continue
            try:
                out[name] = str(self.handle.references[_name(name)].resolve().target)
            except (KeyError, pygit2.GitError):
                continue
        return out

    def head_branch(self) -> str | None:
        """Return the branch HEAD names (short), or None if HEAD is detached or missing."""
        try:
            ref = self.handle.references["HEAD"]
        except KeyError:
            return None
        target = ref.target
        if isinstance(target, str) and target.startswith("refs/heads/"):
            return target[len("refs/heads/") :]
        return None

    def remotes(self) -> list[str]:
        """Return the names of the configured remotes."""
        return [str(name) for name in self.handle.remotes.names()]

    def remote_url(self, name: str) -> str | None:
        """Return a remote's URL as configured, or None if there is no such remote."""
        try:
            return str(self.handle.remotes[name].url or "") or None
        except (KeyError, ValueError):
            return None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """True if ``ancestor`` is ``descendant`` or reachable from it."""
        if ancestor == descendant:
            return True
        try:
            return bool(
                self.handle.descendant_of(pygit2.Oid(hex=descendant), pygit2.Oid(hex=ancestor))
            )
        except (KeyError, ValueError, pygit2.GitError):
            return False

    @property
    def zero_oid(self) -> str:
        """The all-zero object id of this repository's hash ("must not exist" for a ref)."""
        return "0" * len(str(self.hash_blob(b"", write=False)))

    # ------------------------------------------------------------------ objects

    def _peel_commit(self, oid: str) -> str | None:
        obj = self._lookup(oid)
        if obj is None:
            return None
        try:
            return str(obj.peel(pygit2.Commit).id)
        except (ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            return None

    def _lookup(self, oid: str) -> pygit2.Object | None:
        # libgit2 rescans the object database once on a miss, so objects another process
        # (a fetch) wrote since this handle opened are found.
        try:
            return self.handle[oid]
        except (KeyError, ValueError):
            return None

    def _object(self, rev: str) -> pygit2.Object | None:
        """Return the object an id or a revision (``refs/heads/x``, ``HEAD``) names."""
        if _HEX.fullmatch(rev):
            found = self._lookup(rev)
            if found is not None:
                return found
        commit = self.resolve(rev)
        return None if commit is None else self._lookup(commit)

    def tree_of(self, commit: str, directory: str = "") -> pygit2.Tree | None:
        """Return the tree at ``directory`` of a commit (id or revision), or None if none."""
        obj = self._object(commit)
        if obj is None:
            return None
        try:
            tree = obj.peel(pygit2.Tree)
            if directory.strip("/"):
                sub = tree[_name(directory.strip("/"))]
                if sub.type != pygit2.GIT_OBJECT_TREE:
                    return None
                found = self._lookup(str(sub.id))
                return found if isinstance(found, pygit2.Tree) else None
        except (KeyError, ValueError, pygit2.GitError):
            return None
        return tree

    def tree_id(self, commit: str, directory: str = "") -> str | None:
        """Return the id of the tree at ``directory`` of a commit (None if not a directory)."""
        tree = self.tree_of(commit, directory)
        return None if tree is None else str(tree.id)

    def blob_ids(self, commit: str, paths: Sequence[str]) -> dict[str, str | None]:
        """Return the blob id of each path in a commit (None where it is absent or no blob)."""
        tree = self.tree_of(commit)
        out: dict[str, str | None] = {}
        for path in paths:
            out[path] = None
            if tree is None:
                continue
            try:
                entry = tree[_name(path)]
            except KeyError:
                continue
            if entry.filemode in BLOB_MODES:
                out[path] = str(entry.id)
        return out

    def entries(self, tree: pygit2.Tree, prefix: str = "") -> Iterator[Entry]:
        """Yield every entry below ``tree`` (depth first), with paths under ``prefix``."""
        for item in tree:
            path = f"{prefix}{item.name}"
            yield Entry(path, item.filemode, str(item.id))
            if item.filemode == TREE_MODE:
                sub = self._lookup(str(item.id))
                if isinstance(sub, pygit2.Tree):
                    yield from self.entries(sub, f"{path}/")

    def list_blobs(self, commit: str, directory: str) -> dict[str, str]:
        """Return ``{path: blob id}`` of the files at and below ``directory`` of a commit."""
        directory = directory.strip("/")
        tree = self.tree_of(commit, directory)
        if tree is None:
            return {}
        return {
            e.path: e.oid
            for e in self.entries(tree, f"{directory}/" if directory else "")
            if e.mode in BLOB_MODES
        }

    def names(self, commit: str, directory: str) -> list[str]:
        """Return the names directly inside ``directory`` of a commit (empty if none)."""
        tree = self.tree_of(commit, directory)
        return [] if tree is None else sorted(str(item.name) for item in tree)

    def read_blob(self, oid: str) -> bytes | None:
        """Return a blob's bytes, or None if there is no such blob."""
        obj = self._lookup(oid)
        return bytes(obj.data) if isinstance(obj, pygit2.Blob) else None

    def read_blobs(self, oids: Iterable[str]) -> dict[str, bytes]:
        """Return the bytes of each blob that exists, by id."""
        out: dict[str, bytes] = {}
        for oid in dict.fromkeys(oids):
            data = self.read_blob(oid)
            if data is not None:
                out[oid] = data
        return out

    def read_file(self, commit: str, path: str) -> bytes | None:
        """Return a file's bytes at a commit, or None if it is not there."""
        oid = self.blob_ids(commit, [path]).get(path)
        return None if oid is None else self.read_blob(oid)

    def commit_info(self, commit: str) -> tuple[str, str, int, list[str]]:
        """Return ``(sha, subject, author time, parents)`` of a commit."""
        obj = self._object(commit)
        if not isinstance(obj, pygit2.Commit):
            raise SourceError(f"{commit}: not a commit in {self.path}")
        subject = obj.message.split("\n", 1)[0].strip() if obj.message else ""
        return str(obj.id), subject, int(obj.author.time), [str(p) for p in obj.parent_ids]

    # ------------------------------------------------------------------ writing

    def hash_blob(self, data: bytes, *, write: bool = True) -> str:
        """Return a blob's id for ``data`` (stored as is, no filters), storing it if ``write``."""
        if write:
            return str(self.handle.create_blob(data))
        return str(pygit2.hash(data))

    def commit_files(
        self,
        parent: str | None,
        files: Sequence[tuple[str, str]],
        *,
        message: str,
        author: tuple[str, str],
    ) -> str:
        """Write one commit adding ``files`` (``(path, blob id)``) to ``parent``'s tree.

        ``parent`` None makes an orphan root commit holding only ``files``. The commit is
        written to the object store; no ref moves, no index file or work tree is touched.
        """
        index = pygit2.Index()
        if parent is not None:
            tree = self.tree_of(parent)
            if tree is None:
                raise SourceError(f"{parent}: not a commit in {self.path}")
            index.read_tree(tree)
        for path, oid in files:
            index.add(pygit2.IndexEntry(path, pygit2.Oid(hex=oid), pygit2.enums.FileMode.BLOB))
        tree_id = index.write_tree(self.handle)
        now = int(time.time())
        signature = pygit2.Signature(author[0], author[1], now, 0)
        parents = [pygit2.Oid(hex=parent)] if parent is not None else []
        commit = self.handle.create_commit(None, signature, signature, message, tree_id, parents)
        return str(commit)
