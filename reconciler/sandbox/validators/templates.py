"""Workloads with a pod template (ReplicaSet, StatefulSet): containers, a selector that
selects the template, an immutable selector."""

from __future__ import annotations

from reconciler.sandbox.validators.common import (
    Cause,
    Obj,
    containers,
    immutable,
    selector_matches,
    selector_mismatch,
    spec_of,
)


def causes(obj: Obj, old: Obj | None, sub: str) -> list[Cause]:
    """Return the causes of a templated workload's write."""
    if sub:
        return []
    spec = spec_of(obj)
    tpl = spec.get("template") or {}
    out = containers("spec.template.spec", tpl.get("spec") or {})
    sel = spec.get("selector")
    labels = (tpl.get("metadata") or {}).get("labels")
    if isinstance(sel, dict) and not selector_matches(sel, labels):
        out.append(selector_mismatch(labels))
    if old is not None:
        out += immutable("spec.selector", sel, spec_of(old).get("selector"))
    return out
