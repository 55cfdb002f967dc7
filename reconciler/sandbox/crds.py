"""The CustomResourceDefinitions shipped with the project (``reconciler/crds/*.yaml``).

The Kubeflow training operator (PyTorchJob, kubeflow.org/v1), Kubeflow Trainer (TrainJob,
ClusterTrainingRuntime, trainer.kubeflow.org/v1alpha1), KServe (InferenceService,
serving.kserve.io/v1beta1) and Kueue (ClusterQueue, LocalQueue, ResourceFlavor,
kueue.x-k8s.io/v1beta2, v1beta1 deprecated). A sandbox serves none of these kinds until
they are applied (:meth:`reconciler.sandbox.Sandbox.install_crds` or ``kubectl apply -f``).

Callers: :class:`reconciler.sandbox.Sandbox`, tests, the demo.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml


def crd_files() -> list[Path]:
    """Return the paths of the bundled CRD files, sorted."""
    base = resources.files("reconciler") / "crds"
    return sorted(Path(str(p)) for p in base.iterdir() if str(p).endswith(".yaml"))


def bundled_crds() -> list[dict[str, Any]]:
    """Return every bundled CustomResourceDefinition as a dict."""
    out: list[dict[str, Any]] = []
    for path in crd_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                out.append(doc)
    return out
