"""The simulated KServe controller for InferenceServices (serving.kserve.io/v1beta1).

After the delay: ``status.url`` ``http://<name>.<namespace>.example.com``,
``address.url``, ``components.predictor``, ``modelStatus``, conditions IngressReady,
PredictorReady and Ready True, ``observedGeneration``. A programmed Failed outcome
(:mod:`.outcomes`) makes those conditions False (reason Failed) with the message.

Callers: :class:`~reconciler.sandbox.controllers.Controllers`.
"""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.controllers.outcomes import outcome_for
from reconciler.sandbox.controllers.resources import INFERENCESERVICES
from reconciler.sandbox.controllers.runtime import Runtime, clone

Obj = dict[str, Any]


def step(rt: Runtime, obj: Obj) -> None:
    """Advance one InferenceService if something is due."""
    meta = obj["metadata"]
    if meta.get("deletionTimestamp"):
        return
    status = obj.get("status") or {}
    gen = int(meta.get("generation") or 1)
    if status.get("observedGeneration") == gen and any(
        c.get("type") == "Ready" for c in status.get("conditions") or []
    ):
        return
    outcome = outcome_for(rt.port, obj)
    delay = outcome.delay if outcome.delay is not None else rt.step_delay
    if rt.elapsed(obj, f"{meta.get('uid', '')}/{gen}") < delay:
        return
    now = rt.port.now()
    name, ns = meta["name"], meta.get("namespace", "")
    failure = (
        {}
        if not outcome.failed
        else {
            "reason": "Failed",
            "message": outcome.message or "predictor failed",
        }
    )
    st: Obj = {
        "observedGeneration": gen,
        "conditions": [
            {
                "type": t,
                "status": "False" if outcome.failed else "True",
                "lastTransitionTime": now,
                **failure,
            }
            for t in ("IngressReady", "PredictorReady", "Ready")
        ],
    }
    if not outcome.failed:
        st["url"] = f"http://{name}.{ns}.example.com"
        st["address"] = {"url": f"http://{name}-predictor.{ns}.svc.cluster.local"}
        st["components"] = {
            "predictor": {
                "latestReadyRevision": f"{name}-predictor-00001",
                "url": f"http://{name}-predictor.{ns}.example.com",
            }
        }
        st["modelStatus"] = {
            "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
            "transitionStatus": "UpToDate",
        }
    new = clone(obj)
    new["status"] = st
    rt.port.write_status(INFERENCESERVICES, obj, new, manager="kserve-controller")
