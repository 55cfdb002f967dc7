"""reconciler: a GitOps reconciler for machine learning pipelines.

The data path, one package per stage::

    source (git) -> render (kustomize, specs, DVC) -> plan (diff) -> apply (server-side
    apply, prune) -> health -> provenance (commit back to git)

``engine`` joins the stages for one environment; ``daemon`` only schedules (the CLI wires
the engine into it);
``cli`` only parses and prints. ``sandbox`` is a separate Kubernetes API emulator that
shares no code with the cluster layer.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
