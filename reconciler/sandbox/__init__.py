"""A local Kubernetes API emulator (``reconciler sandbox``); shares no code with the cluster layer.

``from reconciler.sandbox import Sandbox``: see :class:`~reconciler.sandbox.sandbox.Sandbox`.

Modules, by topic: :mod:`.server` (HTTP routing), :mod:`.handlers` (the verbs),
:mod:`.storage` (objects, resourceVersion, watch fan-out), :mod:`.kinds` (served types),
:mod:`.discovery` (discovery and OpenAPI), :mod:`.schemas` (structural schemas),
:mod:`.fieldsets` and :mod:`.apply` (server-side apply, managedFields), :mod:`.patches`,
:mod:`.selectors`, :mod:`.defaults`, :mod:`.validation`, :mod:`.tables` (server-side
printing), :mod:`.lifecycle` (garbage collection, namespace and CRD finalization),
:mod:`.controllers` (simulated workloads and programmed outcomes), :mod:`.metrics`,
:mod:`.kubeconfig`, :mod:`.persistence`, :mod:`.crds` (the bundled CRDs).
"""

from __future__ import annotations

from reconciler.sandbox.sandbox import Sandbox

__all__ = ["Sandbox"]
