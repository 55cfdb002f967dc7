"""Materialise a commit's files into a directory, refusing symlinks that lead out of it.

Called by :func:`reconciler.source.repos.checkout_tree` for every render of a commit. Files
are written from the object store (libgit2), never through ``git archive`` and ``tarfile``,
so one bad entry cannot fail the whole tree:

- regular and executable files are written as they are;
- a symlink whose target, resolved inside the tree (following the tree's other symlinks),
  stays inside the repository is written as that symlink;
- a symlink that is absolute, climbs above the repository with ``..``, or leads out
  through another symlink, or loops, is *refused*: it is not written at all, so no reader
  can follow it to a file of the host, and it is reported as ``path: message`` in
  :attr:`Tree.refused`; unrelated files are not affected;
- submodules (gitlinks) become empty directories, as in ``git archive``.
"""

from __future__ import annotations

import os
import posixpath
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


def materialise(repo: objects.Repository, commit: str, dest: Path) -> Tree:
    """Write the files of ``commit`` into ``dest`` (created); return the :class:`Tree`.

    Raises SourceError if ``commit`` is not a commit of ``repo``.
    """
    top = repo.tree_of(commit)
    if top is None:
        raise SourceError(f"{commit}: not a commit in {repo.path}")
    dest.mkdir(parents=True, exist_ok=True)
    entries = list(repo.entries(top))
    links = {e.path: e for e in entries if e.mode == objects.LINK_MODE}
    targets = {
        path: (repo.read_blob(e.oid) or b"").decode(errors="surrogateescape")
        for path, e in links.items()
    }
    tree = Tree(dest)
    for entry in entries:
        target_path = dest / entry.path
        if entry.mode == objects.TREE_MODE:
            target_path.mkdir(exist_ok=True)
        elif entry.mode in objects.BLOB_MODES:
            target_path.parent.mkdir(parents=True, exist_ok=True)
            target_path.write_bytes(repo.read_blob(entry.oid) or b"")
            if entry.mode == objects.EXECUTABLE_MODE:
                target_path.chmod(0o755)
        elif entry.mode == objects.LINK_MODE:
            why = refusal(entry.path, targets)
            if why:
                tree.refused[entry.path] = why
                continue
            target_path.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(targets[entry.path], target_path)
        else:  # a submodule: its commit is not in this repository
            target_path.mkdir(parents=True, exist_ok=True)
    return tree


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
