"""API errors as kube-apiserver reports them: a ``metav1.Status`` body and an HTTP code.

Every failure the sandbox answers goes through :class:`ApiError`, built by the helpers
below with the reason, message and details kube-apiserver uses (apimachinery's
``k8s.io/apimachinery/pkg/api/errors``), so clients (kubectl, the Python client) print and
classify them exactly as they would for a real server.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A request failed; :meth:`status` is the ``metav1.Status`` body to send."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        text: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.text = text  # a plain-text body instead of a Status (the mux's 404 page)

    def status(self) -> dict[str, Any]:
        """Return the ``metav1.Status`` object for this error."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def qualified(resource: str, group: str) -> str:
    """Return ``resource.group`` (just ``resource`` for the core group)."""
    return f"{resource}.{group}" if group else resource


def _details(name: str, group: str, kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if name:
        out["name"] = name
    if group:
        out["group"] = group
    out["kind"] = kind
    return out


def not_found(resource: str, group: str, name: str) -> ApiError:
    """Return 404 NotFound: ``deployments.apps "web" not found``."""
    msg = f'{qualified(resource, group)} "{name}" not found'
    return ApiError(404, "NotFound", msg, _details(name, group, resource))


def not_found_path() -> ApiError:
    """Return the bare 404 a server gives for a path it does not serve."""
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def page_not_found() -> ApiError:
    """Return the plain-text 404 of the server's mux: a path outside every served
    group (``/apis/<unknown group>/...``) or outside the API altogether."""
    return ApiError(404, "NotFound", "404 page not found", text="404 page not found\n")


def already_exists(resource: str, group: str, name: str) -> ApiError:
    """Return 409 AlreadyExists: ``configmaps "a" already exists``."""
    msg = f'{qualified(resource, group)} "{name}" already exists'
    return ApiError(409, "AlreadyExists", msg, _details(name, group, resource))


def conflict(resource: str, group: str, name: str, why: str) -> ApiError:
    """Return 409 Conflict: ``Operation cannot be fulfilled on ...: <why>``."""
    msg = f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}'
    return ApiError(409, "Conflict", msg, _details(name, group, resource))


def stale(resource: str, group: str, name: str) -> ApiError:
    """Return the 409 of a write carrying an out-of-date resourceVersion."""
    return conflict(
        resource,
        group,
        name,
        "the object has been modified; please apply your changes to the latest version "
        "and try again",
    )


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """Return 422 Invalid; each cause is ``(reason, field, message)``.

    The message reads ``Job.batch "x" is invalid: spec.template: Invalid value: ...`` with
    the causes joined by ``, `` (one cause: no brackets), each text once, as
    ``errors.NewInvalid`` does; ``details.causes`` keeps them all.
    """
    texts = [f"{field}: {message}" if field else message for _, field, message in causes]
    texts = list(dict.fromkeys(texts))  # Go's aggregate error prints each message once
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    msg = f'{qualified(kind, group)} "{name}" is invalid: {joined}'
    details = _details(name, group, kind)
    details["causes"] = [
        {"reason": reason, "message": message, "field": field} for reason, field, message in causes
    ]
    return ApiError(422, "Invalid", msg, details)


def bad_request(message: str) -> ApiError:
    """Return 400 BadRequest with the message as given."""
    return ApiError(400, "BadRequest", message)


def forbidden(resource: str, group: str, name: str, why: str) -> ApiError:
    """Return 403 Forbidden: ``configmaps "a" is forbidden: <why>``."""
    target = f'{qualified(resource, group)} "{name}"' if name else qualified(resource, group)
    msg = f"{target} is forbidden: {why}"
    return ApiError(403, "Forbidden", msg, _details(name, group, resource))


def method_not_supported(action: str, resource: str, group: str) -> ApiError:
    """Return 405 MethodNotAllowed: ``<action> is not supported on resources of kind ...``."""
    msg = f'{action} is not supported on resources of kind "{qualified(resource, group)}"'
    return ApiError(405, "MethodNotAllowed", msg, _details("", group, resource))


def unsupported_media_type(content_type: str) -> ApiError:
    """Return 415 for a body in a content type the endpoint does not accept."""
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - "
        f"accepted media types include: application/json, application/yaml, "
        f"application/apply-patch+yaml, application/merge-patch+json, "
        f"application/json-patch+json, application/strategic-merge-patch+json "
        f"(got {content_type!r})",
    )


def not_acceptable(accept: str) -> ApiError:
    """Return 406 for an Accept header the sandbox cannot satisfy (protobuf, CBOR)."""
    return ApiError(
        406,
        "NotAcceptable",
        f"only the following media types are accepted: application/json, application/yaml, "
        f"application/vnd.kubernetes.protobuf is not supported by this server (asked: {accept})",
    )


def expired(message: str) -> ApiError:
    """Return 410 Expired (a continue token or resourceVersion too old)."""
    return ApiError(410, "Expired", message)


def storage_error(message: str) -> ApiError:
    """Return the bare 500 a failed storage call gives (no reason, no details)."""
    return ApiError(500, "", message)


def internal(message: str) -> ApiError:
    """Return 500 InternalError."""
    return ApiError(
        500,
        "InternalError",
        f"Internal error occurred: {message}",
        {"causes": [{"message": message}]},
    )
