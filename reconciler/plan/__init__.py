"""Plan: what a sync would do, from server-side dry-run apply, and how to print it.

Called by the ``plan`` and ``review`` commands. ``plans.plan_objects`` runs the sync data
path in dry-run mode: an object whose owned fields already match the live object exactly
is unchanged without a request (:mod:`reconciler.apply.fields`); every other object is a
server-side dry-run apply (``dryRun=All``: defaulted fields make no noise). It returns a
ChangeSet whose actions mean "would be", with a unified diff of the changed fields of
every update; ``formatting`` renders a ChangeSet as plain text, markdown (a PR comment)
or JSON. Secret values never appear: they are masked before any diff is made.
"""
