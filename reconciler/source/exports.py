"""Directories that hold a commit's export, reused by the next export (of this process or,
kept in the state directory, of the next one).

Called by :func:`reconciler.source.repos.checkout_tree`. An export takes a free directory
(or a new one), which :func:`~reconciler.source.trees.update` brings to the commit by
writing only the files that differ from what it held, as its :class:`~trees.Written` says
(a push changes few files; writing 1,000 pipeline files took ~0.5 s per environment). A
directory is used by one export at a time, never shared while in use (Kustomize and DVC
read it; DVC may write into it).

Two homes:

- by default, temporary directories of this process: at most ``keep`` free ones are kept,
  the others, one whose update failed, and all of them at exit are removed;
- after :meth:`Exports.keep_in` (the one-shot commands and the daemon, with the state
  directory's ``trees/``), *slots* that outlive the process: ``slot-*/tree`` is the export,
  ``slot-*/lock`` is held (``flock``) by the process using or keeping the slot, and
  ``slot-*/written.json`` is the slot's ``Written``, saved when an export gives the slot
  back and removed when one takes it. A process that dies while it uses a slot leaves no
  ``written.json``: the next one removes whatever the tree holds and writes it whole. A
  slot locked by another process is never used; a new slot is made instead. Slots are
  never removed (their lock files would race), only their trees: there are as many as
  exports ever ran at once.

Either way the result is exactly a fresh export: what a reader or anyone else changed in
the tree since it was written has another ``lstat`` signature and is written again.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import shutil
import tempfile
import threading
from pathlib import Path

from reconciler.source import statedir, trees

FORMAT = 1
"""The version of ``written.json``; a file of another version is ignored (tree rewritten)."""


class Exports:
    """Free export directories and their ``Written``; see the module docstring."""

    keep = 4

    def __init__(self) -> None:
        self._free: list[tuple[Path, trees.Written]] = []
        self._lock = threading.Lock()
        self._base: Path | None = None
        self._kept: Path | None = None
        self._held: dict[Path, int] = {}
        """Lock file descriptors of the slots this process uses or keeps, by tree root."""

    def keep_in(self, directory: Path) -> None:
        """Keep exports in ``directory`` (slots shared with later processes) from now on.

        Directories this process already exported into stay temporary.
        """
        with self._lock:
            self._kept = directory

    def take(self) -> tuple[Path, trees.Written]:
        """Return a free directory and what it holds, or a new empty one."""
        with self._lock:
            if self._free:
                root, written = self._free.pop()
                if root in self._held:
                    _unlink(_written_file(root))
                return root, written
            kept = self._kept
        if kept is not None:
            claimed = self._claim(kept)
            if claimed is not None:
                return claimed
        return self.take_new()

    def take_new(self) -> tuple[Path, trees.Written]:
        """Return a new empty directory (a new slot, once exports are kept)."""
        with self._lock:
            kept = self._kept
        if kept is not None:
            slot: Path | None = None
            try:
                kept.mkdir(mode=0o700, parents=True, exist_ok=True)
                slot = Path(tempfile.mkdtemp(dir=kept, prefix="slot-"))
                fd = _try_lock(slot)
            except OSError:  # no place there, or no locks (some network file systems)
                if slot is not None:  # nobody can lock it either: nobody uses it
                    shutil.rmtree(slot, ignore_errors=True)
                with self._lock:
                    self._kept = None  # temporary directories from now on
            else:
                if fd is not None:  # else another process found it first: it is theirs
                    root = slot / "tree"
                    with self._lock:
                        self._held[root] = fd
                    return root, trees.Written()
        with self._lock:
            if self._base is None:
                self._base = Path(tempfile.mkdtemp(prefix="reconciler-trees-"))
                atexit.register(shutil.rmtree, self._base, True)
            return Path(tempfile.mkdtemp(dir=self._base)) / "tree", trees.Written()

    def give_back(self, root: Path, written: trees.Written) -> None:
        """Return a directory once its export is no longer read (``written``: what it holds).

        An empty ``written`` (the update failed) means the tree is not known: it is removed.
        """
        with self._lock:
            fd = self._held.get(root)
        if fd is not None:  # a slot: what it holds is saved for the next process
            if written.entries:
                with contextlib.suppress(OSError):
                    _save(_written_file(root), written)
            else:
                shutil.rmtree(root, ignore_errors=True)
        with self._lock:
            if written.entries and len(self._free) < self.keep:
                self._free.append((root, written))
                return
            if fd is not None:
                del self._held[root]
        if fd is not None:
            os.close(fd)  # the slot is free for other processes
        else:
            shutil.rmtree(root.parent, ignore_errors=True)

    def _claim(self, kept: Path) -> tuple[Path, trees.Written] | None:
        """Lock a slot of ``kept`` no process holds and return its tree and ``Written``."""
        try:
            slots = sorted(p for p in kept.iterdir() if p.name.startswith("slot-"))
        except OSError:
            return None
        for slot in slots:
            try:
                fd = _try_lock(slot)
            except OSError:
                continue
            if fd is None:
                continue
            root = slot / "tree"
            written = _load(_written_file(root))
            _unlink(_written_file(root))  # in use: a crash must not leave it claiming the tree
            with self._lock:
                self._held[root] = fd
            return root, written
        return None


def _written_file(root: Path) -> Path:
    return root.parent / "written.json"


def _try_lock(slot: Path) -> int | None:
    """Return the descriptor of ``slot``'s lock file, locked by us, or None if it is held.

    Raises OSError when the file cannot be opened or the file system has no locks.
    """
    fd = os.open(slot / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:
        os.close(fd)
        raise
    return fd


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _save(path: Path, written: trees.Written) -> None:
    """Write ``written`` to ``path`` atomically (a temporary file renamed)."""
    statedir.write_json(
        path, {"format": FORMAT, "entries": written.entries, "signatures": written.signatures}
    )


def _load(path: Path) -> trees.Written:
    """Return the ``Written`` saved at ``path``; empty if missing, unreadable or malformed."""
    data = statedir.read_json(path, FORMAT)
    if data is None:
        return trees.Written()
    entries, signatures = data.get("entries"), data.get("signatures")
    if not isinstance(entries, dict) or not isinstance(signatures, dict):
        return trees.Written()
    out = trees.Written()
    try:
        for path_, (mode, oid) in entries.items():
            if not isinstance(mode, int) or not isinstance(oid, str):
                return trees.Written()
            out.entries[path_] = (mode, oid)
        for path_, signature in signatures.items():
            if len(signature) != 5 or not all(isinstance(n, int) for n in signature):
                return trees.Written()
            a, b, c, d, e = signature
            out.signatures[path_] = (a, b, c, d, e)
    except (TypeError, ValueError):
        return trees.Written()
    return out
