"""Cluster access: clients from a kubeconfig, API calls with retries, a discovery cache.

Called by the apply and plan stages (and the engine, to build one client per context).
``clients`` builds a ``kubernetes.client.ApiClient`` the way kubectl reads kubeconfig
(``--kubeconfig``, ``--context``, ``KUBECONFIG`` with several files joined by ``:``);
``api`` performs one HTTP call through that client, retrying 429/5xx/timeouts (not a refused
connection, reported at once with the kubeconfig and context the client came from) with
exponential backoff (tenacity) and raising :class:`api.ApiError` with the server's message;
``discovery_cache`` maps (group, version, kind) to the resource path, once per client and process;
``livecache`` keeps the daemon's listed collections by watches (``reconciler run --cache-objects``).
"""
