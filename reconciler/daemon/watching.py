"""Watch a local repository's refs with watchdog: a commit or a push to it triggers a fetch.

Used by :mod:`reconciler.daemon.loop` when ``--repo`` is a local path. Only the files that
change when a ref moves are watched: ``HEAD``, ``packed-refs``, ``FETCH_HEAD`` and
``ORIG_HEAD`` in the git directory (non-recursively, so writes to ``objects/`` and the
index cost nothing), and ``refs/`` recursively. Git writes ``refs/heads/main.lock`` and
renames it over ``refs/heads/main``; lock files themselves are ignored and the rename is
the event. Works for a working tree, a bare repository and a linked worktree (whose refs
live in the common directory).

Bursts (a push updating many refs) are coalesced: the callback runs once, ``debounce``
seconds after the first event of a burst. If inotify is not available (watch limits),
a polling observer is used instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from reconciler.source import git as gitcmd
from reconciler.structs.errors import SourceError

log = logging.getLogger(__name__)

TOP_LEVEL_FILES = frozenset({"HEAD", "packed-refs", "FETCH_HEAD", "ORIG_HEAD"})
DEBOUNCE = 0.05
"""Seconds from the first event of a burst to the callback: git writes a commit's or a
push's refs within a few milliseconds (one callback per commit with 0.05 s), and every
push waits this long before its fetch (it was 0.1 s)."""


def git_dirs(repo: Path) -> tuple[Path, Path]:
    """Return ``(git_dir, common_dir)`` of a repository (the same path unless a worktree).

    Raises :class:`SourceError` if ``repo`` does not exist or is not a Git repository.
    """
    if not repo.is_dir():
        raise SourceError(f"{repo}: no such repository")
    try:
        out = gitcmd.output(["rev-parse", "--absolute-git-dir", "--git-common-dir"], repo=repo)
    except gitcmd.GitError as exc:
        raise SourceError(f"{repo}: not a git repository: {exc.stderr}") from exc
    git_dir_text, common_text = out.splitlines()[:2]
    git_dir = Path(git_dir_text)
    common = Path(common_text)
    if not common.is_absolute():
        common = (repo / common).resolve()
    return git_dir, common


def is_ref_path(path: str, git_dir: Path, common_dir: Path) -> bool:
    """Return True if ``path`` is a file whose change means a ref moved."""
    if path.endswith(".lock"):
        return False
    p = Path(path)
    for base in {git_dir, common_dir}:
        try:
            rel = p.relative_to(base)
        except ValueError:
            continue
        parts = rel.parts
        if (len(parts) == 1 and parts[0] in TOP_LEVEL_FILES) or (parts and parts[0] == "refs"):
            return True
    return False


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: RefsWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("opened", "closed_no_write"):
            return
        path = getattr(event, "dest_path", "") or event.src_path
        paths = {str(path), str(event.src_path)}
        w = self.watcher
        if any(is_ref_path(p, w.git_dir, w.common_dir) for p in paths):
            w.notify()


class RefsWatcher:
    """Call ``on_change`` soon after any ref of a local repository moves."""

    def __init__(
        self, repo: Path, on_change: Callable[[], None], *, debounce: float = DEBOUNCE
    ) -> None:
        self.repo = repo
        self.on_change = on_change
        self.debounce = debounce
        self.git_dir, self.common_dir = git_dirs(repo)
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._observer: BaseObserver | None = None

    def start(self) -> None:
        """Start watching (inotify where available, else polling every half second)."""
        try:
            self._observer = self._schedule(Observer())
            self._observer.start()
        except OSError as exc:
            log.warning("inotify unavailable (%s); polling the refs instead", exc)
            self._observer = self._schedule(PollingObserver(timeout=0.5))
            self._observer.start()
        log.info("watching the refs of %s", self.repo)

    def _schedule(self, observer: BaseObserver) -> BaseObserver:
        handler = _Handler(self)
        observer.schedule(handler, str(self.git_dir), recursive=False)
        if self.common_dir != self.git_dir:
            observer.schedule(handler, str(self.common_dir), recursive=False)
        refs = self.common_dir / "refs"
        refs.mkdir(exist_ok=True)
        observer.schedule(handler, str(refs), recursive=True)
        return observer

    def notify(self) -> None:
        """Schedule the callback ``debounce`` seconds from now unless one is pending."""
        with self._lock:
            if self._timer is not None:
                return
            self._timer = threading.Timer(self.debounce, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
        try:
            self.on_change()
        except Exception:
            log.exception("refs change callback raised")

    def stop(self) -> None:
        """Stop watching; a pending callback is cancelled."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=2)
