"""The one seam between the simulated controllers and an API server.

The controllers read and write through a :class:`Port`, so the same code drives the
sandbox in-process (:class:`InProcessPort`, writes straight into its store, as the
sandbox's own controllers) and any API server over HTTP
(:class:`~.remote.RemotePort`, kwok-style, with the official kubernetes client).

Every write is optimistic, as a controller's: a write against a changed or vanished
object returns None and the next pass sees the new state.

Callers: :class:`~reconciler.sandbox.controllers.Controllers` and the per-kind modules.
"""

from __future__ import annotations

import builtins
from typing import Any, Protocol

from reconciler.sandbox.controllers.resources import Resource

Obj = dict[str, Any]


class Port(Protocol):
    """What a controller may do to a cluster."""

    def served(self, res: Resource) -> bool:
        """True if the server serves ``res`` (a CRD kind may not be installed)."""
        ...

    def list(self, res: Resource, namespace: str | None = None) -> list[Obj]:
        """Return the objects of ``res`` (one namespace, or all), sorted by namespace/name."""
        ...

    def scan(self, res: Resource) -> builtins.list[Obj]:
        """Return every object of ``res``, in no particular order (no sort: a controller's
        tick walks whole kinds, and sorting tens of thousands of keys under the store's lock
        held the API's requests up at every tick)."""
        ...

    def get(self, res: Resource, namespace: str, name: str) -> Obj | None:
        """Return one object, or None."""
        ...

    def create(self, res: Resource, obj: Obj, *, manager: str) -> Obj | None:
        """Create ``obj``; None if refused (exists, namespace gone, quota...)."""
        ...

    def write_status(self, res: Resource, live: Obj, new: Obj, *, manager: str) -> Obj | None:
        """Replace the status of ``live`` with ``new``'s; None on a conflict or if gone."""
        ...

    def delete_now(self, res: Resource, obj: Obj) -> None:
        """Delete ``obj`` at once (grace period 0, uid precondition), as a kubelet does."""
        ...

    def now(self) -> str:
        """Return the current time as RFC 3339 (seconds)."""
        ...


class InProcessPort:
    """A :class:`Port` over the sandbox's own :class:`~reconciler.sandbox.handlers.Api`."""

    def __init__(self, api: Any) -> None:
        self.api = api

    def _type(self, res: Resource) -> Any:
        return self.api.registry.get(res.group, res.version, res.plural)

    def served(self, res: Resource) -> bool:
        """True if the registry serves ``res``."""
        return self._type(res) is not None

    def list(self, res: Resource, namespace: str | None = None) -> list[Obj]:
        """Return the stored objects of ``res``."""
        rt = self._type(res)
        if rt is None:
            return []
        out: list[Obj] = self.api.store.list(rt.key, namespace)
        return out

    def scan(self, res: Resource) -> builtins.list[Obj]:
        """Return the stored objects of ``res`` as the store holds them (unsorted)."""
        rt = self._type(res)
        if rt is None:
            return []
        out: builtins.list[Obj] = self.api.store.values(rt.key)
        return out

    def get(self, res: Resource, namespace: str, name: str) -> Obj | None:
        """Return one stored object, or None."""
        rt = self._type(res)
        if rt is None:
            return None
        obj: Obj | None = self.api.store.get(rt.key, namespace if rt.namespaced else "", name)
        return obj

    def create(self, res: Resource, obj: Obj, *, manager: str) -> Obj | None:
        """Create through the API's controller write path."""
        rt = self._type(res)
        if rt is None:
            return None
        out: Obj | None = self.api.system_write(rt, None, obj, manager=manager)
        return out

    def write_status(self, res: Resource, live: Obj, new: Obj, *, manager: str) -> Obj | None:
        """Write the status subresource (None if ``live`` is stale)."""
        rt = self._type(res)
        if rt is None:
            return None
        out: Obj | None = self.api.system_write(rt, live, new, manager=manager, sub="status")
        return out

    def delete_now(self, res: Resource, obj: Obj) -> None:
        """Remove the object now (no grace period)."""
        rt = self._type(res)
        if rt is not None:
            self.api.system_delete(rt, obj, "Background", grace_period=0)

    def now(self) -> str:
        """The API's clock, RFC 3339."""
        out: str = self.api.now()
        return out
