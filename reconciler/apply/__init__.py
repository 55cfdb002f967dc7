"""Apply: server-side apply with ownership (ApplySet), safe pruning and minimal requests.

Called by the engine (``sync``, the daemon) and by :mod:`reconciler.plan`. Modules:

- ``applysets``: the ApplySet of an environment instance (KEP-3659, kubectl-compatible ids).
- ``ordering``: :data:`~reconciler.apply.ordering.RECONCILE_ORDER`, apply and prune order.
- ``fields``: applied hash, drift check without a request, diffs, secret masking.
- ``canonical``: the applied hash's canonical JSON (the standard library's bytes, by orjson
  where they can only be the same).
- ``manager``: :class:`~reconciler.apply.manager.ResourceManager` (reads), with the verbs
  in ``manager_apply`` (apply, apply_all) and ``manager_delete`` (delete, delete_all).
- ``in_sync``: the memo of objects found in sync (no comparison, no request for them).
- ``ownership``: which live objects are ours to apply; conflicts; Namespaces used as they are.
- ``thin_copies``: members known in sync held without ``managedFields`` or pod templates.
- ``sync``: :func:`~reconciler.apply.sync.sync_objects`, the whole data path of one sync.
"""
