"""Plan: what a sync would do, from server-side dry-run apply, and how to print it.

``reconciler plan`` runs the engine's reconcile with ``dry_run=True`` (the sync data path in
dry-run mode: an object whose owned fields already match the live object exactly is
unchanged without a request, :mod:`reconciler.apply.fields`; every other object is a
server-side dry-run apply, ``dryRun=All``, so defaulted fields make no noise) and prints
its ChangeSet with ``formatting``: plain text, markdown (a PR comment) or JSON. Entries'
actions mean "would be"; updates carry a unified diff of the changed fields; Secret values
are masked before any diff is made. ``plans.plan_objects`` is the same dry run for a list
of objects outside an environment (tests and library callers).
"""
