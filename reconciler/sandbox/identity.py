"""What a write says about the object it writes: kind, namespace, name and uid, checked
against the URL and the live object as kube-apiserver checks them.

Callers: :mod:`.handlers` (create, update, patch, apply).
"""

from __future__ import annotations

from typing import Any

from reconciler.sandbox import errors
from reconciler.sandbox.kinds import ResourceType

Obj = dict[str, Any]


def check(rt: ResourceType, ns: str, name: str | None, body: Any) -> Obj:
    """Return ``body`` if it may be written at this URL: a JSON object whose apiVersion,
    kind, namespace and name (when it gives them) are the URL's; 400 otherwise."""
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
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    if name is not None and meta.get("name") and meta.get("name") != name:
        raise errors.bad_request(
            f"the name of the object ({meta.get('name')}) does not match the name on the URL "
            f"({name})"
        )
    return body


def require_name(name: str, obj: Obj) -> None:
    """400 for a patched or applied object without a name (the URL's does not count)."""
    if not (obj.get("metadata") or {}).get("name"):
        raise errors.bad_request(
            f"the name of the object ({name} based on URL) was undeterminable: "
            "name must be provided"
        )


def require_object(config: Any) -> Obj:
    """Return an applied configuration that is a JSON object; 400 in the words of
    kube-apiserver's decoder otherwise."""
    if config is None:
        raise errors.bad_request("invalid object type: /, Kind=")
    if not isinstance(config, dict):
        raise errors.bad_request(
            "error decoding patch: error unmarshaling JSON: while decoding JSON: json: cannot "
            f"unmarshal {_go_json_type(config)} into Go value of type map[string]interface {{}}"
        )
    return config


def uid_kept(
    rt: ResourceType, ns: str, name: str, live: Obj | None, new: Obj, *, put: bool
) -> None:
    """Refuse a write naming another uid than the live object's (``live`` None: there is
    none), as kube-apiserver does: an update (``put``) takes it for a precondition (409,
    also when the object does not exist), a patch or an apply for a change of an immutable
    field (422)."""
    uid = (new.get("metadata") or {}).get("uid")
    live_uid = (live or {}).get("metadata", {}).get("uid", "")
    if not uid or uid == live_uid:
        return
    if put:  # etcd3's store checks it, and its error reaches the client whole
        ns = ns if rt.namespaced else ""
        raise errors.conflict(
            rt.plural,
            rt.group,
            name,
            f"StorageError: invalid object, Code: 4, Key: {storage_key(rt, ns, name)}, "
            "ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: "
            f"{uid}, UID in object meta: {live_uid}",
        )
    cause = ("FieldValueInvalid", "metadata.uid", f'Invalid value: "{uid}": field is immutable')
    # a custom resource's metadata is validated twice over (generic and CRD strategy)
    raise errors.invalid(rt.kind, rt.group, name, [cause] * (1 if rt.builtin else 2))


def _go_json_type(value: Any) -> str:
    """The word Go's JSON decoder uses for a value's type in an unmarshal error."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


_STORAGE_PREFIXES = {("", "services"): "services/specs", ("", "nodes"): "minions"}
"""Built-in resources kube-apiserver keeps in etcd under another name than their own."""


def storage_key(rt: ResourceType, ns: str, name: str) -> str:
    """Return the etcd key kube-apiserver keeps an object under, as its storage errors
    print it: ``/registry/<resource>`` for built-in kinds, ``/registry/<group>/<resource>``
    for custom resources, then the namespace (if any) and the name."""
    prefix = _STORAGE_PREFIXES.get((rt.group, rt.plural), rt.plural)
    if not rt.builtin:
        prefix = f"{rt.group}/{rt.plural}"
    return "/".join(["/registry", prefix, *([ns] if ns else []), name])
