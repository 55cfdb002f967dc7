"""Run ``python -m reconciler ...`` and, on SIGUSR1, write what its memory holds.

Used by the memory benchmark (``BENCH_MEMORY_REPORT=1``, see ``bench_daemon.py``), never by
the daemon itself: ``python -X tracemalloc=<frames> -m tests.bench.memory_report <report>
<reconciler arguments...>``. On SIGUSR1 (handled by the process's main thread) it appends
to ``<report>``:

- the caches the process keeps, found by walking the garbage collector's objects
  (:class:`reconciler.structs.memos.Memo`, :class:`reconciler.source.caches.Table`, the
  ``functools.lru_cache`` functions of our modules): entries and deep size of each (an
  object shared by two caches counts in both);
- with tracemalloc on, the allocations still alive, grouped by line and by traceback.
"""

from __future__ import annotations

import gc
import os
import runpy
import signal
import sys
import threading
import tracemalloc
from collections.abc import Iterable
from types import FrameType, FunctionType, ModuleType
from typing import Any

TOP = 30


def deep_size(root: object, seen: set[int] | None = None) -> int:
    """Return the bytes of ``root`` and everything it reaches (modules, types, code excluded)."""
    seen = set() if seen is None else seen
    total = 0
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (ModuleType, type, FunctionType)):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(_children(obj))
    return total


def _children(obj: Any) -> Iterable[object]:
    if isinstance(obj, (str, bytes, int, float, bool)) or obj is None:
        return ()
    if isinstance(obj, dict):
        return [*obj.keys(), *obj.values()]
    if isinstance(obj, (list, tuple, set, frozenset)):
        return list(obj)
    if isinstance(obj, (threading.Lock().__class__, threading.RLock().__class__)):
        return ()
    out: list[object] = []
    if hasattr(obj, "__dict__"):
        out.append(obj.__dict__)
    for klass in type(obj).__mro__:
        for slot in getattr(klass, "__slots__", ()):
            if isinstance(slot, str) and hasattr(obj, slot):
                out.append(getattr(obj, slot))
    return out


def census() -> list[str]:
    """Return one line per cache the process keeps: kind, entries, deep size."""
    from reconciler.source.caches import Table
    from reconciler.structs.memos import Memo

    lines = []
    for obj in gc.get_objects():
        try:
            if isinstance(obj, Memo):
                data = obj._data
                name = f"Memo(limit={obj.limit}) {_first_key(data)}"
            elif isinstance(obj, Table):
                data = obj._data
                name = f"Table {obj.name}"
            elif callable(obj) and hasattr(obj, "cache_info") and hasattr(obj, "__wrapped__"):
                module = getattr(obj, "__module__", "") or ""
                if not module.startswith("reconciler"):
                    continue
                lines.append(f"lru_cache {module}.{obj.__qualname__}: {obj.cache_info()}")
                continue
            else:
                continue
        except Exception:  # proxies (flask's current_app) refuse isinstance
            continue
        size = deep_size(data)
        lines.append(f"{size / 2**20:9.1f} MiB  {len(data):7,} entries  {name}")
    return sorted(lines, reverse=True)


def _first_key(data: Any) -> str:
    for key in data:
        return repr(key)[:100]
    return ""


def report(path: str) -> None:
    """Append the census and tracemalloc's top allocations to ``path`` (never raises)."""
    try:
        _report(path)
    except Exception as exc:  # a report must not stop the daemon
        with open(path, "a", encoding="utf-8") as out:
            out.write(f"report failed: {exc!r}\n")


def by_type() -> list[str]:
    """Return the types of the objects the garbage collector tracks, by total size."""
    sizes: dict[str, list[int]] = {}
    for obj in gc.get_objects():
        entry = sizes.setdefault(type(obj).__qualname__, [0, 0])
        entry[0] += sys.getsizeof(obj)
        entry[1] += 1
    ordered = sorted(sizes.items(), key=lambda kv: -kv[1][0])
    total = sum(size for size, _ in sizes.values())
    lines = [f"== tracked objects by type: {total / 2**20:.1f} MiB (own sizes)"]
    lines += [f"{s / 2**20:9.1f} MiB  {n:9,}  {name}" for name, (s, n) in ordered[:TOP]]
    return lines


def allocator_stats(path: str) -> None:
    """Append pymalloc's arena statistics (``sys._debugmallocstats``, C stderr) to ``path``."""
    with open(path, "a", encoding="utf-8") as out:
        out.write("== pymalloc\n")
        out.flush()
        saved = os.dup(2)
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _rss() -> str:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
        return f"RSS {fields['VmRSS'].strip()} (peak {fields['VmHWM'].strip()})"
    except (OSError, KeyError):
        return "RSS unknown"


def _report(path: str) -> None:
    before = _rss()
    gc.collect()
    lines = [f"== report: {before} before a collection, {_rss()} after"]
    lines += ["== caches (deep size, entries)", *census(), *by_type()]
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        total = sum(s.size for s in snapshot.statistics("filename"))
        lines.append(f"== tracemalloc: {total / 2**20:.1f} MiB alive; top by line")
        lines += [str(s) for s in snapshot.statistics("lineno")[:TOP]]
        lines.append("== top by traceback")
        for stat in snapshot.statistics("traceback")[:TOP]:
            lines.append(f"-- {stat.size / 2**20:.1f} MiB in {stat.count} blocks")
            lines += [f"   {line}" for line in stat.traceback.format(limit=12)]
    with open(path, "a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    allocator_stats(path)


def main() -> None:
    path, *args = sys.argv[1:]

    def on_signal(signum: int, frame: FrameType | None) -> None:
        report(path)

    signal.signal(signal.SIGUSR1, on_signal)
    sys.argv = ["reconciler", *args]
    runpy.run_module("reconciler", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
