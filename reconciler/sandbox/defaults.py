"""Server-side defaulting and create-time preparation of the built-in kinds.

These are the fields kube-apiserver fills in (the ``SetDefaults_*`` functions and the
registry strategies' ``PrepareForCreate``) that ``kubectl diff`` and a plan would
otherwise report as drift: pod specs (restartPolicy, dnsPolicy, schedulerName,
terminationGracePeriodSeconds, securityContext), containers (terminationMessagePath/
Policy, imagePullPolicy, resources, port protocol, probe timings), volumes
(defaultMode), Deployments (replicas, strategy, revisionHistoryLimit,
progressDeadlineSeconds), Jobs (completions, parallelism, backoffLimit, completionMode,
suspend, podReplacementPolicy, the generated selector and template labels), Services
(type, sessionAffinity, clusterIP(s) allocation, ipFamilies, port protocol and
targetPort, internalTrafficPolicy), Namespaces (finalizer, phase, name label), Secrets
(type, ``stringData`` folded into ``data``), NetworkPolicies (policyTypes),
HorizontalPodAutoscalers (minReplicas, default CPU metric, behavior policies),
RoleBindings (subject apiGroup), CustomResourceDefinitions (conversion).

Defaulting only adds what is missing, so it is idempotent and runs on every write.
Callers: :mod:`.handlers`.
"""

from __future__ import annotations

import base64
import ipaddress
import itertools
import threading
from typing import Any

Obj = dict[str, Any]

_ip_lock = threading.Lock()
_ip_counter = itertools.count(10)
_port_counter = itertools.count(30000)


def _d(obj: Obj, key: str) -> Obj:
    """Return ``obj[key]`` as a dict, creating it if missing or null."""
    cur = obj.get(key)
    if not isinstance(cur, dict):
        cur = {}
        obj[key] = cur
    return cur


def _pull_policy(image: str) -> str:
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _probe(p: Any) -> None:
    if not isinstance(p, dict):
        return
    p.setdefault("timeoutSeconds", 1)
    p.setdefault("periodSeconds", 10)
    p.setdefault("successThreshold", 1)
    p.setdefault("failureThreshold", 3)
    http = p.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("scheme", "HTTP")


def container(c: Obj) -> None:
    """Default one container (also init and ephemeral containers)."""
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if "image" in c and "imagePullPolicy" not in c:
        c["imagePullPolicy"] = _pull_policy(str(c["image"]))
    if not isinstance(c.get("resources"), dict):
        c["resources"] = {}
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for e in c.get("env") or []:
        ref = ((e or {}).get("valueFrom") or {}).get("fieldRef")
        if isinstance(ref, dict):
            ref.setdefault("apiVersion", "v1")
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c.get(name))


def pod_spec(spec: Obj, *, restart_policy: bool = True) -> None:
    """Default a PodSpec (``SetDefaults_PodSpec`` and its containers/volumes).

    ``restart_policy`` False: leave ``restartPolicy`` unset (a Job's pod template, which
    kube-apiserver 1.37 requires to say OnFailure or Never itself).
    """
    if restart_policy:
        spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    if not isinstance(spec.get("securityContext"), dict):
        spec["securityContext"] = {}
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                container(c)
    for v in spec.get("volumes") or []:
        if not isinstance(v, dict):
            continue
        sources = [k for k in v if k != "name"]
        if not sources:
            v["emptyDir"] = {}
        for key in ("configMap", "secret", "projected", "downwardAPI"):
            if isinstance(v.get(key), dict):
                v[key].setdefault("defaultMode", 420)
        for f in (v.get("downwardAPI") or {}).get("items") or []:
            ref = (f or {}).get("fieldRef")
            if isinstance(ref, dict):
                ref.setdefault("apiVersion", "v1")


def _template(spec: Obj) -> None:
    tpl = spec.get("template")
    if isinstance(tpl, dict):
        pod_spec(_d(tpl, "spec"))


def deployment(obj: Obj) -> None:
    """Default an apps/v1 Deployment."""
    spec = _d(obj, "spec")
    spec.setdefault("replicas", 1)
    strategy = _d(spec, "strategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = _d(strategy, "rollingUpdate")
        ru.setdefault("maxUnavailable", "25%")
        ru.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template(spec)


def job(obj: Obj, *, create: bool) -> None:
    """Default a batch/v1 Job; ``create``: also generate its selector and pod labels."""
    spec = _d(obj, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    spec.setdefault("parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("manualSelector", False)
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = (
            "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed"
        )
    meta = _d(obj, "metadata")
    tpl = _d(spec, "template")
    tmeta = _d(tpl, "metadata")
    if not meta.get("labels") and tmeta.get("labels"):
        meta["labels"] = dict(tmeta["labels"])
    if create and not spec.get("manualSelector"):
        uid = str(meta.get("uid", ""))
        name = str(meta.get("name", ""))
        labels = _d(tmeta, "labels")
        labels["batch.kubernetes.io/controller-uid"] = uid
        labels["batch.kubernetes.io/job-name"] = name
        labels["controller-uid"] = uid
        labels["job-name"] = name
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    pod_spec(_d(tpl, "spec"), restart_policy=False)


def _allocate_ip() -> str:
    with _ip_lock:
        n = next(_ip_counter)
    return str(ipaddress.IPv4Address(int(ipaddress.IPv4Address("10.96.0.0")) + n))


def service(obj: Obj, old: Obj | None) -> None:
    """Default a v1 Service; allocates a cluster IP (kept from ``old`` on update)."""
    spec = _d(obj, "spec")
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    kind = spec["type"]
    for p in spec.get("ports") or []:
        if not isinstance(p, dict):
            continue
        p.setdefault("protocol", "TCP")
        if p.get("targetPort") in (None, 0, "") and "port" in p:
            p["targetPort"] = p["port"]
    old_spec = (old or {}).get("spec") or {}
    if kind != "ExternalName":
        if not spec.get("clusterIP"):
            spec["clusterIP"] = old_spec.get("clusterIP") or _allocate_ip()
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
        old_ports = {
            (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
            for p in old_spec.get("ports") or []
            if isinstance(p, dict)
        }
        for p in spec.get("ports") or []:
            if isinstance(p, dict) and not p.get("nodePort"):
                p["nodePort"] = old_ports.get((p.get("port"), p.get("protocol"))) or next(
                    _port_counter
                )
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    status = _d(obj, "status")
    status.setdefault("loadBalancer", {})


def namespace(obj: Obj) -> None:
    """Default a Namespace (finalizer, phase, the ``kubernetes.io/metadata.name`` label)."""
    meta = _d(obj, "metadata")
    _d(meta, "labels")["kubernetes.io/metadata.name"] = str(meta.get("name", ""))
    spec = _d(obj, "spec")
    spec.setdefault("finalizers", ["kubernetes"])
    status = _d(obj, "status")
    status.setdefault("phase", "Active")


def secret(obj: Obj) -> None:
    """Default a Secret: type Opaque; ``stringData`` is folded into ``data`` and dropped."""
    if not obj.get("type"):
        obj["type"] = "Opaque"
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = _d(obj, "data")
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()


def network_policy(obj: Obj) -> None:
    """Default policyTypes (Ingress, plus Egress if egress rules are given) and protocols."""
    spec = _d(obj, "spec")
    if not spec.get("policyTypes"):
        types = ["Ingress"]
        if spec.get("egress"):
            types.append("Egress")
        spec["policyTypes"] = types
    for rule in (spec.get("ingress") or []) + (spec.get("egress") or []):
        for p in (rule or {}).get("ports") or []:
            if isinstance(p, dict):
                p.setdefault("protocol", "TCP")


def hpa(obj: Obj) -> None:
    """Default an autoscaling/v2 HorizontalPodAutoscaler."""
    spec = _d(obj, "spec")
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80},
                },
            }
        ]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        up = _d(behavior, "scaleUp")
        up.setdefault("stabilizationWindowSeconds", 0)
        up.setdefault("selectPolicy", "Max")
        up.setdefault(
            "policies",
            [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ],
        )
        down = _d(behavior, "scaleDown")
        down.setdefault("stabilizationWindowSeconds", 300)
        down.setdefault("selectPolicy", "Max")
        down.setdefault("policies", [{"type": "Percent", "value": 100, "periodSeconds": 15}])


def role_binding(obj: Obj) -> None:
    """Default each subject's apiGroup by its kind."""
    for s in obj.get("subjects") or []:
        if not isinstance(s, dict):
            continue
        if s.get("kind") == "ServiceAccount":
            s.setdefault("apiGroup", "")
            if s.get("apiGroup") == "":
                s.pop("apiGroup")
        elif s.get("kind") in ("User", "Group"):
            s.setdefault("apiGroup", "rbac.authorization.k8s.io")


def limit_range(obj: Obj) -> None:
    """Default container limits per resource, as ``SetDefaults_LimitRangeItem``: a
    ``default`` from ``max``, then a ``defaultRequest`` from ``default``, then from ``min``."""
    for item in (obj.get("spec") or {}).get("limits") or []:
        if not isinstance(item, dict) or item.get("type") != "Container":
            continue
        default = dict(item.get("default") or {})
        request = dict(item.get("defaultRequest") or {})
        for source, target in (("max", default), ("default", request), ("min", request)):
            values = default if source == "default" else item.get(source) or {}
            for name, value in values.items():
                target.setdefault(name, value)
        if default:
            item["default"] = default
        if request:
            item["defaultRequest"] = request


def crd(obj: Obj) -> None:
    """Default a CustomResourceDefinition (conversion strategy, singular/listKind)."""
    spec = _d(obj, "spec")
    conv = _d(spec, "conversion")
    conv.setdefault("strategy", "None")
    names = _d(spec, "names")
    if "kind" in names:
        names.setdefault("singular", str(names["kind"]).lower())
        names.setdefault("listKind", f"{names['kind']}List")


_CONTAINER_STATUS_ZEROES: tuple[tuple[str, Any], ...] = (
    ("name", ""),
    ("state", {}),
    ("lastState", {}),
    ("ready", False),
    ("restartCount", 0),
    ("image", ""),
    ("imageID", ""),
)
"""Fields of a ContainerStatus Go always writes (no omitempty, or a struct value)."""


def pod(obj: Obj) -> None:
    """Default a Pod (its spec and the fields a Pod alone gets: a container's missing
    requests are its limits, ``SetDefaults_Pod``), and write its container statuses
    with every field Go always writes."""
    status = obj.get("status")
    status = status if isinstance(status, dict) else {}
    for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
        for cs in status.get(key) or []:
            if isinstance(cs, dict):
                for field, zero in _CONTAINER_STATUS_ZEROES:
                    cs.setdefault(field, {} if isinstance(zero, dict) else zero)
    spec = _d(obj, "spec")
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            res = c.get("resources") if isinstance(c, dict) else None
            if isinstance(res, dict) and isinstance(res.get("limits"), dict):
                requests = res.setdefault("requests", {})
                for name, value in res["limits"].items():
                    requests.setdefault(name, value)
    pod_spec(spec)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)


_NOT_READY_TOLERATIONS = (
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
)


def qos_class(spec: Obj) -> str:
    """Return a pod's QoS class from its containers' CPU and memory requests and limits."""
    containers = [c for c in (spec.get("containers") or []) if isinstance(c, dict)]
    containers += [c for c in (spec.get("initContainers") or []) if isinstance(c, dict)]
    requests: list[Obj] = []
    limits: list[Obj] = []
    for c in containers:
        res = c.get("resources") or {}
        requests.append(
            {k: v for k, v in (res.get("requests") or {}).items() if k in ("cpu", "memory")}
        )
        limits.append(
            {k: v for k, v in (res.get("limits") or {}).items() if k in ("cpu", "memory")}
        )
    if not any(requests) and not any(limits):
        return "BestEffort"
    guaranteed = all(
        set(lim) == {"cpu", "memory"} and req == lim
        for req, lim in zip(requests, limits, strict=True)
    )
    return "Guaranteed" if guaranteed else "Burstable"


def _admit_pod(obj: Obj) -> None:
    """What a new Pod gets before storage: the DefaultTolerationSeconds admission plugin's
    tolerations, and the registry's status (Pending, its QoS class)."""
    spec = _d(obj, "spec")
    given = spec.get("tolerations")
    tolerations: list[Any] = given if isinstance(given, list) else []
    for tol in _NOT_READY_TOLERATIONS:
        if not any(
            isinstance(t, dict)
            and t.get("key") == tol["key"]
            and t.get("effect") in (None, "", "NoExecute")
            for t in tolerations
        ):
            tolerations.append(dict(tol))
    spec["tolerations"] = tolerations
    obj["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}


PVC_PROTECTION = "kubernetes.io/pvc-protection"


def prepare_for_create(group: str, kind: str, obj: Obj) -> None:
    """Run the create-time strategy of a kind (a Job's generated selector and labels, a
    Pod's admission defaults and status)."""
    if kind == "Pod" and group == "":
        _admit_pod(obj)
    elif kind == "PersistentVolumeClaim" and group == "":
        obj["status"] = {"phase": "Pending"}
        # The StorageObjectInUseProtection admission plugin's finalizer.
        finalizers = _d(obj, "metadata").setdefault("finalizers", [])
        if PVC_PROTECTION not in finalizers:
            finalizers.append(PVC_PROTECTION)
    elif kind == "StatefulSet" and group == "apps":
        obj["status"] = {"replicas": 0, "availableReplicas": 0}  # not omitempty in Go
    elif kind == "ReplicaSet" and group == "apps":
        obj["status"] = {"replicas": 0}  # not omitempty in Go
    elif kind == "HorizontalPodAutoscaler":
        obj["status"] = {"currentMetrics": None, "desiredReplicas": 0}  # not omitempty in Go
    elif kind == "Ingress" and group == "networking.k8s.io":
        obj["status"] = {"loadBalancer": {}}  # a struct, always written
    elif kind == "PodDisruptionBudget" and group == "policy":
        obj["status"] = {  # not omitempty in Go
            "disruptionsAllowed": 0,
            "currentHealthy": 0,
            "desiredHealthy": 0,
            "expectedPods": 0,
        }
    elif kind == "CustomResourceDefinition":
        stored = [v.get("name") for v in _d(obj, "spec").get("versions") or [] if v.get("storage")]
        obj["status"] = {
            "conditions": [],
            "acceptedNames": {"plural": "", "kind": ""},
            "storedVersions": stored,
        }
    elif kind == "Job" and group == "batch":
        spec = _d(obj, "spec")
        if not spec.get("manualSelector"):
            meta = _d(obj, "metadata")
            tmeta = _d(_d(spec, "template"), "metadata")
            uid = str(meta.get("uid", ""))
            name = str(meta.get("name", ""))
            labels = _d(tmeta, "labels")
            labels["batch.kubernetes.io/controller-uid"] = uid
            labels["batch.kubernetes.io/job-name"] = name
            labels["controller-uid"] = uid
            labels["job-name"] = name
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
            if not meta.get("labels"):
                # SetDefaults_Job runs again when the object is read back from storage.
                meta["labels"] = dict(labels)


def replica_set(obj: Obj) -> None:
    """Default an apps/v1 ReplicaSet."""
    spec = _d(obj, "spec")
    spec.setdefault("replicas", 1)
    _template(spec)


def stateful_set(obj: Obj) -> None:
    """Default an apps/v1 StatefulSet."""
    spec = _d(obj, "spec")
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = _d(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _d(strategy, "rollingUpdate")
        rolling.setdefault("partition", 0)
        rolling.setdefault("maxUnavailable", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    retention = _d(spec, "persistentVolumeClaimRetentionPolicy")
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    for claim in spec.get("volumeClaimTemplates") or []:
        if isinstance(claim, dict):
            _d(claim, "spec").setdefault("volumeMode", "Filesystem")
    _template(spec)


def cron_job(obj: Obj) -> None:
    """Default a batch/v1 CronJob (its job template's pod spec too)."""
    spec = _d(obj, "spec")
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    template = _d(spec, "jobTemplate")
    job_spec = _d(template, "spec")
    # Embedded ObjectMeta is a struct, never omitted: Go writes ``metadata: {}``.
    _d(template, "metadata")
    _d(_d(job_spec, "template"), "metadata")
    pod_spec(_d(_d(job_spec, "template"), "spec"), restart_policy=False)


def persistent_volume_claim(obj: Obj) -> None:
    """Default a PersistentVolumeClaim."""
    _d(obj, "spec").setdefault("volumeMode", "Filesystem")


def priority_class(obj: Obj) -> None:
    """Default a scheduling.k8s.io/v1 PriorityClass."""
    obj.setdefault("preemptionPolicy", "PreemptLowerPriority")


def apply_defaults(group: str, kind: str, obj: Obj, old: Obj | None, *, create: bool) -> None:
    """Fill the server defaults of a built-in kind into ``obj`` (in place)."""
    simple = _SIMPLE_DEFAULTS.get((group, kind))
    if simple is not None:
        simple(obj)
    elif kind == "Deployment" and group == "apps":
        deployment(obj)
    elif kind == "Job" and group == "batch":
        job(obj, create=create)
    elif kind == "Service" and group == "":
        service(obj, old)
    elif kind == "Namespace" and group == "":
        namespace(obj)
    elif kind == "Secret" and group == "":
        secret(obj)
    elif kind == "Pod" and group == "":
        pod(obj)
    elif kind == "NetworkPolicy":
        network_policy(obj)
    elif kind == "HorizontalPodAutoscaler":
        hpa(obj)
    elif kind in ("RoleBinding", "ClusterRoleBinding"):
        role_binding(obj)
    elif kind == "LimitRange":
        limit_range(obj)
    elif kind == "CustomResourceDefinition":
        crd(obj)


KEEP_EMPTY = frozenset({"rules"})
"""Optional list fields Go writes even when empty (no ``omitempty``: a Role's ``rules``)."""


_ZERO = {"string": "", "integer": 0, "number": 0, "boolean": False}
"""Go's zero value of a scalar map value decoded from ``null`` (``labels: {a: null}``)."""


def drop_empty(value: Any, node: Any) -> None:
    """Drop empty maps and lists from optional fields, in place, as Go's ``omitempty`` does
    when kube-apiserver decodes an object and writes it back (``annotations: {}`` and
    ``data: {}`` are not stored). Struct-typed fields (``securityContext: {}``) stay:
    they are pointers that were set. A field that is ``null`` is dropped (a nil pointer,
    map or list is not written back); a ``null`` value in a map of scalars becomes the
    type's zero value (a label ``a: null`` is stored as ``a: ""``)."""
    if not isinstance(value, dict) or node.kind != "struct":
        if isinstance(value, list) and node.kind == "list":
            inode = node.item()
            for item in value:
                drop_empty(item, inode)
        elif isinstance(value, dict) and node.kind == "map":
            elem = node.child("")
            for key, item in value.items():
                if item is not None:
                    drop_empty(item, elem)
                elif elem.kind == "scalar" and len(elem.types) == 1:
                    value[key] = _ZERO.get(next(iter(elem.types)))
        return
    for key in list(value):
        child = node.child(key)
        v = value[key]
        if v is None and child.kind in ("struct", "map", "list", "scalar"):
            del value[key]
            continue
        empty = (isinstance(v, dict) and not v and child.kind == "map") or (
            isinstance(v, list) and not v and child.kind == "list"
        )
        if empty and key not in node.required and key not in KEEP_EMPTY:
            del value[key]
        else:
            drop_empty(v, child)


def prune_nulls(value: Any, node: Any) -> None:
    """Drop ``null`` from the fields and map values a custom resource's schema declares, in
    place, as apiextensions prunes nulls that are not ``nullable`` before validating (where
    the schema keeps unknown fields, a ``null`` stays)."""
    if isinstance(value, list) and node.kind == "list":
        item = node.item()
        for v in value:
            prune_nulls(v, item)
        return
    if not isinstance(value, dict) or node.kind not in ("struct", "map"):
        return
    for key in list(value):
        child = node.child(key)
        if value[key] is None:
            if (node.kind == "map" or node.knows(key)) and child.kind != "deduced":
                del value[key]
            continue
        prune_nulls(value[key], child)


_SIMPLE_DEFAULTS = {
    ("apps", "ReplicaSet"): replica_set,
    ("apps", "StatefulSet"): stateful_set,
    ("batch", "CronJob"): cron_job,
    ("", "PersistentVolumeClaim"): persistent_volume_claim,
    ("scheduling.k8s.io", "PriorityClass"): priority_class,
}
"""Kinds whose defaults depend on nothing but the object."""
