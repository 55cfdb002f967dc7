"""The resources the simulated controllers read and write, by group/version/plural.

A :class:`Resource` is enough to address a kind on any API server (its REST path) and
to find it in the sandbox's registry. Callers: every module of this package.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    """One kind the controllers touch: ``Resource("batch", "v1", "jobs", "Job")``."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """``batch/v1``, or ``v1`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str = "", sub: str = "") -> str:
        """Return the REST path: collection (all namespaces when ``namespace`` is None),
        object, or subresource."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace is not None:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
            if sub:
                base += f"/{sub}"
        return base


JOBS = Resource("batch", "v1", "jobs", "Job")
PYTORCHJOBS = Resource("kubeflow.org", "v1", "pytorchjobs", "PyTorchJob")
TRAINJOBS = Resource("trainer.kubeflow.org", "v1alpha1", "trainjobs", "TrainJob")
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
INFERENCESERVICES = Resource(
    "serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService"
)
PODS = Resource("", "v1", "pods", "Pod")
EVENTS = Resource("", "v1", "events", "Event")
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)

WATCHED = (JOBS, PYTORCHJOBS, TRAINJOBS, DEPLOYMENTS, INFERENCESERVICES, PODS, CONFIGMAPS, NODES)
"""What a remote simulator keeps a watch-fed cache of."""
