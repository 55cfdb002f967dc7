"""Give memory freed by a reconcile back to the operating system.

Used by :mod:`reconciler.daemon.workqueues` after a reconcile that leaves no other running (a
trim holds the heaps' locks and takes ~0.6 s of CPU at 1 GB: not while others allocate). What
the daemon keeps is small (the caches of prepared commits and content: tens of MiB at 1,000
pipelines); what a reconcile allocates while it runs (response bodies, the live objects
listed, the objects rendered, the change set) is freed when it ends. Python's small-object
allocator (pymalloc) keeps its arenas for reuse; blocks over 512 bytes (bodies, large
dicts and lists, strings) come from glibc's ``malloc``, which hands pages back only from
the top of its heaps unless ``malloc_trim`` asks it to release every free page.

The daemon stays on pymalloc: ``PYTHONMALLOC=malloc`` (every object in glibc's heaps, so a
trim releases more once reconciled) cost ~27% more CPU on a first reconcile and a higher
peak (1.9 GB against 1.4 GB at 10,000 pipelines x 3 environments); the peak is bounded by
full passes taking turns (:mod:`reconciler.engine.precedence`). An operator may still set
``PYTHONMALLOC``; nothing here reads it. Without glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
import threading

_lock = threading.Lock()


@functools.cache
def _malloc_trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    """Return glibc's ``malloc_trim``, or None where there is none (musl, macOS)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory() -> bool:
    """Ask the C allocator to give every free page back (True if it released some).

    One call at a time (several workers end reconciles together; one trim serves all):
    a call while another runs returns False at once. ctypes releases the GIL during the
    call, so other threads keep running.
    """
    trim = _malloc_trim()
    if trim is None or not _lock.acquire(blocking=False):
        return False
    try:
        return bool(trim(0))
    finally:
        _lock.release()
