"""The API verbs on stored objects, independent of HTTP: the :class:`Api`.

:class:`Api` joins its parts: reads of one object and the writes (create, update, patch
in every flavour, server-side apply) here; lists and watch set-up in :mod:`.listing`;
the scale subresource in :mod:`.scaling`; deletes in :mod:`.deletes`. Each write goes
through the named phases of :mod:`.write_phases` (:meth:`Api._commit`), then a no-op
write is left unstored (same resourceVersion, as kube-apiserver skips it), a dry run is
answered without storing, and the rest goes to the store and its watches. Namespaced
writes need an existing, non-terminating namespace (404 ``namespaces "x" not found`` /
403 as kube-apiserver answers).

Callers: :mod:`.server` (HTTP), :mod:`.controllers` and :mod:`.lifecycle` (through
:meth:`Api.system_write` and friends).
"""

from __future__ import annotations

import builtins
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from reconciler.sandbox import (
    apply,
    errors,
    identity,
    object_validation,
    patches,
    reviews,
    write_phases,
)
from reconciler.sandbox.deletes import DeleteVerbs
from reconciler.sandbox.fieldsets import MISSING
from reconciler.sandbox.kinds import Registry, ResourceType
from reconciler.sandbox.listing import ListVerbs
from reconciler.sandbox.request_params import Params, Result, clone, parse_body
from reconciler.sandbox.scaling import ScaleVerbs
from reconciler.sandbox.storage import Store

__all__ = ["Api", "Params", "Result", "clone", "parse_body"]

Obj = dict[str, Any]

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Api(ListVerbs, ScaleVerbs, DeleteVerbs):
    """The sandbox's API semantics over a :class:`Store` and a :class:`Registry`."""

    def __init__(self, store: Store, registry: Registry, clock: Callable[[], float] = time.time):
        self.store = store
        self.registry = registry
        self.clock = clock
        self._continues: dict[str, tuple[float, int, list[Obj], int]] = {}
        self._continue_lock = threading.Lock()
        self._encoded: dict[int, tuple[Obj, bytes]] = {}
        store.listeners.append(self._forget_encoding)

    # ------------------------------------------------------------------ helpers

    def now(self) -> str:
        """Return the current time as RFC 3339 (seconds), as metav1.Time marshals."""
        return apply.now_rfc3339(self.clock())

    def ensure_initial_namespaces(self) -> None:
        """Create default, kube-system, kube-public and kube-node-lease if missing."""
        rt = self.registry.get("", "v1", "namespaces")
        assert rt is not None
        for name in INITIAL_NAMESPACES:
            if self.store.get(rt.key, "", name) is None:
                self.create(
                    rt,
                    "",
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                    Params(user_agent="kube-apiserver"),
                )

    def _namespace_ready(self, rt: ResourceType, ns: str, name: str) -> None:
        """Raise 404 if namespace ``ns`` is missing, 403 if it is terminating."""
        if not rt.namespaced:
            return
        nsobj = self.store.get("namespaces", "", ns)
        if nsobj is None:
            raise errors.not_found("namespaces", "", ns)
        if (nsobj.get("metadata") or {}).get("deletionTimestamp") or (
            (nsobj.get("status") or {}).get("phase") == "Terminating"
        ):
            err = errors.forbidden(
                rt.plural,
                rt.group,
                name,
                f"unable to create new content in namespace {ns} because it is being terminated",
            )
            assert err.details is not None
            err.details["causes"] = [
                {
                    "reason": "NamespaceTerminating",
                    "message": f"namespace {ns} is being terminated",
                    "field": "metadata.namespace",
                }
            ]
            raise err

    def _live(self, rt: ResourceType, ns: str, name: str) -> Obj:
        obj = self.store.get(rt.key, ns if rt.namespaced else "", name)
        if obj is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return obj

    def _fields(
        self, rt: ResourceType, body: Obj, params: Params, *, apply_: bool
    ) -> tuple[Obj, list[str]]:
        """Apply fieldValidation: return (body, warnings); raise 400 on Strict errors."""
        root = rt.root()
        mode = params.field_validation
        # managedFields are the server's record, checked when decoded, never pruned.
        meta_in = body.get("metadata") or {}
        managed = meta_in.get("managedFields") if isinstance(meta_in, dict) else None
        unknown = object_validation.unknown_fields(
            {k: v for k, v in body.items() if k != "metadata"}, root
        ) + [
            "metadata." + p
            for p in object_validation.unknown_fields(
                {k: v for k, v in meta_in.items() if k != "managedFields"},
                root.child("metadata"),
            )
        ]
        type_errs = object_validation.type_errors(body, root) if rt.builtin else []
        if rt.builtin and not type_errs:
            undecodable = object_validation.bytes_error(rt, body)
            type_errs = [undecodable] if undecodable else []
        if type_errs:
            raise errors.bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                + "; ".join(type_errs)
            )
        if not unknown:
            return body, []
        if apply_:
            # The applied configuration cannot be typed against the schema: whatever the
            # fieldValidation, kube-apiserver fails the request with a bare 500.
            meta = body.get("metadata") or {}
            gvk = f"{rt.api_version if rt.group else '/' + rt.version}, Kind={rt.kind}"
            paths = object_validation.undeclared_paths(body, root)
            errs = [f"{p}: field not declared in schema" for p in paths]
            listed = errs[0] if len(errs) == 1 else "errors:\n  " + "\n  ".join(errs)
            raise errors.storage_error(
                f"failed to create typed patch object ({meta.get('namespace') or ''}/"
                f"{meta.get('name') or ''}; {gvk}): {listed}"
            )
        if mode == "Strict":
            raise errors.bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in unknown)
            )
        warnings = [f'unknown field "{p}"' for p in unknown] if mode == "Warn" else []
        pruned = object_validation.prune_unknown(body, root)
        if managed is not None:
            pruned.setdefault("metadata", {})["managedFields"] = managed
        return pruned, warnings

    # -------------------------------------------------------------------- reads

    def get(self, rt: ResourceType, ns: str, name: str) -> Obj:
        """Return one object (404 if missing)."""
        return self._live(rt, ns, name)

    # ------------------------------------------------------------------- writes

    def create(self, rt: ResourceType, ns: str, body: Any, params: Params) -> Result:
        """Create an object (201); 409 AlreadyExists if the name is taken."""
        if "create" not in rt.verbs:
            raise errors.method_not_supported("create", rt.plural, rt.group)
        params.check_dry_run()
        body = identity.check(rt, ns, None, body)
        body, warnings = self._fields(rt, clone(body), params, apply_=False)
        if rt.virtual:
            return Result(201, reviews.answer(rt, body, self.now()), warnings)
        meta = body.setdefault("metadata", {})
        name = meta.get("name") or ""
        if not name and meta.get("generateName"):
            name = str(meta["generateName"]) + "".join(
                secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5)
            )
            meta["name"] = name
        if not name:
            raise errors.invalid(rt.kind, rt.group, "", object_validation.name_causes(rt, ""))
        manager = params.field_manager(required=False, options="CreateOptions")
        with self.store.lock:
            self._namespace_ready(rt, ns, name)
            if self.store.get(rt.key, ns if rt.namespaced else "", name) is not None:
                raise errors.already_exists(rt.plural, rt.group, name)
            if meta.get("resourceVersion"):
                # etcd3's store refuses it; the error reaches the client as a bare 500.
                raise errors.storage_error(
                    "resourceVersion should not be set on objects to be created"
                )
            obj = self._commit(
                rt,
                ns,
                name,
                None,
                body,
                sub="",
                manager=manager,
                applied=None,
                dry_run=params.dry_run,
            )
        return Result(201, obj, warnings)

    def update(
        self, rt: ResourceType, ns: str, name: str, body: Any, sub: str, params: Params
    ) -> Result:
        """Replace an object (PUT) or its status; 404 if missing, 409 if stale."""
        if "update" not in rt.verbs and sub != "status":
            raise errors.method_not_supported("update", rt.plural, rt.group)
        params.check_dry_run()
        body = identity.check(rt, ns, name, body)
        body, warnings = self._fields(rt, clone(body), params, apply_=False)
        manager = params.field_manager(required=False, options="UpdateOptions")
        with self.store.lock:
            if (body.get("metadata") or {}).get("uid"):  # a precondition, even on nothing
                found = self.store.get(rt.key, ns if rt.namespaced else "", name)
                identity.uid_kept(rt, ns, name, found, body, put=True)
            live = self._live(rt, ns, name)
            obj = self._replace(rt, ns, name, live, body, sub=sub, manager=manager, params=params)
        return Result(200, obj, warnings)

    def patch(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        content_type: str,
        raw: bytes,
        sub: str,
        params: Params,
    ) -> Result:
        """Patch an object by content type (merge, JSON, strategic, apply)."""
        if "patch" not in rt.verbs and sub != "status":
            raise errors.method_not_supported("patch", rt.plural, rt.group)
        params.check_dry_run()
        ctype = content_type.split(";", 1)[0].strip().lower()
        if ctype == "application/apply-patch+yaml":
            return self._apply(rt, ns, name, raw, sub, params)
        if ctype not in (
            "application/merge-patch+json",
            "application/json-patch+json",
            "application/strategic-merge-patch+json",
        ):
            raise errors.unsupported_media_type(content_type)
        if ctype == "application/strategic-merge-patch+json" and not rt.builtin:
            raise errors.ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json-patch+json, application/merge-patch+json, "
                "application/apply-patch+yaml",
            )
        patch = parse_body(raw, ctype)
        manager = params.field_manager(required=False)
        with self.store.lock:
            live = self._live(rt, ns, name)
            base = {k: v for k, v in live.items()}
            if ctype == "application/merge-patch+json":
                if not isinstance(patch, dict):
                    raise errors.bad_request("merge patch must be a JSON object")
                new = patches.merge_patch(base, patch)
            elif ctype == "application/json-patch+json":
                new = patches.json_patch(base, patch)
            else:
                if not isinstance(patch, dict):
                    raise errors.bad_request("strategic merge patch must be a JSON object")
                new = patches.strategic_merge_patch(base, patch, rt.root())
            if not isinstance(new, dict):
                raise errors.bad_request("the patched object is not a JSON object")
            new = identity.check(rt, ns, name, new)
            identity.require_name(name, new)  # the patch may have removed it
            identity.uid_kept(rt, ns, name, live, new, put=False)
            new, warnings = self._fields(rt, clone(new), params, apply_=False)
            obj = self._replace(rt, ns, name, live, new, sub=sub, manager=manager, params=params)
        return Result(200, obj, warnings)

    def _replace(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        live: Obj,
        new: Obj,
        *,
        sub: str,
        manager: str,
        params: Params,
    ) -> Obj:
        """Commit ``new`` over ``live`` (update and patch): 409 if it names a stale version.

        Called with the store lock held.
        """
        rv = (new.get("metadata") or {}).get("resourceVersion")
        if rv and rv != live["metadata"]["resourceVersion"]:
            raise errors.stale(rt.plural, rt.group, name)
        return self._commit(
            rt, ns, name, live, new, sub=sub, manager=manager, applied=None, dry_run=params.dry_run
        )

    def _apply(
        self, rt: ResourceType, ns: str, name: str, raw: bytes, sub: str, params: Params
    ) -> Result:
        config = identity.require_object(parse_body(raw, "application/apply-patch+yaml"))
        config = identity.check(rt, ns, name, config)
        identity.require_name(name, config)
        if not config.get("apiVersion") or not config.get("kind"):
            raise errors.bad_request("apiVersion and kind must be set in the applied configuration")
        manager = params.field_manager(required=True)
        force = params.get("force") in ("true", "1", "True")
        config, warnings = self._fields(rt, clone(config), params, apply_=True)
        as_sent = clone(config)
        meta = config.setdefault("metadata", {})
        meta["name"] = name
        if rt.namespaced:
            meta["namespace"] = ns
        with self.store.lock:
            live = self.store.get(rt.key, ns if rt.namespaced else "", name)
            if live is None:
                if sub:
                    raise errors.not_found(rt.plural, rt.group, name)
                if "create" not in rt.verbs:
                    raise errors.method_not_supported("create", rt.plural, rt.group)
                self._namespace_ready(rt, ns, name)
            rv = meta.get("resourceVersion")
            if rv and (live is None or rv != live["metadata"]["resourceVersion"]):
                raise errors.stale(rt.plural, rt.group, name)
            if live is not None:
                identity.uid_kept(rt, ns, name, live, config, put=False)
            try:
                new, managers = apply.apply_config(
                    rt,
                    live if live is not None else MISSING,
                    config,
                    manager=manager,
                    force=force,
                    subresource=sub,
                    now=self.now(),
                )
            except apply.ApplyConflict as exc:
                # kubectl's upgrade from client-side apply: fields it last applied
                # client-side (and still holding those values) are taken over.
                if manager != "kubectl" or live is None:
                    raise
                allowed = apply.allowed_from_last_applied(rt, live)
                rest = [(m, p) for m, p in exc.conflicts if p not in allowed]
                if rest:
                    raise apply.conflict_error(rest) from None
                new, managers = apply.apply_config(
                    rt,
                    live,
                    config,
                    manager=manager,
                    force=True,
                    subresource=sub,
                    now=self.now(),
                )
            if manager == "kubectl" and live is not None:
                new = apply.sync_last_applied(live, new, as_sent)
            obj = self._commit(
                rt,
                ns,
                name,
                live,
                clone(new),
                sub=sub,
                manager=manager,
                applied=managers,
                dry_run=params.dry_run,
            )
        return Result(201 if live is None else 200, obj, warnings)

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
        applied: builtins.list[apply.Manager] | None,
        dry_run: bool,
    ) -> Obj:
        """Finish a write through the phases of :mod:`.write_phases`; store it unless it
        changes nothing or is a dry run; returns the stored (or would-be) object."""
        w = write_phases.Write(
            rt, ns, name, live, new, sub=sub, manager=manager, applied=applied, now=self.now()
        )
        write_phases.scope_to_endpoint(w)
        write_phases.restore_server_fields(w)
        write_phases.forbid_new_finalizers(w)
        write_phases.default(w)
        write_phases.check_owner_references(w)
        write_phases.record_managed_fields(w)
        write_phases.prepare_for_create(w)
        write_phases.validate(w)
        write_phases.bump_generation(w)
        write_phases.finish_metadata(w)
        return self._store(rt, live, w.new, dry_run)

    def _store(self, rt: ResourceType, live: Obj | None, new: Obj, dry_run: bool) -> Obj:
        """Store a finished write: nothing for a no-op or a dry run; a deleting object
        whose last finalizer went is removed; a CRD's kinds are served."""
        if live is not None and new == live:
            return live
        if dry_run:
            return new
        if (
            live is not None
            and (live["metadata"].get("deletionTimestamp"))
            and not new["metadata"].get("finalizers")
        ):
            gone = self.store.remove(rt.key, new)
            self._after_delete(rt, gone)
            return gone
        stored = self.store.put(rt.key, new, old=live)
        if rt.kind == "CustomResourceDefinition" and rt.group == "apiextensions.k8s.io":
            self._crd_written(stored)
        return stored

    def _crd_written(self, crd: Obj) -> None:
        """Accept and establish a CRD (its naming controller's status write) and serve
        its kinds. ``storedVersions`` is the registry's (:mod:`.defaults`)."""
        if (crd.get("metadata") or {}).get("deletionTimestamp"):
            return
        spec = crd.get("spec") or {}
        status = crd.get("status") or {}
        want = clone(status)
        want["acceptedNames"] = clone(spec.get("names") or {})
        now = self.now()
        old_conds = {c.get("type"): c for c in status.get("conditions") or []}

        def cond(t: str, reason: str, msg: str) -> Obj:
            prev: Obj | None = old_conds.get(t)
            if prev and prev.get("status") == "True":
                return prev
            return {
                "type": t,
                "status": "True",
                "lastTransitionTime": now,
                "reason": reason,
                "message": msg,
            }

        want["conditions"] = [
            cond("NamesAccepted", "NoConflicts", "no conflicts found"),
            cond("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ]
        self.registry.set_crd(crd)
        if want != status:
            new = clone(crd)
            new["status"] = want
            rt = self.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            assert rt is not None
            self.system_write(rt, crd, new, manager="kube-apiserver", sub="status")

    # ----------------------------------------------------- writes by controllers

    def system_write(
        self, rt: ResourceType, live: Obj | None, new: Obj, *, manager: str, sub: str = ""
    ) -> Obj | None:
        """Write as a controller would (Update operation); None if the object is gone.

        Conflicts (the object changed meanwhile) are returned as None too: the caller's
        next pass sees the new state, as a controller's requeue would.
        """
        meta = new.get("metadata") or {}
        ns, name = meta.get("namespace") or "", meta.get("name", "")
        with self.store.lock:
            cur = self.store.get(rt.key, ns, name)
            if live is None:
                if cur is not None:
                    return None
                try:
                    self._namespace_ready(rt, ns, name)
                except errors.ApiError:
                    return None
                return self._commit(
                    rt,
                    ns,
                    name,
                    None,
                    clone(new),
                    sub=sub,
                    manager=manager,
                    applied=None,
                    dry_run=False,
                )
            if (
                cur is None
                or cur["metadata"]["resourceVersion"] != live["metadata"]["resourceVersion"]
            ):
                return None
            return self._commit(
                rt, ns, name, cur, clone(new), sub=sub, manager=manager, applied=None, dry_run=False
            )
