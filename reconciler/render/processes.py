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

The limits are applied in the child between fork and exec (``preexec_fn``); the function
there only calls ``setrlimit`` and ``prctl``, which are safe after fork in a threaded parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import subprocess
import sys
import tempfile
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
        itself (``[signal SIGSEGV: segmentation violation ...]``, exit status 2).
        """
        return self.returncode == -signal.SIGSEGV or any(m in self.stderr for m in _OUT_OF_MEMORY)


_OUT_OF_MEMORY = (b"out of memory", b"cannot allocate memory", b"signal SIGSEGV")
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


def run_bounded(command: Sequence[str], *, limits: ProcessLimits) -> Result:
    """Run ``command`` under ``limits``; return its exit code and output.

    Never raises for the child's behaviour: a limit that stopped it is named in
    ``Result.failure`` ("did not finish within 60s", "used more than 120 s of CPU",
    "wrote more than 64 MiB of output", "cannot run kubectl: ..."). The caller's own
    exceptions kill the child's process group before they propagate.
    """
    env = dict(os.environ)
    env["GOMEMLIMIT"] = str(max(limits.memory * 3 // 4, 64 << 20))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=env,
                start_new_session=True,
                preexec_fn=_preexec(limits, os.getpid()),  # limits only (module docstring)
            )
        except OSError as exc:
            return Result(-1, b"", b"", f"cannot run {command[0]}: {exc.strerror or exc}")
        failure = ""
        try:
            code = proc.wait(timeout=limits.wall)
        except subprocess.TimeoutExpired:
            failure = f"did not finish within {limits.wall:g}s"
            code = _kill(proc)
        except BaseException:
            _kill(proc)
            raise
        if not failure:
            failure = _limit_hit(code, limits)
        if not failure and out.seek(0, os.SEEK_END) >= limits.output:
            failure = f"wrote more than {limits.output >> 20} MiB of output"
        return Result(code, _read(out, limits.output), _read(err, MAX_STDERR), failure)


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
