"""The scale subresource (``autoscaling/v1`` Scale) of the kinds that serve it: read,
replace and patch, as ``kubectl scale`` and HPAs use it.

Callers: :class:`~reconciler.sandbox.handlers.Api` (this is one of its parts).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from reconciler.sandbox import apply as apply_
from reconciler.sandbox import errors, patches, selectors
from reconciler.sandbox.kinds import ResourceType
from reconciler.sandbox.request_params import Params, Result, clone, parse_body
from reconciler.sandbox.storage import Store

Obj = dict[str, Any]


class ScaleVerbs:
    """The scaling verbs of :class:`~reconciler.sandbox.handlers.Api` (a mixin)."""

    store: Store

    if TYPE_CHECKING:

        def _live(self, rt: ResourceType, ns: str, name: str) -> Obj: ...

        def _commit(
            self,
            rt: ResourceType,
            ns: str,
            name: str,
            live: Obj | None,
            new: Obj,
            *,
            sub: str,
            manager: str,
            applied: list[apply_.Manager] | None,
            dry_run: bool,
        ) -> Obj: ...

    def scale_of(self, rt: ResourceType, obj: Obj) -> Obj:
        """Return the ``autoscaling/v1`` Scale of an object that serves ``/scale``."""
        meta = obj["metadata"]
        spec = obj.get("spec") or {}
        sel = selectors.from_label_selector(spec.get("selector"))
        selector = ",".join(
            f"{r.key}={r.values[0]}" if r.op == "=" else f"{r.key} {r.op} ({','.join(r.values)})"
            for r in sel or ()
        )
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            "spec": {"replicas": int(spec.get("replicas") or 0)},
            "status": {
                "replicas": int((obj.get("status") or {}).get("replicas") or 0),
                "selector": selector,
            },
        }

    def _scale_to(self, rt: ResourceType, ns: str, name: str, scale: Any, params: Params) -> Result:
        if not isinstance(scale, dict) or not isinstance(scale.get("spec"), dict):
            raise errors.bad_request("the body must be an autoscaling/v1 Scale")
        replicas = scale["spec"].get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid(
                "Scale",
                "autoscaling",
                name,
                [
                    (
                        "FieldValueInvalid",
                        "spec.replicas",
                        f"Invalid value: {json.dumps(replicas)}: must be greater than or equal to 0",
                    )
                ],
            )
        manager = params.field_manager(required=False)
        with self.store.lock:
            live = self._live(rt, ns, name)
            rv = (scale.get("metadata") or {}).get("resourceVersion")
            if rv and rv != live["metadata"]["resourceVersion"]:
                raise errors.stale(rt.plural, rt.group, name)
            new = clone(live)
            new["spec"]["replicas"] = replicas
            obj = self._commit(
                rt,
                ns,
                name,
                live,
                new,
                sub="",
                manager=manager,
                applied=None,
                dry_run=params.dry_run,
            )
        return Result(200, self.scale_of(rt, obj))

    def update_scale(
        self, rt: ResourceType, ns: str, name: str, body: Any, params: Params
    ) -> Result:
        """Replace the Scale (PUT ``/scale``): sets the object's ``spec.replicas``."""
        params.check_dry_run()
        return self._scale_to(rt, ns, name, body, params)

    def patch_scale(
        self, rt: ResourceType, ns: str, name: str, content_type: str, raw: bytes, params: Params
    ) -> Result:
        """Patch the Scale (merge, JSON or strategic patch of ``/scale``)."""
        params.check_dry_run()
        ctype = content_type.split(";", 1)[0].strip().lower()
        patch = parse_body(raw, ctype)
        current = self.scale_of(rt, self._live(rt, ns, name))
        if ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            new = patches.merge_patch(current, patch)
        elif ctype == "application/json-patch+json":
            new = patches.json_patch(current, patch)
        else:
            raise errors.unsupported_media_type(content_type)
        return self._scale_to(rt, ns, name, new, params)
