"""Run a child program (Kustomize) bounded: memory, CPU, wall time, output, process group.

Called by :mod:`reconciler.render.kustomize`. One hostile commit must not take the daemon
or its node down, and a reconciler that dies must not leave its children running:

- ``RLIMIT_DATA`` bounds the memory the child maps (Go reserves address space it never
  touches, so ``RLIMIT_AS`` would refuse even a healthy start), ``RLIMIT_CPU`` its CPU
  seconds, ``RLIMIT_FSIZE`` its output (written to a temporary file, never held in a pipe),
  ``RLIMIT_CORE`` is 0; ``GOMEMLIMIT`` makes Go collect garbage before it meets the limit;
- the child leads its own process group (setsid); on timeout, on any exception in the
  caller (KeyboardInterrupt included) the whole group is killed with SIGKILL;
- on Linux the child asks the kernel for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``),
  so ``kill -9`` of the reconciler takes Kustomize with it.

Where util-linux's ``setpriv`` and ``prlimit`` are installed (checked once per process),
the child is started through them (``setpriv --pdeathsig KILL -- prlimit --data=... --
kubectl ...``: each sets its part and execs the next, so the limits and the death signal
hold before Kustomize starts), and Python starts that with ``vfork``. A ``preexec_fn``
forces a real fork of the daemon (hundreds of MiB): its page tables copied and every page
it writes afterwards faulted, about 200 ms of a loaded core per Kustomize run, with the
GIL held meanwhile. One difference remains: a parent killed in the millisecond between
the start and ``setpriv``'s ``prctl`` leaves the child running to its own end (still held
to its CPU and memory limits). Without those tools the limits are applied in the child
between fork and exec (``preexec_fn``); the function there only calls ``setrlimit`` and
``prctl``, which are safe after fork in a threaded parent, and checks that the parent is
still alive once the death signal is set.
Runs started from several threads (Kustomize's chunks) can share a :class:`RunSet`, which
kills all of them at once when one fails or the caller is interrupted.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

PR_SET_PDEATHSIG = 1
MAX_STDERR = 64 * 1024


class ProcessLimits(Protocol):
    """The limits a bounded run needs (``reconciler.render.kustomize.Limits``)."""

    @property
    def memory(self) -> int: ...

    @property
    def cpu(self) -> int: ...

    @property
    def wall(self) -> float: ...

    @property
    def output(self) -> int: ...


@dataclass(frozen=True)
class Result:
    """How a bounded run ended: ``failure`` says which limit stopped it ("" if none did)."""

    returncode: int
    stdout: bytes
    stderr: bytes
    failure: str = ""

    @property
    def out_of_memory(self) -> bool:
        """True if the child died at its memory limit (Go's fatal errors, or a SIGSEGV).

        A Go program refused memory may also fault inside its runtime, which Go reports
        itself (``[signal SIGSEGV: segmentation violation ...]``, or, faulting before its
        signal handling is up, ``SIGSEGV: segmentation violation``; exit status 2).
        """
        return self.returncode == -signal.SIGSEGV or any(m in self.stderr for m in _OUT_OF_MEMORY)


_OUT_OF_MEMORY = (b"out of memory", b"cannot allocate memory", b"SIGSEGV")
"""What a child refused memory writes on its way down (Go's runtime, libc)."""


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn: Callable[..., int] = libc.prctl
    except (OSError, AttributeError):
        return None
    return fn


_PRCTL = _prctl()


@functools.cache
def _wrappers() -> tuple[str, str] | None:
    """Return the paths of ``setpriv`` and ``prlimit`` if both work here, else None.

    Checked once per process by running them as a bounded run would (a ``setpriv`` without
    ``--pdeathsig``, before util-linux 2.33, answers with an error).
    """
    if not sys.platform.startswith("linux"):
        return None
    setpriv, prlimit = shutil.which("setpriv"), shutil.which("prlimit")
    if setpriv is None or prlimit is None:
        return None
    probe = [setpriv, "--pdeathsig", "KILL", "--", prlimit, "--core=0:0", "--", "true"]
    try:
        done = subprocess.run(
            probe, stdin=subprocess.DEVNULL, capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (setpriv, prlimit) if done.returncode == 0 else None


def _wrapped(command: Sequence[str], limits: ProcessLimits) -> list[str] | None:
    """Return ``command`` started through ``setpriv`` and ``prlimit`` (module docstring),
    or None where they are not available."""
    tools = _wrappers()
    if tools is None:
        return None
    setpriv, prlimit = tools
    memory, cpu, output = limits.memory, limits.cpu, limits.output
    return [
        setpriv, "--pdeathsig", "KILL", "--",
        prlimit, f"--data={memory}:{memory}", f"--cpu={cpu}:{cpu + 1}",
        f"--fsize={output}:{output}", "--core=0:0", "--",
        *command,
    ]  # fmt: skip


def _preexec(limits: ProcessLimits, parent: int) -> Callable[[], None]:
    memory, cpu, output = limits.memory, limits.cpu, limits.output

    def setup() -> None:  # runs in the child, after fork, before exec
        if _PRCTL is not None:
            _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # the parent died before prctl took effect
                os._exit(137)
        resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return setup


class RunSet:
    """Bounded runs in flight in several threads, killed together by :meth:`kill`.

    A run started after :meth:`kill` is killed at once (its result says "was cancelled").
    """

    def __init__(self) -> None:
        self._procs: set[subprocess.Popen[Any]] = set()
        self._lock = threading.Lock()
        self.cancelled = False

    def kill(self) -> None:
        """Kill the process group of every run in flight, and of every later one."""
        with self._lock:
            self.cancelled = True
            procs = list(self._procs)
        for proc in procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

    def _add(self, proc: subprocess.Popen[Any]) -> bool:
        with self._lock:
            self._procs.add(proc)
            return not self.cancelled

    def _remove(self, proc: subprocess.Popen[Any]) -> None:
        with self._lock:
            self._procs.discard(proc)


def run_bounded(
    command: Sequence[str], *, limits: ProcessLimits, runs: RunSet | None = None
) -> Result:
    """Run ``command`` under ``limits``; return its exit code and output.

    Never raises for the child's behaviour: a limit that stopped it is named in
    ``Result.failure`` ("did not finish within 60s", "used more than 120 s of CPU",
    "wrote more than 64 MiB of output", "cannot run kubectl: ...", "was cancelled" when
    ``runs`` was killed). The caller's own exceptions kill the child's process group before
    they propagate.
    """
    env = dict(os.environ)
    env["GOMEMLIMIT"] = str(max(limits.memory * 3 // 4, 64 << 20))
    wrapped = _wrapped(command, limits)
    if wrapped is not None and shutil.which(command[0]) is None:
        # The wrapper would start and then fail to exec it: say so as Popen would.
        return Result(-1, b"", b"", f"cannot run {command[0]}: No such file or directory")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                wrapped or list(command),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=env,
                start_new_session=True,
                # limits only (module docstring); None lets Python use vfork
                preexec_fn=None if wrapped else _preexec(limits, os.getpid()),
            )
        except OSError as exc:
            return Result(-1, b"", b"", f"cannot run {command[0]}: {exc.strerror or exc}")
        failure = ""
        try:
            if runs is not None and not runs._add(proc):
                _kill(proc)
            code = _wait(proc, limits.wall)
        except subprocess.TimeoutExpired:
            failure = f"did not finish within {limits.wall:g}s"
            code = _kill(proc)
        except BaseException:
            _kill(proc)
            raise
        finally:
            if runs is not None:
                runs._remove(proc)
        if not failure and runs is not None and runs.cancelled:
            failure = "was cancelled"
        if not failure:
            failure = _limit_hit(code, limits)
        if not failure and out.seek(0, os.SEEK_END) >= limits.output:
            failure = f"wrote more than {limits.output >> 20} MiB of output"
        return Result(code, _read(out, limits.output), _read(err, MAX_STDERR), failure)


def _wait(proc: subprocess.Popen[Any], timeout: float) -> int:
    """Wait for ``proc`` at most ``timeout`` seconds; return its exit code.

    Raises TimeoutExpired when it is still running then. ``Popen.wait`` with a timeout
    polls, sleeping up to 50 ms between polls (25 ms late on average for each Kustomize
    run); a process file descriptor (Linux 5.3+) wakes this at the child's exit, and where
    there is none the polling wait is used.
    """
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        return proc.wait(timeout=timeout)
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    if not ready:
        raise subprocess.TimeoutExpired(proc.args, timeout)
    return proc.wait()


def _kill(proc: subprocess.Popen[Any]) -> int:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait()


def _limit_hit(code: int, limits: ProcessLimits) -> str:
    if code == -signal.SIGXCPU:
        return f"used more than {limits.cpu} s of CPU"
    if code == -signal.SIGKILL:
        return f"was killed (its CPU limit is {limits.cpu} s, its memory limit {limits.memory >> 20} MiB)"
    if code == -signal.SIGXFSZ:
        return f"wrote more than {limits.output >> 20} MiB of output"
    if code < 0:
        return f"was killed by signal {signal.Signals(-code).name}"
    return ""


def _read(handle: Any, limit: int) -> bytes:
    handle.seek(0)
    data: bytes = handle.read(limit + 1)
    return data[:limit]
