"""Read-only questions about environments and runs, answered once for every front end.

The CLI (``status``, ``history``, ``review``) and the web page ask the same questions; the
answers are computed here, below both, so neither re-derives them:

- :mod:`~reconciler.queries.serving`: which run an environment serves at a commit (what
  that commit would serve, following the contract's rule, not the newest record by time);
- :mod:`~reconciler.queries.history`: the recorded runs of a pipeline in every environment,
  read from the environments' provenance branches, with the served run marked;
- :mod:`~reconciler.queries.status`: each environment instance's sync state (Synced,
  OutOfSync, Unknown) and health, from a dry-run reconcile or a daemon's last outcome.

Layer: above the engine (these call its functions), below review, the daemon and the CLI.
"""
