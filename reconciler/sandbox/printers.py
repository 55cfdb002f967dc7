"""The columns kube-apiserver's printers define for each built-in kind, and their rows.

``kubectl get`` shows ``NAME``, ``READY``, ``STATUS``, ``AGE``... for a built-in kind;
:data:`BUILTIN` maps each (group, kind) to its columns (``priority: 1`` columns show only
with ``-o wide``) and the function that fills a row. Ages are worded as apimachinery's
``HumanDuration`` (:func:`human_duration`).

Callers: :mod:`.tables`, which builds the Table a request asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

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


def timestamp(value: Any) -> float | None:
    """Return the Unix time of an RFC 3339 timestamp (``2024-05-01T10:00:00Z``), or None."""
    if not value:
        return None
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def age(obj: Obj, now: float) -> str:
    """Return the AGE cell of an object."""
    t = timestamp((obj.get("metadata") or {}).get("creationTimestamp"))
    return "<unknown>" if t is None else human_duration(now - t)


def _since(value: Any, now: float) -> str:
    t = timestamp(value)
    return "<unknown>" if t is None else human_duration(now - t)


def _bool_ptr(value: Any) -> str:
    return "<unset>" if value is None else str(bool(value))


def field_at(obj: Any, *path: str, default: Any = None) -> Any:
    """Return the value at ``path`` in nested maps, or ``default`` if absent or null."""
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
    cs = field_at(spec, "template", "spec", "containers", default=[])
    return ",".join(str(c.get("name", "")) for c in cs), ",".join(
        str(c.get("image", "")) for c in cs
    )


def _cond(obj: Obj, t: str) -> str | None:
    for c in field_at(obj, "status", "conditions", default=[]):
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
    start = timestamp(field_at(obj, "status", "startTime"))
    if start is None:
        return ""
    end = timestamp(field_at(obj, "status", "completionTime"))
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
    statuses = field_at(obj, "status", "containerStatuses", default=[])
    total = len(field_at(obj, "spec", "containers", default=[]))
    ready = sum(1 for s in statuses if s.get("ready"))
    return f"{ready}/{total}"


def _pod_status(obj: Obj) -> str:
    reason = field_at(obj, "status", "reason") or field_at(
        obj, "status", "phase", default="Pending"
    )
    for s in field_at(obj, "status", "containerStatuses", default=[]):
        term = field_at(s, "state", "terminated")
        waiting = field_at(s, "state", "waiting")
        if term:
            reason = term.get("reason") or (
                f"Signal:{term.get('signal')}"
                if term.get("signal")
                else f"ExitCode:{term.get('exitCode')}"
            )
        elif waiting and waiting.get("reason"):
            reason = waiting["reason"]
    if field_at(obj, "metadata", "deletionTimestamp"):
        reason = "Terminating"
    return str(reason)


def _hpa_targets(obj: Obj) -> str:
    out = []
    current = field_at(obj, "status", "currentMetrics", default=[])
    for i, m in enumerate(field_at(obj, "spec", "metrics", default=[])):
        if m.get("type") == "Resource":
            tgt = field_at(m, "resource", "target", default={})
            cur = "<unknown>"
            if i < len(current):
                val = field_at(current[i], "resource", "current", "averageUtilization")
                if val is not None:
                    cur = f"{val}%"
            want = tgt.get("averageUtilization")
            name = field_at(m, "resource", "name", default="")
            out.append(
                f"{name}: {cur}/{want}%" if want is not None else f"{cur}/{tgt.get('averageValue')}"
            )
        else:
            out.append("<unknown>")
    return ", ".join(out) if out else "<none>"


def _ingress_hosts(obj: Obj) -> str:
    hosts = [r.get("host") for r in field_at(obj, "spec", "rules", default=[]) if r.get("host")]
    return ",".join(hosts) if hosts else "*"


def _ingress_ports(obj: Obj) -> str:
    return "80, 443" if field_at(obj, "spec", "tls") else "80"


def _lb(obj: Obj) -> str:
    ing = field_at(obj, "status", "loadBalancer", "ingress", default=[])
    addrs = [i.get("ip") or i.get("hostname") for i in ing]
    return ",".join(a for a in addrs if a)


def _quota(obj: Obj, prefix: str) -> str:
    hard = field_at(obj, "status", "hard", default={}) or field_at(obj, "spec", "hard", default={})
    used = field_at(obj, "status", "used", default={})
    parts = []
    for k in sorted(hard):
        is_limit = k.startswith("limits.")
        if (prefix == "limits") != is_limit:
            continue
        parts.append(f"{k}: {used.get(k, '0')}/{hard[k]}")
    return ", ".join(parts)


def _created_at(obj: Obj, now: float) -> str:
    return str(field_at(obj, "metadata", "creationTimestamp", default=""))


_C = "string"
BUILTIN: dict[tuple[str, str], tuple[list[Column], Printer]] = {
    ("", "Namespace"): (
        [("Status", _C, 0, "phase"), ("Age", _C, 0, "")],
        lambda o, n: [field_at(o, "status", "phase", default=""), age(o, n)],
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
            field_at(o, "spec", "type", default=""),
            field_at(o, "spec", "clusterIP", default="<none>"),
            _lb(o) or ("<pending>" if field_at(o, "spec", "type") == "LoadBalancer" else "<none>"),
            _ports(field_at(o, "spec", "ports")),
            age(o, n),
            ",".join(f"{k}={v}" for k, v in sorted((field_at(o, "spec", "selector") or {}).items()))
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
                    for s in field_at(o, "status", "containerStatuses", default=[])
                )
            ),
            age(o, n),
            field_at(o, "status", "podIP", default="<none>"),
            field_at(o, "spec", "nodeName", default="<none>"),
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
                or field_at(o, "metadata", "creationTimestamp"),
                n,
            ),
            o.get("type", ""),
            o.get("reason", ""),
            f"{str(field_at(o, 'involvedObject', 'kind', default='')).lower()}/"
            f"{field_at(o, 'involvedObject', 'name', default='')}",
            field_at(o, "involvedObject", "fieldPath", default=""),
            field_at(o, "source", "component", default=""),
            o.get("message", ""),
            _since(o.get("firstTimestamp") or field_at(o, "metadata", "creationTimestamp"), n),
            str(o.get("count") or 1),
            field_at(o, "metadata", "name", default=""),
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
            f"{field_at(o, 'status', 'readyReplicas', default=0)}/{field_at(o, 'spec', 'replicas', default=0)}",
            field_at(o, "status", "updatedReplicas", default=0),
            field_at(o, "status", "availableReplicas", default=0),
            age(o, n),
            *_containers(o.get("spec")),
            _selector(field_at(o, "spec", "selector")),
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
            f"{field_at(o, 'status', 'succeeded', default=0)}/{field_at(o, 'spec', 'completions', default=1)}",
            _job_duration(o, n),
            age(o, n),
            *_containers(o.get("spec")),
            _selector(field_at(o, "spec", "selector")),
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
            f"{field_at(o, 'spec', 'scaleTargetRef', 'kind', default='')}/"
            f"{field_at(o, 'spec', 'scaleTargetRef', 'name', default='')}",
            _hpa_targets(o),
            str(field_at(o, "spec", "minReplicas", default=1)),
            field_at(o, "spec", "maxReplicas", default=0),
            field_at(o, "status", "currentReplicas", default=0),
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
            field_at(o, "spec", "ingressClassName", default="<none>"),
            _ingress_hosts(o),
            _lb(o),
            _ingress_ports(o),
            age(o, n),
        ],
    ),
    ("networking.k8s.io", "NetworkPolicy"): (
        [("Pod-Selector", _C, 0, ""), ("Age", _C, 0, "")],
        lambda o, n: [
            _selector(field_at(o, "spec", "podSelector")).replace("<none>", "<none>"),
            age(o, n),
        ],
    ),
    ("coordination.k8s.io", "Lease"): (
        [("Holder", _C, 0, ""), ("Age", _C, 0, "")],
        lambda o, n: [field_at(o, "spec", "holderIdentity", default=""), age(o, n)],
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
            f"{field_at(o, 'roleRef', 'kind', default='')}/{field_at(o, 'roleRef', 'name', default='')}",
            age(o, n),
        ],
    ),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): (
        [("Role", _C, 0, ""), ("Age", _C, 0, "")],
        lambda o, n: [
            f"{field_at(o, 'roleRef', 'kind', default='')}/{field_at(o, 'roleRef', 'name', default='')}",
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
    if field_at(obj, "spec", "unschedulable"):
        status += ",SchedulingDisabled"
    return status


def _node_roles(obj: Obj) -> str:
    prefix = "node-role.kubernetes.io/"
    roles = sorted(
        k[len(prefix) :]
        for k in field_at(obj, "metadata", "labels", default={})
        if k.startswith(prefix)
    )
    return ",".join(roles) or "<none>"


def _internal_ip(obj: Obj) -> str:
    for a in field_at(obj, "status", "addresses", default=[]):
        if a.get("type") == "InternalIP":
            return str(a.get("address", ""))
    return "<none>"


BUILTIN.update(
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
                field_at(o, "status", "nodeInfo", "kubeletVersion", default=""),
                _internal_ip(o),
                "<none>",
                field_at(o, "status", "nodeInfo", "osImage", default="") or "<unknown>",
                field_at(o, "status", "nodeInfo", "kernelVersion", default="") or "<unknown>",
                field_at(o, "status", "nodeInfo", "containerRuntimeVersion", default="")
                or "<unknown>",
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
                field_at(o, "status", "phase", default=""),
                field_at(o, "spec", "volumeName", default=""),
                field_at(o, "status", "capacity", "storage", default=""),
                _access_modes(field_at(o, "status", "accessModes")),
                # storagehelpers.GetPersistentVolumeClaimClass: the beta annotation
                # first; an unset class prints empty (only the attributes class says so).
                field_at(o, "metadata", "annotations", "volume.beta.kubernetes.io/storage-class")
                or field_at(o, "spec", "storageClassName", default=""),
                field_at(o, "spec", "volumeAttributesClassName", default="") or "<unset>",
                age(o, n),
                field_at(o, "spec", "volumeMode", default=""),
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
                field_at(o, "spec", "replicas", default=0),
                field_at(o, "status", "replicas", default=0),
                field_at(o, "status", "readyReplicas", default=0),
                age(o, n),
                *_containers(o.get("spec")),
                _selector(field_at(o, "spec", "selector")),
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
                f"{field_at(o, 'status', 'readyReplicas', default=0)}/{field_at(o, 'spec', 'replicas', default=0)}",
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
                field_at(o, "spec", "schedule", default=""),
                field_at(o, "spec", "timeZone", default="") or "<none>",
                # printBoolPtr: a string cell, "True"/"False" ("<unset>" when nil).
                _bool_ptr(field_at(o, "spec", "suspend")),
                len(field_at(o, "status", "active", default=[]) or []),
                _since(field_at(o, "status", "lastScheduleTime"), n)
                if field_at(o, "status", "lastScheduleTime")
                else "<none>",
                age(o, n),
                *_containers(field_at(o, "spec", "jobTemplate", "spec", default={})),
                _selector(field_at(o, "spec", "jobTemplate", "spec", "selector")),
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
                _int_or_none(field_at(o, "spec", "minAvailable")),
                _int_or_none(field_at(o, "spec", "maxUnavailable")),
                field_at(o, "status", "disruptionsAllowed", default=0),
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
