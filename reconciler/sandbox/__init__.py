"""A local Kubernetes API emulator (``reconciler sandbox``); shares no code with the cluster layer.

``from reconciler.sandbox import Sandbox``: see :class:`~reconciler.sandbox.sandbox.Sandbox`.

Modules, by topic: :mod:`.server` (HTTP routing, watch streams), :mod:`.media_types`
(content negotiation), :mod:`.request_params` (what the verbs take and give),
:mod:`.handlers` (the verbs), :mod:`.listing` (list and watch),
:mod:`.deletes`, :mod:`.scaling` (the scale subresource), :mod:`.write_phases` (every
write's phases in kube-apiserver's order), :mod:`.storage` (objects, resourceVersion, watch
fan-out), :mod:`.kinds` (served types), :mod:`.discovery_documents` (discovery and OpenAPI),
:mod:`.schemas` (structural schemas), :mod:`.fieldsets` and :mod:`.apply` (server-side
apply, managedFields), :mod:`.patches`, :mod:`.selectors`, :mod:`.defaults`,
:mod:`.object_validation` and :mod:`.validators` (one module per kind), :mod:`.printers`
and :mod:`.tables` (server-side printing), :mod:`.reviews` (access and identity reviews),
:mod:`.protobuf` (protobuf request bodies), :mod:`.errors` (``metav1.Status``),
:mod:`.lifecycle` (garbage collection, namespace and CRD finalization), :mod:`.controllers`
(simulated workloads and programmed outcomes; :mod:`.simulate` runs them against any API
server), :mod:`.request_metrics`, :mod:`.kubeconfig`, :mod:`.persistence`, :mod:`.crds`
(the bundled CRDs).
"""

from __future__ import annotations

from reconciler.sandbox.sandbox import Sandbox

__all__ = ["Sandbox"]
