"""Request counters served at ``/metrics`` like kube-apiserver's ``apiserver_request_total``.

Each finished request adds one to the counter with the labels kube-apiserver uses:
``verb`` in its spelling (GET, LIST, WATCH, POST, PUT, PATCH, APPLY, DELETE,
DELETECOLLECTION: uppercase, with LIST/WATCH/APPLY told apart from GET/PATCH), ``group``,
``version``, ``resource``, ``subresource``, ``scope`` (resource, namespace, cluster),
``component`` (apiserver), ``dry_run`` (All or empty) and ``code``. Requests for
non-resource paths (discovery, OpenAPI, health) are counted with an empty resource and
the path in ``subresource``, as kube-apiserver counts ``/healthz`` and friends.

Callers: :mod:`.server` (counting and rendering); tests read it over HTTP.
"""

from __future__ import annotations

import threading
from collections import Counter

LABELS = (
    "code",
    "component",
    "dry_run",
    "group",
    "resource",
    "scope",
    "subresource",
    "verb",
    "version",
)


class Metrics:
    """Thread-safe counters of requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, ...]] = Counter()

    def count(
        self,
        *,
        verb: str,
        group: str,
        version: str,
        resource: str,
        subresource: str,
        scope: str,
        code: int,
        dry_run: bool,
    ) -> None:
        """Add one finished request."""
        key = (
            str(code),
            "apiserver",
            "All" if dry_run else "",
            group,
            resource,
            scope,
            subresource,
            verb,
            version,
        )
        with self._lock:
            self._requests[key] += 1

    def render(self) -> str:
        """Return the Prometheus text exposition of the counters."""
        lines = [
            "# HELP apiserver_request_total [STABLE] Counter of apiserver requests broken out "
            "for each verb, dry run value, group, version, resource, scope, component, and "
            "HTTP response code.",
            "# TYPE apiserver_request_total counter",
        ]
        with self._lock:
            items = sorted(self._requests.items())
        for key, n in items:
            labels = ",".join(f'{k}="{v}"' for k, v in zip(LABELS, key, strict=True))
            lines.append(f"apiserver_request_total{{{labels}}} {n}")
        return "\n".join(lines) + "\n"
