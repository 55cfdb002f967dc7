"""Server-side printing: ``meta.k8s.io/v1`` Tables for ``kubectl get``'s default output.

kubectl asks for ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``; the server
answers the columns kube-apiserver's printers define for each built-in kind (``NAME``,
``READY``, ``STATUS``, ``AGE``...; ``priority: 1`` columns show only with ``-o wide``),
and for a custom resource its CRD's ``additionalPrinterColumns`` (JSONPath), or
``NAME``/``AGE`` without them. Ages are worded as apimachinery's ``HumanDuration``.

Callers: :mod:`.server`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from reconciler.sandbox.kinds import ResourceType

Obj = dict[str, Any]
Column = tuple[str, str, int, str]  # name, type, priority, description
Printer = Callable[[Obj, float], list[Any]]


def human_duration(seconds: float) -> str:
    """Return a duration as kubectl shows ages (``5m3s``, ``2d4h``, ``3y``)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def _ts(value: Any) -> float | None:
    if not value:
        return None
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def age(obj: Obj, now: float) -> str:
    """Return the AGE cell of an object."""
    t = _ts((obj.get("metadata") or {}).get("creationTimestamp"))
    return "<unknown>" if t is None else human_duration(now - t)


def _since(value: Any, now: float) -> str:
    t = _ts(value)
    return "<unknown>" if t is None else human_duration(now - t)


def _g(obj: Any, *path: str, default: Any = None) -> Any:
    cur = obj
    for p in path:
        if not isinstance(cur, dict):
            return default
        cur = cur.get(p)
    return default if cur is None else cur


def _selector(sel: Any) -> str:
    if not isinstance(sel, dict):
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or []:
        op = e.get("operator")
        vals = ",".join(e.get("values") or [])
        parts.append(
            {
                "In": f"{e.get('key')} in ({vals})",
                "NotIn": f"{e.get('key')} notin ({vals})",
                "Exists": f"{e.get('key')}",
                "DoesNotExist": f"!{e.get('key')}",
            }.get(str(op), "")
        )
    return ",".join(parts) if parts else "<none>"


def _containers(spec: Any) -> tuple[str, str]:
    cs = _g(spec, "template", "spec", "containers", default=[])
    return ",".join(str(c.get("name", "")) for c in cs), ",".join(
        str(c.get("image", "")) for c in cs
    )


def _cond(obj: Obj, t: str) -> str | None:
    for c in _g(obj, "status", "conditions", default=[]):
        if c.get("type") == t:
            return str(c.get("status"))
    return None


def _job_status(obj: Obj) -> str:
    for t, label in (
        ("Complete", "Complete"),
        ("Failed", "Failed"),
        ("FailureTarget", "FailureTarget"),
        ("SuccessCriteriaMet", "SuccessCriteriaMet"),
        ("Suspended", "Suspended"),
    ):
        if _cond(obj, t) == "True":
            return label
    return "Running"


def _job_duration(obj: Obj, now: float) -> str:
    start = _ts(_g(obj, "status", "startTime"))
    if start is None:
        return ""
    end = _ts(_g(obj, "status", "completionTime"))
    return human_duration((end if end is not None else now) - start)


def _ports(ports: Any) -> str:
    out = []
    for p in ports or []:
        text = f"{p.get('port')}"
        if p.get("nodePort"):
            text += f":{p.get('nodePort')}"
        out.append(f"{text}/{p.get('protocol', 'TCP')}")
    return ",".join(out) if out else "<none>"


def _pod_ready(obj: Obj) -> str:
    statuses = _g(obj, "status", "containerStatuses", default=[])
    total = len(_g(obj, "spec", "containers", default=[]))
    ready = sum(1 for s in statuses if s.get("ready"))
    return f"{ready}/{total}"


def _pod_status(obj: Obj) -> str:
    reason = _g(obj, "status", "reason") or _g(obj, "status", "phase", default="Pending")
    for s in _g(obj, "status", "containerStatuses", default=[]):
        term = _g(s, "state", "terminated")
        waiting = _g(s, "state", "waiting")
        if term:
            reason = term.get("reason") or (
                f"Signal:{term.get('signal')}"
                if term.get("signal")
                else f"ExitCode:{term.get('exitCode')}"
            )
        elif waiting and waiting.get("reason"):
            reason = waiting["reason"]
    if _g(obj, "metadata", "deletionTimestamp"):
        reason = "Terminating"
    return str(reason)


def _hpa_targets(obj: Obj) -> str:
    out = []
    current = _g(obj, "status", "currentMetrics", default=[])
    for i, m in enumerate(_g(obj, "spec", "metrics", default=[])):
        if m.get("type") == "Resource":
            tgt = _g(m, "resource", "target", default={})
            cur = "<unknown>"
            if i < len(current):
                val = _g(current[i], "resource", "current", "averageUtilization")
                if val is not None:
                    cur = f"{val}%"
            want = tgt.get("averageUtilization")
            name = _g(m, "resource", "name", default="")
            out.append(
                f"{name}: {cur}/{want}%" if want is not None else f"{cur}/{tgt.get('averageValue')}"
            )
        else:
            out.append("<unknown>")
    return ", ".join(out) if out else "<none>"


def _ingress_hosts(obj: Obj) -> str:
    hosts = [r.get("host") for r in _g(obj, "spec", "rules", default=[]) if r.get("host")]
    return ",".join(hosts) if hosts else "*"


def _ingress_ports(obj: Obj) -> str:
    return "80, 443" if _g(obj, "spec", "tls") else "80"


def _lb(obj: Obj) -> str:
    ing = _g(obj, "status", "loadBalancer", "ingress", default=[])
    addrs = [i.get("ip") or i.get("hostname") for i in ing]
    return ",".join(a for a in addrs if a)


def _quota(obj: Obj, prefix: str) -> str:
    hard = _g(obj, "status", "hard", default={}) or _g(obj, "spec", "hard", default={})
    used = _g(obj, "status", "used", default={})
    parts = []
    for k in sorted(hard):
        is_limit = k.startswith("limits.")
        if (prefix == "limits") != is_limit:
            continue
        parts.append(f"{k}: {used.get(k, '0')}/{hard[k]}")
    return ", ".join(parts)


def _created_at(obj: Obj, now: float) -> str:
    return str(_g(obj, "metadata", "creationTimestamp", default=""))


_C = "string"
_PRINTERS: dict[tuple[str, str], tuple[list[Column], Printer]] = {
    ("", "Namespace"): (
        [("Status", _C, 0, "phase"), ("Age", _C, 0, "")],
        lambda o, n: [_g(o, "status", "phase", default=""), age(o, n)],
    ),
    ("", "ConfigMap"): (
        [("Data", "integer", 0, ""), ("Age", _C, 0, "")],
        lambda o, n: [len(o.get("data") or {}) + len(o.get("binaryData") or {}), age(o, n)],
    ),
    ("", "Secret"): (
        [("Type", _C, 0, ""), ("Data", "integer", 0, ""), ("Age", _C, 0, "")],
        lambda o, n: [o.get("type", ""), len(o.get("data") or {}), age(o, n)],
    ),
    ("", "ServiceAccount"): (
        [("Secrets", "integer", 0, ""), ("Age", _C, 0, "")],
        lambda o, n: [len(o.get("secrets") or []), age(o, n)],
    ),
    ("", "Service"): (
        [
            ("Type", _C, 0, ""),
            ("Cluster-IP", _C, 0, ""),
            ("External-IP", _C, 0, ""),
            ("Port(s)", _C, 0, ""),
            ("Age", _C, 0, ""),
            ("Selector", _C, 1, ""),
        ],
        lambda o, n: [
            _g(o, "spec", "type", default=""),
            _g(o, "spec", "clusterIP", default="<none>"),
            _lb(o) or ("<pending>" if _g(o, "spec", "type") == "LoadBalancer" else "<none>"),
            _ports(_g(o, "spec", "ports")),
            age(o, n),
            ",".join(f"{k}={v}" for k, v in sorted((_g(o, "spec", "selector") or {}).items()))
            or "<none>",
        ],
    ),
    ("", "Pod"): (
        [
            ("Ready", _C, 0, ""),
            ("Status", _C, 0, ""),
            ("Restarts", _C, 0, ""),
            ("Age", _C, 0, ""),
            ("IP", _C, 1, ""),
            ("Node", _C, 1, ""),
            ("Nominated Node", _C, 1, ""),
            ("Readiness Gates", _C, 1, ""),
        ],
        lambda o, n: [
            _pod_ready(o),
            _pod_status(o),
            str(
                sum(
                    int(s.get("restartCount") or 0)
                    for s in _g(o, "status", "containerStatuses", default=[])
                )
            ),
            age(o, n),
            _g(o, "status", "podIP", default="<none>"),
            _g(o, "spec", "nodeName", default="<none>"),
            "<none>",
            "<none>",
        ],
    ),
    ("", "Event"): (
        [
            ("Last Seen", _C, 0, ""),
            ("Type", _C, 0, ""),
            ("Reason", _C, 0, ""),
            ("Object", _C, 0, ""),
            ("Subobject", _C, 1, ""),
            ("Source", _C, 1, ""),
            ("Message", _C, 0, ""),
            ("First Seen", _C, 1, ""),
            ("Count", _C, 1, ""),
            ("Name", _C, 1, ""),
        ],
        lambda o, n: [
            _since(
                o.get("lastTimestamp")
                or o.get("eventTime")
                or _g(o, "metadata", "creationTimestamp"),
                n,
            ),
            o.get("type", ""),
            o.get("reason", ""),
            f"{str(_g(o, 'involvedObject', 'kind', default='')).lower()}/"
            f"{_g(o, 'involvedObject', 'name', default='')}",
            _g(o, "involvedObject", "fieldPath", default=""),
            _g(o, "source", "component", default=""),
            o.get("message", ""),
            _since(o.get("firstTimestamp") or _g(o, "metadata", "creationTimestamp"), n),
            str(o.get("count") or 1),
            _g(o, "metadata", "name", default=""),
        ],
    ),
    ("", "ResourceQuota"): (
        [("Age", _C, 0, ""), ("Request", _C, 0, ""), ("Limit", _C, 0, "")],
        lambda o, n: [age(o, n), _quota(o, "requests"), _quota(o, "limits")],
    ),
    ("", "LimitRange"): (
        [("Created At", "date", 0, "")],
        lambda o, n: [_created_at(o, n)],
    ),
    ("apps", "Deployment"): (
        [
            ("Ready", _C, 0, ""),
            ("Up-to-date", "integer", 0, ""),
            ("Available", "integer", 0, ""),
            ("Age", _C, 0, ""),
            ("Containers", _C, 1, ""),
            ("Images", _C, 1, ""),
            ("Selector", _C, 1, ""),
        ],
        lambda o, n: [
            f"{_g(o, 'status', 'readyReplicas', default=0)}/{_g(o, 'spec', 'replicas', default=0)}",
            _g(o, "status", "updatedReplicas", default=0),
            _g(o, "status", "availableReplicas", default=0),
            age(o, n),
            *_containers(o.get("spec")),
            _selector(_g(o, "spec", "selector")),
        ],
    ),
    ("batch", "Job"): (
        [
            ("Status", _C, 0, ""),
            ("Completions", _C, 0, ""),
            ("Duration", _C, 0, ""),
            ("Age", _C, 0, ""),
            ("Containers", _C, 1, ""),
            ("Images", _C, 1, ""),
            ("Selector", _C, 1, ""),
        ],
        lambda o, n: [
            _job_status(o),
            f"{_g(o, 'status', 'succeeded', default=0)}/{_g(o, 'spec', 'completions', default=1)}",
            _job_duration(o, n),
            age(o, n),
            *_containers(o.get("spec")),
            _selector(_g(o, "spec", "selector")),
        ],
    ),
    ("autoscaling", "HorizontalPodAutoscaler"): (
        [
            ("Reference", _C, 0, ""),
            ("Targets", _C, 0, ""),
            ("MinPods", _C, 0, ""),
            ("MaxPods", "integer", 0, ""),
            ("Replicas", "integer", 0, ""),
            ("Age", _C, 0, ""),
        ],
        lambda o, n: [
            f"{_g(o, 'spec', 'scaleTargetRef', 'kind', default='')}/"
            f"{_g(o, 'spec', 'scaleTargetRef', 'name', default='')}",
            _hpa_targets(o),
            str(_g(o, "spec", "minReplicas", default=1)),
            _g(o, "spec", "maxReplicas", default=0),
            _g(o, "status", "currentReplicas", default=0),
            age(o, n),
        ],
    ),
    ("networking.k8s.io", "Ingress"): (
        [
            ("Class", _C, 0, ""),
            ("Hosts", _C, 0, ""),
            ("Address", _C, 0, ""),
            ("Ports", _C, 0, ""),
            ("Age", _C, 0, ""),
        ],
        lambda o, n: [
            _g(o, "spec", "ingressClassName", default="<none>"),
            _ingress_hosts(o),
            _lb(o),
            _ingress_ports(o),
            age(o, n),
        ],
    ),
    ("networking.k8s.io", "NetworkPolicy"): (
        [("Pod-Selector", _C, 0, ""), ("Age", _C, 0, "")],
        lambda o, n: [
            _selector(_g(o, "spec", "podSelector")).replace("<none>", "<none>"),
            age(o, n),
        ],
    ),
    ("coordination.k8s.io", "Lease"): (
        [("Holder", _C, 0, ""), ("Age", _C, 0, "")],
        lambda o, n: [_g(o, "spec", "holderIdentity", default=""), age(o, n)],
    ),
    ("rbac.authorization.k8s.io", "Role"): (
        [("Created At", "date", 0, "")],
        lambda o, n: [_created_at(o, n)],
    ),
    ("rbac.authorization.k8s.io", "ClusterRole"): (
        [("Created At", "date", 0, "")],
        lambda o, n: [_created_at(o, n)],
    ),
    ("rbac.authorization.k8s.io", "RoleBinding"): (
        [("Role", _C, 0, ""), ("Age", _C, 0, "")],
        lambda o, n: [
            f"{_g(o, 'roleRef', 'kind', default='')}/{_g(o, 'roleRef', 'name', default='')}",
            age(o, n),
        ],
    ),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): (
        [("Role", _C, 0, ""), ("Age", _C, 0, "")],
        lambda o, n: [
            f"{_g(o, 'roleRef', 'kind', default='')}/{_g(o, 'roleRef', 'name', default='')}",
            age(o, n),
        ],
    ),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): (
        [("Created At", "date", 0, "")],
        lambda o, n: [_created_at(o, n)],
    ),
}


def _int_or_none(value: Any) -> str:
    return "N/A" if value is None else str(value)


def _access_modes(modes: Any) -> str:
    short = {
        "ReadWriteOnce": "RWO",
        "ReadOnlyMany": "ROX",
        "ReadWriteMany": "RWX",
        "ReadWriteOncePod": "RWOP",
    }
    return ",".join(short.get(str(m), str(m)) for m in modes or [])


def _node_status(obj: Obj) -> str:
    ready = _cond(obj, "Ready")
    status = "Ready" if ready == "True" else "NotReady" if ready is not None else "Unknown"
    if _g(obj, "spec", "unschedulable"):
        status += ",SchedulingDisabled"
    return status


def _node_roles(obj: Obj) -> str:
    prefix = "node-role.kubernetes.io/"
    roles = sorted(
        k[len(prefix) :] for k in _g(obj, "metadata", "labels", default={}) if k.startswith(prefix)
    )
    return ",".join(roles) or "<none>"


def _internal_ip(obj: Obj) -> str:
    for a in _g(obj, "status", "addresses", default=[]):
        if a.get("type") == "InternalIP":
            return str(a.get("address", ""))
    return "<none>"


_PRINTERS.update(
    {
        ("", "Node"): (
            [
                ("Status", _C, 0, ""),
                ("Roles", _C, 0, ""),
                ("Age", _C, 0, ""),
                ("Version", _C, 0, ""),
                ("Internal-IP", _C, 1, ""),
                ("External-IP", _C, 1, ""),
                ("OS-Image", _C, 1, ""),
                ("Kernel-Version", _C, 1, ""),
                ("Container-Runtime", _C, 1, ""),
            ],
            lambda o, n: [
                _node_status(o),
                _node_roles(o),
                age(o, n),
                _g(o, "status", "nodeInfo", "kubeletVersion", default=""),
                _internal_ip(o),
                "<none>",
                _g(o, "status", "nodeInfo", "osImage", default="") or "<unknown>",
                _g(o, "status", "nodeInfo", "kernelVersion", default="") or "<unknown>",
                _g(o, "status", "nodeInfo", "containerRuntimeVersion", default="") or "<unknown>",
            ],
        ),
        ("", "PersistentVolumeClaim"): (
            [
                ("Status", _C, 0, ""),
                ("Volume", _C, 0, ""),
                ("Capacity", _C, 0, ""),
                ("Access Modes", _C, 0, ""),
                ("StorageClass", _C, 0, ""),
                ("VolumeAttributesClass", _C, 0, ""),
                ("Age", _C, 0, ""),
                ("VolumeMode", _C, 1, ""),
            ],
            lambda o, n: [
                _g(o, "status", "phase", default=""),
                _g(o, "spec", "volumeName", default=""),
                _g(o, "status", "capacity", "storage", default=""),
                _access_modes(_g(o, "status", "accessModes")),
                _g(o, "spec", "storageClassName", default="") or "<unset>",
                _g(o, "spec", "volumeAttributesClassName", default="") or "<unset>",
                age(o, n),
                _g(o, "spec", "volumeMode", default=""),
            ],
        ),
        ("apps", "ReplicaSet"): (
            [
                ("Desired", "integer", 0, ""),
                ("Current", "integer", 0, ""),
                ("Ready", "integer", 0, ""),
                ("Age", _C, 0, ""),
                ("Containers", _C, 1, ""),
                ("Images", _C, 1, ""),
                ("Selector", _C, 1, ""),
            ],
            lambda o, n: [
                _g(o, "spec", "replicas", default=0),
                _g(o, "status", "replicas", default=0),
                _g(o, "status", "readyReplicas", default=0),
                age(o, n),
                *_containers(o.get("spec")),
                _selector(_g(o, "spec", "selector")),
            ],
        ),
        ("apps", "StatefulSet"): (
            [
                ("Ready", _C, 0, ""),
                ("Age", _C, 0, ""),
                ("Containers", _C, 1, ""),
                ("Images", _C, 1, ""),
            ],
            lambda o, n: [
                f"{_g(o, 'status', 'readyReplicas', default=0)}/{_g(o, 'spec', 'replicas', default=0)}",
                age(o, n),
                *_containers(o.get("spec")),
            ],
        ),
        ("batch", "CronJob"): (
            [
                ("Schedule", _C, 0, ""),
                ("Timezone", _C, 0, ""),
                ("Suspend", "boolean", 0, ""),
                ("Active", "integer", 0, ""),
                ("Last Schedule", _C, 0, ""),
                ("Age", _C, 0, ""),
                ("Containers", _C, 1, ""),
                ("Images", _C, 1, ""),
                ("Selector", _C, 1, ""),
            ],
            lambda o, n: [
                _g(o, "spec", "schedule", default=""),
                _g(o, "spec", "timeZone", default="") or "<none>",
                bool(_g(o, "spec", "suspend", default=False)),
                len(_g(o, "status", "active", default=[]) or []),
                _since(_g(o, "status", "lastScheduleTime"), n)
                if _g(o, "status", "lastScheduleTime")
                else "<none>",
                age(o, n),
                *_containers(_g(o, "spec", "jobTemplate", "spec", default={})),
                _selector(_g(o, "spec", "jobTemplate", "spec", "selector")),
            ],
        ),
        ("policy", "PodDisruptionBudget"): (
            [
                ("Min Available", _C, 0, ""),
                ("Max Unavailable", _C, 0, ""),
                ("Allowed Disruptions", "integer", 0, ""),
                ("Age", _C, 0, ""),
            ],
            lambda o, n: [
                _int_or_none(_g(o, "spec", "minAvailable")),
                _int_or_none(_g(o, "spec", "maxUnavailable")),
                _g(o, "status", "disruptionsAllowed", default=0),
                age(o, n),
            ],
        ),
        ("scheduling.k8s.io", "PriorityClass"): (
            [
                ("Value", "integer", 0, ""),
                ("Global-Default", "boolean", 0, ""),
                ("Age", _C, 0, ""),
                ("PreemptionPolicy", _C, 1, ""),
            ],
            lambda o, n: [
                o.get("value", 0),
                bool(o.get("globalDefault", False)),
                age(o, n),
                o.get("preemptionPolicy", ""),
            ],
        ),
    }
)


def _jsonpath(obj: Obj, path: str) -> Any:
    """Evaluate the simple JSONPath of a printer column (``.status.conditions[0].type``)."""
    cur: Any = obj
    for part in re.findall(r"\.([^.\[]+)|\[(-?\d+:?|\?\(@\.[^)]*\))\]", path):
        name, idx = part
        if name:
            cur = cur.get(name) if isinstance(cur, dict) else None
        elif idx.endswith(":") or idx.startswith("-"):
            i = int(idx.rstrip(":"))
            cur = cur[i] if isinstance(cur, list) and -len(cur) <= i < len(cur) else None
        elif idx.isdigit():
            cur = cur[int(idx)] if isinstance(cur, list) and int(idx) < len(cur) else None
        else:
            m = re.match(r"\?\(@\.(\w+)\s*==\s*['\"]([^'\"]*)['\"]\)", idx)
            if m and isinstance(cur, list):
                cur = [
                    x for x in cur if isinstance(x, dict) and str(x.get(m.group(1))) == m.group(2)
                ]
                cur = cur[0] if cur else None
            else:
                cur = None
        if cur is None:
            return None
    return cur


def _crd_printer(rt: ResourceType) -> tuple[list[Column], Printer]:
    cols = list(rt.printer_columns)
    if not cols:
        return [("Age", "date", 0, "")], lambda o, n: [age(o, n)]
    columns: list[Column] = [
        (
            str(c.get("name", "")),
            str(c.get("type", "string")),
            int(c.get("priority") or 0),
            str(c.get("description", "")),
        )
        for c in cols
    ]

    def printer(o: Obj, n: float) -> list[Any]:
        out: list[Any] = []
        for c in cols:
            v = _jsonpath(o, str(c.get("jsonPath", "")))
            if c.get("type") == "date" and v is not None:
                t = _ts(v)
                v = human_duration(n - t) if t is not None else v
            out.append(v)
        return out

    return columns, printer


# Kinds whose server-side printer has no leading NAME column (events: LAST SEEN first).
NO_NAME_COLUMN = {("", "Event")}


def printer_for(rt: ResourceType) -> tuple[list[Column], Printer]:
    """Return the columns (after NAME) and the row function of a kind."""
    if rt.builtin:
        found = _PRINTERS.get((rt.group, rt.kind))
        if found is not None:
            return found
        return [("Age", _C, 0, "")], lambda o, n: [age(o, n)]
    return _crd_printer(rt)


def _row_object(obj: Obj, include: str, rt: ResourceType) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        full = dict(obj)
        full.setdefault("apiVersion", rt.api_version)
        full.setdefault("kind", rt.kind)
        return full
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def to_table(
    rt: ResourceType,
    items: list[Obj],
    list_meta: Obj,
    include: str = "Metadata",
    now: float | None = None,
) -> Obj:
    """Return a ``meta.k8s.io/v1`` Table of ``items`` with ``list_meta`` as its metadata."""
    now = time.time() if now is None else now
    columns, printer = printer_for(rt)
    named = (rt.group, rt.kind) not in NO_NAME_COLUMN
    defs = (
        [
            {
                "name": "Name",
                "type": "string",
                "format": "name",
                "description": "Name must be unique within a namespace.",
                "priority": 0,
            }
        ]
        if named
        else []
    )
    for name, typ, prio, desc in columns:
        defs.append(
            {"name": name, "type": typ, "format": "", "description": desc, "priority": prio}
        )
    rows = []
    for o in items:
        first = [_g(o, "metadata", "name", default="")] if named else []
        row: Obj = {"cells": [*first, *printer(o, now)]}
        ro = _row_object(o, include, rt)
        if ro is not None:
            row["object"] = ro
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": defs,
        "rows": rows,
    }
