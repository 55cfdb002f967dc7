"""batch/v1 Job: the pod template's rules, immutable fields, and status transitions.

Spec (``ValidateJob``/``ValidateJobUpdate``): containers (with their resources),
``restartPolicy`` OnFailure or Never (required: kube-apiserver 1.37 does not default it
for Jobs), counts not negative, ``completionMode`` NonIndexed or Indexed, a selector that
selects the template; ``template``, ``selector``, ``completions`` and ``completionMode``
immutable. Status (``ValidateJobUpdateStatus``, as the Job controller must respect it):
counts not negative and ``succeeded``/``failed`` never decreasing, a finished Job has no
active pods and a ``startTime``, Complete needs ``completionTime`` and SuccessCriteriaMet,
Failed needs FailureTarget, terminal conditions cannot be taken back, ``completionTime``
only on a Complete Job.
"""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.validators.common import (
    Cause,
    Obj,
    containers,
    immutable,
    nonnegative,
    not_supported,
    quote,
    selector_matches,
    selector_mismatch,
    spec_of,
)

_RESTART = '"OnFailure", "Never"'
_TERMINAL = ("Complete", "SuccessCriteriaMet", "Failed", "FailureTarget")


def causes(obj: Obj, old: Obj | None, sub: str) -> list[Cause]:
    """Return the causes of a Job write (``sub``: "" or "status")."""
    if sub == "status" and old is not None:
        return status_causes(obj.get("status") or {}, old.get("status") or {})
    spec, old_spec = spec_of(obj), spec_of(old)
    pspec = (spec.get("template") or {}).get("spec") or {}
    out = containers("spec.template.spec", pspec)
    rp = pspec.get("restartPolicy")
    if rp is not None and rp not in ("OnFailure", "Never", "Always"):
        supported = ("Always", "OnFailure", "Never")
        out.append(not_supported("spec.template.spec.restartPolicy", rp, supported))
    if rp not in ("OnFailure", "Never"):  # Always too: "required", in kube-apiserver's words
        out.append(
            (
                "FieldValueRequired",
                "spec.template.spec.restartPolicy",
                f"Required value: valid values: {_RESTART}",
            )
        )
    for field in _NONNEGATIVE:
        out += nonnegative(f"spec.{field}", spec.get(field))
    mode = spec.get("completionMode")
    if mode is not None and mode not in ("NonIndexed", "Indexed"):
        out.append(not_supported("spec.completionMode", mode, ("NonIndexed", "Indexed")))
    sel = spec.get("selector")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if old is not None and isinstance(sel, dict) and not selector_matches(sel, labels):
        out.append(selector_mismatch(labels))
    if old is not None:
        for field in ("template", "selector", "completions", "completionMode"):
            out += immutable(f"spec.{field}", spec.get(field), old_spec.get(field))
    return out


_NONNEGATIVE = ("parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished")
"""Job spec counts that may not be negative (``ValidateNonnegativeField``)."""
_STATUS_COUNTS = ("active", "succeeded", "failed", "ready", "terminating")


def _true(status: Obj) -> set[Any]:
    return {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}


def status_causes(status: Obj, old_status: Obj) -> list[Cause]:
    """Return the causes of a Job status update."""
    now, before = _true(status), _true(old_status)
    out: list[Cause] = []
    for count in _STATUS_COUNTS:
        out += nonnegative(f"status.{count}", status.get(count))
    for count in ("succeeded", "failed"):
        value, was = status.get(count) or 0, old_status.get(count) or 0
        if isinstance(value, int) and isinstance(was, int) and value < was:
            out.append(
                (
                    "FieldValueInvalid",
                    f"status.{count}",
                    f"Invalid value: {value}: cannot decrease the {count} counter",
                )
            )
    finished = bool(now & {"Complete", "Failed"})
    active = status.get("active") or 0
    if finished and active:
        out.append(
            (
                "FieldValueInvalid",
                "status.active",
                f"Invalid value: {active}: active>0 is invalid for finished job",
            )
        )
    if "Complete" in now and not status.get("completionTime"):
        out.append(
            (
                "FieldValueRequired",
                "status.completionTime",
                "Required value: completionTime is required for Complete jobs",
            )
        )
    if status.get("completionTime") and "Complete" not in now:
        out.append(
            (
                "FieldValueInvalid",
                "status.completionTime",
                f"Invalid value: {quote(status['completionTime'])}: cannot set completionTime "
                "when there is no Complete=True condition",
            )
        )
    if "Complete" in now and "SuccessCriteriaMet" not in now:
        out.append(
            _condition(
                "cannot set Complete=True condition without the SuccessCriteriaMet=true condition"
            )
        )
    if "Failed" in now and "FailureTarget" not in now:
        out.append(
            _condition("cannot set Failed=True condition without the FailureTarget=true condition")
        )
    if finished and not status.get("startTime"):
        out.append(
            (
                "FieldValueRequired",
                "status.startTime",
                "Required value: startTime is required for finished job",
            )
        )
    for t in _TERMINAL:
        if t in before and t not in now:
            terminal = "terminal " if t in ("Complete", "Failed") else ""
            out.append(_condition(f"cannot disable the {terminal}{t}=True condition"))
    return out


def _condition(message: str) -> Cause:
    return ("FieldValueInvalid", "status.conditions", f"Invalid value: {message}")
