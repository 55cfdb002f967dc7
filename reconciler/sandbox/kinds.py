"""The kinds the sandbox serves: built-in resource types and those CRDs add.

A :class:`ResourceType` is what discovery publishes for one resource (group, version,
kind, plural, scope, short names, verbs, subresources) plus what the server needs to
handle it (its schema root, printer columns). :class:`Registry` holds the built-ins and
adds or removes custom resources as CustomResourceDefinitions are written or deleted.

Callers: :mod:`.discovery_documents`, :mod:`.handlers`, :mod:`.server`, :mod:`.openapi`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from reconciler.sandbox.schemas import Node, Resolver, Schema, builtin_resolver, crd_resolver

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_VERBS = ("delete", "deletecollection", "get", "list", "watch")


@dataclass
class ResourceType:
    """One served resource (``deployments.apps/v1``) and how the server treats it."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    status: bool = False  # serves the status subresource
    definition: str = ""  # built-in OpenAPI definition name
    crd_schema: Schema | None = None  # a CRD version's openAPIV3Schema
    printer_columns: tuple[dict[str, Any], ...] = ()  # a CRD's additionalPrinterColumns
    builtin: bool = True
    generation: bool = True  # metadata.generation is kept (bumped on spec change)
    scale: bool = False  # serves the scale subresource (autoscaling/v1 Scale)
    storage_version: str = ""  # the version objects are stored in ("" = this version)
    deprecation_warning: str = ""  # a deprecated CRD version's warning ("" = not deprecated)
    virtual: bool = False  # answered, never stored (access and identity reviews)
    _root: Node | None = field(default=None, repr=False)
    _resolver: Resolver | None = field(default=None, repr=False)

    @property
    def api_version(self) -> str:
        """``apps/v1`` or ``v1`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """The storage key: ``plural.group`` (``plural`` for the core group)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def root(self) -> Node:
        """Return the structural schema node of the whole object."""
        if self._root is None:
            if self.builtin:
                res = builtin_resolver()
                self._resolver = res
                self._root = res.node({"$ref": f"#/$defs/{self.definition}"})
            else:
                res, root = crd_resolver(self.crd_schema)
                self._resolver = res
                self._root = res.node(root)
        return self._root

    def discovery(self) -> dict[str, Any]:
        """Return this resource's ``APIResource`` entry for discovery."""
        out: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            out["shortNames"] = list(self.short_names)
        if self.categories:
            out["categories"] = list(self.categories)
        if not self.virtual:
            out["storageVersionHash"] = storage_version_hash(
                self.group, self.storage_version or self.version, self.kind
            )
        return out


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """Return discovery's ``storageVersionHash``: the first 8 bytes of the SHA-256 of
    ``group/version/kind`` (of the storage version), base64."""
    digest = hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def _b(
    group: str,
    version: str,
    kind: str,
    plural: str,
    namespaced: bool,
    definition: str,
    *,
    short: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    status: bool = False,
    verbs: tuple[str, ...] = ALL_VERBS,
    generation: bool = False,
    scale: bool = False,
) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        short_names=short,
        categories=categories,
        verbs=verbs,
        status=status,
        definition=definition,
        generation=generation,
        scale=scale,
    )


NS_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")


def builtin_types() -> list[ResourceType]:
    """Return the built-in resource types (a fresh list; types are mutable caches)."""
    core = "io.k8s.api.core.v1."
    return [
        _b(
            "",
            "v1",
            "Namespace",
            "namespaces",
            False,
            core + "Namespace",
            short=("ns",),
            status=True,
            verbs=NS_VERBS,
        ),
        _b("", "v1", "ConfigMap", "configmaps", True, core + "ConfigMap", short=("cm",)),
        _b("", "v1", "Secret", "secrets", True, core + "Secret"),
        _b(
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            True,
            core + "ServiceAccount",
            short=("sa",),
        ),
        _b(
            "",
            "v1",
            "Service",
            "services",
            True,
            core + "Service",
            short=("svc",),
            categories=("all",),
            status=True,
            verbs=ALL_VERBS,
        ),
        _b(
            "",
            "v1",
            "Pod",
            "pods",
            True,
            core + "Pod",
            short=("po",),
            categories=("all",),
            status=True,
            generation=True,
        ),
        _b("", "v1", "Event", "events", True, core + "Event", short=("ev",)),
        _b(
            "",
            "v1",
            "ResourceQuota",
            "resourcequotas",
            True,
            core + "ResourceQuota",
            short=("quota",),
            status=True,
        ),
        _b("", "v1", "LimitRange", "limitranges", True, core + "LimitRange", short=("limits",)),
        _b(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            True,
            "io.k8s.api.apps.v1.Deployment",
            short=("deploy",),
            categories=("all",),
            status=True,
            generation=True,
            scale=True,
        ),
        _b(
            "batch",
            "v1",
            "Job",
            "jobs",
            True,
            "io.k8s.api.batch.v1.Job",
            categories=("all",),
            status=True,
            generation=True,
        ),
        _b(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            True,
            "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
            short=("hpa",),
            categories=("all",),
            status=True,
            generation=True,
        ),
        _b(
            "networking.k8s.io",
            "v1",
            "Ingress",
            "ingresses",
            True,
            "io.k8s.api.networking.v1.Ingress",
            short=("ing",),
            status=True,
            generation=True,
        ),
        _b(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            True,
            "io.k8s.api.networking.v1.NetworkPolicy",
            short=("netpol",),
            generation=True,
        ),
        _b(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            True,
            "io.k8s.api.policy.v1.PodDisruptionBudget",
            short=("pdb",),
            status=True,
            generation=True,
        ),
        _b(
            "coordination.k8s.io", "v1", "Lease", "leases", True, "io.k8s.api.coordination.v1.Lease"
        ),
        *_ml_stack_types(),
        _b("rbac.authorization.k8s.io", "v1", "Role", "roles", True, "io.k8s.api.rbac.v1.Role"),
        _b(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            True,
            "io.k8s.api.rbac.v1.RoleBinding",
        ),
        _b(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            False,
            "io.k8s.api.rbac.v1.ClusterRole",
        ),
        _b(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            False,
            "io.k8s.api.rbac.v1.ClusterRoleBinding",
        ),
        _b(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            False,
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
            short=("crd", "crds"),
            categories=("api-extensions",),
            status=True,
            generation=True,
        ),
    ]


def _ml_stack_types() -> list[ResourceType]:
    """The kinds ML stacks bring besides ours: scheduled and stateful workloads, claims
    for data, priorities, ReplicaSets and Nodes."""
    core, apps = "io.k8s.api.core.v1.", "io.k8s.api.apps.v1."
    return [
        _b("", "v1", "Node", "nodes", False, core + "Node", short=("no",), status=True),
        _b(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            True,
            core + "PersistentVolumeClaim",
            short=("pvc",),
            status=True,
        ),
        _b(
            "apps",
            "v1",
            "ReplicaSet",
            "replicasets",
            True,
            apps + "ReplicaSet",
            short=("rs",),
            categories=("all",),
            status=True,
            generation=True,
            scale=True,
        ),
        _b(
            "apps",
            "v1",
            "StatefulSet",
            "statefulsets",
            True,
            apps + "StatefulSet",
            short=("sts",),
            categories=("all",),
            status=True,
            generation=True,
            scale=True,
        ),
        _b(
            "batch",
            "v1",
            "CronJob",
            "cronjobs",
            True,
            "io.k8s.api.batch.v1.CronJob",
            short=("cj",),
            categories=("all",),
            status=True,
            generation=True,
        ),
        *_reviews(),
        _b(
            "scheduling.k8s.io",
            "v1",
            "PriorityClass",
            "priorityclasses",
            False,
            "io.k8s.api.scheduling.v1.PriorityClass",
            short=("pc",),
            generation=True,
        ),
    ]


def _reviews() -> list[ResourceType]:
    """What ``kubectl auth can-i`` and ``kubectl auth whoami`` create: answered, not stored."""
    out = []
    for group, kind, plural in (
        ("authentication.k8s.io", "SelfSubjectReview", "selfsubjectreviews"),
        ("authorization.k8s.io", "SelfSubjectAccessReview", "selfsubjectaccessreviews"),
        ("authorization.k8s.io", "SelfSubjectRulesReview", "selfsubjectrulesreviews"),
    ):
        t = _b(group, "v1", kind, plural, False, f"io.k8s.api.{group.split('.')[0]}.v1.{kind}")
        t.verbs = ("create",)
        t.virtual = True
        out.append(t)
    return out


# The order groups appear in /apis, as kube-apiserver orders them (by priority).
GROUP_ORDER = (
    "",
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "apiextensions.k8s.io",
)


def types_from_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """Return the resource types a CustomResourceDefinition serves (one per served version).

    Versions with ``served: false`` are skipped; the storage version is listed first.
    """
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = str(spec.get("group", ""))
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    out: list[ResourceType] = []
    versions = sorted(spec.get("versions") or [], key=lambda v: not v.get("storage"))
    storage = next((str(v.get("name", "")) for v in versions if v.get("storage")), "")
    for v in versions:
        if not v.get("served", True):
            continue
        schema = ((v.get("schema") or {}).get("openAPIV3Schema")) or None
        out.append(
            ResourceType(
                group=group,
                version=str(v.get("name", "")),
                kind=str(names.get("kind", "")),
                plural=str(names.get("plural", "")),
                singular=str(names.get("singular") or str(names.get("kind", "")).lower()),
                namespaced=namespaced,
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                status="status" in (v.get("subresources") or {}),
                crd_schema=schema,
                printer_columns=tuple(v.get("additionalPrinterColumns") or ()),
                builtin=False,
                generation=True,
                storage_version=storage,
                deprecation_warning=(
                    str(
                        v.get("deprecationWarning")
                        or f"{group}/{v.get('name')} {names.get('kind')} is deprecated"
                    )
                    if v.get("deprecated")
                    else ""
                ),
            )
        )
    return out


_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key of apimachinery's kube-aware version order (highest priority first):
    GA before beta before alpha, higher numbers first, then other names alphabetically
    (``v1``, ``v1beta2``, ``v1beta1``, ``v1alpha1``, ``foo``)."""
    m = _KUBE_VERSION.match(version)
    if m is None:
        return (4, 0, 0, version)
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    return (stage, -int(m.group(1)), -int(m.group(3) or 0), "")


class Registry:
    """The served resource types, looked up by (group, version, plural) or by kind."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._crds: dict[str, list[ResourceType]] = {}  # CRD name -> its types
        for t in builtin_types():
            self._types[(t.group, t.version, t.plural)] = t

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        """Return the type served at ``/apis/group/version/plural`` (or None)."""
        with self._lock:
            return self._types.get((group, version, plural))

    def by_key(self, key: str) -> list[ResourceType]:
        """Return every served version of the resource with storage key ``plural.group``."""
        with self._lock:
            return [t for t in self._types.values() if t.key == key]

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        """Return the type of an ``apiVersion``/``kind`` pair (or None)."""
        group, _, version = api_version.rpartition("/")
        with self._lock:
            for t in self._types.values():
                if t.group == group and t.version == version and t.kind == kind:
                    return t
        return None

    def all(self) -> list[ResourceType]:
        """Return every served type, built-ins first, in a stable order."""
        with self._lock:
            types = list(self._types.values())

        def order(t: ResourceType) -> tuple[int, str, str, str]:
            g = GROUP_ORDER.index(t.group) if t.group in GROUP_ORDER else len(GROUP_ORDER)
            return (g, t.group, t.version, t.plural)

        return sorted(types, key=order)

    def groups(self) -> dict[str, list[str]]:
        """Return {group: [versions, preferred first]} of every served group.

        Built-in groups keep their registration order (kube-apiserver's, ``autoscaling``
        v2 first); a group of CRDs is in kube-aware version order, as apiextensions
        sorts it (``v1beta2`` before ``v1beta1``)."""
        out: dict[str, list[str]] = {}
        custom: set[str] = set()
        for t in self.all():
            versions = out.setdefault(t.group, [])
            if t.version not in versions:
                versions.append(t.version)
            if not t.builtin:
                custom.add(t.group)
        for group in custom:
            out[group].sort(key=version_priority)
        return out

    def set_crd(self, crd: dict[str, Any]) -> None:
        """Serve (or re-serve) the kinds of a CRD; replaces what it served before."""
        name = str((crd.get("metadata") or {}).get("name", ""))
        types = types_from_crd(crd)
        with self._lock:
            self.remove_crd(name)
            for t in types:
                key = (t.group, t.version, t.plural)
                if key in self._types and self._types[key].builtin:
                    continue
                self._types[key] = t
            self._crds[name] = types

    def remove_crd(self, name: str) -> None:
        """Stop serving the kinds of CRD ``name`` (no-op if it served none)."""
        with self._lock:
            for t in self._crds.pop(name, []):
                key = (t.group, t.version, t.plural)
                if self._types.get(key) is t:
                    del self._types[key]

    def crd_types(self, name: str) -> list[ResourceType]:
        """Return the types CRD ``name`` serves."""
        with self._lock:
            return list(self._crds.get(name, []))
