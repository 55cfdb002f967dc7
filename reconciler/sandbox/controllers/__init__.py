"""Simulated workload controllers (kwok-like), one module per kind, over any API server.

Nothing runs: each controller moves its objects' status (and, for Jobs and PyTorchJobs,
the pods that carry termination messages) the way the real controller would, after a
configurable step delay. Modules:

- :mod:`.jobs` (batch/v1 Job), :mod:`.pytorchjobs` (kubeflow.org/v1 PyTorchJob),
  :mod:`.trainjobs` (Kubeflow Trainer's TrainJob),
  :mod:`.deployments` (apps/v1 Deployment), :mod:`.inferenceservices` (KServe);
- :mod:`.kubelet`: the node ``sandbox-node``, pods Running then terminated, graceful
  pod deletion completed;
- :mod:`.outcomes`: programmed outcomes (annotations, the ``kube-system/sandbox-outcomes``
  ConfigMap); :mod:`.events`: core/v1 Events;
- :mod:`.ports`: the seam (:class:`~.ports.Port`), in-process over the sandbox's store
  (:class:`~.ports.InProcessPort`) or over HTTP against any API server
  (:class:`~.remote.RemotePort`, ``python -m reconciler.sandbox.simulate``);
- :mod:`.runtime`: step delay and per-object clocks; :mod:`.resources`: the kinds.

Callers: :class:`reconciler.sandbox.Sandbox` (in-process) and
:mod:`reconciler.sandbox.simulate` (a separate process against a real API server).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from reconciler.sandbox.controllers import (
    deployments,
    inferenceservices,
    jobs,
    kubelet,
    pytorchjobs,
    trainjobs,
)
from reconciler.sandbox.controllers.ports import Port
from reconciler.sandbox.controllers.resources import (
    DEPLOYMENTS,
    INFERENCESERVICES,
    JOBS,
    PYTORCHJOBS,
    TRAINJOBS,
    Resource,
)
from reconciler.sandbox.controllers.runtime import Runtime

log = logging.getLogger(__name__)
Obj = dict[str, Any]

CONTROLLERS: tuple[
    tuple[Resource, Callable[[Runtime, Obj], None], Callable[[Obj], bool] | None], ...
] = (
    (JOBS, jobs.step, jobs.at_rest),
    (PYTORCHJOBS, pytorchjobs.step, None),
    (TRAINJOBS, trainjobs.step, None),
    (DEPLOYMENTS, deployments.step, deployments.at_rest),
    (INFERENCESERVICES, inferenceservices.step, None),
)
"""Each simulated kind, the function that advances one object of it, and (where there is
one) the test for an object with nothing due until it is written again."""


class Controllers:
    """The simulated controllers in one background thread, woken by changes or a tick."""

    def __init__(self, port: Port, step_delay: float = 2.0, interval: float | None = None) -> None:
        self.port = port
        self.runtime = Runtime(port, step_delay)
        self.interval = interval if interval is not None else max(0.02, min(0.25, step_delay / 5))
        self._node = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._resting: dict[str, str] = {}  # uid -> resourceVersion found at rest
        self.looked_at = 0
        """Objects the passes so far advanced or found at rest (not those passed over)."""
        self.passes = 0
        """Passes run so far (none while every object is at rest and nothing is written)."""

    @property
    def step_delay(self) -> float:
        """Seconds a step takes unless its outcome says otherwise."""
        return self.runtime.step_delay

    def wake(self, *_: Any) -> None:
        """Run a pass soon (called on every change the port sees)."""
        self._wake.set()

    def start(self) -> None:
        """Start the controller thread (idempotent)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="sandbox-controllers", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the controller thread and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        due = True  # whether the last pass left something to advance with time
        while not self._stop.is_set():
            woken = self._wake.wait(timeout=self.interval)
            if self._stop.is_set():
                return
            if woken:
                # Cleared only when it was seen set: a write that sets it after a wait
                # timed out is not lost (the next wait returns at once), and one that sets
                # it now, before the pass, is in what the pass scans.
                self._wake.clear()
            elif not due:
                continue  # nothing written since a pass that found every object at rest
            try:
                due = self.run_once()
            except Exception:
                log.exception("sandbox: controller pass failed")
                due = True
            self._stop.wait(self.interval)

    def run_once(self) -> bool:
        """Advance every simulated object one step if it is due; True if any may be due
        later without a write (an object advanced, not at rest).

        An object found at rest (a finished Job, a rolled-out Deployment: nothing is due
        until it is written) is passed over while its resourceVersion stays the same: an
        idle sandbox of thousands of them otherwise spent a core looking at each of them
        every tick. Any write (a new resourceVersion) makes it looked at again. When a pass
        finds every object at rest, no pass runs until something is written (a sandbox of
        10,000 settled pipelines, 80,000 objects, walked them all every tick: a core).
        """
        if not self._node:
            self._node = kubelet.register_node(self.port)
        self.passes += 1
        self.runtime.new_pass()
        uids: list[str] = []
        resting = self._resting
        due = not self._node  # the node not registered yet: try again
        for res, step, at_rest in CONTROLLERS:
            if not self.port.served(res):
                continue
            for obj in self.port.scan(res):
                meta = obj["metadata"]
                uid = meta.get("uid", "")
                uids.append(uid)
                version = meta.get("resourceVersion")
                if version and resting.get(uid) == version:
                    continue
                self.looked_at += 1
                if at_rest is not None and version and at_rest(obj):
                    resting[uid] = version
                    continue
                resting.pop(uid, None)
                step(self.runtime, obj)
                due = True
        kubelet.finalize_deleting(self.port)
        live = set(uids)  # the clocks and the objects at rest of those gone are dropped
        self.runtime.forget_except(live)
        for uid in [u for u in resting if u not in live]:
            del resting[uid]
        return due
