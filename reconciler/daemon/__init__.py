"""The daemon (``reconciler run``): schedules the engine's reconcile, never reconciles itself.

One module per concern: ``outcomes`` (the seam: what is scheduled and what comes back),
``workqueues`` (queue with per-key exclusivity and backoff, workers, feeder), ``loop`` (the
process's life), ``httpserver`` and ``webhooks`` (``/healthz``, ``/readyz``, ``/metrics``,
``/hooks/git``), ``prometheus`` (its metrics), ``watching`` (a local repository's refs), ``leaderelection``
(a coordination.k8s.io Lease), ``sharding`` and ``logs``. Imported only by the CLI and the
demo; the engine is wired in by ``reconciler.cli.wiring`` (the daemon imports no stage).
"""
