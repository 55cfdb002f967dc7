"""Give memory freed by a reconcile back to the operating system.

Used by :mod:`reconciler.daemon.workqueues` after a reconcile that leaves no other running (a
trim holds the heaps' locks and takes ~0.6 s of CPU at 1 GB: not while others allocate). What it keeps
is small (the caches of prepared commits and content: tens of MiB at 1,000 pipelines);
what it allocates while it runs (the live objects listed, the objects rendered, the
change set) is freed when it ends, but an allocator keeps freed memory for reuse: glibc's
``malloc`` hands pages back only from the top of its heaps unless ``malloc_trim`` asks it
to release every free page. Python's own small-object allocator (pymalloc) returns a 1 MiB
arena only once every block in it is free, so long-lived objects allocated while three
environments reconcile at once pin the arenas of that peak; the daemon therefore runs with
``PYTHONMALLOC=malloc`` (see :func:`use_system_allocator`), where a trim releases them.

Nothing here changes what the daemon keeps or computes; without glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
import threading

ENV = "PYTHONMALLOC"
SYSTEM = "malloc"

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


def use_system_allocator() -> None:
    """Run this process again with ``PYTHONMALLOC=malloc``, unless it runs so already.

    Called first thing by ``reconciler run`` (before any thread starts): the process
    replaces itself (``exec``, same PID, same arguments), so that the daemon's objects live
    in glibc's heap, where :func:`release_free_memory` can give freed pages back. Nothing
    happens when ``PYTHONMALLOC`` is set (to anything: the operator's choice stands),
    without glibc, or when the process is not the reconciler's own command line (``run``
    invoked in-process, as tests do).
    """
    if os.environ.get(ENV) or _malloc_trim() is None:
        return
    argv = list(getattr(sys, "orig_argv", ()))
    entry = os.path.basename(sys.argv[0]) if sys.argv else ""
    if not argv or entry not in ("reconciler", "__main__.py") or "run" not in sys.argv[1:]:
        return
    os.environ[ENV] = SYSTEM
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)
