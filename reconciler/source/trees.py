"""Materialise a commit's files (or a work tree's) into a directory, refusing symlinks
that lead out of it.

Called by :func:`reconciler.source.repos.checkout_tree` for every render. A commit's files
are written from the object store (libgit2), never through ``git archive`` and ``tarfile``,
so one bad entry cannot fail the whole tree; a work tree's files (tracked and untracked,
not ignored) are copied by :func:`materialise_worktree` under the same rules:

- regular and executable files are written as they are;
- a symlink whose target, resolved inside the tree (following the tree's other symlinks),
  stays inside the repository is written as that symlink;
- a symlink that is absolute, climbs above the repository with ``..``, or leads out
  through another symlink, or loops, is *refused*: it is not written at all, so no reader
  can follow it to a file of the host, and it is reported as ``path: message`` in
  :attr:`Tree.refused`; unrelated files are not affected;
- submodules (gitlinks) become empty directories, as in ``git archive``.

:func:`update` brings a directory written before (by it) to another commit, writing only
the entries whose content differs and removing whatever the directory holds that the commit
does not (files its readers left, files changed since they were written): the result is
exactly what :func:`materialise` writes into an empty directory.

While a materialised tree is in use, :func:`refused_at` tells a reader that finds a path
missing whether it is missing because its symlink (or a parent directory's) was refused,
so the error can say the link leads outside the repository instead of "does not exist".
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.source import objects
from reconciler.structs.errors import SourceError

MAX_LINK_DEPTH = 40
"""Symlinks followed while resolving one path, as the kernel's limit (ELOOP)."""


@dataclass
class Tree:
    """A materialised commit: its root directory and the symlinks that were refused.

    ``refused`` maps a repository path to why its symlink was not written.
    """

    root: Path
    refused: dict[str, str] = field(default_factory=dict)

    def refusal_messages(self) -> list[str]:
        """Return ``path: message`` for every refused symlink, sorted by path."""
        return [f"{path}: {why}" for path, why in sorted(self.refused.items())]

    def forget(self) -> None:
        """Stop answering :func:`refused_at` for this tree (its directory is being removed)."""
        with _LOCK:
            _REFUSED.pop(str(self.root.resolve()), None)


_REFUSED: dict[str, dict[str, str]] = {}
"""The refused symlinks of every materialised tree in use, by its root directory."""
_LOCK = threading.Lock()


def _register(tree: Tree) -> Tree:
    with _LOCK:
        _REFUSED[str(tree.root.resolve())] = dict(tree.refused)
    return tree


def refused_at(root: Path, path: str) -> str:
    """Return why ``path`` of the tree at ``root`` is missing, if a refusal removed it.

    ``path`` is repository-relative; the answer names the refused symlink (``path`` itself
    or a directory above it) and why, or is "" when no refusal explains the absence (or
    ``root`` is not a materialised tree in use).
    """
    with _LOCK:
        refused = _REFUSED.get(str(root.resolve()))
    if not refused:
        return ""
    parts = [p for p in path.split("/") if p and p != "."]
    for end in range(len(parts), 0, -1):
        here = "/".join(parts[:end])
        if here in refused:
            return refused[here] if here == path else f"{here}: {refused[here]}"
    return ""


def materialise(repo: objects.Repository, commit: str, dest: Path) -> Tree:
    """Write the files of ``commit`` into ``dest`` (created); return the :class:`Tree`.

    :func:`update` of a directory nothing was written into. Raises SourceError if
    ``commit`` is not a commit of ``repo``.
    """
    return update(repo, commit, dest, Written())


Signature = tuple[int, int, int, int, int]
"""What :func:`update` recorded of a path it wrote: file type and mode, size, mtime, inode."""


@dataclass
class Written:
    """What :func:`update` wrote into a directory: each path's wanted entry and signature.

    ``entries`` maps a repository path to ``(mode, oid)`` (the commit's entry; a refused
    symlink is absent), ``signatures`` to its ``lstat`` as written (directories: type only).
    Empty for a directory never written, or one whose update failed (then written whole).
    """

    entries: dict[str, tuple[int, str]] = field(default_factory=dict)
    signatures: dict[str, Signature] = field(default_factory=dict)


def update(repo: objects.Repository, commit: str, dest: Path, written: Written) -> Tree:
    """Make ``dest`` hold exactly the files of ``commit``, rewriting only what differs.

    ``written`` says what an earlier call wrote into ``dest`` (it is updated in place). A
    path that is not in the commit, or whose ``lstat`` changed since it was written (a
    reader wrote into the tree), is removed; an entry whose mode or object id changed is
    written again; the rest stays. Symlinks are refused as by :func:`materialise`: their
    refusal depends on the whole tree, so it is decided again for every commit.
    Raises SourceError if ``commit`` is not a commit of ``repo``; on any error ``written``
    is emptied (the next call removes everything and writes the commit whole).
    """
    top = repo.tree_of(commit)
    if top is None:
        raise SourceError(f"{commit}: not a commit in {repo.path}")
    try:
        return _update(repo, list(repo.entries(top)), dest, written)
    except BaseException:
        written.entries.clear()
        written.signatures.clear()
        raise


def _update(
    repo: objects.Repository, entries: list[objects.Entry], dest: Path, written: Written
) -> Tree:
    links = {e.path: e for e in entries if e.mode == objects.LINK_MODE}
    targets = {
        path: (repo.read_blob(e.oid) or b"").decode(errors="surrogateescape")
        for path, e in links.items()
    }
    tree = Tree(dest)
    wanted: dict[str, tuple[int, str]] = {}
    for entry in entries:
        if entry.mode == objects.LINK_MODE:
            why = refusal(entry.path, targets)
            if why:
                tree.refused[entry.path] = why
                continue
        # A directory stays when what it holds changes (its entries are compared one by one).
        wanted[entry.path] = (entry.mode, "" if entry.mode == objects.TREE_MODE else entry.oid)
    dest.mkdir(parents=True, exist_ok=True)
    present = _scan(dest)
    stale: list[str] = []
    gone: set[str] = set()
    for path in sorted(present, key=lambda p: (p.count("/"), p)):  # parents first
        parent = path.rpartition("/")[0]
        if (
            parent in gone
            or written.signatures.get(path) != present[path]
            or written.entries.get(path) != wanted.get(path)
        ):
            stale.append(path)
            gone.add(path)
    for path in sorted(stale, key=lambda p: (-p.count("/"), p)):  # deepest first
        _remove(dest / path)
    for path in stale:
        written.entries.pop(path, None)
        written.signatures.pop(path, None)
    for path in [p for p in written.entries if p not in present]:
        written.entries.pop(path, None)
        written.signatures.pop(path, None)
    for entry in entries:  # depth first: a directory before what it holds
        if entry.path not in wanted or entry.path in written.entries:
            continue
        target_path = dest / entry.path
        if entry.mode in objects.BLOB_MODES:
            _write_blob(repo, entry, target_path)
        elif entry.mode == objects.LINK_MODE:
            target_path.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(targets[entry.path], target_path)
        else:  # a directory, or a submodule (an empty directory)
            target_path.mkdir(parents=True, exist_ok=True)
        written.entries[entry.path] = wanted[entry.path]
        written.signatures[entry.path] = _signature(os.lstat(target_path))
    return _register(tree)


def _signature(st: os.stat_result) -> Signature:
    if stat.S_ISDIR(st.st_mode):
        return (stat.S_IFDIR, 0, 0, 0, 0)
    return (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino, st.st_nlink)


def _scan(root: Path) -> dict[str, Signature]:
    """Return the signature of every path below ``root`` (symlinks not followed)."""
    found: dict[str, Signature] = {}
    pending = [("", str(root))]
    while pending:
        prefix, directory = pending.pop()
        with os.scandir(directory) as listing:
            for item in listing:
                path = f"{prefix}{item.name}"
                found[path] = _signature(item.stat(follow_symlinks=False))
                if item.is_dir(follow_symlinks=False):
                    pending.append((f"{path}/", item.path))
    return found


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def materialise_worktree(root: Path, paths: Iterable[str], dest: Path) -> Tree:
    """Copy the files ``paths`` of the work tree at ``root`` into ``dest``; return the Tree.

    ``paths`` are repository-relative (tracked and untracked files, as ``git ls-files``
    lists them); one listed but deleted from the work tree is skipped, a directory (a
    submodule) becomes an empty directory. Symlinks follow the rules of the module
    docstring: one that leads out of the repository is not written, it is refused.
    """
    dest.mkdir(parents=True, exist_ok=True)
    links: dict[str, str] = {}
    tree = Tree(dest)
    for path in dict.fromkeys(paths):
        source, target_path = root / path, dest / path
        try:
            mode = os.lstat(source).st_mode
        except OSError:
            continue
        if stat.S_ISLNK(mode):
            links[path] = os.readlink(source)
        elif stat.S_ISDIR(mode):
            target_path.mkdir(parents=True, exist_ok=True)
        elif stat.S_ISREG(mode):
            target_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target_path)
            if mode & stat.S_IXUSR:
                target_path.chmod(0o755)
    for path in links:
        why = refusal(path, links)
        if why:
            tree.refused[path] = why
            continue
        (dest / path).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(links[path], dest / path)
    return _register(tree)


def refusal(path: str, links: dict[str, str]) -> str:
    """Return why the symlink at ``path`` must not be written ("" if it stays inside).

    ``links`` maps every symlink of the tree to its target. The target is resolved the way
    the kernel would, component by component from the link's directory, following the
    tree's other symlinks, without ever looking at the host's file system.
    """
    target = links[path]
    if target.startswith("/"):
        return f"symbolic link to {target!r} is absolute: refused (it leads outside the repository)"
    resolved = _resolve(posixpath.dirname(path), target, links, depth=1)
    if resolved is None:
        return f"symbolic link to {target!r} leads outside the repository: refused"
    if resolved == "":
        return f"symbolic link to {target!r} loops (more than {MAX_LINK_DEPTH} levels): refused"
    return ""


def _resolve(base: str, target: str, links: dict[str, str], *, depth: int) -> str | None:
    """Resolve ``target`` relative to directory ``base``, inside the tree.

    Returns the repository path it names ("." for the top), None if it leads outside, or
    "" if it loops.
    """
    if depth > MAX_LINK_DEPTH:
        return ""
    if target.startswith("/"):
        return None
    parts: list[str] = [p for p in base.split("/") if p and p != "."]
    for name in target.split("/"):
        if name in ("", "."):
            continue
        if name == "..":
            if not parts:
                return None
            parts.pop()
            continue
        parts.append(name)
        here = "/".join(parts)
        if here in links:
            resolved = _resolve("/".join(parts[:-1]), links[here], links, depth=depth + 1)
            if resolved is None or resolved == "":
                return resolved
            parts = [p for p in resolved.split("/") if p and p != "."]
    return "/".join(parts) or "."


def _write_blob(repo: objects.Repository, entry: objects.Entry, target_path: Path) -> None:
    """Write a file entry's blob at ``target_path`` (its directory made), executable if so."""
    target_path.parent.mkdir(parents=True, exist_ok=True)
    target_path.write_bytes(repo.read_blob(entry.oid) or b"")
    if entry.mode == objects.EXECUTABLE_MODE:
        target_path.chmod(0o755)
