"""What the per-kind validators share: the cause type and the rules several kinds use
(containers, resources, ports, selectors; name rules are :mod:`reconciler.sandbox.names`).

Messages are apimachinery's (``k8s.io/apimachinery/pkg/util/validation``), word for
word, because clients print them. Callers: the modules of this package and
:mod:`reconciler.sandbox.object_validation`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from reconciler.sandbox.names import (
    DNS1123_LABEL,
    LABEL_MSG,
    LABEL_VALUE_MSG,
    label_value_errors,
    qualified_name_errors,
)
from reconciler.structs.quantities import quantity_value

Obj = dict[str, Any]
Cause = tuple[str, str, str]  # (reason, field, message)


def quote(value: Any) -> str:
    """Return a value as Go's ``%q``/JSON prints it in a cause message."""
    return json.dumps(value) if isinstance(value, str) else json.dumps(value, default=str)


def go_value(value: Any) -> str:
    """Return a structured value as field errors print it (compact JSON, sorted keys)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def not_supported(path: str, value: Any, supported: Sequence[str]) -> Cause:
    """``field.NotSupported``: the value and the values supported there, each quoted."""
    listed = ", ".join(quote(s) for s in supported)
    return (
        "FieldValueNotSupported",
        path,
        f"Unsupported value: {quote(value)}: supported values: {listed}",
    )


def spec_of(obj: Obj | None) -> Obj:
    """Return ``obj.spec`` as a dict ({} when absent or not an object)."""
    spec = (obj or {}).get("spec")
    return spec if isinstance(spec, dict) else {}


def immutable(path: str, new: Any, old: Any) -> list[Cause]:
    """Return the "field is immutable" cause when ``new`` differs from ``old``."""
    if new == old:
        return []
    return [("FieldValueInvalid", path, f"Invalid value: {go_value(new)}: field is immutable")]


def containers(path: str, spec: Any) -> list[Cause]:
    """Return the causes of a pod spec's containers: required, names, images."""
    out: list[Cause] = []
    if not isinstance(spec, dict):
        return out
    if not spec.get("containers"):
        out.append(("FieldValueRequired", f"{path}.containers", "Required value"))
    seen: set[str] = set()
    volumes = {v.get("name") for _, v in objects_in(spec.get("volumes"))}
    for key in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(key) or []):
            if not isinstance(c, dict):
                continue
            p = f"{path}.{key}[{i}]"
            name = c.get("name")
            if not name:
                out.append(("FieldValueRequired", f"{p}.name", "Required value"))
            elif not DNS1123_LABEL.match(str(name)) or len(str(name)) > 63:
                out.append(
                    ("FieldValueInvalid", f"{p}.name", f'Invalid value: "{name}": {LABEL_MSG}')
                )
            elif name in seen:
                out.append(("FieldValueDuplicate", f"{p}.name", f'Duplicate value: "{name}"'))
            else:
                seen.add(str(name))
            if not c.get("image"):
                out.append(("FieldValueRequired", f"{p}.image", "Required value"))
            for j, port in objects_in(c.get("ports")):
                out += port_causes(f"{p}.ports[{j}].containerPort", port.get("containerPort"))
                if port.get("hostPort"):
                    out += port_causes(f"{p}.ports[{j}].hostPort", port.get("hostPort"))
            for j, mount in objects_in(c.get("volumeMounts")):
                if mount.get("name") not in volumes:
                    name_path = f"{p}.volumeMounts[{j}].name"
                    out.append(
                        ("FieldValueNotFound", name_path, f"Not found: {quote(mount.get('name'))}")
                    )
            out += _env(f"{p}.env", c.get("env"))
            out += _resources(f"{p}.resources", c.get("resources"))
    return out


def _env(path: str, env: Any) -> list[Cause]:
    """An env var's ``valueFrom`` beside a non-empty ``value``: refused, as Go refuses it."""
    out: list[Cause] = []
    for i, var in enumerate(env if isinstance(env, list) else []):
        if isinstance(var, dict) and var.get("value") and var.get("valueFrom") is not None:
            out.append(
                (
                    "FieldValueInvalid",
                    f"{path}[{i}].valueFrom",
                    'Invalid value: "": may not be specified when `value` is not empty',
                )
            )
    return out


def _overcommit_allowed(resource: str) -> bool:
    """apimachinery's ``IsOvercommitAllowed``: native resources but huge pages."""
    native = "/" not in resource or resource.startswith("kubernetes.io/")
    return native and not resource.startswith("hugepages-")


def _resources(path: str, resources: Any) -> list[Cause]:
    """A container's requests against its limits (``ValidateResourceRequirements``): no
    more than the limit, and equal to it for a resource that cannot be overcommitted (GPUs
    and other extended resources, huge pages), whose limit must be set."""
    if not isinstance(resources, dict):
        return []
    requests, limits = resources.get("requests"), resources.get("limits")
    requests = requests if isinstance(requests, dict) else {}
    limits = limits if isinstance(limits, dict) else {}
    out: list[Cause] = []
    for name, asked in requests.items():
        wanted = quantity_value(asked)
        if name not in limits:
            if not _overcommit_allowed(name):
                out.append(
                    (
                        "FieldValueRequired",
                        f"{path}.limits",
                        "Required value: Limit must be set for non overcommitable resources",
                    )
                )
            continue
        limit = quantity_value(limits[name])
        if wanted is None or limit is None:
            continue
        if wanted != limit and not _overcommit_allowed(name):
            why = f"must be equal to {name} limit of {limits[name]}"
        elif wanted > limit:
            why = f"must be less than or equal to {name} limit of {limits[name]}"
        else:
            continue
        out.append(
            ("FieldValueInvalid", f"{path}.requests", f"Invalid value: {quote(asked)}: {why}")
        )
    return out


def selector_matches(selector: Any, labels: Any) -> bool:
    """True when a LabelSelector selects an object with ``labels``."""
    from reconciler.sandbox import selectors

    sel = selectors.from_label_selector(selector if isinstance(selector, dict) else None)
    if sel is None:
        return False
    return selectors.matches_labels(sel, {"metadata": {"labels": labels or {}}})


def selector_mismatch(labels: Any) -> Cause:
    """Return the cause of a template whose ``labels`` its workload's selector misses."""
    return (
        "FieldValueInvalid",
        "spec.template.metadata.labels",
        f"Invalid value: {go_value(labels or {})}: `selector` does not match template `labels`",
    )


STANDARD_RESOURCES = frozenset(
    {
        "cpu", "memory", "ephemeral-storage", "storage", "pods", "services",
        "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
        "persistentvolumeclaims", "services.nodeports", "services.loadbalancers",
        "requests.cpu", "requests.memory", "requests.storage", "requests.ephemeral-storage",
        "limits.cpu", "limits.memory", "limits.ephemeral-storage",
    }
)  # fmt: skip
"""apimachinery's standard resource names (``IsStandardResourceName``), huge pages aside."""


def huge_pages(name: str) -> bool:
    """A huge-page resource as quota names it (``hugepages-2Mi``, ``requests.hugepages-…``)."""
    return name.startswith(("hugepages-", "requests.hugepages-"))


def resource_name_causes(path: str, name: str) -> list[Cause]:
    """``validateResourceName``: a qualified name, and a standard one unless it has a
    domain (``nvidia.com/gpu``)."""
    out = [
        ("FieldValueInvalid", path, f"Invalid value: {quote(name)}: {msg}")
        for msg in qualified_name_errors(name)
    ]
    if "/" not in name and name not in STANDARD_RESOURCES and not huge_pages(name):
        out.append(
            (
                "FieldValueInvalid",
                path,
                f"Invalid value: {quote(name)}: must be a standard resource type or fully qualified",
            )
        )
    return out


def quantity_causes(path: str, name: str, value: Any) -> list[Cause]:
    """``ValidateResourceQuantityValue``: not negative (whole for integer resources is not
    checked)."""
    amount = quantity_value(value)
    if amount is not None and amount < 0:
        shown = value if isinstance(value, str) else str(value)
        return [
            (
                "FieldValueInvalid",
                f"{path}[{name}]",
                f"Invalid value: {quote(shown)}: must be greater than or equal to 0",
            )
        ]
    return []


def nonnegative(path: str, value: Any) -> list[Cause]:
    """The cause of a count below zero (none for a count that is absent)."""
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return [
            (
                "FieldValueInvalid",
                path,
                f"Invalid value: {value}: must be greater than or equal to 0",
            )
        ]
    return []


def port_causes(path: str, port: Any) -> list[Cause]:
    """A port number outside 1 to 65535 (``IsValidPortNum``)."""
    if isinstance(port, int) and not isinstance(port, bool) and not 1 <= port <= 65535:
        return [
            (
                "FieldValueInvalid",
                path,
                f"Invalid value: {port}: must be between 1 and 65535, inclusive",
            )
        ]
    return []


def port_number_or_name_causes(path: str, port: Any) -> list[Cause]:
    """A port given by number (1 to 65535) or by IANA name (``ValidatePortNumOrName``)."""
    if isinstance(port, str):
        return [
            ("FieldValueInvalid", path, f"Invalid value: {quote(port)}: {msg}")
            for msg in port_name_errors(port)
        ]
    return port_causes(path, port)


def port_name_errors(name: str) -> list[str]:
    """Why ``name`` is not an IANA service name (``IsValidPortName``), each reason apart."""
    errs: list[str] = []
    if len(name) > 15:
        errs.append("must be no more than 15 characters")
    if not re.fullmatch(r"[-a-z0-9]+", name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


MAX_ANNOTATION_BYTES = 256 * 1024
"""The most bytes an object's annotations may hold, keys and values
(``TotalAnnotationSizeLimitB``)."""


def labels_causes(field: str, labels: Any, *, values: bool) -> list[Cause]:
    """Return causes for invalid label (or annotation, ``values=False``) keys and values,
    one per reason as apimachinery lists them; annotation keys are checked lowercased and
    annotations may hold :data:`MAX_ANNOTATION_BYTES` in all."""
    out: list[Cause] = []
    if not isinstance(labels, dict):
        return out
    for k, v in labels.items():
        key = str(k)
        for msg in qualified_name_errors(key if values else key.lower()):
            out.append(("FieldValueInvalid", field, f"Invalid value: {quote(key)}: {msg}"))
        if not values:
            continue
        for msg in label_value_errors(v) if isinstance(v, str) else [LABEL_VALUE_MSG]:
            out.append(("FieldValueInvalid", field, f"Invalid value: {quote(v)}: {msg}"))
    if not values:
        size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in labels.items())
        if size > MAX_ANNOTATION_BYTES:
            too_long = f"Too long: may not be more than {MAX_ANNOTATION_BYTES} bytes"
            out.append(("FieldValueTooLong", field, too_long))
    return out


def label_selector_causes(path: str, selector: Any) -> list[Cause]:
    """``ValidateLabelSelector`` for ``matchLabels``: keys and values as labels'."""
    labels = selector.get("matchLabels") if isinstance(selector, dict) else None
    return labels_causes(f"{path}.matchLabels", labels, values=True)


def objects_in(items: Any) -> Iterator[tuple[int, Obj]]:
    """Yield ``(index, item)`` for the items of a list that are objects (a value that is
    not a list yields nothing: its type is the schema's to refuse)."""
    for i, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict):
            yield i, item
