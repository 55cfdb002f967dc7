"""apps/v1 Deployment: counts not negative, containers, a selector that selects the
template, restartPolicy Always, and an immutable selector
(``ValidateDeployment``/``ValidateDeploymentUpdate``)."""

from __future__ import annotations

from reconciler.sandbox.validators.common import (
    Cause,
    Obj,
    containers,
    go_value,
    immutable,
    nonnegative,
    not_supported,
    selector_matches,
    selector_mismatch,
    spec_of,
)


def causes(obj: Obj, old: Obj | None, sub: str) -> list[Cause]:
    """Return the causes of a Deployment write."""
    if sub:
        return []
    spec = spec_of(obj)
    tpl = spec.get("template") or {}
    out: list[Cause] = []
    for count in ("replicas", "minReadySeconds", "revisionHistoryLimit"):
        out += nonnegative(f"spec.{count}", spec.get(count))
    out += containers("spec.template.spec", tpl.get("spec") or {})
    sel = spec.get("selector")
    labels = (tpl.get("metadata") or {}).get("labels")
    if isinstance(sel, dict):
        if not sel.get("matchLabels") and not sel.get("matchExpressions"):
            out.append(
                (
                    "FieldValueInvalid",
                    "spec.selector",
                    f"Invalid value: {go_value(sel)}: empty selector is invalid for deployment",
                )
            )
        elif not selector_matches(sel, labels):
            out.append(selector_mismatch(labels))
    rp = (tpl.get("spec") or {}).get("restartPolicy")
    if rp not in (None, "Always"):
        out.append(not_supported("spec.template.spec.restartPolicy", rp, ("Always",)))
    if old is not None:
        out += immutable("spec.selector", sel, spec_of(old).get("selector"))
    return out
