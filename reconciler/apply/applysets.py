"""ApplySet ownership (KEP-3659): which live objects belong to an environment instance.

Called by the sync and plan stages. One parent per environment instance: the ConfigMap
``reconciler-applyset-<env>`` in the environment's namespace, labelled
``applyset.kubernetes.io/id``; every member carries ``applyset.kubernetes.io/part-of`` with
that id. The id is kubectl's: ``applyset-`` + base64url(sha256(``<name>.<namespace>.<kind>.<group>``))
without padding + ``-v1``, so ``kubectl apply --prune --applyset=configmaps/<name> -n <ns>``
and our prune agree on what belongs to the set. The parent's annotations list the member
kinds (``contains-group-kinds``, sorted ``Kind.group``) and the namespaces other than its own
(``additional-namespaces``), which is what both tools list when pruning.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from reconciler import __version__
from reconciler.structs import labels
from reconciler.structs.manifests import Manifest, ObjectRef

TOOLING_NAME = "reconciler"
TOOLING = f"{TOOLING_NAME}/v{__version__}"
PARENT_PREFIX = "reconciler-applyset-"
PARENT_KIND = "ConfigMap"
PARENT_GROUP = ""


def applyset_id(
    name: str, namespace: str, kind: str = PARENT_KIND, group: str = PARENT_GROUP
) -> str:
    """Return the ApplySet id of a parent object, exactly as kubectl computes it."""
    unencoded = ".".join((name, namespace, kind, group))
    digest = hashlib.sha256(unencoded.encode()).digest()
    return f"applyset-{base64.urlsafe_b64encode(digest).decode().rstrip('=')}-v1"


def format_group_kind(group: str, kind: str) -> str:
    """Return ``Kind.group`` (``Kind`` for the core group), as the annotation spells it."""
    return f"{kind}.{group}" if group else kind


def parse_group_kinds(value: str) -> list[tuple[str, str]]:
    """Parse a ``contains-group-kinds`` annotation into ``(group, kind)`` pairs.

    ``"Deployment.apps,Service"`` gives ``[("apps", "Deployment"), ("", "Service")]``; the
    kind ends at the first dot (kubectl's ParseGroupKind); empty entries are skipped.
    """
    out: list[tuple[str, str]] = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        kind, _, group = item.partition(".")
        out.append((group, kind))
    return out


def tooling_name(tooling: str) -> str:
    """Return the tool of a tooling annotation (``kubectl/v1.30`` gives ``kubectl``)."""
    return tooling.rsplit("/", 1)[0] if "/" in tooling else tooling


@dataclass(frozen=True)
class ApplySet:
    """One environment instance's set of objects: its parent's name, namespace and id."""

    name: str
    namespace: str
    id: str

    @property
    def parent_ref(self) -> ObjectRef:
        """The identity of the parent ConfigMap."""
        return ObjectRef(PARENT_GROUP, PARENT_KIND, self.namespace, self.name, "v1")

    @property
    def selector(self) -> str:
        """The label selector of the members (``applyset.kubernetes.io/part-of=<id>``)."""
        return f"{labels.APPLYSET_PART_OF}={self.id}"

    @property
    def not_member_selector(self) -> str:
        """The label selector of objects that are *not* members (unlabelled or another set's)."""
        return f"{labels.APPLYSET_PART_OF}!={self.id}"

    def owns(self, obj: Manifest | None) -> bool:
        """Return True if ``obj`` carries this set's part-of label."""
        if obj is None:
            return False
        obj_labels = (obj.get("metadata") or {}).get("labels") or {}
        return obj_labels.get(labels.APPLYSET_PART_OF) == self.id

    def parent_manifest(
        self, group_kinds: Iterable[tuple[str, str]], additional_namespaces: Iterable[str]
    ) -> Manifest:
        """Return the parent ConfigMap for these member kinds and extra namespaces.

        ``group_kinds`` are ``(group, kind)`` pairs; both annotations are written sorted and
        comma-separated (empty when there is nothing), as kubectl writes them; the parent's
        own namespace is never listed as additional. Like every object the reconciler
        generates, it carries the managed-by and ``reconciler.ml/env`` labels.
        """
        gks = sorted({format_group_kind(g, k) for g, k in group_kinds})
        namespaces = sorted({ns for ns in additional_namespaces if ns and ns != self.namespace})
        return {
            "apiVersion": "v1",
            "kind": PARENT_KIND,
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {
                    labels.APPLYSET_ID: self.id,
                    labels.MANAGED_BY: labels.MANAGED_BY_VALUE,
                    labels.ENV: self.name.removeprefix(PARENT_PREFIX),
                },
                "annotations": {
                    labels.APPLYSET_TOOLING: TOOLING,
                    labels.APPLYSET_CONTAINS_GROUP_KINDS: ",".join(gks),
                    labels.APPLYSET_ADDITIONAL_NAMESPACES: ",".join(namespaces),
                },
            },
        }


def applyset_for(env_name: str, namespace: str) -> ApplySet:
    """Return the ApplySet of one environment instance (its parent lives in ``namespace``)."""
    name = f"{PARENT_PREFIX}{env_name}"
    return ApplySet(name=name, namespace=namespace, id=applyset_id(name, namespace))


def parent_group_kinds(parent: Manifest | None) -> list[tuple[str, str]]:
    """Return the member kinds a live parent lists ([] without a parent or annotation)."""
    annotations = ((parent or {}).get("metadata") or {}).get("annotations") or {}
    return parse_group_kinds(str(annotations.get(labels.APPLYSET_CONTAINS_GROUP_KINDS, "")))


def parent_namespaces(parent: Manifest | None) -> list[str]:
    """Return the additional namespaces a live parent lists ([] if none)."""
    annotations = ((parent or {}).get("metadata") or {}).get("annotations") or {}
    value = str(annotations.get(labels.APPLYSET_ADDITIONAL_NAMESPACES, ""))
    return [ns for ns in value.split(",") if ns]


def parent_tooling(parent: Manifest | None) -> str:
    """Return the tooling annotation of a live parent ("" if none)."""
    annotations = ((parent or {}).get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(labels.APPLYSET_TOOLING, ""))
