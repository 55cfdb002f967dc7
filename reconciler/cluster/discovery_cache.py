"""Which resource serves a kind: a per-client, per-process discovery cache.

Called by the apply stage's resource manager before any object request. The cache costs
at most one request per API group-version the process uses (``/api/v1``,
``/apis/apps/v1``, ...) plus one ``/apis`` when a kind is named without a version (the
ApplySet parent's ``contains-group-kinds``). Found kinds are kept for the life of the
client; a kind that is *not* served is remembered only until :meth:`Discovery.forget_missing`
(called at the start of every sync), so a CRD installed later is noticed on the next sync.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s_client

from reconciler.cluster import api
from reconciler.structs.errors import MissingCRDError

OPERATORS: dict[str, str] = {
    "kubeflow.org": "the Kubeflow training operator",
    "trainer.kubeflow.org": "Kubeflow Trainer",
    "serving.kserve.io": "KServe",
    "kueue.x-k8s.io": "Kueue",
}
"""API group -> the operator that installs its CRDs, for "missing CRD" errors."""


@dataclass(frozen=True)
class ApiResource:
    """How the API serves one kind: group, version, kind, plural resource, scope."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        """``group/version`` (``v1`` for the core group)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def typed(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Fill in ``apiVersion`` and ``kind`` of ``obj`` (list items come without them)."""
        if not obj.get("kind"):
            obj["kind"] = self.kind
        if not obj.get("apiVersion"):
            obj["apiVersion"] = self.api_version
        return obj

    def path(self, namespace: str = "", name: str = "") -> str:
        """Return the URL path of the collection, or of one object when ``name`` is given.

        A namespaced resource without ``namespace`` gives the all-namespaces collection.
        """
        return api_path(
            self.group, self.version, self.plural, namespace if self.namespaced else "", name
        )


def api_path(group: str, version: str, plural: str, namespace: str = "", name: str = "") -> str:
    """Return the URL path of a collection (in ``namespace``, or all), or of one object when
    ``name`` is given: ``/apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>]``, under
    ``/api/<version>`` for the core group."""
    base = f"/apis/{group}/{version}" if group else f"/api/{version}"
    if namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{plural}"
    return f"{base}/{name}" if name else base


def operator_for(group: str) -> str:
    """Return the operator that serves ``group``, or a generic phrase for other groups."""
    return OPERATORS.get(group, f"the operator that provides the {group} API (its CRDs)")


def missing_kind_error(group: str, version: str, kind: str) -> MissingCRDError:
    """Return the one clear error for a kind the cluster does not serve."""
    gv = f"{group}/{version}" if group and version else group or version
    return MissingCRDError(
        f"{kind} ({gv}) is not served by the cluster: is {operator_for(group)} installed?",
        status=404,
        reason="NotFound",
    )


class Discovery:
    """The discovery cache of one API client (thread-safe)."""

    def __init__(self, client: k8s_client.ApiClient, *, stats: api.RequestStats | None = None):
        self._client = client
        self.stats = stats or api.RequestStats()
        self._lock = threading.RLock()
        self._group_versions: dict[tuple[str, str], dict[str, ApiResource] | None] = {}
        self._preferred: dict[str, str] | None = None
        self._preferred_missed = False

    def _fetch_group_version(self, group: str, version: str) -> dict[str, ApiResource] | None:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            data = api.call(self._client, "GET", path, stats=self.stats).data or {}
        except api.ApiError as exc:
            if exc.status == 404:
                return None
            raise
        out: dict[str, ApiResource] = {}
        for res in data.get("resources") or []:
            name = str(res.get("name", ""))
            if not name or "/" in name:  # subresources (deployments/status) are not kinds
                continue
            kind = str(res.get("kind", ""))
            out.setdefault(
                kind,
                ApiResource(group, version, kind, name, bool(res.get("namespaced", False))),
            )
        return out

    def _resources(self, group: str, version: str) -> dict[str, ApiResource] | None:
        found = self._group_versions.get((group, version))
        if found is not None:  # fast path: a served group-version, no lock needed
            return found
        with self._lock:
            key = (group, version)
            if key not in self._group_versions:
                self._group_versions[key] = self._fetch_group_version(group, version)
            return self._group_versions[key]

    def resource(self, group: str, version: str, kind: str) -> ApiResource:
        """Return how ``kind`` of ``group/version`` is served.

        Raises MissingCRDError (naming the operator) if the group-version or the kind is not
        served; ApiError for any other discovery failure.
        """
        resources = self._resources(group, version)
        found = resources.get(kind) if resources is not None else None
        if found is None:
            raise missing_kind_error(group, version, kind)
        return found

    def preferred_version(self, group: str) -> str:
        """Return the server's preferred version of ``group`` (``v1`` for the core group).

        Raises MissingCRDError if the group is not served at all.
        """
        if not group:
            return "v1"
        with self._lock:
            if self._preferred is None:
                data = api.call(self._client, "GET", "/apis", stats=self.stats).data or {}
                preferred: dict[str, str] = {}
                for g in data.get("groups") or []:
                    pv = (g.get("preferredVersion") or {}).get("version")
                    versions = [v.get("version") for v in g.get("versions") or []]
                    if pv or versions:
                        preferred[str(g.get("name"))] = str(pv or versions[0])
                self._preferred = preferred
            version = self._preferred.get(group)
            if version is None:
                self._preferred_missed = True
        if version is None:
            raise missing_kind_error(group, "", "kinds")
        return version

    def resource_for_group_kind(self, group: str, kind: str) -> ApiResource:
        """Return how ``kind`` of ``group`` is served, at the group's preferred version."""
        return self.resource(group, self.preferred_version(group), kind)

    def forget_missing(self) -> None:
        """Drop what is remembered as not served (start of a sync: CRDs may have appeared)."""
        with self._lock:
            for key in [k for k, v in self._group_versions.items() if v is None]:
                del self._group_versions[key]
            if self._preferred_missed:
                self._preferred = None
                self._preferred_missed = False

    def invalidate(self, group: str) -> None:
        """Forget everything about ``group`` (a CRD of that group was applied or deleted)."""
        with self._lock:
            for key in [k for k in self._group_versions if k[0] == group]:
                del self._group_versions[key]
            self._preferred = None


_CACHES: weakref.WeakKeyDictionary[Any, Discovery] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def discovery_for(client: k8s_client.ApiClient) -> Discovery:
    """Return the discovery cache of ``client`` (one per client object, for the process)."""
    with _CACHES_LOCK:
        cache = _CACHES.get(client)
        if cache is None:
            cache = Discovery(client)
            _CACHES[client] = cache
        return cache
