"""batch/v1 Job: the pod template's rules, immutable fields, and status transitions.

Spec (``ValidateJob``/``ValidateJobUpdate``): containers, ``restartPolicy`` OnFailure
or Never (required: kube-apiserver 1.37 does not default it for Jobs); ``template``,
``selector`` and ``completions`` immutable. Status (``ValidateJobUpdateStatus``, as the
Job controller must respect it): a finished Job has no active pods, Complete needs
``completionTime`` and SuccessCriteriaMet, Failed needs FailureTarget, terminal
conditions cannot be taken back, ``completionTime`` only on a Complete Job.
"""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.validators.common import Cause, Obj, containers, immutable, quote, spec_of

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
    if rp is None:
        out.append(
            (
                "FieldValueRequired",
                "spec.template.spec.restartPolicy",
                f"Required value: valid values: {_RESTART}",
            )
        )
    elif rp not in ("OnFailure", "Never"):
        out.append(
            (
                "FieldValueNotSupported",
                "spec.template.spec.restartPolicy",
                f"Unsupported value: {quote(rp)}: supported values: {_RESTART}",
            )
        )
    if old is not None:
        for field in ("template", "selector", "completions"):
            out += immutable(f"spec.{field}", spec.get(field), old_spec.get(field))
    return out


def _true(status: Obj) -> set[Any]:
    return {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}


def status_causes(status: Obj, old_status: Obj) -> list[Cause]:
    """Return the causes of a Job status update."""
    now, before = _true(status), _true(old_status)
    out: list[Cause] = []
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
    for t in _TERMINAL:
        if t in before and t not in now:
            terminal = "terminal " if t in ("Complete", "Failed") else ""
            out.append(_condition(f"cannot disable the {terminal}{t}=True condition"))
    return out


def _condition(message: str) -> Cause:
    return ("FieldValueInvalid", "status.conditions", f"Invalid value: {message}")
