"""The API verbs on stored objects, independent of HTTP: get, list, create, update,
patch (merge, JSON, strategic, apply), delete, deletecollection and watch set-up.

Each write goes through the named phases of :mod:`.write_phases` (:meth:`Api._commit`),
then a no-op write is left unstored (same resourceVersion, as kube-apiserver skips it),
a dry run is answered without storing, and the rest goes to the store and its watches. Namespaced writes need an existing, non-terminating
namespace (404 ``namespaces "x" not found`` / 403 as kube-apiserver answers).

Deletion follows the garbage collector's contract: finalizers and ``Foreground`` keep
the object with a ``deletionTimestamp`` until :mod:`.lifecycle` is done; a pod bound to
a node waits for its kubelet (its grace period) the way the pod registry decides; ``Orphan``
(the default for batch/v1 Jobs, as on a real server) strips dependents' owner
references; ``Background`` deletes now and the dependents right after.

Callers: :mod:`.server` (HTTP), :mod:`.controllers` and :mod:`.lifecycle` (through
:meth:`Api.system_write` and friends).
"""

from __future__ import annotations

import base64
import builtins
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from reconciler.sandbox import (
    apply,
    errors,
    object_validation,
    patches,
    selectors,
    write_phases,
)
from reconciler.sandbox.fieldsets import MISSING
from reconciler.sandbox.kinds import Registry, ResourceType
from reconciler.sandbox.storage import Event, Store, Watch

Obj = dict[str, Any]

PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
CONTINUE_TTL = 300.0


def clone(obj: Any) -> Any:
    """Return a deep copy of JSON-compatible data (faster than copy.deepcopy)."""
    return json.loads(json.dumps(obj))


@dataclass
class Params:
    """The query parameters and headers of one request that the verbs care about."""

    query: dict[str, str] = field(default_factory=dict)
    user_agent: str = ""

    def get(self, name: str, default: str = "") -> str:
        """Return one query parameter."""
        return self.query.get(name, default)

    @property
    def dry_run(self) -> bool:
        """True for ``dryRun=All``; other values are a 400 (checked by :meth:`check`)."""
        return self.query.get("dryRun", "") == "All"

    def check_dry_run(self) -> None:
        """Raise 400 for a dryRun value other than All."""
        value = self.query.get("dryRun")
        if value not in (None, "", "All"):
            raise errors.bad_request(f'Invalid dryRun value "{value}": supported values are "All"')

    def field_manager(self, *, required: bool) -> str:
        """Return the field manager (``fieldManager`` or the User-Agent's product)."""
        name = self.query.get("fieldManager", "")
        if not name:
            if required:
                raise errors.invalid(
                    "PatchOptions",
                    "meta.k8s.io",
                    "",
                    [
                        (
                            "FieldValueRequired",
                            "fieldManager",
                            "Required value: is required for apply patch",
                        )
                    ],
                )
            name = self.user_agent.split("/", 1)[0] if self.user_agent else "unknown"
        if len(name) > 128:
            raise errors.bad_request(
                f"fieldManager: Too long: may not be more than 128 bytes (got {len(name)})"
            )
        return name

    @property
    def field_validation(self) -> str:
        """``Strict``, ``Warn`` (the server default) or ``Ignore``."""
        value = self.query.get("fieldValidation", "") or "Warn"
        if value not in ("Strict", "Warn", "Ignore"):
            raise errors.bad_request(
                f'fieldValidation: Unsupported value: "{value}": supported values: '
                '"Ignore", "Strict", "Warn"'
            )
        return value


@dataclass
class Result:
    """A verb's outcome: HTTP code, body, warnings for the ``Warning`` header."""

    code: int
    body: Obj
    warnings: list[str] = field(default_factory=list)


def parse_body(raw: bytes, content_type: str) -> Any:
    """Decode a request body in JSON (or YAML for apply and yaml types); 400 if malformed."""
    text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        raise errors.bad_request("the body of the request was empty")
    try:
        return json.loads(text)
    except ValueError:
        if "yaml" not in content_type:
            raise errors.bad_request(
                f"error decoding JSON: invalid character in the body: {text[:80]!r}"
            ) from None
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise errors.bad_request(f"error converting YAML to JSON: {exc}") from None


class Api:
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

    @staticmethod
    def _check_identity(rt: ResourceType, ns: str, name: str | None, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                "the body must be a JSON object"
            )
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if (api_version not in (None, "") and api_version != rt.api_version) or kind not in (
            None,
            "",
            rt.kind,
        ):
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({rt.api_version})"
                if api_version != rt.api_version
                else f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )
        meta = body.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise errors.bad_request("metadata: must be an object")
        meta = meta or {}
        body_ns = meta.get("namespace")
        if rt.namespaced and body_ns and body_ns != ns:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        if name is not None and meta.get("name") and meta.get("name") != name:
            raise errors.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                f"({name})"
            )
        return body

    def _fields(
        self, rt: ResourceType, body: Obj, params: Params, *, apply_: bool
    ) -> tuple[Obj, list[str]]:
        """Apply fieldValidation: return (body, warnings); raise 400 on Strict errors."""
        root = rt.root()
        mode = params.field_validation
        unknown = object_validation.unknown_fields(
            {k: v for k, v in body.items() if k != "metadata"}, root
        ) + [
            "metadata." + p
            for p in object_validation.unknown_fields(
                body.get("metadata") or {}, root.child("metadata")
            )
        ]
        type_errs = object_validation.type_errors(body, root) if rt.builtin else []
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
        return object_validation.prune_unknown(body, root), warnings

    # -------------------------------------------------------------------- reads

    def get(self, rt: ResourceType, ns: str, name: str) -> Obj:
        """Return one object (404 if missing)."""
        return self._live(rt, ns, name)

    def list(self, rt: ResourceType, ns: str | None, params: Params) -> Obj:
        """Return a ``<Kind>List`` filtered by selectors, paginated by limit/continue."""
        label_sel = selectors.parse_label_selector(params.get("labelSelector"))
        field_sel = selectors.parse_field_selector(
            params.get("fieldSelector"), rt.plural, rt.builtin
        )
        limit_s = params.get("limit")
        try:
            limit = int(limit_s) if limit_s else 0
        except ValueError:
            raise errors.bad_request(f'invalid limit "{limit_s}"') from None
        self._check_list_version(params)
        token = params.get("continue")
        if token:
            with self._continue_lock:
                entry = self._continues.pop(token, None)
            if entry is None:
                _check_continue_token(token)
            if entry is None or self.clock() - entry[0] > CONTINUE_TTL:
                raise errors.expired(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter, or use the "
                    "continue token in this response to retrieve the remainder of the results. "
                    "Continuing with the provided token results in an inconsistent list - objects "
                    "that were created, modified, or deleted between the time the first chunk was "
                    "returned and now may show up in the list."
                )
            _, rv, items, _ = entry
        else:
            with self.store.lock:
                rv = self.store.current_rv()
                name = selectors.exact_name(field_sel)
                if name is not None and ns is not None:
                    one = self.store.get(rt.key, ns if rt.namespaced else "", name)
                    candidates = [one] if one is not None else []
                else:
                    candidates = self.store.list(rt.key, ns if rt.namespaced else None)
            items = [
                o
                for o in candidates
                if selectors.matches_labels(label_sel, o) and selectors.matches_fields(field_sel, o)
            ]
        meta: Obj = {"resourceVersion": str(rv)}
        if limit and len(items) > limit:
            rest = items[limit:]
            items = items[:limit]
            new_token = base64.urlsafe_b64encode(
                json.dumps({"rv": rv, "id": secrets.token_hex(8)}).encode()
            ).decode()
            with self._continue_lock:
                now = self.clock()
                for k in [k for k, v in self._continues.items() if now - v[0] > CONTINUE_TTL]:
                    del self._continues[k]
                self._continues[new_token] = (now, rv, rest, 0)
            meta["continue"] = new_token
            meta["remainingItemCount"] = len(rest)
        return {
            "kind": f"{rt.kind}List",
            "apiVersion": rt.api_version,
            "metadata": meta,
            "items": items,
        }

    def encode_list(self, rt: ResourceType, listing: Obj) -> bytes:
        """Return a list response as JSON bytes, reusing each stored object's encoding.

        Items of built-in lists carry no apiVersion/kind (as typed lists are encoded);
        custom resources keep them. Stored objects are never mutated, so an object's
        bytes stay valid until a write replaces it.
        """
        strip = rt.builtin
        parts: builtins.list[bytes] = []
        cache = self._encoded
        for o in listing["items"]:
            hit = cache.get(id(o))
            if hit is not None and hit[0] is o:
                parts.append(hit[1])
                continue
            body = {k: v for k, v in o.items() if k not in ("apiVersion", "kind")} if strip else o
            data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
            meta = o.get("metadata") or {}
            with self.store.lock:  # cache only what is still stored (no stale entries)
                stored = self.store.get(rt.key, meta.get("namespace") or "", meta.get("name", ""))
                if stored is not None and stored is o:
                    cache[id(o)] = (stored, data)
            parts.append(data)
        head = json.dumps(
            {
                "kind": listing["kind"],
                "apiVersion": listing["apiVersion"],
                "metadata": listing["metadata"],
            },
            separators=(",", ":"),
        ).encode()
        return head[:-1] + b',"items":[' + b",".join(parts) + b"]}"

    def _forget_encoding(self, ev: Event) -> None:
        if ev.old is not None:
            self._encoded.pop(id(ev.old), None)

    def _check_list_version(self, params: Params) -> None:
        """Answer what a list at a given resourceVersion cannot be served as.

        The sandbox keeps no old snapshots: ``resourceVersionMatch=Exact`` of an older
        version is 410 Expired; a version newer than the server's is 504 (Too large
        resource version), as kube-apiserver answers after its wait.
        """
        rv_s = params.get("resourceVersion")
        match = params.get("resourceVersionMatch")
        if match and not rv_s:
            raise errors.bad_request(
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless "
                "resourceVersion is provided"
            )
        if match and match not in ("Exact", "NotOlderThan"):
            raise errors.bad_request(
                f'resourceVersionMatch: Unsupported value: "{match}": supported values: '
                '"Exact", "NotOlderThan"'
            )
        if not rv_s or rv_s == "0":
            return
        try:
            rv = int(rv_s)
        except ValueError:
            raise errors.bad_request(f'invalid resource version "{rv_s}"') from None
        current = self.store.current_rv()
        if rv > current:
            raise errors.ApiError(
                504,
                "Timeout",
                f"Too large resource version: {rv}, current: {current}",
                {
                    "causes": [
                        {
                            "reason": "ResourceVersionTooLarge",
                            "message": "Too large resource version",
                        }
                    ],
                    "retryAfterSeconds": 1,
                },
            )
        if match == "Exact" and rv != current:
            raise errors.expired(f"too old resource version: {rv} ({current})")

    # ------------------------------------------------------------------- writes

    def create(self, rt: ResourceType, ns: str, body: Any, params: Params) -> Result:
        """Create an object (201); 409 AlreadyExists if the name is taken."""
        if "create" not in rt.verbs:
            raise errors.method_not_supported("create", rt.plural, rt.group)
        params.check_dry_run()
        body = self._check_identity(rt, ns, None, body)
        body, warnings = self._fields(rt, clone(body), params, apply_=False)
        meta = body.setdefault("metadata", {})
        name = meta.get("name") or ""
        if not name and meta.get("generateName"):
            name = str(meta["generateName"]) + "".join(
                secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5)
            )
            meta["name"] = name
        if not name:
            raise errors.invalid(rt.kind, rt.group, "", object_validation.name_causes(rt, ""))
        manager = params.field_manager(required=False)
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
        body = self._check_identity(rt, ns, name, body)
        body, warnings = self._fields(rt, clone(body), params, apply_=False)
        manager = params.field_manager(required=False)
        with self.store.lock:
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
            new = self._check_identity(rt, ns, name, new)
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
        config = parse_body(raw, "application/apply-patch+yaml")
        config = self._check_identity(rt, ns, name, config)
        if not config.get("apiVersion") or not config.get("kind"):
            raise errors.bad_request("apiVersion and kind must be set in the applied configuration")
        manager = params.field_manager(required=True)
        force = params.get("force") in ("true", "1", "True")
        config, warnings = self._fields(rt, clone(config), params, apply_=True)
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
        """Accept and establish a CRD: status conditions, finalizer, its kinds served."""
        if (crd.get("metadata") or {}).get("deletionTimestamp"):
            return
        spec = crd.get("spec") or {}
        status = crd.get("status") or {}
        want = clone(status)
        names = clone(spec.get("names") or {})
        want["acceptedNames"] = names
        stored = [v.get("name") for v in spec.get("versions") or [] if v.get("storage")]
        want["storedVersions"] = sorted(set(status.get("storedVersions") or []) | set(stored))
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
        fin = "customresourcecleanup.apiextensions.k8s.io"
        meta = crd["metadata"]
        if want != status or fin not in (meta.get("finalizers") or []):
            new = clone(crd)
            new["status"] = want
            if fin not in (meta.get("finalizers") or []):
                new["metadata"]["finalizers"] = [*(meta.get("finalizers") or []), fin]
            rt = self.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            assert rt is not None
            self.system_write(rt, crd, new, manager="kube-apiserver", sub="status")

    # -------------------------------------------------------------------- scale

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

    # ------------------------------------------------------------------ deletes

    def delete(
        self, rt: ResourceType, ns: str, name: str, options: Obj | None, params: Params
    ) -> Result:
        """Delete an object honouring preconditions, finalizers and propagationPolicy."""
        if "delete" not in rt.verbs:
            raise errors.method_not_supported("delete", rt.plural, rt.group)
        params.check_dry_run()
        options = options or {}
        dry = params.dry_run or "All" in (options.get("dryRun") or [])
        policy = params.get("propagationPolicy") or options.get("propagationPolicy") or ""
        if not policy and options.get("orphanDependents") is not None:
            policy = "Orphan" if options.get("orphanDependents") else "Background"
        warnings: list[str] = []
        if not policy:
            if rt.group == "batch" and rt.kind == "Job":
                policy = "Orphan"
                warnings.append(
                    "child pods are preserved by default when jobs are deleted; set "
                    "propagationPolicy=Background to remove them or set "
                    "propagationPolicy=Orphan to suppress this warning"
                )
            else:
                policy = "Background"
        if policy not in ("Orphan", "Background", "Foreground"):
            raise errors.bad_request(
                f'propagationPolicy: Unsupported value: "{policy}": supported values: '
                '"Foreground", "Background", "Orphan"'
            )
        with self.store.lock:
            live = self._live(rt, ns, name)
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != live["metadata"].get("uid"):
                raise errors.conflict(
                    rt.plural,
                    rt.group,
                    name,
                    f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: "
                    f"{live['metadata'].get('uid')}",
                )
            if pre.get("resourceVersion") and pre["resourceVersion"] != live["metadata"].get(
                "resourceVersion"
            ):
                raise errors.conflict(
                    rt.plural,
                    rt.group,
                    name,
                    "Precondition failed: ResourceVersion in precondition: "
                    f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                    f"{live['metadata'].get('resourceVersion')}",
                )
            grace = _pod_grace_period(rt, live, options.get("gracePeriodSeconds"))
            obj = self._delete_locked(rt, live, policy, dry, grace)
        return Result(200, obj, warnings)

    def _delete_locked(
        self, rt: ResourceType, live: Obj, policy: str, dry: bool, grace: int = 0
    ) -> Obj:
        """Delete ``live`` now, or mark it deleting while finalizers or a pod's graceful
        termination (``grace`` seconds, for its kubelet to confirm) hold it."""
        name = live["metadata"]["name"]
        if rt.kind == "Namespace" and rt.group == "":
            if name in PROTECTED_NAMESPACES:
                raise errors.forbidden("namespaces", "", name, "this namespace may not be deleted")
            new: Obj = clone(live)
            new["metadata"].setdefault("deletionTimestamp", self.now())
            new["metadata"].setdefault("deletionGracePeriodSeconds", 0)
            new.setdefault("status", {})["phase"] = "Terminating"
            if dry or new == live:
                return new
            return self.store.put(rt.key, new, old=live)
        finalizers = list(live["metadata"].get("finalizers") or [])
        if policy == "Orphan" and not dry:
            self._orphan_dependents(live)
        if policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if finalizers or grace:
            new = clone(live)
            new["metadata"].setdefault("deletionTimestamp", apply.now_rfc3339(self.clock() + grace))
            new["metadata"].setdefault("deletionGracePeriodSeconds", grace)
            if finalizers:
                new["metadata"]["finalizers"] = finalizers
            if dry or new == live:
                return new
            return self.store.put(rt.key, new, old=live)
        if dry:
            return live
        gone = self.store.remove(rt.key, live)
        self._after_delete(rt, gone)
        return gone

    def _after_delete(self, rt: ResourceType, gone: Obj) -> None:
        if rt.kind == "CustomResourceDefinition" and rt.group == "apiextensions.k8s.io":
            self.registry.remove_crd(gone["metadata"]["name"])

    def _orphan_dependents(self, owner: Obj) -> None:
        uid = owner["metadata"].get("uid")
        for key in self.store.resource_keys():
            types = self.registry.by_key(key)
            if not types:
                continue
            for obj in self.store.list(key):
                refs = obj["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == uid for r in refs):
                    new = clone(obj)
                    kept = [r for r in refs if r.get("uid") != uid]
                    if kept:
                        new["metadata"]["ownerReferences"] = kept
                    else:
                        new["metadata"].pop("ownerReferences", None)
                    self.system_write(types[0], obj, new, manager="kube-controller-manager")

    def delete_collection(
        self, rt: ResourceType, ns: str | None, options: Obj | None, params: Params
    ) -> Result:
        """Delete every object a list with the same selectors returns; returns the list."""
        if "deletecollection" not in rt.verbs:
            raise errors.method_not_supported("deletecollection", rt.plural, rt.group)
        listing = self.list(
            rt,
            ns,
            Params(
                {k: v for k, v in params.query.items() if k in ("labelSelector", "fieldSelector")},
                params.user_agent,
            ),
        )
        options = options or {}
        policy = (
            params.get("propagationPolicy")
            or options.get("propagationPolicy")
            or ("Orphan" if rt.group == "batch" and rt.kind == "Job" else "Background")
        )
        out = []
        with self.store.lock:
            for item in listing["items"]:
                meta = item["metadata"]
                live = self.store.get(rt.key, meta.get("namespace") or "", meta["name"])
                if live is not None:
                    grace = _pod_grace_period(rt, live, options.get("gracePeriodSeconds"))
                    out.append(self._delete_locked(rt, live, policy, params.dry_run, grace))
        listing["items"] = out
        return Result(200, listing)

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

    def system_delete(
        self,
        rt: ResourceType,
        obj: Obj,
        policy: str = "Background",
        grace_period: int | None = None,
    ) -> None:
        """Delete an object as a controller would (ignores it if already gone).

        ``grace_period`` 0 ends a pod's graceful deletion (its kubelet confirming);
        None uses the pod's own grace period, as any client's delete would.
        """
        meta = obj["metadata"]
        with self.store.lock:
            live = self.store.get(rt.key, meta.get("namespace") or "", meta["name"])
            if live is None or live["metadata"].get("uid") != meta.get("uid"):
                return
            grace = _pod_grace_period(rt, live, grace_period)
            if (
                grace == 0
                and live["metadata"].get("deletionTimestamp")
                and not (live["metadata"].get("finalizers"))
            ):
                gone = self.store.remove(rt.key, live)
                self._after_delete(rt, gone)
                return
            self._delete_locked(rt, live, policy, False, grace)

    # -------------------------------------------------------------------- watch

    def open_watch(
        self, rt: ResourceType, ns: str | None, params: Params
    ) -> tuple[Watch, builtins.list[Event], bool]:
        """Open a watch; returns (watch, events to send first, send initial-end bookmark)."""
        label_sel = selectors.parse_label_selector(params.get("labelSelector"))
        field_sel = selectors.parse_field_selector(
            params.get("fieldSelector"), rt.plural, rt.builtin
        )

        def accept(o: Obj) -> bool:
            return selectors.matches_labels(label_sel, o) and selectors.matches_fields(field_sel, o)

        rv_s = params.get("resourceVersion")
        initial = params.get("sendInitialEvents") == "true"
        scope = ns if rt.namespaced else None
        with self.store.lock:
            if rv_s in ("", "0") or initial:
                w, _ = self.store.watch(rt.key, scope, accept, None)
                first = [
                    Event(int(o["metadata"]["resourceVersion"]), rt.key, "ADDED", o)
                    for o in self.store.list(rt.key, scope)
                    if accept(o)
                ]
                return w, first, initial
            try:
                since = int(rv_s)
            except ValueError:
                raise errors.bad_request(f'invalid resource version "{rv_s}"') from None
            try:
                w, replay = self.store.watch(rt.key, scope, accept, since)
            except LookupError as exc:
                raise errors.expired(f"too old resource version: {since} ({exc.args[0]})") from None
        return w, replay, False


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _check_continue_token(token: str) -> None:
    """Raise 400 for a continue token that is not one (malformed base64 or JSON).

    kube-apiserver decodes tokens as unpadded URL-safe base64 of a JSON object and names
    the offending byte as Go's decoder does; a well-formed token it no longer knows is
    410 Expired instead (the caller's case).
    """
    stripped = token.rstrip("=")
    bad = next((i for i, c in enumerate(stripped) if c not in _B64URL), None)
    if bad is None and len(stripped) % 4 == 1:
        bad = len(stripped) - 1
    if bad is not None:
        raise errors.bad_request(
            "invalid continue token: continue key is not valid: "
            f"illegal base64 data at input byte {bad}"
        )
    try:
        decoded = json.loads(base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4)))
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        raise errors.bad_request("invalid continue token: continue key is not valid")


def _pod_grace_period(rt: ResourceType, live: Obj, requested: Any) -> int:
    """Return the seconds a pod's deletion waits for its kubelet (0: delete now).

    As the pod registry decides: a pod bound to no node, or already Succeeded or
    Failed, goes at once; otherwise the requested ``gracePeriodSeconds`` or the pod's
    ``terminationGracePeriodSeconds`` (30 by default). Other kinds: 0.
    """
    if rt.kind != "Pod" or rt.group:
        return 0
    spec = live.get("spec") or {}
    if not spec.get("nodeName") or (live.get("status") or {}).get("phase") in (
        "Succeeded",
        "Failed",
    ):
        return 0
    value = requested if requested is not None else spec.get("terminationGracePeriodSeconds", 30)
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
