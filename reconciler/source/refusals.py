"""Errors that name a symlink left out of a checked-out tree, explained.

A tree checked out by :func:`reconciler.source.repos.checkout_tree` leaves out every
symlink that leads outside the repository (:mod:`.trees`); Kustomize or a reader then
says only that the file does not exist. :func:`explaining` (around the body of a
checkout) re-raises such an error with why the link was refused; commands that collect
errors rather than raise them (``validate``, ``review``) pass them through
:func:`explain_errors` and :func:`explain_message` while the tree is checked out.

Callers: :mod:`reconciler.source.repos`, the ``validate`` command, review reports.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from reconciler.source import git as gitcmd
from reconciler.source import trees
from reconciler.structs.errors import ReconcilerError, SpecError, SpecErrors

_CHECKED_OUT: dict[Path, trees.Tree] = {}
"""The trees this process has checked out now, by root (for :func:`explain_errors`)."""


def explain_errors(root: Path, errors: Sequence[SpecError]) -> list[SpecError]:
    """Return ``errors`` found in the tree checked out at ``root`` with every refused
    symlink they name explained (the body of :func:`reconciler.source.repos.checkout_tree` only).

    For callers that collect errors rather than raise them (``validate``, ``review``):
    Kustomize, reading a tree a refused symlink was left out of, says only that the file
    does not exist. Errors of any other directory are returned as they are.
    """
    tree = _CHECKED_OUT.get(root)
    if tree is None:
        return list(errors)
    return _explained_errors(errors, tree)


def explain_message(root: Path, message: str) -> str:
    """Return an error message of the tree checked out at ``root`` with the refused
    symlinks it names explained first (see :func:`explain_errors`)."""
    tree = _CHECKED_OUT.get(root)
    return message if tree is None else _explained(message, tree)


@contextlib.contextmanager
def explaining(tree: trees.Tree) -> Iterator[None]:
    """Re-raise an error that names a refused symlink of ``tree`` with why it was refused;
    :func:`explain_errors` explains what the body collects meanwhile."""
    _CHECKED_OUT[tree.root] = tree
    try:
        yield
    except SpecErrors as exc:
        raise SpecErrors(_explained_errors(exc.errors, tree)) from exc
    except ReconcilerError as exc:
        explained = _explained(str(exc), tree)
        if explained == str(exc):
            raise
        try:
            clearer = type(exc)(explained)
        except TypeError:  # an error type that needs more than a message
            raise exc from None
        raise clearer from exc
    finally:
        _CHECKED_OUT.pop(tree.root, None)


def _mentioned(text: str, tree: trees.Tree) -> list[str]:
    """Return the refused symlinks that an error message names."""
    return [path for path in sorted(tree.refused) if path in text]


def _explained(text: str, tree: trees.Tree) -> str:
    """Return an error message with the refused symlinks it names explained first."""
    paths = _mentioned(text, tree)
    if not paths:
        return text
    reasons = "; ".join(f"{p}: {tree.refused[p]}" for p in paths)
    return f"{reasons} ({gitcmd.redact(text.replace(str(tree.root) + '/', ''))})"


def _explained_errors(errors: Sequence[SpecError], tree: trees.Tree) -> list[SpecError]:
    """Return ``errors`` in their order, each that names a refused symlink explained."""
    out: list[SpecError] = []
    for err in errors:
        paths = _mentioned(f"{err.path} {err.message}", tree)
        if paths:
            why = "; ".join(f"{p}: {tree.refused[p]}" for p in paths if p != err.path)
            message = tree.refused.get(err.path) or why
            err = SpecError(err.path, err.line, err.column, err.field, message)
        out.append(err)
    return out
